"""Benchmark: point -> ranked matches with SignpostIndex, against a per-point geopandas ``sjoin``, in one run.

A directory of 2,000 services with realistic mixed coverage is built on the real ONS geography in
``../shared/data/geography`` (national; PFA and LAD codes; 5-25 km circles around real LSOA population-weighted
centroids; polygons from real LAD geometry). Query points are LSOA centroids drawn by population, each with
its LAD (from the LAD polygons) and PFA code, and a random choice of strands. Prints the index build time,
p50/p99 per query, memory, the geopandas baseline and the ratio. Run::

    pip install -e '.[bench]'   # geopandas, for the baseline only
    python bench/bench_signposting.py [--services 2000] [--queries 5000] [--baseline-queries 300]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from shapely import STRtree
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry

from mapping.coverage import CoverageCache
from mapping.signposting import SignpostIndex
from mapping.types import (
    AreaCoverage,
    Channel,
    ChannelKind,
    Coverage,
    Location,
    LocationSource,
    MatchReason,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    Strand,
)

# The index's order among otherwise equal matches (mapping.signposting), restated for the baseline.
KIND_PRIORITY = (
    ServiceKind.THIRD_PARTY_REPORTING,
    ServiceKind.VICTIM_SUPPORT,
    ServiceKind.ONLINE_REPORTING,
    ServiceKind.POLICE,
    ServiceKind.SPECIALIST_SUPPORT,
    ServiceKind.HELPLINE,
    ServiceKind.EMOTIONAL_SUPPORT,
    ServiceKind.EMERGENCY,
)
ROOT = Path(__file__).resolve().parent.parent
GEOGRAPHY = Path(os.environ.get("SIGNPOST_SHARED_GEOGRAPHY", ROOT.parent / "shared" / "data" / "geography"))
console = Console(stderr=True)


def load_geography() -> tuple[dict[str | Nation, BaseGeometry], list[dict[str, str]], dict[str, str]]:
    polygons: dict[str | Nation, BaseGeometry] = {}
    for name, field in (("lad_may2025_buc.geojson", "LAD25CD"), ("pfa_dec2023_buc.geojson", "PFA23CD")):
        for feature in json.loads((GEOGRAPHY / name).read_text())["features"]:
            code = feature["properties"][field]
            if code[0] in "EW":
                polygons[code] = shapely.make_valid(shape(feature["geometry"]))
    for nation, prefix in ((Nation.ENGLAND, "E23"), (Nation.WALES, "W15")):
        polygons[nation] = shapely.union_all([g for c, g in polygons.items() if str(c).startswith(prefix)])
    polygons[Nation.ENGLAND_AND_WALES] = shapely.union_all([polygons[Nation.ENGLAND], polygons[Nation.WALES]])
    with (GEOGRAPHY / "lsoa21_population_weighted_centroids.csv").open(encoding="utf-8") as f:
        centroids = list(csv.DictReader(f))
    with (GEOGRAPHY / "lad25_to_pfa23.csv").open(encoding="utf-8") as f:
        pfa_of = {r["LAD25CD"]: r["PFA23CD"] for r in csv.DictReader(f)}
    return polygons, centroids, pfa_of


def make_directory(
    count: int, polygons: dict[str | Nation, BaseGeometry], centroids: list[dict[str, str]], rng: random.Random
) -> list[ServiceRecord]:
    """Mixed coverage in proportions like a national directory with many locally commissioned services."""
    lads = sorted(c for c in polygons if isinstance(c, str) and c[:3] in ("E06", "E07", "E08", "E09", "W06"))
    pfas = sorted(c for c in polygons if isinstance(c, str) and c[:3] in ("E23", "W15"))
    weights = [int(r["population"]) for r in centroids]
    support = [ServiceKind.VICTIM_SUPPORT, ServiceKind.SPECIALIST_SUPPORT, ServiceKind.EMOTIONAL_SUPPORT]
    local_kinds = [ServiceKind.THIRD_PARTY_REPORTING] * 2 + support
    force_wide_kinds = [ServiceKind.THIRD_PARTY_REPORTING, *support * 3]
    services: list[ServiceRecord] = []
    for i in range(count):
        r = rng.random()
        anchor = rng.choices(centroids, weights)[0]
        lat, lon = float(anchor["LAT"]), float(anchor["LONG"])
        coverage: Coverage
        if r < 0.02:
            coverage = NationalCoverage(rng.choice(list(Nation)))
        elif r < 0.17:
            coverage = AreaCoverage((rng.choice(pfas),))
        elif r < 0.42:
            coverage = AreaCoverage(tuple(rng.sample(lads, rng.randint(1, 3))))
        elif r < 0.87:
            coverage = RadiusCoverage(lat, lon, rng.uniform(5_000, 25_000))
        else:
            coverage = PolygonCoverage(mapping(polygons[rng.choice(lads)]))
        if isinstance(coverage, NationalCoverage):
            kind = rng.choice(list(ServiceKind))
        elif isinstance(coverage, AreaCoverage) and coverage.area_codes[0][:3] in ("E23", "W15"):
            kind = rng.choice(force_wide_kinds)  # force-wide: mostly commissioned victim support
        else:
            kind = rng.choice(local_kinds)
        strands = frozenset(rng.sample(list(Strand), rng.randint(1, 2))) if rng.random() < 0.35 else frozenset()
        channels: tuple[Channel, ...] = ()
        if not isinstance(coverage, NationalCoverage) and rng.random() < 0.4:
            channels = (Channel(ChannelKind.IN_PERSON, "bench office", lat=lat, lon=lon),)
        services.append(
            ServiceRecord(
                id=f"bench-{i:05}",
                name=f"Bench service {i}",
                kind=kind,
                coverage=coverage,
                source_url="https://example.org/bench",
                verified_on=date(2026, 1, 1),
                strands=strands,
                channels=channels,
            )
        )
    return services


def make_queries(
    count: int, centroids: list[dict[str, str]], polygons: dict[str | Nation, BaseGeometry], pfa_of: dict[str, str]
) -> list[tuple[Location, list[Strand]]]:
    rng = random.Random(2)
    lad_codes = [c for c in pfa_of if c in polygons]
    tree = STRtree([polygons[c] for c in lad_codes])
    weights = [int(r["population"]) for r in centroids]
    queries = []
    for row in rng.choices(centroids, weights, k=count):
        lat, lon = float(row["LAT"]), float(row["LONG"])
        inside = tree.query(Point(lon, lat), predicate="covered_by")
        lad = lad_codes[int(inside[0])] if len(inside) else None
        if lad is None:  # a coastal centroid just outside the generalised polygons: the nearest LAD
            lad = lad_codes[int(tree.query_nearest(Point(lon, lat))[0])]
        location = Location(lat, lon, LocationSource.POSTCODE, 50, lad_code=lad, pfa_code=pfa_of[lad])
        queries.append((location, rng.sample(list(Strand), rng.choice([0, 1, 1, 2]))))
    return queries


class GeopandasBaseline:
    """The same query done the usual way: a per-point ``sjoin`` plus pandas for codes, filters and ranking."""

    def __init__(self, services: list[ServiceRecord], cache: CoverageCache) -> None:
        import geopandas as gpd
        import pandas as pd

        self.gpd, self.pd = gpd, pd
        rows: list[dict[str, Any]] = []
        for position, s in enumerate(services):
            national = s.coverage.nation.value if isinstance(s.coverage, NationalCoverage) else None
            codes = set(s.coverage.area_codes) if isinstance(s.coverage, AreaCoverage) else set()
            geometry = None if national else cache.resolve(s.coverage)
            points = s.in_person
            rows.append(
                {
                    "position": position,
                    "id": s.id,
                    "name": s.name,
                    "kind": s.kind.value,
                    "kind_rank": KIND_PRIORITY.index(s.kind),
                    "caveated": bool(s.caveat),
                    "strands": {x.value for x in s.strands},
                    "national": national,
                    "codes": codes,
                    "person_lat": points[0].lat if points else np.nan,
                    "person_lon": points[0].lon if points else np.nan,
                    "geometry": geometry,
                }
            )
        frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
        self.spatial = frame[frame.geometry.notna()]
        self.spatial.sindex  # noqa: B018 - build the spatial index once, outside the timed queries
        self.frame = frame.drop(columns="geometry")
        self.geod = Geod(ellps="WGS84")

    def find(self, location: Location, strands: list[Strand]) -> list[str]:
        point = self.gpd.GeoDataFrame(geometry=[Point(location.lon, location.lat)], crs=4326)
        joined = self.gpd.sjoin(point, self.spatial, predicate="covered_by", how="inner")
        local_ids = set(joined["position"])
        f = self.frame
        by_code = f["codes"].map(lambda codes: location.lad_code in codes or location.pfa_code in codes)
        nation = "wales" if (location.lad_code or "").startswith("W") else "england"
        national = f["national"].isin([nation, "england_and_wales"])
        local = f["position"].isin(local_ids) | by_code
        wanted = {s.value for s in strands}
        serves = f["strands"].map(lambda s: not s or not wanted or bool(s & wanted))
        hits = f[(local | national) & serves].copy()
        hits["specialist"] = hits["strands"].map(lambda s: bool(s & wanted))
        hits["locality"] = np.where(hits["national"].isna(), 0, 1)
        has = hits["person_lat"].notna()
        distance = np.full(len(hits), np.inf)
        if has.any():
            n = int(has.sum())
            _, _, d = self.geod.inv(
                np.full(n, location.lon), np.full(n, location.lat), hits["person_lon"][has], hits["person_lat"][has]
            )
            distance[has.to_numpy()] = d
        hits["distance"] = distance
        hits["not_specialist"] = ~hits["specialist"]
        hits["narrow"] = hits["strands"].map(bool) & (not wanted)  # with no strand chosen: for everyone first
        keys = ["not_specialist", "locality", "distance", "narrow", "caveated", "kind_rank", "name", "id"]
        hits = hits.sort_values(keys, kind="stable")
        return list(hits["id"])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--baseline-queries", type=int, default=300)
    args = parser.parse_args()
    if not (GEOGRAPHY / "pfa_dec2023_buc.geojson").exists():
        console.print(f"[yellow]skipped: real ONS geography not found at {GEOGRAPHY} (set SIGNPOST_SHARED_GEOGRAPHY)")
        return 0
    try:
        import geopandas  # noqa: F401
    except ImportError:
        console.print("[red]the baseline needs geopandas: pip install -e '.[bench]'")
        return 2

    with console.status("loading the real ONS geography"):
        polygons, centroids, pfa_of = load_geography()
    rng = random.Random(1)
    services = make_directory(args.services, polygons, centroids, rng)
    queries = make_queries(args.queries, centroids, polygons, pfa_of)
    m = Measured()
    cache = CoverageCache(polygons.get)
    index = measure_builds(m, services, polygons, cache)
    measure_queries(m, index, queries)
    measure_baseline(m, index, cache, queries[: args.baseline_queries])
    m.resolved = sum(1 for s in services if cache.resolve(s.coverage) is not None)
    m.specs = len(cache)
    print_figures(m, len(services))
    return 0


@dataclass
class Measured:
    """Every figure the benchmark prints, filled in as it goes."""

    cold_build: float = 0.0
    warm_build: float = 0.0
    rss_growth: int = 0
    build_peak: int = 0
    timings: list[float] = dataclasses.field(default_factory=list)
    cpu_timings: list[float] = dataclasses.field(
        default_factory=list
    )  # this thread's CPU time: the cost on a shared machine
    gap_timings: list[float] = dataclasses.field(default_factory=list)
    baseline_timings: list[float] = dataclasses.field(default_factory=list)
    baseline_cpu: list[float] = dataclasses.field(default_factory=list)
    matches: int = 0
    outside: int = 0
    disagreements: int = 0
    resolved: int = 0
    specs: int = 0
    load_before: float = 0.0


def measure_builds(
    m: Measured, services: list[ServiceRecord], polygons: dict[str | Nation, BaseGeometry], cache: CoverageCache
) -> SignpostIndex:
    """A cold build (every coverage resolved, unions of real polygons), a rebuild with a warm cache, memory."""
    started = time.perf_counter()
    index = SignpostIndex.build(services, areas=polygons.get, cache=cache)
    m.cold_build = time.perf_counter() - started
    started = time.perf_counter()
    SignpostIndex.build(services, areas=polygons.get, cache=cache)
    m.warm_build = time.perf_counter() - started
    # Memory: GEOS geometries live outside Python's allocator, so the resident set is measured as well.
    rss_before = _rss()
    tracemalloc.start()
    fresh = SignpostIndex.build(services, areas=polygons.get, cache=CoverageCache(polygons.get))
    _, m.build_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    m.rss_growth = _rss() - rss_before
    del fresh
    return index


def measure_queries(m: Measured, index: SignpostIndex, queries: list[Any]) -> None:
    """Every query, then again those adding the nearest services outside (the rarer path)."""
    for location, strands in queries[:50]:  # warm-up (lazy imports, caches in pyproj)
        index.find(location, strands=strands)
    m.load_before = os.getloadavg()[0]
    for location, strands in paced(queries, "SignpostIndex queries"):
        started, started_cpu = time.perf_counter(), time.thread_time()
        found = index.find(location, strands=strands)
        m.timings.append(time.perf_counter() - started)
        m.cpu_timings.append(time.thread_time() - started_cpu)
        m.matches += len(found)
        m.outside += any(match.reason is MatchReason.NEAREST_OUTSIDE for match in found)
    gaps = [q for q in queries if any(x.reason is MatchReason.NEAREST_OUTSIDE for x in index.find(q[0], strands=q[1]))]
    for location, strands in gaps:
        started = time.perf_counter()
        index.find(location, strands=strands)
        m.gap_timings.append(time.perf_counter() - started)


def measure_baseline(m: Measured, index: SignpostIndex, cache: CoverageCache, queries: list[Any]) -> None:
    """The geopandas sjoin baseline over the same active services, in the same order, and where it disagrees."""
    baseline = GeopandasBaseline(list(index.services), cache)
    for location, strands in paced(queries, "geopandas sjoin queries"):
        started, started_cpu = time.perf_counter(), time.thread_time()
        expected = baseline.find(location, strands)
        m.baseline_timings.append(time.perf_counter() - started)
        m.baseline_cpu.append(time.thread_time() - started_cpu)
        got = [
            x.service.id for x in index.find(location, strands=strands) if x.reason is not MatchReason.NEAREST_OUTSIDE
        ]
        m.disagreements += got != expected


def print_figures(m: Measured, services: int) -> None:
    timings, cpu_timings, baseline_timings = m.timings, m.cpu_timings, m.baseline_timings
    mean_index = float(np.mean(timings))
    mean_baseline = float(np.mean(baseline_timings))
    table = Table(title=f"signposting: {services} services, real ONS geography")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("services (coverage resolved to geometry)", f"{services} ({m.resolved})")
    table.add_row("distinct coverage specs resolved", f"{m.specs}")
    table.add_row("index build, cold cache", f"{m.cold_build * 1e3:.0f} ms")
    table.add_row("index build, warm cache (rebuild after a change)", f"{m.warm_build * 1e3:.0f} ms")
    table.add_row("index build: resident memory growth", f"{m.rss_growth / 2**20:.1f} MiB" if m.rss_growth else "n/a")
    table.add_row("index build: peak traced Python memory", f"{m.build_peak / 2**20:.1f} MiB")
    table.add_row("process max RSS", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    table.add_row("queries (SignpostIndex.find)", f"{len(timings)}")
    table.add_row("mean matches per query", f"{m.matches / len(timings):.1f}")
    table.add_row("queries adding nearest-outside", f"{m.outside} ({m.outside / len(timings):.1%})")
    table.add_row("SignpostIndex p50 / p99 / max", _ms(timings))
    if m.gap_timings:
        table.add_row("  of which nearest-outside queries p50 / p99 / max", _ms(m.gap_timings))
    table.add_row("geopandas sjoin p50 / p99 / max", _ms(baseline_timings))
    table.add_row("mean per query: index / sjoin", f"{mean_index * 1e3:.3f} ms / {mean_baseline * 1e3:.3f} ms")
    table.add_row("[bold]ratio (sjoin mean / index mean)", f"[bold]{mean_baseline / mean_index:.1f}x")
    median_ratio = percentile(baseline_timings, 50) / percentile(timings, 50)
    table.add_row("ratio (sjoin median / index median)", f"{median_ratio:.1f}x")
    table.add_row("CPU time per query, index p50 / p99 / max", _ms(cpu_timings))
    table.add_row("CPU time per query, sjoin p50 / p99 / max", _ms(m.baseline_cpu))
    cpu_ratio = float(np.mean(m.baseline_cpu)) / float(np.mean(cpu_timings))
    table.add_row("ratio of mean CPU time per query (sjoin / index)", f"{cpu_ratio:.1f}x")
    table.add_row("ranked answers differing from the baseline", f"{m.disagreements} of {len(baseline_timings)}")
    Console().print(table)
    p99 = percentile(timings, 99) * 1e3
    cpu_p99 = percentile(cpu_timings, 99) * 1e3
    print(
        f"aims: ratio >= 20x: {mean_baseline / mean_index >= 20}; p99 < 2 ms: {p99 < 2} ({p99:.3f} ms wall,"
        f" {cpu_p99:.3f} ms CPU)"
    )
    print(
        f"load average while measuring: {m.load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on"
        f" {os.cpu_count()} CPUs (wall-clock figures scale with it; CPU time much less)"
    )


def paced(items: list[Any], description: str) -> Iterator[Any]:
    """``items`` with a progress bar redrawn every few items between them, never by a thread during a timing."""
    with Progress(console=console, auto_refresh=False) as progress:
        task = progress.add_task(description, total=len(items))
        for done, item in enumerate(items, start=1):
            yield item
            if done % 100 == 0 or done == len(items):
                progress.update(task, completed=done, refresh=True)


def _rss() -> int:
    """Current resident set size in bytes (Linux), or 0 where /proc is not available."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _ms(values: list[float]) -> str:
    return " / ".join(f"{percentile(values, q) * 1e3:.3f}" for q in (50, 99, 100)) + " ms"


if __name__ == "__main__":
    sys.exit(main())
