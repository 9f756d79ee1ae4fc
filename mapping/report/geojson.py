"""``gaps.geojson``: the uncovered part of each area per strand, with the population inside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping

from mapping.report.context import ReportContext

__all__ = ["write_gaps_geojson"]

COORDINATE_DECIMALS = 5  # about a metre: finer than the generalised boundaries


def write_gaps_geojson(context: ReportContext, path: Path) -> Path:
    """A FeatureCollection in WGS84 (RFC 7946); the collection's ``metadata`` repeats the basis caveats."""
    result = context.result
    features = []
    gaps = result.gaps
    # One call for every gap, not one per gap (the same GEOS operation, without the per-call overhead).
    rounded = shapely.set_precision(np.array([g.geometry for g in gaps], dtype=object), 10**-COORDINATE_DECIMALS)
    for gap, geometry in zip(gaps, rounded.tolist(), strict=True):
        if geometry.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": mapping(geometry),
                "properties": {
                    "level": gap.level,
                    "code": gap.code,
                    "name": gap.name,
                    "strand": gap.strand,
                    "part": gap.part,
                    "parts": gap.parts,
                    "gap_area_km2": round(gap.area_km2, 3),
                    "population_in_gap": round(gap.population),
                    "population_unit": f"{context.unit} (PROXY)" if context.is_proxy else context.unit,
                    "geography_basis": result.geography.basis.value,
                },
            }
        )
    collection = {
        "type": "FeatureCollection",
        "metadata": {
            "title": "Third-party reporting coverage gaps",
            "generated_on": context.generated_on.isoformat(),
            "services_counted": context.kinds_label,
            "notes": context.basis_lines(),
            "attribution": context.attribution(),
        },
        "features": features,
    }
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path
