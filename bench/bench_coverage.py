"""Benchmark: `signpost coverage report` end to end against the same report done with geopandas, both timed as
child processes of this one, at 500, 2,000 and 8,000 services.

Setup (not timed): a fresh data directory; the real ONS boundaries from ``../shared/data/geography`` stored with
``signpost geography load``; a directory of N services with mixed coverage (national; PFA and LAD codes; 5-25 km
circles around real LSOA centroids; polygons from real LAD geometry) written as CSV and imported with
``signpost services import``.

Timed, alternately, ``--repeat`` times each: ``signpost coverage report --population LSOA.csv`` (services and
boundaries from the database; tables, gaps GeoJSON, HTML, PNG maps, summary) and ``bench/coverage_geopandas.py``
(the same inputs as files: tables, gaps GeoJSON, PNG maps). Wall time, CPU time (user + system of the child) and
peak RSS of each child come from ``os.wait4``; the medians are compared. On a shared machine CPU time is the
fairer figure; both are printed. Run::

    pip install -e '.[bench]'   # geopandas, for the baseline only
    python bench/bench_coverage.py [--sizes 500,2000,8000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from shapely.geometry import mapping

from mapping.areas import AreaRegistry
from mapping.boundaries import load_boundaries
from mapping.crs import bng_to_wgs84, geometry_to_wgs84
from mapping.gaps import Geography
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
from services_db.formats import write_services

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


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one child process, which must succeed."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        error = child.stderr.read().decode(errors="replace") if child.stderr else ""
        raise RuntimeError(f"{' '.join(command[:4])} failed ({child.returncode}):\n{error[-2000:]}")
    if child.stderr:
        child.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _setup(size: int, work: Path, template: Path, geography: Geography, population: PopulationPoints) -> dict:
    """A data directory with the boundaries and ``size`` imported services; returns the child environment."""
    data = work / f"data-{size}"
    shutil.copytree(template, data)
    services = work / f"services-{size}.csv"
    services.write_text(write_services(make_directory(size, geography, population, seed=7), "csv"), encoding="utf-8")
    env = {**os.environ, "SIGNPOST_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "signpost", "services", "import", str(services), "--show", "0"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="500,2000,8000", help="directory sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side per size (medians compared)")
    args = parser.parse_args()
    if not (GEOGRAPHY / "pfa_dec2023_buc.geojson").exists():
        console.print(f"[yellow]skipped:[/] real ONS geography not found at {GEOGRAPHY}")
        return 0
    try:
        import geopandas  # noqa: F401
    except ImportError:
        console.print("[yellow]geopandas not installed: pip install -e '.[bench]' for the baseline[/]")
        return 1
    pfa, lad = GEOGRAPHY / "pfa_dec2023_buc.geojson", GEOGRAPHY / "lad_may2025_buc.geojson"
    lsoa = GEOGRAPHY / "lsoa21_population_weighted_centroids.csv"
    registry = AreaRegistry.default()
    geography = Geography.from_boundaries(
        pfas=load_boundaries(pfa).boundaries, lads=load_boundaries(lad).boundaries, pfa_for_lad=registry.pfa_for_lad
    )
    population = load_lsoa_population(lsoa)
    table = Table(title="Coverage report end to end (median of runs; ratio = geopandas / signpost)")
    for column in ("services", "", "wall (s)", "CPU (s)", "peak RSS (MiB)", "ratio wall", "ratio CPU"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="bench-coverage-") as tmp:
        work = Path(tmp)
        template = work / "template"
        env = {**os.environ, "SIGNPOST_DATA_DIR": str(template), "PYTHONPATH": str(ROOT)}
        env.pop("DATABASE_URL", None)
        subprocess.run(
            [sys.executable, "-m", "signpost", "geography", "load", "--pfa", str(pfa), "--lad", str(lad)],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for size in (int(x) for x in args.sizes.split(",")):
            env = _setup(size, work, template, geography, population)
            ours_cmd = [sys.executable, "-m", "signpost", "coverage", "report", "--out", str(work / f"ours-{size}"),
                        "--population", str(lsoa)]  # fmt: skip
            theirs_cmd = [sys.executable, str(ROOT / "bench" / "coverage_geopandas.py"), str(pfa), str(lad),
                          str(lsoa), str(work / f"services-{size}.csv"), str(work / f"geopandas-{size}")]  # fmt: skip
            ours, theirs = [], []
            for _ in range(args.repeat):  # alternate, so both sides see the same machine load
                ours.append(_timed(ours_cmd, env))
                theirs.append(_timed(theirs_cmd, env))
            o = [statistics.median(x) for x in zip(*ours, strict=True)]
            t = [statistics.median(x) for x in zip(*theirs, strict=True)]
            table.add_row(f"{size:,}", "signpost", f"{o[0]:.2f}", f"{o[1]:.2f}", f"{o[2]:.0f}", "1.0x", "1.0x")
            table.add_row(
                "",
                "geopandas",
                f"{t[0]:.2f}",
                f"{t[1]:.2f}",
                f"{t[2]:.0f}",
                f"{t[0] / o[0]:.2f}x",
                f"{t[1] / o[1]:.2f}x",
            )
            console.print(
                f"{size:,} services: signpost runs (wall) {', '.join(f'{w:.2f}' for w, _, _ in ours)} s; "
                f"geopandas {', '.join(f'{w:.2f}' for w, _, _ in theirs)} s"
            )
    Console(width=150).print(table)
    console.print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; aims: at least 2x geopandas at 500 and "
        "2,000 services, under 5 s at 2,000, peak RSS under 400 MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
