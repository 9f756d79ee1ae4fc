"""What ships (national_directory.json + local_directory.json): every entry is sourced, passes the import
validation, has valid coverage codes and no example marker; examples never reach a victim; and
`signpost find` answers with the local entries in each force area that has some.

The force-area tests iterate over whatever the shipped local file holds, so they grow with it; they fail (not
skip) if the file is present but empty.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from mapping.areas import AreaRegistry
from mapping.locate import Located, Locator
from mapping.postcodes import PostcodeDirectory
from mapping.signposting import SignpostIndex
from mapping.types import AreaCoverage, Confirmation, MatchReason, RadiusCoverage, ServiceRecord
from services_db.force_area import ForceAreaCheck
from services_db.formats import FileFormat, read_services, write_services
from services_db.importer import locator_place_check
from services_db.repository import create_service
from services_db.seed import LOCAL_DIRECTORY, load_national_directory, load_shipped_directory
from services_db.validation import ValidationContext, validate_services
from signpost import wiring
from signpost.cli import app

SHIPPED = load_shipped_directory()
LOCAL: tuple[ServiceRecord, ...] = load_national_directory(LOCAL_DIRECTORY).services if LOCAL_DIRECTORY.exists() else ()
DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo_directory.json"
REGISTRY = AreaRegistry.default()


def _pfa_of(record: ServiceRecord) -> str | None:
    return record.commissioner_code.removeprefix("pcc-") if record.commissioner_code else None


BY_FORCE: dict[str, list[ServiceRecord]] = defaultdict(list)
for _record in LOCAL:
    if _record.status.value == "active" and _pfa_of(_record):
        BY_FORCE[_pfa_of(_record) or ""].append(_record)


def test_the_local_file_is_not_empty_when_it_ships() -> None:
    if not LOCAL_DIRECTORY.exists():
        pytest.skip("no local_directory.json shipped")
    data: dict[str, Any] = json.loads(LOCAL_DIRECTORY.read_text(encoding="utf-8"))
    assert data["about"] and LOCAL, "the shipped local file has an about header and entries"
    assert len(BY_FORCE) >= 1


def test_every_shipped_entry_passes_the_import_validation() -> None:
    context = ValidationContext(
        is_known_area=REGISTRY.is_known,
        commissioner_codes=frozenset(c.code for c in SHIPPED.commissioners),
        local_strand_keys=frozenset(s.key for p in REGISTRY.pfas() for s in REGISTRY.local_strands(p.code)),
        place_check=locator_place_check(),
        today=date.today(),
        force_area=ForceAreaCheck(registry=REGISTRY, postcodes=PostcodeDirectory.default()).outside,
    )
    text = write_services(SHIPPED.services, FileFormat.GEOJSON)
    parsed = read_services(text.encode(), name="shipped.geojson")
    assert not parsed.problems
    result = validate_services(parsed.services, file="shipped", context=context)
    assert result.ok, "\n".join(str(p) for p in result.problems[:20])
    assert len(result.records) == len(SHIPPED.services)


@pytest.mark.parametrize("record", SHIPPED.services, ids=lambda r: r.id)
def test_every_shipped_entry_is_sourced_real_and_honest_about_confirmation(record: ServiceRecord) -> None:
    assert record.source_url.startswith(("https://", "http://")), record.id
    assert not record.is_example
    text = " ".join((record.id, record.name, record.organisation, record.description)).lower()
    assert "example" not in text and "not a real service" not in text
    assert record.channels, "an entry whose page gives no contact is left out"
    if record.confirmation is Confirmation.CONFIRMED:
        assert record.verified_on is not None
    if isinstance(record.coverage, AreaCoverage):
        assert all(REGISTRY.is_known(code) for code in record.coverage.area_codes)
    if record in LOCAL:
        assert record.confirmation is Confirmation.UNCONFIRMED or record.verified_on is not None
        assert record.commissioner_code is None or record.commissioner_code in {c.code for c in SHIPPED.commissioners}


@cache
def _postcode_in(lad_code: str) -> str | None:
    return _lad_postcodes().get(lad_code)


@cache
def _lad_postcodes() -> dict[str, str]:
    found: dict[str, str] = {}
    for postcode, _e, _n, lad in PostcodeDirectory.default().sample(step=41):
        if lad and lad not in found:
            found[lad] = postcode
    return found


def _place_of(record: ServiceRecord) -> str:
    """A postcode (or a point) inside the entry's coverage, as a person would type it."""
    coverage = record.coverage
    if isinstance(coverage, RadiusCoverage):
        return f"{coverage.lat}, {coverage.lon}"
    assert isinstance(coverage, AreaCoverage), record.id
    for code in coverage.area_codes:
        lads = [code] if code[:3] not in ("E23", "W15") else [a.code for a in REGISTRY.lads_in(code)]
        for lad in lads:
            postcode = _postcode_in(lad)
            if postcode:
                return postcode
    raise AssertionError(f"{record.id}: no postcode found inside its coverage")


@pytest.mark.slow
def test_every_local_entry_is_found_at_its_own_place() -> None:
    if not LOCAL:
        pytest.skip("no local_directory.json shipped")
    index = SignpostIndex.build(SHIPPED.services)
    locator = Locator.offline_default()
    for record in (r for r in LOCAL if r.status.value == "active"):
        place = _place_of(record)
        located = locator.locate(place)
        assert isinstance(located, Located), (record.id, place)
        matches = {m.service.id: m.reason for m in index.find(located.location)}
        assert matches.get(record.id) is MatchReason.COVERS, (record.id, place)


@pytest.mark.slow
@pytest.mark.parametrize("pfa_code", sorted(BY_FORCE) or ["none"])
def test_signpost_find_returns_the_entries_of_each_force_area(pfa_code: str, data_dir: Path) -> None:
    if pfa_code == "none":
        pytest.skip("no local_directory.json shipped")
    record = BY_FORCE[pfa_code][0]
    result = CliRunner().invoke(app, ["find", _place_of(record), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    found = {m["id"]: m for m in answer["matches"]}
    assert record.id in found and found[record.id]["reason"] == "covers"
    assert found[record.id]["confirmation"] == record.confirmation.value
    assert not [i for i in found if i.startswith("example-")]


def test_an_example_in_the_directory_never_reaches_signpost_find(data_dir: Path) -> None:
    engine = wiring.database()
    with Session(engine, expire_on_commit=False) as session:
        for example in load_national_directory(DEMO).services:
            create_service(session=session, record=example, actor="test")
    for place in ("LS6 1AA", "M1 1AE", "CF10 1EP", "53.4794, -2.2453"):
        result = CliRunner().invoke(app, ["find", place, "--json"])
        assert result.exit_code == 0, result.output
        ids = [m["id"] for m in json.loads(result.output)["matches"]]
        assert ids and not [i for i in ids if i.startswith("example-")], place
