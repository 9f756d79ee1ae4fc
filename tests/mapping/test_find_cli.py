"""`signpost find` on a fresh embedded data directory (seeded national directory, no boundaries loaded)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from geopy.distance import geodesic
from sqlmodel import Session
from typer.testing import CliRunner

from mapping.types import Channel, ChannelKind, RadiusCoverage, ServiceKind, ServiceRecord, Strand
from services_db.repository import create_service
from signpost import wiring
from signpost.cli import app

runner = CliRunner()
LS6 = (53.8179, -1.5745)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["find", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def find_json(*args: str) -> dict[str, Any]:
    code, out = run(*args, "--json")
    assert code == 0, out
    return json.loads(out)


def test_postcode_gets_local_and_national_services(data_dir: Path) -> None:
    answer = find_json("ls6 1aa")
    assert answer["location"]["lad_code"] == "E08000035" and answer["location"]["pfa_code"] == "E23000010"
    assert answer["boundaries_loaded"] is False
    reasons = {m["id"]: m["reason"] for m in answer["matches"]}
    assert reasons["wyorks-leeds-city-council-hate-incidents"] == "covers"  # from the local starter directory
    assert reasons["police-emergency-999"] == "national"
    assert not [i for i in reasons if i.startswith("example-") or i.startswith("cardiff")]
    assert all(m["source_url"] for m in answer["matches"])
    assert all(m["verified_on"] or m["confirmation"] == "unconfirmed" for m in answer["matches"])
    # Local before national (no strands chosen, so nothing is a specialist match).
    order = [m["reason"] for m in answer["matches"]]
    assert order == sorted(order, key=lambda r: r != "covers")


def test_strand_puts_specialists_first_and_filters(data_dir: Path) -> None:
    answer = find_json("LS6 1AA", "--strand", "religion", "--kind", "specialist_support")
    ids = [m["id"] for m in answer["matches"]]
    assert {m["kind"] for m in answer["matches"]} == {"specialist_support"}
    assert "galop" not in ids  # specialises in other strands only
    specialist = [m["specialist"] for m in answer["matches"]]
    assert specialist == sorted(specialist, reverse=True) and specialist[0]
    assert {"cst", "tell-mama"} <= {m["id"] for m in answer["matches"] if m["specialist"]}
    code, out = run("LS6 1AA", "--limit", "2")
    assert code == 0 and "2 services" in out


def test_nearest_outside_when_nothing_local_reports(data_dir: Path) -> None:
    # Stockport: no local reporting centre in the directory names it; walk-in centres nearby have a radius.
    answer = find_json("SK1 1AA", "--kind", "third_party_reporting")
    matches = answer["matches"]
    assert matches and {m["reason"] for m in matches} == {"nearest_outside"}
    distances = [m["distance_m"] for m in matches]
    assert all(0 < d < 80_000 for d in distances) and distances == sorted(distances)
    code, out = run("SK1 1AA", "--kind", "third_party_reporting")
    assert code == 0 and "nearest outside your area" in out


def test_in_person_distance_is_shown(data_dir: Path) -> None:
    engine = wiring.database()
    office = geodesic(kilometers=3).destination(LS6, 90)
    record = ServiceRecord(
        id="test-leeds-drop-in",
        name="Test drop-in (fixture)",
        kind=ServiceKind.VICTIM_SUPPORT,
        coverage=RadiusCoverage(LS6[0], LS6[1], 10_000),
        source_url="https://example.org/test-fixture",
        verified_on=date(2026, 1, 1),
        strands=frozenset({Strand.DISABILITY}),
        channels=(Channel(ChannelKind.IN_PERSON, "fixture", lat=office.latitude, lon=office.longitude),),
    )
    with Session(engine, expire_on_commit=False) as session:
        create_service(session=session, record=record, actor="test")
    answer = find_json("LS6 1AA", "--strand", "disability")
    first = answer["matches"][0]
    assert first["id"] == "test-leeds-drop-in" and first["specialist"] and first["reason"] == "covers"
    assert first["distance_m"] == pytest.approx(3_000, abs=150)  # from the postcode's point, not LS6 exactly


def test_outside_england_and_wales_offers_emergency_routes_only(data_dir: Path) -> None:
    answer = find_json("EH1 1YZ")
    assert answer["outside_england_wales"] is True
    assert "Scotland" in answer["notice"]
    assert {m["kind"] for m in answer["matches"]} == {"emergency"}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("LS66 1AAA", "does not look like a UK postcode"),
        ("ZZ1 1ZZ", "not in the postcode directory"),
        ("Qwertyton", "No town or city called"),
        ("54.0, -3.9", "sea"),
        ("-1.55, 53.8", "latitude first"),
        ("Newport", "more than one place"),
    ],
)
def test_bad_input_gets_a_clear_message_and_exit_2(data_dir: Path, query: str, says: str) -> None:
    code, out = run(query)
    assert code == 2
    assert says in out
    assert "Traceback" not in out


@pytest.mark.slow
def test_with_boundaries_loaded(data_dir: Path, geography_dir: Path) -> None:
    loaded = runner.invoke(
        app,
        [
            "geography",
            "load",
            "--pfa",
            str(geography_dir / "pfa_dec2023_buc.geojson"),
            "--lad",
            str(geography_dir / "lad_may2025_buc.geojson"),
        ],
    )
    assert loaded.exit_code == 0, loaded.output
    answer = find_json("LS6 1AA")
    assert answer["boundaries_loaded"] is True
    reasons = {m["id"]: m["reason"] for m in answer["matches"]}
    assert reasons["wyorks-leeds-city-council-hate-incidents"] == "covers"
    # A typed point in Leeds, placed by the polygons rather than by the nearest postcode.
    point = find_json("53.7997, -1.5492", "--kind", "third_party_reporting")
    assert point["location"]["lad_code"] == "E08000035"
    assert {m["reason"] for m in point["matches"]} == {"covers"}
    assert "wyorks-stop-hate-uk-leeds" in {m["id"] for m in point["matches"]}
    code, out = run("LS6 1AA")
    assert code == 0 and "matched by boundaries" in out


def test_a_community_specialist_comes_first_only_for_its_community(data_dir: Path) -> None:
    plain = [m["id"] for m in find_json("LS6 1AA", "--strand", "race", "--kind", "specialist_support")["matches"]]
    assert plain[-1] == "report-racism-grt"  # Gypsy, Roma and Traveller people only: after the rest
    chosen = find_json("LS6 1AA", "--strand", "race", "--community", "gypsy_roma_traveller")["matches"]
    assert chosen[0]["id"] == "report-racism-grt" and chosen[0]["specialist"]
    code, out = run("LS6 1AA", "--community", "travellers")
    assert code == 2 and "gypsy_roma_traveller" in out


def test_an_age_limited_service_comes_first_only_for_an_age_inside_its_limits(data_dir: Path) -> None:
    record = ServiceRecord(
        id="test-leeds-youth",
        name="Test youth service (fixture)",
        kind=ServiceKind.VICTIM_SUPPORT,
        coverage=RadiusCoverage(LS6[0], LS6[1], 10_000),
        source_url="https://example.org/test-fixture",
        verified_on=date(2026, 1, 1),
        min_age=11,
        max_age=25,
    )
    with Session(wiring.database(), expire_on_commit=False) as session:
        create_service(session=session, record=record, actor="test")
    ids = {age: [m["id"] for m in find_json("LS6 1AA", "--age", age)["matches"]] for age in ("19", "40")}
    assert ids["19"][0] == "test-leeds-youth"
    assert set(ids["40"][-2:]) == {"test-leeds-youth", "report-racism-grt"}  # with the other limited one: last
    code, _ = run("LS6 1AA", "--age", "-3")
    assert code == 2
