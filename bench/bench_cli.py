"""Benchmark: how long a `signpost` command takes from a fresh process, as a script running many commands sees it.

Each command runs ``--runs`` times as a new Python process (after one warm-up that creates and seeds the
database in a temporary data directory); the median wall time is printed beside two baselines measured in the
same run: ``python -c pass`` (the interpreter alone) and ``python -c "import sqlalchemy"`` (the least a command
that opens the database must load). Goals on an idle machine: ``signpost --help`` under 0.3 s and
``signpost services show ID`` under 0.6 s; on a busy one, read the ratios. Every command's ``--help`` (and one
subcommand's) is measured too: it loads no database, geometry or Telegram library, so it should cost about what a
bare Typer app's help page costs (the third baseline), not that plus ``import sqlalchemy``. Run::

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
sys.path.insert(0, str(ROOT))

from signpost.cli import COMMANDS  # noqa: E402  (the commands of this checkout, not of an installed copy)

SERVICE = "british-transport-police"  # in the shipped national directory
# A two-command Typer app's `go --help`: the floor of a command's help page (Typer, Click, Rich), which a command
# group's `--help` pays on top of `signpost --help`'s plain listing.
TYPER_HELP = (
    "import typer\napp = typer.Typer()\n"
    "@app.command()\ndef go(n: int = typer.Option(1, help='A number.')) -> None:\n    'Do it.'\n"
    "@app.command()\ndef other() -> None:\n    'Another.'\n"
    "app()"
)


def _medians(argv: list[str], *, runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``runs`` fresh processes."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        # In ROOT: `python -m` looks in the working directory first, which could hold another checkout.
        subprocess.run(argv, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
            "a Typer app's command --help (baseline)": [python, "-c", TYPER_HELP, "go", "--help"],
            "signpost --help": [*signpost, "--help"],
            **{f"signpost {name} --help": [*signpost, name, "--help"] for name in COMMANDS},
            "signpost services import --help": [*signpost, "services", "import", "--help"],
            f"signpost services show {SERVICE}": [*signpost, "services", "show", SERVICE],
            "signpost services list": [*signpost, "services", "list"],
        }
        medians = {label: _medians(argv, runs=args.runs, env=env) for label, argv in cases.items()}
    bare = medians["python -c pass (baseline)"]
    sqlalchemy = medians["python -c 'import sqlalchemy' (baseline)"]
    typer_help = medians["a Typer app's command --help (baseline)"]
    # CPU time as well as wall time: on a shared machine a process waits for a core, which is not its own cost.
    print(
        f"{'command':52} {'wall s':>7} {'cpu s':>7} {'x python':>9} {'x sqlalchemy':>13} {'x typer help':>13}"
        "  (ratios of cpu)"
    )
    for label, (wall, cpu) in medians.items():
        ratios = f"{cpu / bare[1]:9.2f} {cpu / sqlalchemy[1]:13.2f} {cpu / typer_help[1]:13.2f}"
        print(f"{label:52} {wall:7.3f} {cpu:7.3f} {ratios}")


if __name__ == "__main__":
    main()
