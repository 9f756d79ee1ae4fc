"""Stored boundaries round-trip through the database (SQLite and PostgreSQL) into a working point index."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mapping.boundaries import Boundary, BoundarySet, load_boundaries, parse_boundaries
from services_db.boundaries import boundary_status, load_boundary_index, store_boundaries
from services_db.models import AreaBoundary


def _squares(code_col: str, name_col: str, codes: list[str], lat: float = 52.0) -> BoundarySet:
    features: list[dict[str, Any]] = []
    for i, code in enumerate(codes):
        lon = -3.0 + i
        ring = [[lon, lat], [lon + 1, lat], [lon + 1, lat + 1], [lon, lat + 1], [lon, lat]]
        features.append(
            {
                "type": "Feature",
                "properties": {code_col: code, name_col: f"Area {code}"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return parse_boundaries({"type": "FeatureCollection", "features": features})


def test_nothing_stored_means_no_index(session: Session) -> None:
    assert load_boundary_index(session=session) is None
    assert boundary_status(session=session) == []


def test_store_and_load_round_trip(session: Session) -> None:
    pfas = _squares("PFA23CD", "PFA23NM", ["W15000001", "E23000037", "E23000016"])
    lads = _squares("LAD25CD", "LAD25NM", ["W06000023", "E07000080"])
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert store_boundaries(session=session, boundaries=[pfas, lads], now=at) == {"pfa": 3, "lad": 2}
    index = load_boundary_index(session=session)
    assert index is not None and index.levels == ("lad", "pfa")
    assert index.codes("pfa") == ("E23000016", "E23000037", "W15000001")
    assert index.area_at(52.5, -0.5, "pfa") == "E23000016"
    assert index.area_at(52.5, -1.5, "lad") == "E07000080"
    stored = index.boundary("E23000037")
    assert stored is not None and stored.name == "Area E23000037" and stored.vintage == "2023"
    assert stored.geometry.equals(pfas.boundaries[1].geometry)
    status = {s.level: s for s in boundary_status(session=session)}
    assert status["pfa"].count == 3 and status["pfa"].vintages == ("2023",) and status["pfa"].loaded_at == at
    assert status["lad"].count == 2 and status["lad"].vintages == ("2025",)


def test_a_new_load_replaces_that_level_only(session: Session) -> None:
    store_boundaries(
        session=session,
        boundaries=[
            _squares("PFA19CD", "PFA19NM", ["E23000001", "E23000002"]),
            _squares("LAD21CD", "LAD21NM", ["E07000001"]),
        ],
    )
    store_boundaries(session=session, boundaries=_squares("PFA23CD", "PFA23NM", ["E23000003"]))
    index = load_boundary_index(session=session)
    assert index is not None
    assert index.codes("pfa") == ("E23000003",)
    assert index.codes("lad") == ("E07000001",)
    pfa_set = index.boundary_set("pfa")
    assert pfa_set is not None and pfa_set.vintage == "2023"


def test_a_failed_store_changes_nothing(session: Session) -> None:
    first = _squares("PFA23CD", "PFA23NM", ["E23000001"])
    store_boundaries(session=session, boundaries=first)
    twice = Boundary("E07000001", "Twice", "lad", "2025", shapely.box(0, 52, 1, 53))
    broken = BoundarySet("lad", "2025", "broken", (twice, twice))  # the same code twice breaks the primary key
    with pytest.raises(IntegrityError):
        store_boundaries(session=session, boundaries=[_squares("PFA23CD", "PFA23NM", ["E23000009"]), broken])
    rows = session.exec(select(AreaBoundary)).all()
    assert [r.code for r in rows] == ["E23000001"]


def test_real_geography_round_trip(session: Session, geography_dir: Path) -> None:
    pfas = load_boundaries(geography_dir / "pfa_dec2023_buc.geojson")
    lads = load_boundaries(geography_dir / "lad_may2025_buc.geojson")
    assert store_boundaries(session=session, boundaries=[pfas, lads]) == {"pfa": 43, "lad": 318}
    index = load_boundary_index(session=session)
    assert index is not None
    assert index.area_at(53.8178, -1.5745, "pfa") == "E23000010"
    assert index.area_at(51.4816, -3.1791, "lad") == "W06000015"
