"""Benchmark: the national coverage-gap computation against the same computation done the usual way with geopandas.

On the real ONS geography in ``../shared/data/geography`` (35,672 LSOA population-weighted centroids with Census
2021 counts, 43 PFAs, 318 LADs) and a directory of 2,000 services with mixed coverage (national; PFA and LAD
codes; 5-25 km circles around real centroids; polygons from real LAD geometry), both sides compute, for every
PFA and LAD and for each strand and "any": population covered, area covered (km2, BNG) and the gap polygons.

- ours: :func:`mapping.gaps.compute_coverage` (KD-tree and STRtree on plain arrays, code matching for
  area-coded services, unions shared across strands);
- geopandas: ``sjoin`` points to areas (``sjoin_nearest`` for the coastal ones), ``sjoin`` points to service
  coverage, ``dissolve`` per strand, ``overlay`` intersection and difference with the areas.

The two answers are compared (population covered must match; areas within 0.5%). Prints both times, the ratio,
and peak memory. Run::

    pip install -e '.[bench]'   # geopandas, for the baseline only
    python bench/bench_coverage.py [--services 2000] [--repeat 3] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np
import shapely
from rich.console import Console
from rich.table import Table
from shapely.geometry import mapping

from mapping.areas import AreaRegistry
from mapping.boundaries import load_boundaries
from mapping.crs import bng_to_wgs84, geometry_to_wgs84
from mapping.gaps import ANY, STRAND_BIT, STRAND_ORDER, CoverageResult, Geography, compute_coverage
from mapping.population import PopulationPoints, load_lsoa_population
from mapping.types import (
    AreaCoverage,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    Strand,
)

ROOT = Path(__file__).resolve().parent.parent
GEOGRAPHY = Path(os.environ.get("SIGNPOST_SHARED_GEOGRAPHY", ROOT.parent / "shared" / "data" / "geography"))
console = Console(stderr=True)


def make_directory(count: int, geography: Geography, population: PopulationPoints, seed: int) -> list[ServiceRecord]:
    """A plausible national directory: most services are local third-party reporting centres."""
    rng = random.Random(seed)
    lads, pfas = list(geography.lads), list(geography.pfas)
    weights = population.population / population.population.sum()
    picks = np.random.default_rng(seed).choice(len(population), size=count, p=weights)
    services: list[ServiceRecord] = []
    for i in range(count):
        r = rng.random()
        kind = ServiceKind.THIRD_PARTY_REPORTING if rng.random() < 0.7 else rng.choice(list(ServiceKind))
        if r < 0.02:
            coverage = NationalCoverage(rng.choice(list(Nation)))
            kind = rng.choice([ServiceKind.HELPLINE, ServiceKind.ONLINE_REPORTING, ServiceKind.VICTIM_SUPPORT])
        elif r < 0.12:
            coverage = AreaCoverage((rng.choice(pfas).code,))
        elif r < 0.32:
            coverage = AreaCoverage(tuple(u.code for u in rng.sample(lads, rng.choice([1, 1, 2, 3]))))
        elif r < 0.87:
            j = int(picks[i])
            lon, lat = bng_to_wgs84(population.easting[j], population.northing[j])
            coverage = RadiusCoverage(float(lat), float(lon), rng.uniform(5_000, 25_000))
        else:
            unit = rng.choice(lads)
            shrunk = unit.geometry.buffer(-rng.uniform(200, 2_000)).simplify(100)
            if shrunk.is_empty:
                shrunk = unit.geometry.simplify(100)
            coverage = PolygonCoverage(mapping(geometry_to_wgs84(shrunk)))
        strands = frozenset(rng.sample(list(Strand), rng.choice([0, 0, 0, 1, 2])))
        services.append(
            ServiceRecord(
                id=f"bench-{i}",
                name=f"Bench service {i}",
                kind=kind,
                coverage=coverage,
                source_url="https://example.org/bench",
                verified_on=date(2025, 1, 1),
                strands=strands,
            )
        )
    return services


def geopandas_baseline(
    services: list[ServiceRecord], population: PopulationPoints, geography: Geography
) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(level, code, strand) -> (population covered, area covered km2), plus gap polygons, the geopandas way."""
    import geopandas as gpd
    import pandas as pd

    crs = 27700
    counted = [s for s in services if s.kind is ServiceKind.THIRD_PARTY_REPORTING]
    areas = {
        level: gpd.GeoDataFrame(
            {"code": [u.code for u in units], "pfa": [u.parent_code or u.code for u in units]},
            geometry=[u.geometry for u in units],
            crs=crs,
        )
        for level, units in (("pfa", geography.pfas), ("lad", geography.lads))
    }
    points = gpd.GeoDataFrame(
        {"pop": population.population},
        geometry=gpd.points_from_xy(population.easting, population.northing),
        crs=crs,
    )
    # Points -> LAD (nearest for the coastal ones), PFA = the LAD's force area.
    joined = gpd.sjoin(points, areas["lad"], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    missing = joined["code"].isna()
    if missing.any():
        near = gpd.sjoin_nearest(points[missing], areas["lad"], how="left")
        near = near[~near.index.duplicated(keep="first")]
        joined.loc[missing, ["code", "pfa"]] = near[["code", "pfa"]].to_numpy()
    points["lad"] = joined["code"].to_numpy()
    points["pfa_code"] = joined["pfa"].to_numpy()
    lad_geom = dict(zip(areas["lad"]["code"], areas["lad"].geometry, strict=True))
    pfa_geom = dict(zip(areas["pfa"]["code"], areas["pfa"].geometry, strict=True))
    nation_geom = {
        Nation.ENGLAND: shapely.union_all([g for c, g in pfa_geom.items() if c.startswith("E")]),
        Nation.WALES: shapely.union_all([g for c, g in pfa_geom.items() if c.startswith("W")]),
    }
    nation_geom[Nation.ENGLAND_AND_WALES] = shapely.union_all(list(nation_geom.values()))
    geoms, masks = [], []
    for s in counted:
        c = s.coverage
        if isinstance(c, RadiusCoverage):
            g = gpd.GeoSeries.from_xy([c.lon], [c.lat], crs=4326).to_crs(crs).buffer(c.radius_m, 16).iloc[0]
        elif isinstance(c, PolygonCoverage):
            g = gpd.GeoSeries([shapely.geometry.shape(c.geojson)], crs=4326).to_crs(crs).make_valid().iloc[0]
        elif isinstance(c, AreaCoverage):
            g = shapely.union_all([lad_geom.get(code) or pfa_geom[code] for code in c.area_codes])
        else:
            g = nation_geom[c.nation]
        geoms.append(g)
        mask = 0
        for strand in s.strands or STRAND_ORDER:
            mask |= STRAND_BIT[strand]
        masks.append(mask)
    services_gdf = gpd.GeoDataFrame({"mask": masks}, geometry=geoms, crs=crs)
    hits = gpd.sjoin(points[["geometry"]], services_gdf, how="inner", predicate="within")
    point_mask = hits.groupby(level=0)["mask"].agg(lambda m: np.bitwise_or.reduce(m.to_numpy()))
    points["mask"] = point_mask.reindex(points.index, fill_value=0).to_numpy()
    out: dict[tuple[str, str, str], tuple[float, float]] = {}
    for key in [*[s.value for s in STRAND_ORDER], ANY]:
        bits = sum(STRAND_BIT.values()) if key == ANY else STRAND_BIT[Strand(key)]
        covered = (points["mask"] & bits) != 0
        serving = services_gdf[(services_gdf["mask"] & bits) != 0]
        dissolved = serving.dissolve() if len(serving) else serving
        for level in ("pfa", "lad"):
            column = "pfa_code" if level == "pfa" else "lad"
            pop = points.loc[covered].groupby(column)["pop"].sum()
            inter = gpd.overlay(areas[level], dissolved[["geometry"]], how="intersection", keep_geom_type=True)
            area = inter.assign(a=inter.area / 1e6).groupby("code")["a"].sum()
            gpd.overlay(areas[level], dissolved[["geometry"]], how="difference", keep_geom_type=True)  # the gaps
            for code in areas[level]["code"]:
                out[(level, code, key)] = (float(pop.get(code, 0.0)), float(area.get(code, 0.0)))
    del pd
    return out


def compare(ours: CoverageResult, theirs: dict[tuple[str, str, str], tuple[float, float]]) -> tuple[int, int]:
    """(population mismatches, area mismatches over 0.5%)."""
    pop_bad = area_bad = 0
    for r in ours.rows:
        pop, area = theirs[(r.level, r.code, r.strand)]
        if abs(pop - r.population_covered) > 0.5:
            pop_bad += 1
        if abs(area - r.area_covered_km2) > max(0.005 * r.area_km2, 0.01):
            area_bad += 1
    return pop_bad, area_bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our computation (best is reported)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if not (GEOGRAPHY / "pfa_dec2023_buc.geojson").exists():
        console.print(f"[yellow]skipped:[/] real ONS geography not found at {GEOGRAPHY}")
        return 0
    registry = AreaRegistry.default()
    t = time.perf_counter()
    geography = Geography.from_boundaries(
        pfas=load_boundaries(GEOGRAPHY / "pfa_dec2023_buc.geojson").boundaries,
        lads=load_boundaries(GEOGRAPHY / "lad_may2025_buc.geojson").boundaries,
        pfa_for_lad=registry.pfa_for_lad,
    )
    population = load_lsoa_population(GEOGRAPHY / "lsoa21_population_weighted_centroids.csv")
    load_s = time.perf_counter() - t
    services = make_directory(args.services, geography, population, args.seed)
    console.print(
        f"{len(population):,} LSOAs, {len(geography.pfas)} PFAs, {len(geography.lads)} LADs, "
        f"{len(services):,} services ({sum(s.kind is ServiceKind.THIRD_PARTY_REPORTING for s in services):,} "
        f"third-party reporting); loading took {load_s:.2f} s"
    )

    # Wall and CPU time: on a shared machine the CPU time is the fairer figure; both are printed.
    walls, cpus = [], []
    result: CoverageResult | None = None
    for _ in range(args.repeat):
        w, c = time.perf_counter(), time.process_time()
        result = compute_coverage(services, population, geography)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    assert result is not None
    tracemalloc.start()  # a separate run: tracing slows every allocation, so it is not timed
    compute_coverage(services, population, geography)
    ours_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    ours_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours_wall, ours_cpu = min(walls), min(cpus)

    table = Table(title="National coverage-gap computation (43 PFAs + 318 LADs x 6 strands, with gaps)")
    for column in ("", "wall (s)", "CPU (s)", "ratio (CPU)", "ratio (wall)", "peak Python heap (MiB)", "max RSS (MiB)"):
        table.add_column(column, justify="right")
    table.add_row(
        "signpost (mapping.gaps)", f"{ours_wall:.2f}", f"{ours_cpu:.2f}", "1.0x", "1.0x", f"{ours_peak:.0f}",
        f"{ours_rss:.0f}",
    )  # fmt: skip
    if not args.skip_baseline:
        try:
            import geopandas  # noqa: F401
        except ImportError:
            console.print("[yellow]geopandas not installed: pip install -e '.[bench]' for the baseline[/]")
        else:
            w, c = time.perf_counter(), time.process_time()
            theirs = geopandas_baseline(services, population, geography)
            base_wall, base_cpu = time.perf_counter() - w, time.process_time() - c
            tracemalloc.start()
            geopandas_baseline(services, population, geography)
            base_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            table.add_row(
                "geopandas sjoin + overlay", f"{base_wall:.2f}", f"{base_cpu:.2f}",
                f"{base_cpu / ours_cpu:.1f}x slower", f"{base_wall / ours_wall:.1f}x slower", f"{base_peak:.0f}",
                f"{base_rss:.0f}",
            )  # fmt: skip
            pop_bad, area_bad = compare(result, theirs)
            console.print(
                f"agreement: {len(result.rows) - pop_bad}/{len(result.rows)} rows with the same population covered, "
                f"{len(result.rows) - area_bad}/{len(result.rows)} with area covered within 0.5% (differences: "
                "area-coded services are matched by codes here, by generalised polygons there)"
            )
    Console(width=150).print(table)
    console.print(
        f"our runs (wall): {', '.join(f'{x:.2f}' for x in walls)} s; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs; aim: under 5 s and at least 2x faster than geopandas"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
