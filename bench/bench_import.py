"""Benchmark: a whole import of N services with mixed coverage, against a naive whole import of the same file,
into SQLite and PostgreSQL, in one run.

The directory (national, PFA/LAD area codes, radius circles, polygons; test data from
``tests/services_db/factories.py``) is written as one CSV file. Each side imports it end to end into a fresh,
empty store (commissioners added first, untimed), ``--repeat`` times, alternately; the medians are compared:

- signpost: ``plan_import`` (read, validate every rule including the England-and-Wales place check, diff) then
  ``apply_import`` (one transaction through ``repository.apply_changes``: batched multi-row inserts, audit
  entries);
- naive: the same ``plan_import`` (the same reading and validation: no import skips it), then each service
  created in its own transaction through the ORM (``repository.create_service``).

Also printed: the plan/apply split and a re-import of the same file (all unchanged, nothing written).
PostgreSQL runs in scratch databases created on the local server (``SIGNPOST_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped afterwards; it is skipped when no server answers.
Run::

    python bench/bench_import.py [--services 2000] [--repeat 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mapping.areas import AreaRegistry  # noqa: E402
from mapping.postcodes import PostcodeDirectory  # noqa: E402
from services_db import repository  # noqa: E402
from services_db.db import make_engine, migrate  # noqa: E402
from services_db.formats import write_services  # noqa: E402
from services_db.importer import apply_import, default_context, plan_import  # noqa: E402
from services_db.validation import ValidationContext  # noqa: E402
from tests.services_db.factories import mixed_directory  # noqa: E402

console = Console(stderr=True)
PG_ADMIN_URL = os.environ.get("SIGNPOST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
COMMISSIONERS = ("pcc-E23000010", "pcc-E23000005", "pcc-E23000014", "pcc-W15000003", None)


@contextmanager
def sqlite_store(workdir: Path, name: str) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{workdir / name}.sqlite3")
    migrate(engine)
    yield engine
    engine.dispose()


@contextmanager
def postgres_store(name: str) -> Iterator[Engine]:
    admin = make_engine(PG_ADMIN_URL)
    database = f"signpost_bench_{name}_{uuid.uuid4().hex[:8]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}")
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def postgres_available() -> bool:
    try:
        engine = make_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception as exc:  # any failure to connect means: skip PostgreSQL, and say why
        console.print(f"[yellow]PostgreSQL skipped: {str(exc).splitlines()[0]}[/]")
        return False


def add_commissioners(engine: Engine) -> None:
    registry = AreaRegistry.default()
    with Session(engine) as session:
        repository.upsert_commissioners(session=session, commissioners=registry.commissioners())


def run_import(engine: Engine, path: Path, context: ValidationContext) -> dict[str, float]:
    """The whole import (plan + apply) into an empty store, then a re-import of the same file."""
    add_commissioners(engine)
    with Session(engine, expire_on_commit=False) as session:
        start = time.perf_counter()
        plan = plan_import(session=session, path=path, context=context)
        planned = time.perf_counter()
        assert plan.ok, [str(p) for p in plan.problems[:5]]
        report = apply_import(session=session, plan=plan, actor="bench")
        applied = time.perf_counter()
        assert report.applied and len(report.created) == len(plan.changes.added)  # type: ignore[union-attr]
        again = plan_import(session=session, path=path, context=context)
        assert again.changes is not None and again.changes.is_empty
        apply_import(session=session, plan=again, actor="bench")
        reimported = time.perf_counter()
    plan_s, apply_s = planned - start, applied - planned
    return {"whole": applied - start, "plan": plan_s, "apply": apply_s, "reimport": reimported - applied}


def run_naive(engine: Engine, path: Path, context: ValidationContext) -> float:
    """Seconds for the naive whole import: the same plan, then one ORM create per service, each committed."""
    add_commissioners(engine)
    with Session(engine, expire_on_commit=False) as session:
        start = time.perf_counter()
        plan = plan_import(session=session, path=path, context=context)
        assert plan.ok and plan.changes is not None
        for record in plan.changes.added:
            repository.create_service(session=session, record=record, actor="bench-naive")
        elapsed = time.perf_counter() - start
        assert len(repository.list_services(session=session)) == len(plan.changes.added)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="whole imports of each side per store (medians)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    records = mixed_directory(args.services, seed=11, commissioner_codes=COMMISSIONERS)
    workdir = Path(tempfile.mkdtemp(prefix="signpost-bench-import-"))
    path = workdir / "directory.csv"
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    console.print(f"{len(records):,} services, {path.stat().st_size / 1_048_576:.1f} MB of CSV")

    # As the app runs (the composition root gives <data dir>/cache): the postcode reverse index is built and saved
    # on the first run, read back on the next ones.
    cache = workdir / "cache"
    PostcodeDirectory.default().set_cache_dir(cache)
    start = time.perf_counter()
    with sqlite_store(workdir, "context") as engine, Session(engine) as session:
        context = default_context(session=session)
        context.place_check(53.8, -1.55)  # builds the locator's indexes once, outside the timings
    console.print(
        f"validation context (area tables, postcode and land indexes), first run: {time.perf_counter() - start:.1f} s"
    )
    start = time.perf_counter()
    PostcodeDirectory(cache_dir=cache).build_reverse_index()
    console.print(f"postcode reverse index read back from the cache (later runs): {time.perf_counter() - start:.2f} s")

    stores = [("SQLite", lambda name: sqlite_store(workdir, name))]
    if not args.no_postgres and postgres_available():
        stores.append(("PostgreSQL", postgres_store))
    table = Table(title=f"whole import of {len(records):,} services (mixed coverage), median of {args.repeat}")
    for column in ("store", "signpost s", "(plan s", "apply s)", "services/s", "re-import s", "naive s", "ratio"):
        table.add_column(column, justify="right")
    for label, store in stores:
        ours: list[dict[str, float]] = []
        naive: list[float] = []
        for run in range(args.repeat):  # alternate, so both sides see the same machine load
            console.print(f"[bold]{label}[/] run {run + 1} of {args.repeat}")
            with store(f"import{run}") as engine:
                ours.append(run_import(engine, path, context))
            with store(f"naive{run}") as engine:
                naive.append(run_naive(engine, path, context))
        mid = {key: statistics.median(r[key] for r in ours) for key in ours[0]}
        naive_mid = statistics.median(naive)
        table.add_row(
            label,
            f"{mid['whole']:.2f}",
            f"{mid['plan']:.2f}",
            f"{mid['apply']:.2f}",
            f"{len(records) / mid['whole']:,.0f}",
            f"{mid['reimport']:.2f}",
            f"{naive_mid:.2f}",
            f"{naive_mid / mid['whole']:.1f}x",
        )
        console.print(
            f"{label}: signpost whole imports {', '.join(f'{t:.2f}' for t in (r['whole'] for r in ours))} s; "
            f"naive {', '.join(f'{t:.2f}' for t in naive)} s"
        )
    Console(width=150).print(table)
    Console().print(
        "whole import = read + validate + diff + write, into an empty store; ratio = naive median / signpost median"
        " (same file, same store, same run)"
    )
    Console().print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
