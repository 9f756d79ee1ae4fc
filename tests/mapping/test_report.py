"""The report's outputs (CSV, GeoJSON, HTML, PNG, summary) and `signpost coverage report` end to end."""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from mapping.crime import load_recorded_crime, prioritise
from mapping.gaps import ANY, compute_coverage
from mapping.population import PopulationBasis
from mapping.report import ReportContext, write_report
from mapping.report.context import AreaExtra
from mapping.report.csv_tables import CSV_COLUMNS
from mapping.report.summary import summary_lines
from mapping.siting import propose_sites
from mapping.types import RadiusCoverage, ServiceKind, Strand
from services_db.formats import write_services
from services_db.stats import record_signposting
from signpost import wiring
from signpost.cli import app
from tests.mapping.test_gaps import L1, L3, P1, P2, toy_geography, toy_population, toy_services
from tests.services_db.factories import make_service, polygon_service, radius_service

OUTPUTS = {
    "coverage_pfa.csv",
    "coverage_lad.csv",
    "coverage_pfa_wide.csv",
    "coverage_lad_wide.csv",
    "coverage_lsoa.csv",
    "coverage.xlsx",
    "coverage.gpkg",
    "gaps.geojson",
    "report.html",
    "coverage_pfa.png",
    "coverage_pfa_strands.png",
    "coverage_lad.png",
    "coverage_lad_strands.png",
    "summary.md",
    "proposed_sites.csv",
}


def toy_context(tmp_path: Path, *, proxy: bool = False) -> ReportContext:
    population = toy_population()
    if proxy:
        population = replace(population, basis=PopulationBasis("PROXY: postcode counts", "postcodes", "toy", True))
    result = compute_coverage(toy_services(), population, toy_geography())
    crime = tmp_path / "crime.csv"
    crime.write_text(f"force_code,year,count\n{P1},2024,60\n{P2},2024,5\n", encoding="utf-8")
    priorities, note = prioritise(load_recorded_crime(crime, force_names={P1: "Force One", P2: "Force Two"}), result)
    demand = AreaExtra("Demand", ("signposted_by_bot",), {("pfa", P1): {"signposted_by_bot": 12}}, note="bot counts")
    return ReportContext(
        result=result,
        generated_on=date(2026, 11, 28),
        vintages=(("Boundaries", "toy squares"),),
        priorities=priorities,
        crime_note=note,
        siting=propose_sites(result, 1, radius_m=2_000),
        extras=(demand,),
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy report, written once for the tests that read it."""
    tmp = tmp_path_factory.mktemp("report")
    out = tmp / "out"
    out.mkdir()
    write_report(toy_context(tmp), out)
    return out


@pytest.fixture(scope="module")
def written_proxy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report-proxy")
    out = tmp / "out"
    out.mkdir()
    write_report(toy_context(tmp, proxy=True), out)
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_output_is_written(written: Path) -> None:
    assert {p.name for p in written.iterdir()} == OUTPUTS
    assert all(p.stat().st_size > 0 for p in written.iterdir())
    assert (written / "coverage_pfa.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(sys.platform != "linux", reason="the maps are drawn in a forked process on Linux only")
def test_maps_drawn_in_a_forked_process_give_the_same_report(tmp_path: Path) -> None:
    """``parallel`` (the command line): the PNGs come from a child process; the files and their order are those
    written one after another, byte for byte (the workbook and GeoPackage carry write times)."""
    context = toy_context(tmp_path)
    in_order, forked = tmp_path / "in-order", tmp_path / "forked"
    in_order.mkdir()
    forked.mkdir()
    expected = write_report(context, in_order)
    files = write_report(context, forked, parallel=True)
    assert [p.name for p in files] == [p.name for p in expected]
    assert {p.name for p in forked.iterdir()} == OUTPUTS
    for path in expected:
        if path.suffix not in (".xlsx", ".gpkg"):
            assert (forked / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.skipif(sys.platform != "linux", reason="the maps are drawn in a forked process on Linux only")
def test_a_failure_in_the_forked_map_writer_is_raised_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mapping.report as report

    def fail(context: ReportContext, out_dir: Path) -> list[Path]:
        raise ValueError("no room for the maps")

    monkeypatch.setattr(report, "write_pngs", fail)
    with pytest.raises(RuntimeError, match="drawing the PNG maps failed: ValueError: no room for the maps"):
        write_report(toy_context(tmp_path), tmp_path, parallel=True)


def test_csv_has_a_row_per_area_and_strand_with_the_figures(written: Path) -> None:
    out = written
    rows = read_csv(out / "coverage_lad.csv")
    assert len(rows) == 3 * 6
    assert list(rows[0])[: len(CSV_COLUMNS)] == list(CSV_COLUMNS)
    (l1_race,) = [r for r in rows if r["code"] == L1 and r["strand"] == "race"]
    assert (l1_race["population"], l1_race["population_covered"]) == ("407", "400")
    assert float(l1_race["pct_population_covered"]) == pytest.approx(100 * 400 / 407, abs=0.01)
    assert l1_race["pfa_code"] == P1 and l1_race["population_unit"] == "residents"
    assert l1_race["geography_basis"] == "boundaries"
    (l3_race,) = [r for r in rows if r["code"] == L3 and r["strand"] == "race"]
    assert l3_race["no_coverage"] == "yes"
    pfa_rows = read_csv(out / "coverage_pfa.csv")
    (p1_any,) = [r for r in pfa_rows if r["code"] == P1 and r["strand"] == ANY]
    assert p1_any["recorded_hate_crime"] == "60" and p1_any["signposted_by_bot"] == "12"
    # Force Two's people are all covered (by code, for disability): Force One, with 7 uncovered, ranks first.
    assert p1_any["priority_rank"] == "1"
    assert float(p1_any["rate_per_100k"]) == pytest.approx(60 / 607 * 100_000, abs=0.01)


def test_gaps_geojson_carries_population_and_caveats(written_proxy: Path) -> None:
    out = written_proxy
    data = json.loads((out / "gaps.geojson").read_text(encoding="utf-8"))
    (gap,) = [f for f in data["features"] if f["properties"]["code"] == L1 and f["properties"]["strand"] == "religion"]
    assert gap["properties"]["population_in_gap"] == 107
    assert gap["properties"]["gap_area_km2"] == pytest.approx(50, abs=0.01)
    assert gap["properties"]["population_unit"] == "postcodes (PROXY)"
    assert gap["geometry"]["type"] == "Polygon"
    assert any("WARNING" in n and "postcode" in n for n in data["metadata"]["notes"])


def test_html_is_self_contained_and_says_what_it_is_based_on(written_proxy: Path) -> None:
    out = written_proxy
    page = (out / "report.html").read_text(encoding="utf-8")
    # Nothing to fetch: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert "<svg" in page and 'class="gaps"' in page and 'table class="sortable"' in page
    assert "Proxy population" in page
    assert "Office for National Statistics" in page and "Crown copyright" in page
    assert "Method" in page and "Data vintages" in page and "toy squares" in page
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1))
    assert data["pct"]["lad"][L3]["disability"] == 100.0
    assert set(data["pct"]) == {"pfa", "lad"}
    assert "Force One" in page and "Siting" in page and "Priority" in page
    assert "with no coverage at all" not in page  # every toy area has some coverage


def test_each_map_has_its_own_hatch_pattern_and_zero_is_its_own_class(written: Path) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")
    for level in ("pfa", "lad"):
        assert page.count(f'<pattern id="hatch-{level}"') == 1
    assert 'id="hatch"' not in page
    gaps = re.findall(r'<path class="gap" fill="url\(#hatch-(\w+)\)"', page)
    assert gaps and set(gaps) == {"pfa", "lad"}
    assert "0% (none)" in page


def test_zero_percent_has_a_colour_of_its_own() -> None:
    from mapping.report.context import class_colour, legend_items

    assert class_colour(0.0) != class_colour(0.01) == class_colour(19.9)
    assert class_colour(100.0) == class_colour(80.0) != class_colour(79.9)
    assert class_colour(None) not in {class_colour(0.0), class_colour(50.0)}
    assert [label for _, label in legend_items()][:2] == ["0% (none)", "over 0 to 20%"]


def test_map_titles_say_strand_scope_date_services_and_directory_version(tmp_path: Path) -> None:
    local = compute_coverage(toy_services(), toy_population(), toy_geography(), include_national=False)
    context = replace(
        toy_context(tmp_path), result=local, directory_version="6 entries, last changed 2026-11-20, #0123abcd"
    )
    first, second = context.title_lines("race", "force area")
    assert "race" in first and "local services only" in first and "force area" in first
    assert (
        second == "2026-11-28 \u00b7 3 services counted \u00b7 directory: 6 entries, last changed 2026-11-20, #0123abcd"
    )
    merged = replace(
        context, result=compute_coverage(toy_services(), toy_population(), toy_geography(), include_national=True)
    )
    assert "local and national services" in merged.title_lines(ANY, "force area")[0]


def test_wide_csvs_have_ons_headers_one_row_per_area_and_a_column_per_strand(written: Path) -> None:
    lad = read_csv(written / "coverage_lad_wide.csv")
    assert list(lad[0])[:5] == ["LAD25CD", "LAD25NM", "LAD25NMW", "PFA23CD", "PFA23NM"]
    assert [r["LAD25CD"] for r in lad] == [L1, "E06000002", L3]
    (three,) = [r for r in lad if r["LAD25CD"] == L3]
    assert (three["PFA23CD"], three["PFA23NM"]) == (P2, "Force Two")
    assert three["pct_covered_disability"] == "100.0" and three["pct_covered_race"] == "0.0"
    assert {f"pct_covered_{s.value}" for s in Strand} < set(lad[0])
    pfa = read_csv(written / "coverage_pfa_wide.csv")
    assert list(pfa[0])[:3] == ["PFA23CD", "PFA23NM", "residents"] and len(pfa) == 2
    (one,) = [r for r in pfa if r["PFA23CD"] == P1]
    assert one["recorded_hate_crime"] == "60" and one["residents_not_covered_any"] == "7"


def test_the_lsoa_table_joins_on_lsoa_codes(written: Path) -> None:
    rows = read_csv(written / "coverage_lsoa.csv")
    assert list(rows[0])[:5] == ["LSOA21CD", "LSOA21NM", "LAD25CD", "PFA23CD", "residents"]
    assert len(rows) == len(toy_population())
    first = rows[0]
    assert (first["LAD25CD"], first["covered_race"], first["covered_any"]) == (L1, "1", "1")


def test_the_workbook_has_a_readme_and_a_sheet_per_level(written: Path) -> None:
    from openpyxl import load_workbook

    book = load_workbook(written / "coverage.xlsx", read_only=True)
    assert book.sheetnames == ["README", "PFA", "LAD", "Gaps"]
    readme = {r[0]: r[1] for r in book["README"].iter_rows(min_row=2, values_only=True)}
    assert readme["Software"].startswith("signpost") and "Office for National Statistics" in readme["Attribution"]
    assert "Command" in readme and "Method" in readme and readme["Vintage: Boundaries"] == "toy squares"
    header = next(book["LAD"].iter_rows(values_only=True))
    assert header[:5] == ("LAD25CD", "LAD25NM", "LAD25NMW", "PFA23CD", "PFA23NM")


def test_the_geopackage_holds_areas_and_gaps_in_british_national_grid(written: Path) -> None:
    import pyogrio

    path = written / "coverage.gpkg"
    assert {name for name, _ in pyogrio.list_layers(path)} == {"pfa", "lad", "gaps"}
    lad = pyogrio.read_info(path, layer="lad")
    assert lad["crs"] == "EPSG:27700" and lad["features"] == 3 and "LAD25NMW" in list(lad["fields"])
    _, _, geometry, _ = pyogrio.raw.read(path, layer="pfa")
    assert len(geometry) == 2
    import shapely

    areas = sorted(round(shapely.from_wkb(g).area / 1e6) for g in geometry)
    assert areas == [100, 200]  # km2 in BNG metres: Force Two 10 x 10 km, Force One 20 x 10 km
    gaps = pyogrio.read_info(path, layer="gaps")
    assert gaps["features"] == sum(1 for _ in json.loads((written / "gaps.geojson").read_text())["features"])


def test_proposed_sites_csv(written: Path) -> None:
    (site,) = read_csv(written / "proposed_sites.csv")
    assert site["rank"] == "1" and site["radius_m"] == "2000" and site["strand"] == ANY
    assert float(site["newly_covered_residents"]) > 0


def test_summary_states_the_headline_in_words(written: Path) -> None:
    out = written
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "650 of 657 residents (98.9%)" in text
    assert "no race coverage in 1 local authorities: Three" in text
    assert "Priority" in text and "Siting" in text


def _national(name: str) -> object:
    from mapping.types import Nation, NationalCoverage

    return make_service(
        name.lower().replace(" ", "-"),
        name=name,
        kind=ServiceKind.THIRD_PARTY_REPORTING,
        coverage=NationalCoverage(Nation.ENGLAND_AND_WALES),
    )


def test_national_services_are_beside_local_figures_not_merged_unless_asked(tmp_path: Path) -> None:
    services = [*toy_services(), _national("Report It Anywhere")]
    local = ReportContext(
        result=compute_coverage(services, toy_population(), toy_geography(), include_national=False),
        generated_on=date(2026, 11, 28),
    )
    text = "\n".join(summary_lines(local))
    assert "650 of 657 residents (98.9%) are where at least one local service covers them" in text
    assert "Plus 1 national service available everywhere: Report It Anywhere." in text
    assert "local services only" in text
    merged = ReportContext(
        result=compute_coverage(services, toy_population(), toy_geography(), include_national=True),
        generated_on=date(2026, 11, 28),
    )
    merged_text = "\n".join(summary_lines(merged))
    assert "657 of 657 residents (100.0%)" in merged_text and "Plus 1 national" not in merged_text
    assert "Local and national services merged" in merged_text
    out = tmp_path / "out"
    out.mkdir()
    write_report(local, out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Plus 1 national service available everywhere: Report It Anywhere." in page


def test_a_thin_directory_is_said_first_with_counts_per_force(tmp_path: Path) -> None:
    only_national = [_national("Report It Anywhere")]
    context = ReportContext(
        result=compute_coverage(only_national, toy_population(), toy_geography(), include_national=False),
        generated_on=date(2026, 11, 28),
    )
    lines = summary_lines(context)
    text = "\n".join(lines)
    first = text.index("Read this first")
    assert first < text.index("## Headline") and first < text.index("Population:")
    assert "The directory lists 0 local services" in text
    assert "2 of 2 force areas have no local service listed" in text
    assert "| Force One | 0 | 0 | 0 | - |" in text
    assert "0 of 657 residents (0.0%)" in text and "Plus 1 national service" in text
    out = tmp_path / "out"
    out.mkdir()
    write_report(context, out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.index("Read this first") < page.index('class="big"')


def test_zero_percent_ties_are_ranked_by_people_not_covered() -> None:
    from shapely.geometry import box

    from mapping.gaps import AreaUnit, Geography, GeographyBasis
    from mapping.population import PopulationPoints

    lads = tuple(
        AreaUnit(f"E0600000{i}", name, "lad", box(400_000 + i * 10_000, 300_000, 410_000 + i * 10_000, 310_000),
                 f"E2300000{i}")
        for i, name in enumerate(["Alpha", "Bravo", "Charlie"], start=1)
    )  # fmt: skip
    pfas = tuple(AreaUnit(u.parent_code or "", f"Force {u.name}", "pfa", u.geometry) for u in lads)
    people = PopulationPoints(
        codes=np.array(["a", "b", "c"]),
        easting=np.array([405_000.0, 415_000.0, 425_000.0]),
        northing=np.array([305_000.0, 305_000.0, 305_000.0]),
        population=np.array([10.0, 500.0, 70.0]),
        basis=PopulationBasis("toy residents", "residents", "toy", False),
        lad_codes=np.array([u.code for u in lads]),
    )
    geography = Geography(pfas, lads, GeographyBasis.BOUNDARIES, "toy")
    context = ReportContext(result=compute_coverage([], people, geography), generated_on=date(2026, 1, 1))
    text = "\n".join(summary_lines(context))
    assert "1. Force Bravo" in text and "2. Force Charlie" in text and "3. Force Alpha" in text
    assert "most people first: Force Bravo; Force Charlie; Force Alpha." in text


def test_names_from_the_directory_are_escaped_in_html(tmp_path: Path) -> None:
    evil = make_service(
        "x",
        name="<script>alert(1)</script>",
        kind=ServiceKind.THIRD_PARTY_REPORTING,
        coverage=RadiusCoverage(52.6, -1.9, 1000),
    )
    result = compute_coverage([evil], toy_population(), replace(toy_geography()))
    context = ReportContext(result=result, generated_on=date(2026, 1, 1))
    out = tmp_path / "out"
    out.mkdir()
    write_report(context, out)
    assert "<script>alert(1)" not in (out / "report.html").read_text(encoding="utf-8")


def test_the_workbook_holds_no_formula_whatever_the_names(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from mapping.report.analyst import write_workbook

    link = '=HYPERLINK("http://evil.example","x")'
    geography = toy_geography()
    evil = replace(
        geography,
        pfas=tuple(replace(u, name=link) for u in geography.pfas),
        lads=tuple(replace(u, name=f"+{u.name}\x01") for u in geography.lads),
    )
    result = compute_coverage(toy_services(), toy_population(), evil)
    context = ReportContext(result=result, generated_on=date(2026, 1, 1), command="@SUM(1)", vintages=(("x", "-1+1"),))
    path = write_workbook(context, tmp_path / "coverage.xlsx")
    book = load_workbook(path)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f" or str(c.value).startswith(("=", "+", "@", "-1+"))]
    names = {str(c.value) for c in cells}
    assert "'" + link in names and "'+One\ufffd" in names and "'@SUM(1)" in names
    assert {ws.title for ws in book.worksheets} == {"README", "PFA", "LAD", "Gaps"}


# --- the command ------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    wiring.settings.cache_clear()
    yield tmp_path
    wiring.settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["coverage", "report", *args])
    return result.exit_code, result.output


def test_a_services_file_with_invalid_geometry_is_refused_and_nothing_written(cli_env: Path) -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[-1.6, 53.7], [-1.5, 53.8], [-1.5, 53.7], [-1.6, 53.8], [-1.6, 53.7]]],
    }
    path = cli_env / "services.geojson"
    path.write_text(write_services([polygon_service(bowtie, name="Bowtie")], "geojson"), encoding="utf-8")
    code, output = run("--out", str(cli_env / "out"), "--services", str(path))
    assert code == 2
    assert "services.geojson" in output and "geometry" in output and "Traceback" not in output
    assert not (cli_env / "out").exists()


def test_a_population_file_with_missing_codes_is_refused_and_nothing_written(cli_env: Path) -> None:
    centroids = cli_env / "pwc.csv"
    centroids.write_text("LSOA21CD,x,y\nE01000001,532181.8,181792.3\nE01000002,532000,181000\n", encoding="utf-8")
    counts = cli_env / "census.csv"
    counts.write_text("geography code,obs_value\nE01000001,1474\n", encoding="utf-8")
    out = cli_env / "out"
    code, output = run("--out", str(out), "--population", str(centroids), "--census", str(counts))
    assert code == 2
    assert "E01000002" in output and "no count" in output and "Nothing was written" in output
    assert not out.exists()


def test_a_population_file_covering_part_of_england_and_wales_needs_partial(cli_env: Path, geography_dir: Path) -> None:
    four = cli_env / "four.csv"
    four.write_text(
        "LSOA21CD,LSOA21NM,BNG_E,BNG_N,population\n"
        "E01000001,City of London 001A,532181.8,181792.3,1474\n"
        "E01000002,City of London 001B,532300,181500,1400\n"
        "E01033583,Hart 001A,480000,158000,1600\n"
        "W01001500,Cardiff 001A,318000,178000,1500\n",
        encoding="utf-8",
    )
    boundaries = (
        "--pfa", str(geography_dir / "pfa_dec2023_buc.geojson"),
        "--lad", str(geography_dir / "lad_may2025_buc.geojson"),
    )  # fmt: skip
    out = cli_env / "partial"
    code, output = run("--out", str(out), "--population", str(four), "--level", "pfa", *boundaries)
    assert code == 2 and "covers 3 of 318 local authorities" in output and "--partial" in output
    assert not out.exists()
    code, output = run("--out", str(out), "--population", str(four), "--level", "pfa", "--partial", *boundaries)
    assert code == 0, output
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "PARTIAL: 3 of 318" in summary and "covers only part of England and Wales" in summary
    assert "Census 2021 usual residents" in summary  # what the figures are, and that they are partial


def test_a_crime_file_with_unknown_forces_is_refused_and_nothing_written(cli_env: Path) -> None:
    crime = cli_env / "crime.csv"
    crime.write_text("Force Name,Financial Year,Number of Offences\nGotham Constabulary,2023/24,12\n", encoding="utf-8")
    out = cli_env / "out"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier file", encoding="utf-8")
    code, output = run("--out", str(out), "--recorded-crime", str(crime))
    assert code == 2
    assert "row 2" in output and "Gotham Constabulary" in output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert not [p for p in cli_env.iterdir() if p.name.startswith(".out.")]  # no staging left behind


def test_every_file_option_refuses_devices_folders_pipes_and_deep_json(cli_env: Path, geography_dir: Path) -> None:
    import os

    fifo = cli_env / "pipe.csv"
    os.mkfifo(fifo)  # nobody writes to it: reading it would hang
    deep = cli_env / "deep.geojson"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    lad = str(geography_dir / "lad_may2025_buc.geojson")
    cases = [
        (("--population", "/dev/zero"), "/dev/zero: is a device"),
        (("--population", str(geography_dir / "lsoa21_population_weighted_centroids.csv"), "--census", str(fifo)),
         "pipe.csv: is a pipe (FIFO)"),
        (("--recorded-crime", str(cli_env)), "is a folder, not a file: give the path of the recorded hate crime CSV"),
        (("--services", "/dev/zero"), "/dev/zero: is a device, not a regular file: save a services file"),
        (("--pfa", str(deep), "--lad", lad), "deep.geojson: the JSON is nested 100,000 levels deep; the limit is 32"),
    ]  # fmt: skip
    for args, words in cases:
        code, output = run("--out", str(cli_env / "out"), "--level", "pfa", *args)
        assert code == 2 and words in output.replace("\n", " "), output
        assert "Traceback" not in output and not (cli_env / "out").exists()


def test_bad_options_are_user_errors(cli_env: Path) -> None:
    code, output = run("--out", str(cli_env / "o"), "--level", "county")
    assert code == 2 and "--level" in output
    code, output = run("--out", str(cli_env / "o"), "--pfa", str(cli_env / "x.geojson"))
    assert code == 2 and "--lad" in output


@pytest.mark.slow
def test_fresh_machine_report_uses_the_labelled_proxy_and_grid(cli_env: Path) -> None:
    """No population, no boundaries: postcode proxy and 5 km grid, on the seeded directory, and every output says so."""
    out = cli_env / "fresh"
    code, output = run("--out", str(out), "--level", "pfa")
    assert code == 0, output
    assert {p.name for p in out.iterdir()} == {
        "coverage_pfa.csv",
        "coverage_pfa_wide.csv",
        "coverage.xlsx",
        "coverage.gpkg",
        "gaps.geojson",
        "report.html",
        "coverage_pfa.png",
        "coverage_pfa_strands.png",
        "summary.md",
    }
    rows = read_csv(out / "coverage_pfa.csv")
    assert len({r["code"] for r in rows}) == 43
    assert {r["population_unit"] for r in rows} == {"postcodes (PROXY)"}
    assert {r["geography_basis"] for r in rows} == {"grid_5km"}
    assert "PROXY" in output and "5 km" in output
    assert "No boundary files" in (out / "report.html").read_text(encoding="utf-8")
    assert "WARNING" in (out / "summary.md").read_text(encoding="utf-8")


def test_real_report_from_ons_files(cli_env: Path, geography_dir: Path) -> None:
    services = [
        radius_service(53.7997, -1.5492, 10_000, name="Leeds centre"),
        radius_service(51.4816, -3.1791, 8_000, name="Cardiff centre"),
    ]
    path = cli_env / "services.csv"
    path.write_text(write_services(services, "csv"), encoding="utf-8")
    crime = cli_env / "crime.csv"
    crime.write_text(
        "force_name,year,strand,count\nWest Yorkshire,2023/24,total,9000\nSouth Wales,2023/24,total,2000\n",
        encoding="utf-8",
    )
    out = cli_env / "real"
    code, output = run(
        "--out", str(out),
        "--services", str(path),
        "--pfa", str(geography_dir / "pfa_dec2023_buc.geojson"),
        "--lad", str(geography_dir / "lad_may2025_buc.geojson"),
        "--population", str(geography_dir / "lsoa21_population_weighted_centroids.csv"),
        "--recorded-crime", str(crime),
        "--siting", "3",
    )  # fmt: skip
    assert code == 0, output
    assert {p.name for p in out.iterdir()} == OUTPUTS
    rows = read_csv(out / "coverage_pfa.csv")
    any_rows = [r for r in rows if r["strand"] == ANY]
    assert sum(int(r["population"]) for r in any_rows) == 59_597_576
    (leeds,) = [r for r in read_csv(out / "coverage_lad.csv") if r["code"] == "E08000035" and r["strand"] == ANY]
    assert 0 < float(leeds["pct_population_covered"]) < 100
    (wy,) = [r for r in any_rows if r["code"] == "E23000010"]
    assert wy["recorded_hate_crime"] == "9000" and wy["priority_rank"] in ("1", "2")
    assert np.isclose(float(wy["rate_per_100k"]), 9000 / int(wy["population"]) * 100_000, atol=0.01)
    assert "Siting" in (out / "summary.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Local authorities with no coverage at all</b> (" in page and "Cornwall" in page
    (anglesey,) = [r for r in read_csv(out / "coverage_lad_wide.csv") if r["LAD25CD"] == "W06000001"]
    assert (anglesey["LAD25NMW"], anglesey["PFA23NM"]) == ("Ynys Môn", "North Wales")
    assert len(read_csv(out / "coverage_lsoa.csv")) == 35_672
    # London can be zoomed to (its boroughs' bounds), on the page and in an inset of the PNG maps.
    (london,) = set(re.findall(r'id="map-lad"[^>]*data-london="(\d+ \d+ \d+ \d+)"', page))
    assert 400 < int(london.split()[2]) < 800  # about 50-60 km wide, in 100 m units


def test_boundaries_stored_by_geography_load_are_used(cli_env: Path, geography_dir: Path) -> None:
    loaded = CliRunner().invoke(
        app,
        [
            "geography", "load",
            "--pfa", str(geography_dir / "pfa_dec2023_buc.geojson"),
            "--lad", str(geography_dir / "lad_may2025_buc.geojson"),
        ],
    )  # fmt: skip
    assert loaded.exit_code == 0, loaded.output
    # The bot's anonymous counts: 6 signpostings in Leeds (West Yorkshire), 2 in Kent (suppressed in exports).
    with Session(wiring.database(), expire_on_commit=False) as session:
        for lad, pfa, times in (("E08000035", "E23000010", 6), ("E07000110", "E23000032", 2)):
            for _ in range(times):
                record_signposting(
                    session=session, at=datetime(2026, 11, 2, tzinfo=UTC), lad_code=lad, pfa_code=pfa,
                    strands=[Strand.RACE], outcome="matched_local",
                )  # fmt: skip
        session.commit()
    out = cli_env / "stored"
    population = str(geography_dir / "lsoa21_population_weighted_centroids.csv")
    code, output = run("--out", str(out), "--level", "pfa", "--population", population)
    assert code == 0, output
    rows = read_csv(out / "coverage_pfa.csv")
    assert {r["geography_basis"] for r in rows} == {"boundaries"}
    assert {r["population_unit"] for r in rows} == {"residents"}
    assert "official ONS boundaries" in (out / "summary.md").read_text(encoding="utf-8")
    demand = {r["code"]: r["signposted_by_bot"] for r in rows if r["strand"] == ANY}
    assert demand["E23000010"] == "6" and demand["E23000032"] == "<5" and demand["E23000001"] == ""
    assert "Demand" in (out / "report.html").read_text(encoding="utf-8")


def test_summary_lists_names_that_contain_commas_unambiguously() -> None:
    from mapping.gaps import Geography
    from mapping.report.summary import summary_lines

    toy = toy_geography()
    named = replace(
        toy,
        lads=tuple(replace(u, name="Bristol, City of") if u.code == L3 else u for u in toy.lads),
        pfas=tuple(replace(u, name="London, City of") if u.code == P2 else u for u in toy.pfas),
    )
    assert isinstance(named, Geography)
    result = compute_coverage([], toy_population(), named)  # nothing covered: every area is listed
    text = "\n".join(summary_lines(ReportContext(result=result, generated_on=date(2026, 11, 28))))
    pfa_line = next(line for line in text.splitlines() if "force areas have no coverage at all" in line)
    lad_line = next(line for line in text.splitlines() if "local authorities have no coverage at all" in line)
    assert pfa_line.endswith("; London, City of.") and lad_line.endswith("; Bristol, City of.")


def test_confirmed_and_unconfirmed_coverage_are_counted_apart(tmp_path: Path) -> None:
    from mapping.types import Confirmation

    services = toy_services()
    # B (the square holding 300 + 200 people) comes from a public page, unchecked.
    services[1] = replace(services[1], confirmation=Confirmation.UNCONFIRMED, verified_on=None)
    result = compute_coverage(services, toy_population(), toy_geography())
    assert result.totals() == (657.0, 650.0)
    assert result.totals_confirmed() == (657.0, 150.0)  # A's 100 and C's 50
    l1 = next(r for r in result.rows_for("lad", ANY) if r.code == L1)
    assert (l1.population_covered, l1.population_covered_confirmed) == (400.0, 100.0)
    context = ReportContext(result=result, generated_on=date(2026, 11, 28))
    text = "\n".join(summary_lines(context))
    assert "Confirmed services alone cover 150 residents (22.8%); the other 500 are covered only by unconfirmed" in text
    assert "2 confirmed, 1 unconfirmed" in text  # A (radius) and C (areas) confirmed, B not
    out = tmp_path / "out"
    out.mkdir()
    write_report(context, out)
    (row,) = [r for r in read_csv(out / "coverage_lad.csv") if r["code"] == L1 and r["strand"] == ANY]
    assert (row["population_covered"], row["population_covered_confirmed"]) == ("400", "100")


def test_the_directory_version_changes_when_an_entry_does() -> None:
    from mapping.report.run import directory_version

    services = toy_services()
    same = directory_version(list(reversed(services)))
    assert directory_version(services) == same and same.startswith("5 entries, last changed ")
    services[0] = replace(services[0], version=services[0].version + 1)
    assert directory_version(services) != same


def test_a_population_file_means_no_postcode_directory_is_loaded(
    tmp_path: Path, geography_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LSOAs nest in districts by their names: the 2.4 million postcodes (seconds, hundreds of MB) stay unread."""
    import mapping.population
    import mapping.report.run as run_module
    from mapping.areas import AreaRegistry
    from mapping.boundaries import load_boundaries
    from mapping.report.run import BoundaryInput, ReportOptions, run_report

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the postcode directory was loaded")

    monkeypatch.setattr(run_module, "load_postcode_points", refuse)
    monkeypatch.setattr(mapping.population, "load_postcode_points", refuse)
    registry = AreaRegistry.default()
    boundaries = BoundaryInput(
        load_boundaries(geography_dir / "pfa_dec2023_buc.geojson").boundaries,
        load_boundaries(geography_dir / "lad_may2025_buc.geojson").boundaries,
        "PFA 2023, LAD 2025",
        "test",
    )
    outcome = run_report(
        [radius_service(53.7997, -1.5492, 10_000, name="Leeds centre")],
        out_dir=tmp_path / "out",
        options=ReportOptions(
            population=str(geography_dir / "lsoa21_population_weighted_centroids.csv"), levels=("pfa",)
        ),
        boundaries=boundaries,
        pfa_for_lad=registry.pfa_for_lad,
        area_names={a.code: a.name for a in (*registry.pfas(), *registry.lads())},
    )
    assert outcome.context.result.population.total == 59_597_576


def test_percentages_never_round_to_all_or_none() -> None:
    from mapping.report.summary import fmt_pct

    assert [fmt_pct(v) for v in (100.0, 99.97, 99.94, 0.0, 0.01, None)] == [
        "100.0%",
        ">99.9%",
        "99.9%",
        "0.0%",
        "<0.1%",
        "n/a",
    ]
