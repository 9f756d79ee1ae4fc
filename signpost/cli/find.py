"""`signpost find "LS6 1AA" [--strand race] [--kind third_party_reporting] [--json] [--limit N]`.

Locates the query (postcode, sector, outcode, place or "lat,lon"), loads the directory, builds the
signposting index (with the loaded boundaries when there are any) and prints the ranked services.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mapping.areas import AreaRegistry
from mapping.locate import Ambiguous, Locator, NotFound, Problem
from mapping.places import Gazetteer
from mapping.postcodes import PostcodeDirectory
from mapping.types import (
    COMMUNITIES,
    ChannelKind,
    Location,
    Match,
    MatchReason,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)
from signpost import wiring
from signpost.cli.console import escape, fail

if TYPE_CHECKING:  # the geometry stack and the database load when the command runs, never for --help
    from mapping.boundaries import BoundaryIndex
    from mapping.signposting import SignpostIndex

console = Console()
errors = Console(stderr=True)

_CONTACT_ORDER = (ChannelKind.PHONE, ChannelKind.TEXT, ChannelKind.WEB_FORM, ChannelKind.WEB, ChannelKind.EMAIL)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    # Negative coordinates ("-1.55, 53.8" typed the wrong way round) must reach the locator, not the option parser.
    app.command("find", context_settings={"ignore_unknown_options": True})(find_command)


def find_command(
    query: Annotated[
        str, typer.Argument(help='A postcode ("LS6 1AA"), sector ("LS6 1"), outcode, town, or "lat,lon".')
    ],
    strand: Annotated[
        list[Strand] | None, typer.Option("--strand", "-s", help="The strands that apply (repeatable).")
    ] = None,
    kind: Annotated[
        list[ServiceKind] | None, typer.Option("--kind", "-k", help="Only these kinds of service (repeatable).")
    ] = None,
    community: Annotated[
        list[str] | None,
        typer.Option(
            "--community",
            help="A community the person belongs to (repeatable): " + ", ".join(COMMUNITIES) + ". Services limited"
            " to a community come after the services for everyone unless it is given.",
        ),
    ] = None,
    age: Annotated[
        int | None,
        typer.Option(
            "--age",
            min=0,
            max=130,
            help="The person's age. Services with age limits come after the others unless it is inside them.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many services.")] = None,
) -> None:
    """Who can help someone at this place: the services covering it, ranked, each saying why."""
    from mapping.signposting import OUTSIDE_ENGLAND_WALES_KINDS, SignpostIndex

    unknown = [c for c in community or () if c not in COMMUNITIES]
    if unknown:
        fail(f"unknown community {unknown[0]!r}: use one of {', '.join(COMMUNITIES)}")
    services, boundaries = _directory()
    registry = AreaRegistry.default()
    locator = Locator(
        postcodes=PostcodeDirectory(),
        registry=registry,
        gazetteer=Gazetteer(),
        boundaries=boundaries,
        geocoder=wiring.geocoder(),
    )
    result = locator.locate(query)
    if isinstance(result, Ambiguous):
        choices = "; ".join(f'"{p.name}, {p.district}" ({p.region})' if p.district else p.label for p in result.choices)
        fail(f"'{query}' could be more than one place: run again with one of: {choices}")
    outside = isinstance(result, NotFound) and result.problem == Problem.OUTSIDE_ENGLAND_WALES
    if isinstance(result, NotFound) and not outside:
        fail(result.message)

    index = SignpostIndex.build(services, areas=boundaries.geometry if boundaries is not None else None)
    location: Location | None = None
    notice = ""
    if isinstance(result, NotFound):
        # Outside England and Wales only the routes that work anywhere in the UK apply; no point is needed.
        notice = f"{result.message} Routes that still apply: {', '.join(sorted(OUTSIDE_ENGLAND_WALES_KINDS))}."
        matches = index.outside_england_wales(strands=strand or (), kinds=kind or (), limit=limit)
    else:
        location = result.location
        band = None if age is None else (age, age)
        matches = index.find(
            location, strands=strand or (), kinds=kind or (), limit=limit, communities=community or (), age=band
        )

    if as_json:
        console.print_json(json.dumps(_as_json(query, location, matches, index, notice), ensure_ascii=False))
        return
    if location is None:
        errors.print(f"[yellow]{escape(notice)}")
    else:
        console.print(_describe(location, registry, index))
    _print_table(matches)


def _directory() -> tuple[list[ServiceRecord], BoundaryIndex | None]:
    """The active services, and the stored boundaries (``None`` when none are loaded)."""
    from sqlmodel import Session

    from services_db.boundaries import load_boundary_index
    from services_db.repository import list_services

    with Session(wiring.database(), expire_on_commit=False) as session:
        return list_services(session=session, status=ServiceStatus.ACTIVE), load_boundary_index(session=session)


def _describe(location: Location, registry: AreaRegistry, index: SignpostIndex) -> str:
    names = []
    for code in (location.lad_code, location.pfa_code):
        info = registry.area(code) if code else None
        names.append(f"{info.name} ({code})" if info else str(code))
    level = (
        "area coverage matched by boundaries"
        if index.boundaries_loaded
        else "area coverage matched by codes (no boundaries loaded)"
    )
    return (
        f"[bold]{escape(location.label) if location.label else f'{location.lat:.5f}, {location.lon:.5f}'}[/] "
        f"({location.source.value}, within about {_distance(location.precision_m)}): "
        f"{names[0]}, police force area {names[1]}; {level}"
    )


def _print_table(matches: list[Match]) -> None:
    table = Table(title=f"{len(matches)} services")
    for column in ("service", "kind", "why", "distance", "contact"):
        table.add_column(column)
    for match in matches:
        service = match.service
        name = escape(service.name) + (" [yellow](caveat)[/]" if service.caveat else "")
        why = _why(match)
        distance = _distance(match.distance_m) if match.distance_m is not None else ""
        table.add_row(name, service.kind.value, why, distance, escape("\n".join(_contacts(match))))
    console.print(table)
    if any(m.reason is MatchReason.NEAREST_OUTSIDE for m in matches):
        console.print("[dim]'nearest outside your area': no local third-party reporting covers this place.[/]")


def _why(match: Match) -> str:
    prefix = "specialist; " if match.specialist else ""
    reason = {
        MatchReason.COVERS: "covers this place",
        MatchReason.NATIONAL: "national",
        MatchReason.NEAREST_OUTSIDE: "nearest outside your area",
    }[match.reason]
    unconfirmed = "; unconfirmed: call first" if not match.service.confirmed else ""
    return prefix + reason + unconfirmed


def _contacts(match: Match) -> list[str]:
    channels = sorted(
        (c for c in match.service.channels if c.kind in _CONTACT_ORDER), key=lambda c: _CONTACT_ORDER.index(c.kind)
    )
    return [f"{c.kind.value}: {c.value}" for c in channels[:2]]


def _distance(metres: float) -> str:
    if not math.isfinite(metres):
        return "unknown"
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


def _as_json(
    query: str, location: Location | None, matches: list[Match], index: SignpostIndex, notice: str
) -> dict[str, Any]:
    placed = None
    if location is not None:
        placed = {
            "lat": location.lat,
            "lon": location.lon,
            "precision_m": location.precision_m,
            "source": location.source.value,
            "lad_code": location.lad_code,
            "pfa_code": location.pfa_code,
            "label": location.label,
        }
    return {
        "query": query,
        "location": placed,
        "outside_england_wales": location is None,
        "notice": notice,
        "boundaries_loaded": index.boundaries_loaded,
        "matches": [
            {
                "id": m.service.id,
                "name": m.service.name,
                "kind": m.service.kind.value,
                "reason": m.reason.value,
                "specialist": m.specialist,
                "distance_m": round(m.distance_m, 1) if m.distance_m is not None else None,
                "contacts": [c.to_dict() for c in m.service.channels],
                "caveat": m.service.caveat,
                "source_url": m.service.source_url,
                "verified_on": m.service.verified_on.isoformat() if m.service.verified_on else None,
                "confirmation": m.service.confirmation.value,
            }
            for m in matches
        ],
    }
