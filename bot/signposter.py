"""The real Signposter: the services directory, the signposting index, places and areas, behind the engine's port.

The index is rebuilt when the directory changes: at most once every ``recheck`` the directory's snapshot key
is read (one small query) and, if it differs, the services are reloaded and indexed again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine as DatabaseEngine
from sqlmodel import Session

from bot.engine.ports import Route
from mapping.areas import AreaRegistry, LocalStrand
from mapping.locate import Located, LocateResult, Locator
from mapping.signposting import SignpostIndex
from mapping.types import (
    AgeBand,
    AreaCoverage,
    Location,
    LocationSource,
    Match,
    NationalCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)
from services_db.repository import list_services, snapshot_key

if TYPE_CHECKING:
    from mapping.coverage import AreaGeometryLookup

log = logging.getLogger(__name__)

__all__ = ["ROUTES", "DirectorySignposter", "DirectorySnapshot", "RouteSpec"]


class RouteSpec:
    """Which directory entries make up a named national route: by kind, plus named entries of the seed."""

    def __init__(self, kinds: Collection[ServiceKind] = (), ids: Sequence[str] = (), exclude: Sequence[str] = ()):
        self.kinds = frozenset(kinds)
        self.ids = tuple(ids)
        self.exclude = frozenset(exclude)


# Entry ids are those of the shipped national directory (services_db/data/national_directory.json); an entry
# a PCC team removes simply drops out of its route.
ROUTES: Mapping[Route, RouteSpec] = {
    Route.POLICE: RouteSpec(
        kinds=(ServiceKind.EMERGENCY, ServiceKind.POLICE, ServiceKind.ONLINE_REPORTING),
        exclude=("british-transport-police",),
    ),
    Route.THIRD_PARTY: RouteSpec(kinds=(ServiceKind.THIRD_PARTY_REPORTING,), ids=("wales-hate-support-centre",)),
    Route.ANONYMOUS: RouteSpec(ids=("crimestoppers",)),
    Route.RAILWAY: RouteSpec(ids=("british-transport-police",)),
}

# Kinds of local entry "without going to the police" lists for a place it knows (the police's own are not).
_WITHOUT_POLICE_KINDS = frozenset(
    {ServiceKind.THIRD_PARTY_REPORTING, ServiceKind.VICTIM_SUPPORT, ServiceKind.SPECIALIST_SUPPORT}
)
_POINT_SOURCES = frozenset({LocationSource.GPS, LocationSource.COORDINATES})
_KIND_ORDER = {kind: position for position, kind in enumerate(ServiceKind)}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DirectorySnapshot:
    """One consistent view of the directory: swapped whole when the directory changes, so readers never mix two."""

    key: str
    services: tuple[ServiceRecord, ...]
    active: Mapping[str, ServiceRecord]
    national: tuple[ServiceRecord, ...]  # active, national coverage, in kind then name order
    index: SignpostIndex


class DirectorySignposter:
    """Answers the engine's questions from the services directory.

    Parameters
    ----------
    load
        Returns ``(snapshot key, services)``: the directory as it is now.
    current_key
        Returns the directory's snapshot key cheaply (``None``: never reload).
    locator
        Postcodes, places and points -> locations (``mapping.locate.Locator``).
    registry
        The area tables (local strands).
    areas
        Area polygons when boundaries are loaded (``BoundaryIndex.geometry``), else ``None``.
    recheck
        How often to look for directory changes.
    clock
        Current time, for the recheck interval.
    """

    def __init__(
        self,
        *,
        load: Callable[[], tuple[str, Sequence[ServiceRecord]]],
        locator: Locator,
        registry: AreaRegistry | None = None,
        current_key: Callable[[], str] | None = None,
        areas: AreaGeometryLookup | None = None,
        recheck: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = _utc_now,
        background: bool = False,
    ) -> None:
        self._load = load
        self._background = background
        self._current_key = current_key
        self._locator = locator
        self._registry = registry or AreaRegistry.default()
        self._areas = areas
        self._recheck = recheck
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: datetime | None = self._clock()
        self._snapshot = self._build()

    @classmethod
    def from_services(
        cls,
        services: Sequence[ServiceRecord],
        *,
        locator: Locator,
        registry: AreaRegistry | None = None,
        areas: AreaGeometryLookup | None = None,
    ) -> DirectorySignposter:
        """A signposter over a fixed list of services (no database)."""
        fixed = tuple(services)
        return cls(load=lambda: ("fixed", fixed), locator=locator, registry=registry, areas=areas)

    @classmethod
    def from_database(
        cls,
        engine: DatabaseEngine,
        *,
        locator: Locator | None = None,
        registry: AreaRegistry | None = None,
        areas: AreaGeometryLookup | None = None,
        recheck: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = _utc_now,
        background: bool = False,
    ) -> DirectorySignposter:
        """A signposter over the directory in ``engine``'s database, following its changes (checked in a
        background thread with ``background``, as the bot does: see :meth:`snapshot`).

        Without a ``locator``, the offline one is used, with the area boundaries stored in the database when
        ``signpost geography load`` has loaded some (then area coverage is matched by polygons too).
        """
        if locator is None:
            from services_db.boundaries import load_boundary_index

            locator = Locator.offline_default()
            with Session(engine) as session:
                boundaries = load_boundary_index(session=session)
            if boundaries is not None:
                locator = Locator(
                    postcodes=locator.postcodes,
                    registry=locator.registry,
                    gazetteer=locator.gazetteer,
                    boundaries=boundaries,
                )
                areas = areas or boundaries.geometry

        def current_key() -> str:
            with Session(engine) as session:
                return snapshot_key(session=session)

        def load() -> tuple[str, Sequence[ServiceRecord]]:
            with Session(engine) as session:
                return snapshot_key(session=session), list_services(session=session, status=ServiceStatus.ACTIVE)

        return cls(
            load=load,
            current_key=current_key,
            locator=locator,
            registry=registry,
            areas=areas,
            recheck=recheck,
            clock=clock,
            background=background,
        )

    def warm(self, *, background: bool = True) -> threading.Thread | None:
        """Load the place-name gazetteer now, so the first town a person types answers at once.

        Parameters
        ----------
        background
            Load in a daemon thread and return it (a search that arrives meanwhile waits for the load);
            ``False``: load before returning.
        """
        gazetteer = self._locator.gazetteer
        if not background:
            gazetteer.warm()
            return None
        thread = threading.Thread(target=gazetteer.warm, name="signpost-gazetteer-warm", daemon=True)
        thread.start()
        return thread

    # --- the port -------------------------------------------------------------------------------------------

    def locate(self, text: str, *, strict: bool = False) -> LocateResult:
        return self._named(self._locator.locate(text, strict=strict))

    def locate_point(self, lat: float, lon: float, accuracy_m: float | None) -> LocateResult:
        return self._named(self._locator.locate_point(lat, lon, accuracy_m=accuracy_m))

    def _named(self, result: LocateResult) -> LocateResult:
        """Label a point by its district, so that no coordinates are echoed back in a message."""
        if not isinstance(result, Located):
            return result
        location = result.location
        if location.source not in _POINT_SOURCES or not location.lad_code:
            return result
        area = self._registry.area(location.lad_code)
        return Located(replace(location, label=area.name, label_cy=area.name_cy)) if area is not None else result

    def find(
        self,
        location: Location,
        *,
        strands: Collection[Strand],
        kinds: Collection[ServiceKind] = (),
        limit: int | None = None,
        communities: Collection[str] = (),
        age: AgeBand | None = None,
    ) -> list[Match]:
        return self.snapshot().index.find(
            location, strands=strands, kinds=kinds, limit=limit, communities=communities, age=age
        )

    def national(self, kinds: Collection[ServiceKind]) -> list[ServiceRecord]:
        wanted = frozenset(kinds)
        return [s for s in self.snapshot().national if not wanted or s.kind in wanted]

    def route(
        self,
        route: Route,
        *,
        area_codes: Collection[str] = (),
        strands: Collection[Strand] = (),
        communities: Collection[str] = (),
        age: AgeBand | None = None,
    ) -> list[ServiceRecord]:
        spec, snapshot = ROUTES[route], self.snapshot()
        found = [s for s in snapshot.national if s.kind in spec.kinds and s.id not in spec.exclude]
        named = [snapshot.active[i] for i in spec.ids if i in snapshot.active and i not in {s.id for s in found}]
        if route is not Route.THIRD_PARTY:
            return [*named, *found]
        fit = (frozenset(communities), age)
        return self._without_police(snapshot, [*named, *found], area_codes, strands, fit)

    def _without_police(
        self,
        snapshot: DirectorySnapshot,
        national: list[ServiceRecord],
        area_codes: Collection[str],
        strands: Collection[Strand],
        fit: tuple[frozenset[str], AgeBand | None],
    ) -> list[ServiceRecord]:
        """Every route that does not go through the police: local centres and services named for the person's
        area (confirmed first), the national ones, then the national specialists that take reports (those
        for the person's strands first). In each part, services limited to people the person said they are
        (a community, an age band) come first and those limited to others last."""
        codes = {c.strip().upper() for c in area_codes if c}
        local = sorted(
            (
                s
                for s in snapshot.active.values()
                if s.kind in _WITHOUT_POLICE_KINDS
                and isinstance(s.coverage, AreaCoverage)
                and codes & set(s.coverage.area_codes)
                and s.serves(strands)
            ),
            key=lambda s: (s.fit_rank(*fit), _KIND_ORDER[s.kind], s.name, s.id),
        )
        specialists = [
            s
            for s in snapshot.national
            if s.kind is ServiceKind.SPECIALIST_SUPPORT and s.strands and s.serves(strands) and s not in national
        ]
        specialists.sort(key=lambda s: (s.fit_rank(*fit), not (s.strands & set(strands))))
        confirmed = [s for s in local if s.confirmed]
        unconfirmed = [s for s in local if not s.confirmed]
        return [*confirmed, *national, *unconfirmed, *specialists]

    def local_strands(self, pfa_code: str | None) -> tuple[LocalStrand, ...]:
        if pfa_code:
            return self._registry.local_strands(pfa_code)
        return tuple(ls for pfa in self._registry.pfas() for ls in self._registry.local_strands(pfa.code))

    def area_name(self, code: str, language: str = "en") -> str | None:
        area = self._registry.area(code)
        return area.name_in(language) if area is not None else None

    # --- keeping up with the directory ----------------------------------------------------------------------

    @property
    def version(self) -> str:
        """The snapshot key of the directory the current index was built from."""
        return self._snapshot.key

    def snapshot(self) -> DirectorySnapshot:
        """The directory as last loaded, reloaded first when it has changed (checked at most every ``recheck``).

        With ``background`` the check runs in a thread and callers get the last snapshot at once, so that a
        slow or unreachable database never delays an answer (the danger screen above all); a failed check
        keeps the last snapshot and is retried at the next interval.
        """
        now = self._clock()
        if self._current_key is not None and (self._checked_at is None or now - self._checked_at >= self._recheck):
            if not self._background:
                with self._lock:
                    self._checked_at = now
                    self._refresh()
            elif self._lock.acquire(blocking=False):  # one check at a time; the others use the last snapshot
                self._checked_at = now
                threading.Thread(target=self._refresh_and_release, name="signposter-recheck", daemon=True).start()
        return self._snapshot

    def _refresh(self) -> None:
        assert self._current_key is not None
        if self._current_key() != self._snapshot.key:
            self._snapshot = self._build()

    def _refresh_and_release(self) -> None:
        try:
            self._refresh()
        except Exception as exc:  # the database is down or slow: keep serving the last directory
            log.warning("directory recheck failed (%s); keeping the last snapshot", type(exc).__name__)
        finally:
            self._lock.release()

    def _build(self) -> DirectorySnapshot:
        key, loaded = self._load()
        services = tuple(loaded)
        # A demonstration entry never reaches a victim, whatever the directory holds (see ServiceRecord.is_example).
        services = tuple(s for s in services if not s.is_example)
        active = {s.id: s for s in services if s.status is ServiceStatus.ACTIVE}
        national = [s for s in active.values() if isinstance(s.coverage, NationalCoverage)]
        return DirectorySnapshot(
            key=key,
            services=services,
            active=active,
            national=tuple(sorted(national, key=lambda s: (_KIND_ORDER[s.kind], s.name, s.id))),
            index=SignpostIndex.build(services, areas=self._areas),
        )
