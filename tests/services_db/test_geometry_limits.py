"""A service's coverage polygon with too many points is refused, by record and by file, before shapely sees it."""

from __future__ import annotations

import json

from sqlalchemy import Engine
from sqlmodel import Session

from mapping.geometry_limits import SERVICE_POINTS
from services_db.formats import write_services
from services_db.geometry_limits import geometry_size_problems
from services_db.importer import plan_import
from services_db.validation import RawService
from tests.services_db.factories import polygon_service


def _ring(points: int) -> list[list[float]]:
    return [[-1.55 + i * 1e-7, 53.80] for i in range(points - 2)] + [[-1.55, 53.81], [-1.55, 53.80]]


def test_each_oversized_service_is_named_and_the_file_total_is_bounded() -> None:
    small = {"type": "Polygon", "coordinates": [_ring(10)]}
    big = {"type": "Polygon", "coordinates": [_ring(30)]}
    services = [
        RawService(row=0, fields={"id": "small"}, geometry=small),
        RawService(row=1, fields={"id": "big"}, geometry=big),
        RawService(row=2, fields={"id": "wkt", "geometry": "POLYGON((" + ", ".join(["0 0"] * 25) + "))"}),
    ]
    problems = geometry_size_problems(services, file="f.geojson", limit=20, file_limit=1000)
    assert [(p.row, p.field) for p in problems] == [(1, "geometry"), (2, "geometry")]
    assert "'big'" in problems[0].message and "more than 20 points" in problems[0].message
    assert "simplify" in problems[0].message
    assert not geometry_size_problems(services[:1], file="f.geojson", limit=20, file_limit=1000)
    total = geometry_size_problems(services, file="f.geojson", limit=100, file_limit=35)
    assert [p.row for p in total] == [None] and "more than 35 points, the limit for one file" in total[0].message


def test_the_import_refuses_a_polygon_over_the_limit_without_validating_it(engine: Engine) -> None:
    document = json.loads(write_services([polygon_service(name="Dense")], "geojson"))
    document["features"][0]["geometry"] = {"type": "Polygon", "coordinates": [_ring(SERVICE_POINTS + 1)]}
    with Session(engine) as session:
        plan = plan_import(session=session, data=json.dumps(document).encode(), name="dense.geojson")
    assert not plan.ok
    assert [(p.row, p.field) for p in plan.problems] == [(1, "geometry")]
    assert f"more than {SERVICE_POINTS:,} points" in plan.problems[0].message
