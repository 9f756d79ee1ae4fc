"""Recorded hate crime: the documented format, the Home Office open data names, errors, and the priority ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapping.crime import CrimeError, load_recorded_crime, prioritise
from mapping.gaps import compute_coverage
from mapping.types import AreaCoverage, ServiceKind
from tests.mapping.test_gaps import L2, P1, P2, toy_geography, toy_population
from tests.services_db.factories import make_service

FORCES = {
    "E23000001": "Metropolitan Police",
    "E23000034": "London, City of",
    "E23000035": "Devon & Cornwall",
    "W15000004": "Dyfed-Powys",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crime.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_format(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "force_code,year,strand,count\nE23000001,2023/24,race,100\nE23000001,2023/24,total,150\n"
        'W15000004,2023/24,religion,7\nW15000004,2022/23,total,"1,200"\n',
    )
    table = load_recorded_crime(path, force_names=FORCES)
    assert table.years == ("2022/23", "2023/24")
    assert table.counts("2023/24") == ({"E23000001": 150}, "")
    assert table.counts("2023/24", "race") == ({"E23000001": 100}, "")
    assert table.counts("2022/23", "any") == ({"W15000004": 1200}, "")


def test_home_office_open_data_names_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Financial Year,Force Name,Offence Group,Motivating Factor,Number of Offences\n"
        "2023/24,Metropolitan Police,Public order offences,Race,10\n"
        "2023/24,Metropolitan Police,Violence against the person,Race,5\n"
        "2023/24,City of London,Public order offences,Sexual orientation,3\n"
        "2023/24,Devon and Cornwall Police,Public order offences,Disability,4\n"
        "2023/24,Dyfed Powys,Public order offences,Transgender,2\n"
        "2023/24,British Transport Police,Public order offences,Race,9\n",
    )
    table = load_recorded_crime(path, force_names=FORCES)
    race, _ = table.counts("2023/24", "race")
    assert race == {"E23000001": 15}  # offence groups summed
    totals, note = table.counts("2023/24")
    assert totals == {"E23000001": 15, "E23000034": 3, "E23000035": 4, "W15000004": 2}
    assert "added up" in note  # no total rows: strands summed, and the note says an offence may count twice
    assert table.set_aside == ("British Transport Police",)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("force_name,year,count\nGotham City Police,2024,3\n", "row 2, field force_name: unknown force 'Gotham City"),
        ("force_name,year,count\nMetropolitan Polise,2024,3\n", "did you mean 'Metropolitan Police'"),
        ("force_code,year,count\nE23000099,2024,3\n", "row 2, field force_code: unknown force code E23000099"),
        ("force_code,year,strand,count\nE23000001,2024,age,3\n", "row 2, field strand: unknown strand 'age'"),
        ("force_code,year,count\nE23000001,2024,lots\n", "row 2, field count: 'lots' is not a number"),
        ("force_code,count\nE23000001,3\n", "no year column"),
        ("year,count\n2024,3\n", "no force column"),
        ("", "empty"),
    ],
)
def test_bad_crime_files_say_where_and_what(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(CrimeError) as caught:
        load_recorded_crime(write(tmp_path, text), force_names=FORCES)
    assert words in caught.value.message


def test_priority_is_rate_times_uncovered_share(tmp_path: Path) -> None:
    # Toy: P1 has 607 people, 200 covered (L2 by code); P2 has 50 people, none covered.
    services = [make_service("l2", kind=ServiceKind.THIRD_PARTY_REPORTING, coverage=AreaCoverage((L2,)))]
    result = compute_coverage(services, toy_population(), toy_geography())
    names = {P1: "Force One", P2: "Force Two"}
    path = write(tmp_path, f"force_code,year,count\n{P1},2024,607\n{P2},2024,1\n{P1},2023,1\n")
    rows, note = prioritise(load_recorded_crime(path, force_names=names), result)
    assert [r.pfa_code for r in rows] == [P1, P2]
    first, second = rows
    assert first.rank == 1 and first.year == "2024"
    assert first.rate_per_100k == pytest.approx(100_000)
    assert first.pct_covered == pytest.approx(100 * 200 / 607)
    assert first.score == pytest.approx(100_000 * 407 / 607)
    assert second.rate_per_100k == pytest.approx(2000) and second.score == pytest.approx(2000)
    assert "2024" in note


def test_forces_without_figures_are_listed_in_the_note(tmp_path: Path) -> None:
    result = compute_coverage([], toy_population(), toy_geography())
    names = {P1: "Force One", P2: "Force Two"}
    rows, note = prioritise(
        load_recorded_crime(write(tmp_path, f"force_code,year,count\n{P1},2024,6\n"), force_names=names), result
    )
    assert [r.pfa_code for r in rows] == [P1]
    assert "no figure for 1 force area(s): Force Two" in note
