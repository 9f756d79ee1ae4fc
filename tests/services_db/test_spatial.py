"""PostGIS, SQLite and the in-process index give the same answers, on the real geography of England and Wales."""

from __future__ import annotations

import csv
import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely import STRtree
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine
from sqlmodel import Session

from mapping.signposting import SignpostIndex
from mapping.types import (
    AreaCoverage,
    Coverage,
    Location,
    LocationSource,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)
from services_db.repository import apply_changes
from services_db.spatial import services_covering

LEEDS = (53.8008, -1.5491)


def record(
    id: str,
    coverage: Coverage,
    *,
    kind: ServiceKind = ServiceKind.THIRD_PARTY_REPORTING,
    strands: frozenset[Strand] = frozenset(),
    status: ServiceStatus = ServiceStatus.ACTIVE,
) -> ServiceRecord:
    return ServiceRecord(
        id=id,
        name=f"Test service {id}",
        kind=kind,
        coverage=coverage,
        source_url="https://example.org/test-fixture",
        verified_on=date(2026, 1, 1),
        strands=strands,
        status=status,
    )


def test_small_directory_on_both_databases(engine: Engine) -> None:
    services = [
        record("circle", RadiusCoverage(*LEEDS, 5_000)),
        record("square", PolygonCoverage(mapping(shapely.box(-1.6, 53.7, -1.5, 53.85)))),
        record("leeds", AreaCoverage(("E08000035",)), strands=frozenset({Strand.RACE})),
        record("west-yorks", AreaCoverage(("E23000010",)), kind=ServiceKind.VICTIM_SUPPORT),
        record("ew", NationalCoverage(), kind=ServiceKind.POLICE),
        record("999", NationalCoverage(), kind=ServiceKind.EMERGENCY),
        record("wales", NationalCoverage(Nation.WALES), kind=ServiceKind.VICTIM_SUPPORT),
        record("closed", RadiusCoverage(*LEEDS, 5_000), status=ServiceStatus.CLOSED),
    ]
    with Session(engine, expire_on_commit=False) as session:
        apply_changes(session=session, upserts=services, removals=[], actor="test")

        def ask(lat: float, lon: float, **kwargs: object) -> list[str]:
            return services_covering(session=session, lat=lat, lon=lon, **kwargs)  # type: ignore[arg-type]

        leeds = {"lad_code": "E08000035", "pfa_code": "E23000010"}
        assert ask(*LEEDS, **leeds) == ["999", "circle", "ew", "leeds", "square", "west-yorks"]
        assert ask(53.75, -1.5, lad_code="E08000036") == ["999", "ew", "square"]  # on the square's edge
        assert ask(*LEEDS, strands=[Strand.RELIGION], **leeds) == ["999", "circle", "ew", "square", "west-yorks"]
        assert ask(*LEEDS, kinds=[ServiceKind.VICTIM_SUPPORT], **leeds) == ["west-yorks"]
        assert ask(51.48, -3.18, lad_code="W06000015", pfa_code="W15000003") == ["999", "ew", "wales"]
        assert ask(55.95, -3.19) == ["999"]  # Edinburgh: outside England and Wales
        assert ask(55.95, -3.19, lad_code="S12000036", kinds=[ServiceKind.POLICE]) == []


# --- parity on real geography ---------------------------------------------------------------------------


def _polygons(geography_dir: Path) -> dict[str | Nation, BaseGeometry]:
    out: dict[str | Nation, BaseGeometry] = {}
    for name, field in (("lad_may2025_buc.geojson", "LAD25CD"), ("pfa_dec2023_buc.geojson", "PFA23CD")):
        for feature in json.loads((geography_dir / name).read_text())["features"]:
            code = feature["properties"][field]
            if code[0] in "EW":
                out[code] = shapely.make_valid(shape(feature["geometry"]))
    for nation, prefix in ((Nation.ENGLAND, "E23"), (Nation.WALES, "W15")):
        out[nation] = shapely.union_all([g for c, g in out.items() if isinstance(c, str) and c.startswith(prefix)])
    out[Nation.ENGLAND_AND_WALES] = shapely.union_all([out[Nation.ENGLAND], out[Nation.WALES]])
    return out


def _directory(polygons: dict[str | Nation, BaseGeometry], rows: list[dict[str, str]]) -> list[ServiceRecord]:
    rng = random.Random(11)
    lads = sorted(c for c in polygons if isinstance(c, str) and c[:3] in ("E06", "E07", "E08", "E09", "W06"))
    pfas = sorted(c for c in polygons if isinstance(c, str) and c[:3] in ("E23", "W15"))
    kinds = list(ServiceKind)
    services: list[ServiceRecord] = []
    for i in range(240):
        r = rng.random()
        if r < 0.25:
            coverage: Coverage = AreaCoverage(tuple(rng.sample(lads, rng.randint(1, 3))))
        elif r < 0.4:
            coverage = AreaCoverage((rng.choice(pfas),))
        elif r < 0.8:
            row = rng.choice(rows)
            coverage = RadiusCoverage(float(row["LAT"]), float(row["LONG"]), rng.uniform(5_000, 25_000))
        elif r < 0.95:
            coverage = PolygonCoverage(mapping(polygons[rng.choice(lads)]))
        else:
            coverage = NationalCoverage(rng.choice(list(Nation)))
        strands = frozenset(rng.sample(list(Strand), rng.randint(1, 2))) if rng.random() < 0.3 else frozenset()
        status = ServiceStatus.ACTIVE if rng.random() < 0.9 else ServiceStatus.SUSPENDED
        services.append(record(f"svc-{i:03}", coverage, kind=rng.choice(kinds), strands=strands, status=status))
    return services


@pytest.mark.slow
@pytest.mark.parametrize("boundaries_loaded", [True, False], ids=["with-boundaries", "codes-only"])
def test_database_and_index_agree_on_real_geography(
    engine: Engine, geography_dir: Path, boundaries_loaded: bool
) -> None:
    polygons = _polygons(geography_dir)
    with (geography_dir / "lsoa21_population_weighted_centroids.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with (geography_dir / "lad25_to_pfa23.csv").open(encoding="utf-8") as f:
        pfa_of = {r["LAD25CD"]: r["PFA23CD"] for r in csv.DictReader(f)}
    services = _directory(polygons, rows)
    areas = polygons.get if boundaries_loaded else None
    index = SignpostIndex.build(services, areas=areas)

    lad_codes = [c for c in pfa_of if c in polygons]
    lad_tree = STRtree([polygons[c] for c in lad_codes])
    rng = random.Random(5)
    checked = matched = 0
    with Session(engine, expire_on_commit=False) as session:
        apply_changes(session=session, upserts=services, removals=[], actor="test", areas=areas)
        for row in rng.sample(rows, 300):
            lat, lon = float(row["LAT"]), float(row["LONG"])
            inside = lad_tree.query(Point(lon, lat), predicate="covered_by")
            lad = lad_codes[int(inside[0])] if len(inside) else None  # coastal centroids: outside the BUC polygons
            location = Location(lat, lon, LocationSource.POSTCODE, 50, lad_code=lad, pfa_code=pfa_of.get(lad or ""))
            strands = rng.sample(list(Strand), rng.choice([0, 0, 1, 2]))
            kinds = rng.sample(list(ServiceKind), rng.choice([0, 0, 1, 3]))
            want = [s.id for s in index.covering(location, strands=strands, kinds=kinds)]
            got = services_covering(
                session=session,
                lat=lat,
                lon=lon,
                strands=strands,
                kinds=kinds,
                lad_code=location.lad_code,
                pfa_code=location.pfa_code,
            )
            assert got == want, f"{row['LSOA21CD']} ({lat}, {lon}) strands={strands} kinds={kinds}"
            checked += 1
            matched += len(want)
    assert checked == 300
    assert matched > 1000  # the directory is dense enough that the comparison means something


@pytest.mark.postgres
def test_postgis_query_can_use_the_gist_index(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostGIS only")
    from sqlalchemy import event

    services = [record(f"circle-{i}", RadiusCoverage(LEEDS[0] + i * 0.05, LEEDS[1], 2_000)) for i in range(20)]
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "ST_Covers" in statement:
            statements.append((statement, parameters))

    with Session(engine, expire_on_commit=False) as session:
        apply_changes(session=session, upserts=services, removals=[], actor="test")
        event.listen(engine, "before_cursor_execute", capture)
        try:
            assert services_covering(session=session, lat=LEEDS[0], lon=LEEDS[1], lad_code="E08000035") == ["circle-0"]
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        assert len(statements) == 1
        statement, parameters = statements[0]
        connection = session.connection()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # tiny table: make the planner show its options
        plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "ix_service_geom" in plan, plan
