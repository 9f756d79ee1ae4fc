"""GeoJSON FeatureCollection (RFC 7946, WGS84): one feature per service, coverage as the geometry.

Polygon/MultiPolygon geometry -> polygon coverage; Point + ``radius_m`` -> radius coverage. National and
area-coded services have a ``null`` geometry and their coverage spec in the properties (``coverage_type``,
``nation`` / ``area_codes``); when boundaries are loaded, export adds their resolved outline as the geometry,
which import ignores (the codes are the coverage). Properties are named like the CSV template's columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from mapping.types import PolygonCoverage, RadiusCoverage, ServiceRecord
from services_db.formats.common import as_records, load_json, record_to_properties
from services_db.validation import COLUMNS, MAX_ROWS, Problem, RawService, canonical_geojson, suggest

__all__ = ["WGS84_NAMES", "read_geojson", "write_geojson"]

# RFC 7946 drops `crs`; old files name WGS84 in one of these ways. Anything else is a projected CRS.
WGS84_NAMES = frozenset(
    {
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "urn:ogc:def:crs:ogc::crs84",
        "urn:ogc:def:crs:epsg::4326",
        "urn:ogc:def:crs:epsg:4326",
        "epsg:4326",
        "crs84",
        "http://www.opengis.net/def/crs/ogc/1.3/crs84",
        "http://www.opengis.net/def/crs/epsg/0/4326",
    }
)
GEOMETRY_TYPES = frozenset({"Point", "Polygon", "MultiPolygon"})
PROPERTY_NAMES = frozenset(COLUMNS) | {"channels", "translations"}


def _crs_problem(file: str, collection: Mapping[str, Any]) -> Problem | None:
    crs = collection.get("crs")
    if crs is None:
        return None
    name = str(((crs or {}).get("properties") or {}).get("name", "")) if isinstance(crs, dict) else ""
    if name.lower() in WGS84_NAMES:
        return None
    return Problem(
        file,
        None,
        "crs",
        f"the file declares the coordinate system {name or crs!r}; Signpost needs WGS84 longitude/latitude"
        " (EPSG:4326, as RFC 7946 requires): reproject it (e.g. in QGIS: Export > Save Features As, CRS EPSG:4326)",
    )


def _features(document: Any) -> Any:
    return document.get("features") if isinstance(document, dict) else None


def read_geojson(text: str, *, file: str) -> tuple[list[RawService], list[Problem], list[Problem]]:
    """Features of a FeatureCollection as raw entries (numbered from 1, as "record N" in problems)."""
    collection, problem = load_json(text, file=file, records=_features)
    if problem is not None:
        return [], [problem], []
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        kind = collection.get("type") if isinstance(collection, dict) else type(collection).__name__
        return (
            [],
            [
                Problem(
                    file, None, "type", f"expected a GeoJSON FeatureCollection, found {kind!r}: wrap features in one"
                )
            ],
            [],
        )
    crs_problem = _crs_problem(file, collection)
    if crs_problem:
        return [], [crs_problem], []
    features = collection.get("features")
    if not isinstance(features, list):
        return [], [Problem(file, None, "features", "a FeatureCollection needs a 'features' list")], []
    if not features:
        return [], [Problem(file, None, "features", "the collection has no features: add one per service")], []
    if len(features) > MAX_ROWS:
        return [], [Problem(file, None, "features", f"{len(features):,} features: the limit is {MAX_ROWS:,}")], []
    services: list[RawService] = []
    problems: list[Problem] = []
    for index, feature in enumerate(features, start=1):
        entry = _feature(file, index, feature, problems)
        if entry is not None:
            services.append(entry)
    return services, as_records(problems, features), []


def _feature(file: str, index: int, feature: Any, problems: list[Problem]) -> RawService | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.append(Problem(file, index, "type", 'is not a GeoJSON Feature ({"type": "Feature", ...})'))
        return None
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        problems.append(Problem(file, index, "properties", "a feature needs a properties object with the service"))
        return None
    bad = False
    for key in properties:
        if key not in PROPERTY_NAMES:
            problems.append(Problem(file, index, key, f"unknown property {key!r}.{suggest(key, PROPERTY_NAMES)}"))
            bad = True
    geometry = feature.get("geometry")
    if geometry is not None:
        if not isinstance(geometry, dict) or not isinstance(geometry.get("coordinates"), list):
            problems.append(Problem(file, index, "geometry", "needs a 'type' and a 'coordinates' list (or null)"))
            return None
        if geometry.get("type") not in GEOMETRY_TYPES:
            problems.append(
                Problem(
                    file,
                    index,
                    "geometry",
                    f"{geometry.get('type')!r} geometry: use Polygon/MultiPolygon (an area), Point with radius_m,"
                    " or null for national and area-coded services",
                )
            )
            return None
    if bad:
        return None
    return RawService(row=index, fields=properties, geometry=geometry, unit="record")


def _geometry(record: ServiceRecord, geometries: Mapping[str, BaseGeometry]) -> dict[str, Any] | None:
    coverage = record.coverage
    if isinstance(coverage, PolygonCoverage):
        return dict(coverage.geojson)
    if isinstance(coverage, RadiusCoverage):
        return {"type": "Point", "coordinates": [float(coverage.lon), float(coverage.lat)]}
    resolved = geometries.get(record.id)
    return canonical_geojson(mapping(resolved)) if resolved is not None and not resolved.is_empty else None


def write_geojson(records: Sequence[ServiceRecord], *, geometries: Mapping[str, BaseGeometry]) -> str:
    """A FeatureCollection with one feature per service (see the module docstring for the geometry rules)."""
    features = [
        {"type": "Feature", "id": r.id, "geometry": _geometry(r, geometries), "properties": record_to_properties(r)}
        for r in records
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1) + "\n"
