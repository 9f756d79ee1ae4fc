"""The whole exercise in one call: geography, population, coverage, recorded crime, siting, outputs.

Pure (no database): the caller hands in the services, any boundaries it has stored and any demand counts.
Outputs are written into a temporary directory next to ``out_dir`` and moved into place only when all of them
are written, so an error never leaves a half-written report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from mapping.areas import LAD, AreaRegistry, area_level
from mapping.crime import CrimeTable, load_recorded_crime, prioritise
from mapping.defaults import DEFAULT_RADIUS_M
from mapping.gaps import Geography, Progress, compute_coverage
from mapping.nesting import DistrictNames, load_nested_population
from mapping.population import PopulationPoints, PostcodePoints, load_postcode_points, postcode_proxy
from mapping.report import write_report
from mapping.report.context import AreaExtra, ReportContext
from mapping.siting import propose_sites
from mapping.types import ServiceKind, ServiceRecord, Strand

__all__ = ["BoundaryInput", "ReportOptions", "ReportOutcome", "directory_version", "run_report"]


@dataclass(frozen=True)
class BoundaryInput:
    """Official boundaries (objects with ``code``, ``name`` and a WGS84 ``geometry``) and where they came from."""

    pfas: Sequence[object]
    lads: Sequence[object]
    vintage: str
    source: str


@dataclass(frozen=True)
class ReportOptions:
    kinds: tuple[ServiceKind, ...] = (ServiceKind.THIRD_PARTY_REPORTING,)
    strands: tuple[Strand, ...] = ()
    levels: tuple[str, ...] = ("pfa", "lad")
    population: str | None = None  # path or URL of the LSOA centroids (with or without counts)
    census: str | None = None  # path or URL of the Census counts, when not in the centroids file
    lsoa_lookup: str | None = None  # an ONS LSOA -> LAD lookup, instead of the districts the LSOA names give
    partial: bool = False  # accept a population file that covers only part of England and Wales
    recorded_crime: str | None = None
    crime_year: str | None = None
    siting: int = 0
    siting_radius_m: float = DEFAULT_RADIUS_M
    include_national: bool = False  # local provision by default; national services are reported beside it
    today: date = field(default_factory=date.today)
    command: str = ""  # the command line, repeated in the workbook's README
    parallel: bool = False  # draw the PNG maps in a forked process (see mapping.report.write_report)


@dataclass(frozen=True)
class ReportOutcome:
    context: ReportContext
    files: tuple[Path, ...]


def run_report(
    services: Sequence[ServiceRecord],
    *,
    out_dir: Path,
    options: ReportOptions,
    boundaries: BoundaryInput | None,
    pfa_for_lad: Callable[[str], str | None],
    area_names: dict[str, str],
    demand: Collection[AreaExtra] = (),
    services_source: str = "the directory",
    progress: Progress | None = None,
) -> ReportOutcome:
    """Run the coverage-gap exercise and write every output into ``out_dir``.

    Raises
    ------
    mapping.population.PopulationError, mapping.crime.CrimeError, mapping.gaps.CoverageInputError, ValueError
        Bad inputs, with messages naming what to fix; nothing is written then.
    """
    tell = progress or (lambda step, done, total: None)
    vintages: list[tuple[str, str]] = [("Services", f"{services_source}, {len(services)} entries")]
    postcodes = _Postcodes(tell)

    # Cheap inputs first, so a bad file fails before the slow work starts.
    crime_table = _recorded_crime(options, area_names)
    population = _population(options, area_names, postcodes)
    vintages.append(("Population", f"{population.basis.label} ({population.basis.vintage}; {population.basis.source})"))
    tell("population", 1, 1)
    geography, vintage = _geography(boundaries, pfa_for_lad, area_names, postcodes)
    vintages.append(vintage)
    tell("geography", 1, 1)

    result = compute_coverage(
        services,
        population,
        geography,
        kinds=options.kinds,
        strands=options.strands,
        levels=options.levels,
        include_national=options.include_national,
        progress=progress,
    )
    priorities: tuple = ()
    crime_note = ""
    if crime_table is not None:
        priorities, crime_note = prioritise(crime_table, result, year=options.crime_year)
        vintages.append(("Recorded hate crime", f"{crime_table.source} ({crime_note.split(';')[0].rstrip('.')})"))
    siting = None
    if options.siting:
        siting = propose_sites(result, options.siting, radius_m=options.siting_radius_m)
        tell("siting", 1, 1)
    registry = AreaRegistry.default()
    context = ReportContext(
        result=result,
        generated_on=options.today,
        directory_version=directory_version(services),
        welsh_names={a.code: a.name_cy for a in (*registry.pfas(), *registry.lads()) if a.name_cy},
        command=options.command,
        software=_software(),
        vintages=tuple(vintages),
        priorities=priorities,
        crime_note=crime_note,
        siting=siting,
        extras=tuple(demand),
    )
    files = _write_atomically(context, out_dir, tell, parallel=options.parallel)
    return ReportOutcome(context, files)


class _Postcodes:
    """The postcode directory, read the first time it is needed (the proxy population, the grid) and only then."""

    def __init__(self, tell: Progress) -> None:
        self._tell = tell
        self._points: PostcodePoints | None = None

    def __call__(self) -> PostcodePoints:
        if self._points is None:
            self._tell("postcodes", 0, 1)
            self._points = load_postcode_points()
            self._tell("postcodes", 1, 1)
        return self._points


def _recorded_crime(options: ReportOptions, area_names: dict[str, str]) -> CrimeTable | None:
    """The recorded hate crime table, when one is given, checked to have the year asked for."""
    if not options.recorded_crime:
        return None
    names = {code: name for code, name in area_names.items() if code[:3] in ("E23", "W15")}
    crime_table = load_recorded_crime(options.recorded_crime, force_names=names)
    if options.crime_year and options.crime_year not in crime_table.years:
        raise ValueError(
            f"{options.recorded_crime}: no rows for year {options.crime_year!r}; "
            f"the file has {', '.join(crime_table.years)}"
        )
    return crime_table


def _population(options: ReportOptions, area_names: dict[str, str], postcodes: _Postcodes) -> PopulationPoints:
    """The LSOA population given, else postcode counts as a proxy."""
    if not options.population:
        return postcode_proxy(postcodes())
    # Each LSOA in its district by the ONS nesting (see mapping.nesting): no postcode directory needed.
    districts = DistrictNames.of({c: n for c, n in area_names.items() if area_level(c) == LAD})
    return load_nested_population(
        options.population,
        options.census,
        districts=districts,
        lookup=options.lsoa_lookup,
        partial=options.partial,
    )


def _geography(
    boundaries: BoundaryInput | None,
    pfa_for_lad: Callable[[str], str | None],
    area_names: dict[str, str],
    postcodes: _Postcodes,
) -> tuple[Geography, tuple[str, str]]:
    """The official boundaries given, else 5 km grid squares from the postcodes; with its line for the vintages."""
    if boundaries is not None:
        geography = Geography.from_boundaries(
            pfas=boundaries.pfas,  # type: ignore[arg-type]
            lads=boundaries.lads,  # type: ignore[arg-type]
            pfa_for_lad=pfa_for_lad,
            vintage=boundaries.vintage,
        )
        return geography, ("Boundaries", f"{boundaries.source} ({boundaries.vintage})")
    geography = Geography.grid(postcodes(), pfa_for_lad=pfa_for_lad, names=area_names)
    return geography, ("Grid (no boundaries)", f"5 km squares from {geography.vintage}")


def _software() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"signpost {version('signpost')}"
    except PackageNotFoundError:
        return "signpost"


def directory_version(services: Sequence[ServiceRecord]) -> str:
    """Which state of the directory a report counted: entries, the latest change, a short content hash.

    Two reports with the same hash counted the same entries at the same versions.
    """
    import hashlib

    digest = hashlib.sha256()
    for s in sorted(services, key=lambda s: s.id):
        digest.update(f"{s.id}:{s.version}:{s.updated_at or ''}:{s.status}|".encode())
    changes = [d for s in services if (d := s.updated_at.date() if s.updated_at else s.verified_on) is not None]
    last = f", last changed {max(changes).isoformat()}" if changes else ""
    return f"{len(services)} entries{last}, #{digest.hexdigest()[:8]}"


def _write_atomically(
    context: ReportContext, out_dir: Path, progress: Progress, *, parallel: bool = False
) -> tuple[Path, ...]:
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file: give a directory for --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        written = write_report(context, staging, progress=progress, parallel=parallel)
        if not out_dir.exists():
            os.replace(staging, out_dir)
        else:
            for path in written:
                os.replace(path, out_dir / path.name)
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return tuple(out_dir / p.name for p in written)
