"""What the engine needs from the outside world: one Signposter port (the directory, places and areas).

``bot.signposter.DirectorySignposter`` is the real one, built in the composition root. The engine reads
``LocateResult`` values by their shape (``location`` / ``choices`` / ``message``) so it stays pure.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from mapping.types import AgeBand, Location, Match, ServiceKind, ServiceRecord, Strand

if TYPE_CHECKING:
    from mapping.areas import LocalStrand
    from mapping.locate import LocateResult

__all__ = ["Route", "Signposter"]


class Route(StrEnum):
    """National reporting routes the conversation offers by name (which directory entries they are is data)."""

    POLICE = "police"  # 999, 101 and the police's online reporting
    THIRD_PARTY = "third_party"  # national third-party reporting (e.g. online, for people avoiding the police)
    ANONYMOUS = "anonymous"  # reporting without giving your name
    RAILWAY = "railway"  # incidents on trains and at stations


class Signposter(Protocol):
    """Places, areas and the services directory, as the conversation needs them."""

    def locate(self, text: str, *, strict: bool = False) -> LocateResult:
        """A typed postcode, sector, outcode, town or ``lat,lon`` -> Located | Ambiguous | NotFound.

        ``strict``: for text typed where a place was not asked for: a town only by its whole name, and never
        sent to an online geocoder."""
        ...

    def locate_point(self, lat: float, lon: float, accuracy_m: float | None) -> LocateResult:
        """A shared location -> Located (with LAD and PFA codes) | NotFound (outside England and Wales, at sea)."""
        ...

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
        """Ranked services for a place: local ones covering it, national ones, nearest outside when none local.
        Services limited to communities the person did not say they belong to, or to ages outside their ``age``
        band (youngest, oldest), come after the others."""
        ...

    def national(self, kinds: Collection[ServiceKind]) -> list[ServiceRecord]:
        """Active national services of these kinds (all kinds when empty), e.g. the 999 and 101 entries."""
        ...

    def local_strands(self, pfa_code: str | None) -> tuple[LocalStrand, ...]:
        """Strands recorded locally in this police force area; every area's when ``pfa_code`` is None."""
        ...

    def route(
        self,
        route: Route,
        *,
        area_codes: Collection[str] = (),
        strands: Collection[Strand] = (),
        communities: Collection[str] = (),
        age: AgeBand | None = None,
    ) -> list[ServiceRecord]:
        """The directory entries for one reporting route, best first. For ``THIRD_PARTY`` (without going to the
        police) also the local entries named for ``area_codes`` (the person's district and force area, when
        known) and the national specialists serving ``strands`` (all when empty); those limited to people the
        person said they are (``communities``, ``age``) first among their kind, those limited to others last."""
        ...

    def area_name(self, code: str, language: str = "en") -> str | None:
        """The name of a LAD or police force area (``"Leeds"``, ``"West Yorkshire"``), or None if unknown;
        in Welsh (``"Caerdydd"``) for ``language="cy"`` where the area has an official Welsh name."""
        ...
