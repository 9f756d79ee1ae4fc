"""Benchmark: how long a `signpost` command takes from a fresh process, as a script running many commands sees it.

Each command runs ``--runs`` times as a new Python process (after one warm-up that creates and seeds the
database in a temporary data directory); the median wall time is printed beside two baselines measured in the
same run: ``python -c pass`` (the interpreter alone) and ``python -c "import sqlalchemy"`` (the least a command
that opens the database must load). Goals on an idle machine: ``signpost --help`` under 0.3 s and
``signpost services show ID`` under 0.6 s; on a busy one, read the ratios. Run::

    python bench/bench_cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "british-transport-police"  # in the shipped national directory


def _medians(argv: list[str], *, runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``runs`` fresh processes."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SIGNPOST_DATA_DIR": data_dir}
        env.pop("DATABASE_URL", None)
        signpost = [python, "-m", "signpost"]
        subprocess.run([*signpost, "services", "list"], env=env, check=True, stdout=subprocess.DEVNULL)  # seed
        cases = {
            "python -c pass (baseline)": [python, "-c", "pass"],
            "python -c 'import sqlalchemy' (baseline)": [python, "-c", "import sqlalchemy"],
            "signpost --help": [*signpost, "--help"],
            "signpost services --help": [*signpost, "services", "--help"],
            f"signpost services show {SERVICE}": [*signpost, "services", "show", SERVICE],
            "signpost services list": [*signpost, "services", "list"],
        }
        medians = {label: _medians(argv, runs=args.runs, env=env) for label, argv in cases.items()}
    bare = medians["python -c pass (baseline)"]
    sqlalchemy = medians["python -c 'import sqlalchemy' (baseline)"]
    # CPU time as well as wall time: on a shared machine a process waits for a core, which is not its own cost.
    print(f"{'command':52} {'wall s':>7} {'cpu s':>7} {'x python':>9} {'x sqlalchemy':>13}  (ratios of cpu)")
    for label, (wall, cpu) in medians.items():
        print(f"{label:52} {wall:7.3f} {cpu:7.3f} {cpu / bare[1]:9.2f} {cpu / sqlalchemy[1]:13.2f}")


if __name__ == "__main__":
    main()
