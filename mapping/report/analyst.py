"""Outputs in the conventions analysts use: wide CSVs keyed by ONS codes, an Excel workbook with a README sheet,
a GeoPackage of areas and gaps (EPSG:27700) and a per-LSOA table for joins in QGIS.

Wide tables have one row per area and a column per strand, headed with ONS field names (``PFA23CD``, ``PFA23NM``,
``LAD25CD``, ``LAD25NM``, ``LAD25NMW`` for the Welsh names ONS gives), the force on each district row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from mapping.gaps import ANY
from mapping.report.context import ReportContext
from mapping.spreadsheet import csv_writer, xlsx_text_cell

__all__ = ["wide_rows", "write_geopackage", "write_lsoa_csv", "write_wide_csv", "write_workbook"]

Cell = str | float | int | None
CODE_FIELDS = {"pfa": ("PFA23CD", "PFA23NM"), "lad": ("LAD25CD", "LAD25NM")}


def _strand_column(strand: str) -> str:
    return f"pct_covered_{strand}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def wide_rows(context: ReportContext, level: str) -> tuple[list[str], list[list[Cell]]]:
    """The header and one row per area of ``level``: codes and names, population, a column per strand, then the
    "any" figures (people and area covered, confirmed-only share, services, gap) and any extra columns."""
    result = context.result
    code_field, name_field = CODE_FIELDS[level]
    header = [code_field, name_field]
    if level == "lad":
        header += ["LAD25NMW", "PFA23CD", "PFA23NM"]
    strands = list(result.strands)
    extras = context.extra_columns(level)
    unit = context.unit
    header += [f"{unit}", *[_strand_column(s) for s in strands]]
    header += [
        f"{unit}_covered_any",
        f"{unit}_not_covered_any",
        "pct_covered_any_confirmed_only",
        "area_km2",
        "pct_area_covered_any",
        "gap_km2_any",
        "services_any",
        *extras,
    ]
    pfa_names = {u.code: u.name for u in result.geography.pfas}
    rows: list[list[Cell]] = []
    for code, per in context.area_rows(level).items():
        anyrow = per[ANY]
        row: list[Cell] = [code, anyrow.name]
        if level == "lad":
            parent = anyrow.pfa_code or ""
            row += [context.welsh_names.get(code, ""), parent, pfa_names.get(parent, "")]
        row.append(round(anyrow.population))
        row += [_round(per[s].pct_population, 2) for s in strands]
        row += [
            round(anyrow.population_covered),
            round(anyrow.population - anyrow.population_covered),
            _round(anyrow.pct_population_confirmed, 2),
            round(anyrow.area_km2, 3),
            _round(anyrow.pct_area, 2),
            round(anyrow.area_km2 - anyrow.area_covered_km2, 3),
            anyrow.services,
        ]
        extra = context.extra_for(level, code)
        row += [extra.get(c) for c in extras]
        rows.append(row)
    return header, rows


def write_wide_csv(context: ReportContext, level: str, path: Path) -> Path:
    """``coverage_{level}_wide.csv``: one row per area, a column per strand (blank where there is no one)."""
    header, rows = wide_rows(context, level)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def write_lsoa_csv(context: ReportContext, path: Path) -> Path | None:
    """``coverage_lsoa.csv``: per LSOA, its district, force, people and which strands cover it (1/0), to join
    on ``LSOA21CD`` in QGIS. Not written for the postcode proxy, whose points are not LSOAs."""
    result = context.result
    population = result.population
    if population.basis.is_proxy:
        return None
    lads, pfas = result.geography.lads, result.geography.pfas
    strands = [s for s in result.strands if s != ANY]
    covered = {s: result.covered_points(s) for s in [*strands, ANY]}
    confirmed_any = result.covered_points(ANY, confirmed_only=True)
    names = population.names if population.names is not None else np.full(len(population), "")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(
            ["LSOA21CD", "LSOA21NM", "LAD25CD", "PFA23CD", context.unit, *[f"covered_{s}" for s in strands],
             "covered_any", "covered_any_confirmed_only"]
        )  # fmt: skip
        # Column by column as Python lists, then zipped: a tenth of the time of indexing arrays cell by cell.
        lad_codes, pfa_codes = [u.code for u in lads], [u.code for u in pfas]
        columns: list[list[Cell]] = [
            population.codes.tolist(),
            names.tolist(),
            [lad_codes[i] for i in result.point_lad.tolist()],
            [pfa_codes[i] for i in result.point_pfa.tolist()],
            [f"{v:.0f}" for v in population.population.tolist()],
            *[covered[s].astype(np.int64).tolist() for s in [*strands, ANY]],
            confirmed_any.astype(np.int64).tolist(),
        ]
        writer.writerows(zip(*columns, strict=True))
    return path


def _readme(context: ReportContext) -> list[tuple[str, str]]:
    result = context.result
    lines = [
        ("Title", "Third-party reporting coverage, England and Wales"),
        ("Generated", context.generated_on.isoformat()),
        ("Command", context.command or "(run from Python)"),
        ("Software", context.software or "signpost"),
        ("Services counted", f"{context.kinds_label}, {context.scope_label} ({len(result.services)} services)"),
        ("Directory", context.directory_version or "-"),
    ]
    national = context.national_line()
    if national:
        lines.append(("National services", national))
    lines += [("Method", line) for line in context.basis_lines()]
    if context.directory_is_thin():
        lines += [("Directory (read first)", line) for line in context.directory_lines()]
    lines += [(f"Vintage: {what}", which) for what, which in context.vintages]
    lines += [
        ("Sheets", "PFA and LAD: one row per area, a column per strand (% of people covered); Gaps: each "
         "uncovered part of an area. Per LSOA (join on LSOA21CD): coverage_lsoa.csv beside this workbook"),
        ("Attribution", context.attribution()),
    ]  # fmt: skip
    return lines


def write_workbook(context: ReportContext, path: Path) -> Path:
    """``coverage.xlsx``: README (method, vintages, attribution, command, version), then PFA, LAD and Gaps."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)  # streamed: a third of the time of the in-memory workbook
    bold = Font(bold=True)

    def sheet(title: str, header: Sequence[str], rows: Sequence[Sequence[Cell]], widths: Sequence[int]) -> None:
        ws = book.create_sheet(title)
        ws.freeze_panes = "A2" if title == "README" else "C2"
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        heading = []
        for name in header:
            cell = xlsx_text_cell(ws, name)
            cell.font = bold
            heading.append(cell)
        ws.append(heading)
        for row in rows:
            ws.append([xlsx_text_cell(ws, v) if isinstance(v, str) else v for v in row])

    sheet("README", ["Field", "Value"], [list(line) for line in _readme(context)], [28, 140])
    for level in context.result.levels:
        header, rows = wide_rows(context, level)
        sheet(level.upper(), header, rows, [max(10, min(40, len(str(h)) + 2)) for h in header])
    gaps: list[list[Cell]] = [
        [g.level, g.code, g.name, g.strand, g.part, g.parts, round(g.area_km2, 3), round(g.population)]
        for g in context.result.gaps
    ]
    gap_header = ["level", "code", "name", "strand", "part", "parts", "gap_km2", f"{context.unit}_in_gap"]
    sheet("Gaps", gap_header, gaps, [8, 11, 30, 20, 6, 6, 10, 16])
    book.save(path)
    return path


def write_geopackage(context: ReportContext, path: Path) -> Path:
    """``coverage.gpkg`` in British National Grid (EPSG:27700): a layer per area level with the wide table's
    columns, and a ``gaps`` layer of the uncovered parts with their people."""
    write = _pyogrio_write()
    result = context.result
    path.unlink(missing_ok=True)
    for level in result.levels:
        header, rows = wide_rows(context, level)
        units = {u.code: u for u in result.geography.level(level)}
        geometry = np.array(
            [shapely.to_wkb(shapely.multipolygons(shapely.get_parts(units[str(r[0])].geometry))) for r in rows],
            dtype=object,
        )
        columns = [_column([r[i] for r in rows]) for i in range(len(header))]
        write(path, geometry, columns, fields=header, layer=level, crs="EPSG:27700", geometry_type="MultiPolygon",
              driver="GPKG", append=path.exists())  # fmt: skip
    gaps = result.gaps
    if gaps:
        geometry = np.array([shapely.to_wkb(g.bng()) for g in gaps], dtype=object)
        fields = ["level", "code", "name", "strand", "part", "parts", "gap_km2", f"{context.unit}_in_gap"]
        columns = [
            np.array([g.level for g in gaps], dtype=object),
            np.array([g.code for g in gaps], dtype=object),
            np.array([g.name for g in gaps], dtype=object),
            np.array([g.strand for g in gaps], dtype=object),
            np.array([g.part for g in gaps], dtype=np.int32),
            np.array([g.parts for g in gaps], dtype=np.int32),
            np.array([g.area_km2 for g in gaps], dtype=np.float64),
            np.array([g.population for g in gaps], dtype=np.float64),
        ]
        write(path, geometry, columns, fields=fields, layer="gaps", crs="EPSG:27700", geometry_type="Polygon",
              driver="GPKG", append=path.exists())  # fmt: skip
    return path


def _pyogrio_write() -> Callable[..., Any]:
    """pyogrio's raw writer. Imported first here, pyogrio is kept from importing pandas and geopandas (half a
    second, often installed beside it on an analyst's machine) for its DataFrame API, which the report does not
    use; pyogrio's ``read_dataframe`` then needs a fresh process."""
    blocked = [] if "pyogrio" in sys.modules else [n for n in ("geopandas", "pandas") if n not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        from pyogrio.raw import write
    finally:
        for name in blocked:
            del sys.modules[name]
    return write


def _column(values: list[Cell]) -> np.ndarray:
    """A typed GeoPackage column: numbers (blank as NaN) stay numbers, anything else is text."""
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
        if all(isinstance(v, int) for v in values):
            return np.array(values, dtype=np.int64)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(["" if v is None else str(v) for v in values], dtype=object)
