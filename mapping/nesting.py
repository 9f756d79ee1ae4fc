"""Each LSOA in its local authority district by the ONS nesting, never by proximity.

LSOAs nest exactly in districts, and ONS names every LSOA after the district it was drawn in ("Hart 001A" is in
Hart). The name's district is looked up among the current districts (the authored LAD -> PFA table) and, for the
districts merged or renamed since, in the authored succession table ``mapping/data/lad_predecessors.csv``
(checked against the official LAD polygons by ``tests/mapping/test_nesting.py``). An ONS LSOA -> LAD lookup file
(``--lsoa-lookup``) replaces the names when given; its LAD codes may be of any vintage the succession table
knows. An LSOA that neither places is an error naming it: a nearest-postcode or nearest-polygon guess puts
LSOAs near district edges in the wrong district, and the wrong force.

A population file is also checked to cover every district of England and Wales; one that does not is refused
unless the caller says it is partial, and then every output says so.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from mapping.population import CODE_COLUMNS, PopulationError, PopulationPoints, _find, _rows, load_lsoa_population

__all__ = ["DistrictNames", "check_extent", "load_nested_population", "nest_in_districts", "predecessors"]

_LSOA_SUFFIX = re.compile(r"\s+\d{3}[A-Z]$")  # "Hart 001A": the district's name, then a number and a letter
LAD_CODE_COLUMNS = (r"lad\d{2}cd", r"ltla\d{2}cd", r"lad_?code", r"local authority code")


@dataclass(frozen=True, slots=True)
class Predecessor:
    """A district name or code used in LSOA names or older lookups, and the current district it is part of."""

    name: str
    code: str
    lad_code: str
    change: str


@cache
def predecessors() -> tuple[Predecessor, ...]:
    """The authored succession table (districts merged since 2021, and the short names LSOA names use)."""
    text = resources.files("mapping.data").joinpath("lad_predecessors.csv").read_text(encoding="utf-8")
    return tuple(
        Predecessor(r["name"].strip(), r["code"].strip(), r["lad_code"].strip(), r["change"].strip())
        for r in csv.DictReader(io.StringIO(text))
    )


@dataclass(frozen=True)
class DistrictNames:
    """The current districts of England and Wales by name and by code, with their predecessors."""

    by_name: Mapping[str, str]  # current LAD name -> code
    codes: frozenset[str]

    @classmethod
    def of(cls, lads: Mapping[str, str]) -> DistrictNames:
        """From ``{code: name}`` of the current LADs (e.g. the authored LAD -> PFA table)."""
        return cls({name.casefold(): code for code, name in lads.items()}, frozenset(lads))

    def code_for_name(self, district: str) -> str | None:
        key = district.strip().casefold()
        found = self.by_name.get(key)
        if found is not None:
            return found
        for p in predecessors():
            if p.name.casefold() == key and p.lad_code in self.codes:
                return p.lad_code
        return None

    def current_code(self, code: str) -> str | None:
        code = code.strip().upper()
        if code in self.codes:
            return code
        for p in predecessors():
            if p.code == code and p.lad_code in self.codes:
                return p.lad_code
        return None


def nest_in_districts(
    points: PopulationPoints, districts: DistrictNames, *, lookup: str | Path | None = None, source: str = ""
) -> PopulationPoints:
    """``points`` with each LSOA's current LAD code, from the ONS nesting (its name, or ``lookup``).

    Raises
    ------
    PopulationError
        Naming the first LSOA (row, code, name) that cannot be placed, and what to give instead.
    """
    if lookup is not None:
        return replace(points, lad_codes=_from_lookup(points, districts, lookup))
    where = source or points.basis.source
    if points.names is None:
        raise PopulationError(
            f"{where}: no LSOA name column (LSOA21NM): the names say which district each LSOA is in. "
            "Use the ONS file with names, or give an ONS LSOA -> LAD lookup with --lsoa-lookup FILE"
        )
    out = np.empty(len(points), dtype=object)
    cache_by_district: dict[str, str | None] = {}
    for i, (code, name) in enumerate(zip(points.codes.tolist(), points.names.tolist(), strict=True)):
        district = _LSOA_SUFFIX.sub("", name)
        if district not in cache_by_district:
            cache_by_district[district] = districts.code_for_name(district) if district != name else None
        lad = cache_by_district[district]
        if lad is None:
            raise PopulationError(
                f"{where}: row {i + 2}, LSOA {code} {name!r}: cannot tell its district from the name "
                f"({district!r} is not a current local authority of England and Wales nor a former one in "
                "mapping/data/lad_predecessors.csv); give an ONS LSOA -> LAD lookup with --lsoa-lookup FILE"
            )
        out[i] = lad
    return replace(points, lad_codes=out.astype(str))


def _from_lookup(points: PopulationPoints, districts: DistrictNames, lookup: str | Path) -> np.ndarray:
    header, rows, name = _rows(lookup)
    code_i, lad_i = _find(header, CODE_COLUMNS), _find(header, LAD_CODE_COLUMNS)
    if code_i is None or lad_i is None:
        raise PopulationError(
            f"{name}: an LSOA -> LAD lookup needs an LSOA code column (LSOA21CD) and a LAD code column "
            "(LAD21CD, LAD24CD, ...); give the ONS lookup file"
        )
    lad_of: dict[str, str] = {}
    for i, row in enumerate(rows):
        line = i + 2
        if len(row) <= max(code_i, lad_i):
            raise PopulationError(f"{name}: row {line}: {len(row)} fields, the header has {len(header)}")
        lsoa, lad = row[code_i].strip().upper(), row[lad_i].strip().upper()
        current = districts.current_code(lad)
        if current is None:
            raise PopulationError(
                f"{name}: row {line}, field {header[lad_i]}: {lad} is not a current or known former local "
                "authority of England and Wales; use a lookup to current (LAD 2023 or later) districts"
            )
        if lad_of.setdefault(lsoa, current) != current:
            raise PopulationError(
                f"{name}: row {line}, field {header[lad_i]}: LSOA {lsoa} is also in {lad_of[lsoa]} on an earlier "
                "row; an LSOA is in one district: give a best-fit LSOA -> LAD lookup"
            )
    missing = [c for c in points.codes.tolist() if c not in lad_of]
    if missing:
        shown = ", ".join(missing[:5])
        raise PopulationError(
            f"{name}: {len(missing)} LSOAs of the population file are not in the lookup (e.g. {shown}); "
            "use the lookup for the same LSOA vintage"
        )
    return np.array([lad_of[c] for c in points.codes.tolist()], dtype=str)


def check_extent(points: PopulationPoints, all_lads: Collection[str], *, partial: bool) -> PopulationPoints:
    """Refuse a population file that leaves out districts of England and Wales, unless ``partial``.

    A partial file is labelled as such in its basis, so every output says the figures are not national.
    """
    if points.lad_codes is None:
        raise ValueError("nest the LSOAs in their districts first (nest_in_districts)")
    present = set(np.unique(points.lad_codes).tolist())
    missing = sorted(set(all_lads) - present)
    if not missing:
        return points
    covered = len(set(all_lads) & present)
    if not partial:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise PopulationError(
            f"{points.basis.source}: covers {covered} of {len(all_lads)} local authorities of England and Wales "
            f"(none in {shown}); give the complete ONS file, or add --partial to report on these areas only"
        )
    basis = points.basis
    label = f"{basis.label} (PARTIAL: {covered} of {len(all_lads)} local authorities of England and Wales)"
    return replace(points, basis=replace(basis, label=label, partial=True))


def load_nested_population(
    centroids: str | Path,
    counts: str | Path | None = None,
    *,
    districts: DistrictNames,
    lookup: str | Path | None = None,
    partial: bool = False,
) -> PopulationPoints:
    """The LSOA population (see :func:`mapping.population.load_lsoa_population`), each LSOA in its district,
    checked to cover England and Wales (or labelled partial)."""
    points = nest_in_districts(load_lsoa_population(centroids, counts), districts, lookup=lookup)
    return check_extent(points, districts.codes, partial=partial)
