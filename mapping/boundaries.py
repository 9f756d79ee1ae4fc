"""Official ONS boundaries (Police Force Areas, Local Authority Districts) from a path or URL, and a point index.

Any vintage: the code and name columns are found by shape (``PFA23CD``/``PFA23NM``, ``LAD25CD``/``LAD25NM``,
...). Geometries are repaired with ``make_valid`` and kept in WGS84; files in British National Grid are
transformed. Only England and Wales LADs are kept (the UK files also hold Scotland and Northern Ireland).
Point lookup uses ``covers`` (a point on a boundary is inside, as MapIt does); points just off a generalised
coastline snap to the nearest area within a tolerance.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points
from shapely.strtree import STRtree

from mapping.areas import LAD, PFA
from mapping.crs import geometry_to_wgs84
from mapping.geometry_limits import BOUNDARY_FILE_POINTS, BOUNDARY_POINTS, count_points, too_many_points
from mapping.input_files import BOUNDARY_FILE_BYTES, InputFileError, check_input_file, load_json, read_input
from mapping.types import Nation

__all__ = [
    "DEFAULT_SNAP_M",
    "Boundary",
    "BoundaryError",
    "BoundaryIndex",
    "BoundarySet",
    "load_boundaries",
    "parse_boundaries",
]

# The ONS "ultra generalised" (BUC) files simplify coastlines by up to a few hundred metres; 2 km also catches
# harbours and estuary mouths without reaching across to another country's coast.
DEFAULT_SNAP_M = 2_000.0
_CODE_COLUMN = re.compile(r"^(PFA|LAD)(\d{2})CD$", re.IGNORECASE)
_GEOD = Geod(ellps="WGS84")
_WHAT = "an ONS boundary file (GeoJSON, or a shapefile)"


class BoundaryError(ValueError):
    """A boundary file that cannot be used; the message names the file, feature and field and what to do."""


@dataclass(frozen=True, slots=True)
class Boundary:
    """One official area outline in WGS84."""

    code: str
    name: str
    level: str
    vintage: str
    geometry: BaseGeometry


@dataclass(frozen=True, slots=True)
class BoundarySet:
    """The areas read from one file: one level (``"pfa"`` or ``"lad"``) and one vintage."""

    level: str
    vintage: str
    source: str
    boundaries: tuple[Boundary, ...]

    def __len__(self) -> int:
        return len(self.boundaries)

    def codes(self) -> tuple[str, ...]:
        return tuple(b.code for b in self.boundaries)


def load_boundaries(source: str | Path, *, level: str | None = None, vintage: str | None = None) -> BoundarySet:
    """Read a PFA or LAD boundary file (GeoJSON, or a shapefile when ``pyogrio`` is installed).

    Parameters
    ----------
    source
        A file path or an ``http(s)`` URL.
    level
        ``"pfa"`` or ``"lad"``; by default taken from the code column (``PFAyyCD`` or ``LADyyCD``).
    vintage
        A label such as ``"2023"``; by default ``20yy`` from the code column.

    Raises
    ------
    BoundaryError
        When the file cannot be read or a feature is unusable; the message says which and what to do.
    """
    name = str(source)
    path = Path(source)
    try:
        if path.suffix.lower() in (".shp", ".zip") and not name.startswith(("http://", "https://")):
            check_input_file(path, limit=BOUNDARY_FILE_BYTES, what=_WHAT)
            return _from_shapefile(path, level=level, vintage=vintage)
        data = load_json(read_input(source, limit=BOUNDARY_FILE_BYTES, what=_WHAT), name=name, what=_WHAT)
    except InputFileError as exc:
        raise BoundaryError(str(exc)) from None
    return parse_boundaries(data, source=name, level=level, vintage=vintage)


def _from_shapefile(path: Path, *, level: str | None, vintage: str | None) -> BoundarySet:
    try:
        from pyogrio.raw import read  # optional: the "shapefile" extra (also in test and bench)
    except ImportError:
        raise BoundaryError(
            f"{path}: reading shapefiles needs the pyogrio package (pip install pyogrio); "
            "or download the GeoJSON version of the same boundaries"
        ) from None
    try:
        meta, _fids, wkbs, fields = read(str(path))
    except Exception as exc:
        raise BoundaryError(f"{path}: not readable as a shapefile ({exc})") from exc
    crs = str(meta.get("crs") or "")
    features = []
    for i, wkb in enumerate(wkbs):
        props = {column: values[i] for column, values in zip(meta["fields"], fields, strict=True)}
        geometry = shapely.from_wkb(wkb) if wkb is not None else None
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    data = {"type": "FeatureCollection", "features": features, "crs": {"properties": {"name": crs}}}
    return parse_boundaries(data, source=str(path), level=level, vintage=vintage)


def _find_columns(props: Mapping[str, Any], level: str | None, where: str) -> tuple[str, str, str, str]:
    """(level, yy, code column, name column) from one feature's properties."""
    found = []
    for key in props:
        match = _CODE_COLUMN.match(key)
        if match and (level is None or match.group(1).lower() == level):
            found.append((match.group(1).lower(), match.group(2), key))
    if not found:
        wanted = f"{level.upper()}yyCD" if level else "PFAyyCD or LADyyCD"
        raise BoundaryError(
            f"{where}: no {wanted} column (found {', '.join(props) or 'none'}); "
            "use an ONS Police Force Area or Local Authority District boundary file"
        )
    found.sort(key=lambda f: f[1], reverse=True)  # a file with several vintages: the newest codes
    lvl, yy, code_col = found[0]
    name_col = code_col[:-2] + ("NM" if code_col[-2:].isupper() else "nm")
    if name_col not in props:
        raise BoundaryError(f"{where}: column {code_col} has no matching {name_col} column for area names")
    return lvl, yy, code_col, name_col


def _is_bng(data: Mapping[str, Any], sample: BaseGeometry | None) -> bool:
    crs = json.dumps(data.get("crs") or "")
    if "27700" in crs:
        return True
    if sample is None or sample.is_empty:
        return False
    minx, miny, maxx, maxy = sample.bounds
    return max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [g for g in shapely.get_parts(geometry) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def parse_boundaries(
    data: Any, *, source: str = "<data>", level: str | None = None, vintage: str | None = None
) -> BoundarySet:
    """Build a :class:`BoundarySet` from a parsed GeoJSON FeatureCollection (see :func:`load_boundaries`)."""
    if level is not None and level not in (PFA, LAD):
        raise BoundaryError(f"level must be 'pfa' or 'lad', not {level!r}")
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise BoundaryError(f"{source}: not a GeoJSON FeatureCollection; download the GeoJSON version")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise BoundaryError(f"{source}: the file has no features")
    first = features[0].get("properties") if isinstance(features[0], Mapping) else None
    if not isinstance(first, Mapping):
        raise BoundaryError(f"{source}: feature 0 has no properties")
    lvl, yy, code_col, name_col = _find_columns(first, level, f"{source}: feature 0")
    _check_points(features, source, code_col)
    raw = [
        area
        for i, feature in enumerate(features)
        if (area := _feature_area(feature, f"{source}: feature {i}", i, code_col, name_col)) is not None
    ]
    if not raw:
        raise BoundaryError(f"{source}: no England or Wales areas in column {code_col}")
    bng = _is_bng(data, raw[0][3])
    out: list[Boundary] = []
    seen: set[str] = set()
    label = vintage or f"20{yy}"
    for i, code, name, geometry in raw:
        if code in seen:
            raise BoundaryError(f"{source}: feature {i}: code {code} appears twice; use one feature per area")
        seen.add(code)
        if bng:
            geometry = geometry_to_wgs84(geometry)
        geometry = _polygonal(geometry)
        if geometry.is_empty:
            raise BoundaryError(f"{source}: feature {i} ({code}): field geometry has no area after repair")
        out.append(Boundary(code, name, lvl, label, geometry))
    return BoundarySet(lvl, label, source, tuple(sorted(out, key=lambda b: b.code)))


def _check_points(features: list[Any], source: str, code_col: str) -> None:
    """Refuse a feature or file with more points than any ONS boundary file has, before shapely builds them."""
    total = 0
    for i, feature in enumerate(features):
        geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
        if isinstance(geometry, BaseGeometry):  # from a shapefile: already built, counted cheaply
            points = int(shapely.get_num_coordinates(geometry))
        else:
            points = count_points(geometry if isinstance(geometry, Mapping) else None, stop_after=BOUNDARY_POINTS)
        message = too_many_points(points, limit=BOUNDARY_POINTS, what="one boundary")
        if message is not None:
            props = feature.get("properties") if isinstance(feature, Mapping) else None
            code = props.get(code_col) if isinstance(props, Mapping) else None
            raise BoundaryError(f"{source}: feature {i}{f' ({code})' if code else ''}: the geometry {message}")
        total += points
        if total > BOUNDARY_FILE_POINTS:
            message = too_many_points(total, limit=BOUNDARY_FILE_POINTS, what="one boundary file") or ""
            raise BoundaryError(f"{source}: the geometries together {message}")


def _feature_area(
    feature: Any, where: str, i: int, code_col: str, name_col: str
) -> tuple[int, str, str, BaseGeometry] | None:
    """One feature's (number, code, name, geometry); ``None`` for an area outside England and Wales."""
    props = feature.get("properties") if isinstance(feature, Mapping) else None
    if not isinstance(props, Mapping):
        raise BoundaryError(f"{where}: no properties")
    code = str(props.get(code_col) or "").strip().upper()
    if not code:
        raise BoundaryError(f"{where}: field {code_col} is empty; every area needs its ONS code")
    if code[0] not in "EW":
        return None  # Scotland and Northern Ireland: outside the project's scope
    name = str(props.get(name_col) or "").strip()
    if not name:
        raise BoundaryError(f"{where} ({code}): field {name_col} is empty")
    try:
        geom_data = feature.get("geometry")
        geometry = geom_data if isinstance(geom_data, BaseGeometry) else shape(geom_data)
    except Exception as exc:
        raise BoundaryError(f"{where} ({code}): field geometry is not a valid GeoJSON geometry ({exc})") from exc
    if geometry.is_empty:
        raise BoundaryError(f"{where} ({code}): field geometry is empty")
    return i, code, name, geometry


class _LevelIndex:
    def __init__(self, boundaries: tuple[Boundary, ...]) -> None:
        self.boundaries = boundaries
        self.tree = STRtree([b.geometry for b in boundaries])


class BoundaryIndex:
    """Point-in-area lookup over loaded boundaries, and area geometries for coverage resolution.

    ``geometry`` has the signature of :data:`mapping.coverage.AreaGeometryLookup`, so an index can be passed
    straight to :func:`mapping.coverage.resolve_coverage`.

    Parameters
    ----------
    sets
        One :class:`BoundarySet` per level (a later set of the same level replaces an earlier one).
    snap_m
        Points outside every area but within this many metres of one (generalised coastlines) are assigned
        to the nearest area.
    """

    def __init__(self, sets: Iterable[BoundarySet], *, snap_m: float = DEFAULT_SNAP_M) -> None:
        self._sets: dict[str, BoundarySet] = {}
        for boundary_set in sets:
            self._sets[boundary_set.level] = boundary_set
        self._levels = {level: _LevelIndex(s.boundaries) for level, s in self._sets.items() if s.boundaries}
        self._by_code = {b.code: b for s in self._sets.values() for b in s.boundaries}
        self._nations: dict[Nation, BaseGeometry | None] = {}
        self.snap_m = snap_m

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(sorted(self._levels))

    def boundary_set(self, level: str) -> BoundarySet | None:
        return self._sets.get(level)

    def boundary(self, code: str) -> Boundary | None:
        return self._by_code.get(code.strip().upper())

    def area_at(self, lat: float, lon: float, level: str) -> str | None:
        """The code of the ``level`` area covering the point, or the nearest within ``snap_m``; else ``None``."""
        found = self.area_with_distance(lat, lon, level)
        return found[0] if found is not None else None

    def area_with_distance(self, lat: float, lon: float, level: str) -> tuple[str, float] | None:
        """Like :meth:`area_at`, with the distance in metres to the area (0 when the point is inside)."""
        index = self._levels.get(level)
        if index is None or not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        point = Point(lon, lat)
        hits = index.tree.query(point, predicate="covered_by")
        if len(hits):
            # Neighbouring areas share edges: a point on the line is in both; take the lowest code, stably.
            return min(index.boundaries[int(i)].code for i in hits), 0.0
        # Degrees of longitude shrink with latitude: search wide enough, then measure on the ellipsoid.
        reach = self.snap_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.1))
        near = index.tree.query_nearest(point, max_distance=reach, all_matches=False)
        if not len(near):
            return None
        boundary = index.boundaries[int(near[0])]
        target = nearest_points(boundary.geometry, point)[0]
        distance = float(_GEOD.inv(lon, lat, target.x, target.y)[2])
        return (boundary.code, distance) if distance <= self.snap_m else None

    def geometry(self, key: str | Nation) -> BaseGeometry | None:
        """A LAD/PFA code's polygon, or a nation's outline (union of its areas); ``None`` when not loaded."""
        if isinstance(key, Nation):
            if key not in self._nations:
                self._nations[key] = self._nation(key)
            return self._nations[key]
        boundary = self._by_code.get(key.strip().upper())
        return boundary.geometry if boundary is not None else None

    def _nation(self, nation: Nation) -> BaseGeometry | None:
        prefixes = {Nation.ENGLAND: ("E",), Nation.WALES: ("W",), Nation.ENGLAND_AND_WALES: ("E", "W")}[nation]
        for level in (PFA, LAD):  # fewer, larger pieces union faster
            chosen = self._sets.get(level)
            if chosen is not None:
                parts = [b.geometry for b in chosen.boundaries if b.code.startswith(prefixes)]
                if parts:
                    return shapely.union_all(parts)
        return None

    def codes(self, level: str) -> tuple[str, ...]:
        chosen = self._sets.get(level)
        return chosen.codes() if chosen is not None else ()

    def bounds(self) -> tuple[float, float, float, float] | None:
        """(min lon, min lat, max lon, max lat) of everything loaded."""
        geoms = [b.geometry for b in self._by_code.values()]
        if not geoms:
            return None
        return tuple(float(v) for v in shapely.total_bounds(np.asarray(geoms, dtype=object)))  # type: ignore[return-value]
