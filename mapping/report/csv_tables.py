"""``coverage_pfa.csv`` / ``coverage_lad.csv``: one row per area and strand (and "any")."""

from __future__ import annotations

from pathlib import Path

from mapping.report.context import ReportContext
from mapping.spreadsheet import csv_writer

__all__ = ["CSV_COLUMNS", "write_csv", "write_sites_csv"]

CSV_COLUMNS = (
    "level",
    "code",
    "name",
    "pfa_code",
    "strand",
    "population",
    "population_covered",
    "pct_population_covered",
    "population_covered_confirmed",
    "pct_population_covered_confirmed",
    "area_km2",
    "area_covered_km2",
    "pct_area_covered",
    "services",
    "no_coverage",
    "population_unit",
    "population_basis",
    "geography_basis",
)


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_csv(context: ReportContext, level: str, path: Path) -> Path:
    """One row per area and strand; the last columns say what the population and the geography are based on
    (``postcodes (PROXY)`` and ``grid_5km`` when the official files were not used)."""
    result = context.result
    extra_columns = context.extra_columns(level)
    unit = f"{context.unit} (PROXY)" if context.is_proxy else context.unit
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow([*CSV_COLUMNS, *extra_columns])
        for r in result.rows_for_level(level):
            extra = context.extra_for(level, r.code)
            writer.writerow(
                [
                    r.level,
                    r.code,
                    r.name,
                    r.pfa_code or "",
                    r.strand,
                    _num(r.population, 0),
                    _num(r.population_covered, 0),
                    _num(r.pct_population, 2),
                    _num(r.population_covered_confirmed, 0),
                    _num(r.pct_population_confirmed, 2),
                    _num(r.area_km2, 3),
                    _num(r.area_covered_km2, 3),
                    _num(r.pct_area, 2),
                    r.services,
                    "yes" if r.no_coverage else "no",
                    unit,
                    result.population.basis.label,
                    result.geography.basis.value,
                    *["" if extra.get(c) is None else extra.get(c) for c in extra_columns],
                ]
            )
    return path


def write_sites_csv(context: ReportContext, path: Path) -> Path:
    """``proposed_sites.csv``: the siting answer, one row per proposed centre in the order chosen."""
    siting = context.siting
    assert siting is not None
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(
            ["rank", "lat", "lon", "easting", "northing", "lad_code", "lad_name", "pfa_code", "pfa_name",
             "radius_m", "strand", f"newly_covered_{context.unit}"]
        )  # fmt: skip
        for s in siting.sites:
            writer.writerow(
                [s.rank, f"{s.lat:.5f}", f"{s.lon:.5f}", f"{s.easting:.0f}", f"{s.northing:.0f}", s.lad_code,
                 s.lad_name, s.pfa_code, s.pfa_name, f"{siting.radius_m:.0f}", siting.strand, f"{s.newly_covered:.0f}"]
            )  # fmt: skip
    return path
