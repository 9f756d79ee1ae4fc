"""Values the coverage options default to, in a module free of numpy and shapely so that the command line can show
them in its ``--help`` without loading the geometry stack (mapping.gaps and mapping.siting re-export them)."""

from __future__ import annotations

__all__ = ["ANY", "DEFAULT_RADIUS_M"]

ANY = "any"  # the strand of figures that count every strand together
DEFAULT_RADIUS_M = 10_000.0  # service radius of a proposed third-party reporting centre
