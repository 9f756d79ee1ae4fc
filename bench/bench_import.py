"""Benchmark: import 10,000 services with mixed coverage into SQLite and PostgreSQL, against a naive baseline.

The directory (national, PFA/LAD area codes, radius circles, polygons; test data from
``tests/services_db/factories.py``) is written as a CSV file, then for each store:

- ``plan``: read + validate (every rule, including the England-and-Wales place check) + diff;
- ``apply``: one transaction through ``repository.apply_changes`` (batched multi-row inserts, audit entries);
- ``re-import``: the same file again (all unchanged: nothing written);
- baseline: the same services created one per transaction through the ORM (``repository.create_service``),
  measured on a sample and reported as services/s.

PostgreSQL runs in a scratch database created on the local server (``SIGNPOST_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped afterwards; it is skipped when no server answers.
Run::

    python bench/bench_import.py [--services 10000] [--baseline 1000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import track
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
    return {"plan": planned - start, "apply": applied - planned, "reimport": reimported - applied}


def run_baseline(engine: Engine, path: Path, context: ValidationContext, sample: int) -> float:
    """Services/s creating each validated service in its own transaction through the ORM."""
    add_commissioners(engine)
    with Session(engine, expire_on_commit=False) as session:
        plan = plan_import(session=session, path=path, context=context)
        assert plan.changes is not None
        records = plan.changes.added[:sample]
        start = time.perf_counter()
        for record in track(records, description="baseline: one row per transaction", console=console):
            repository.create_service(session=session, record=record, actor="bench-baseline")
        return len(records) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000, help="services in the one-per-transaction sample")
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
    table = Table(title=f"import of {len(records):,} services (mixed coverage)")
    for column in ("store", "plan s", "apply s", "services/s", "re-import s", "baseline services/s", "ratio"):
        table.add_column(column, justify="right")
    for label, store in stores:
        console.print(f"[bold]{label}[/]")
        with store("import") as engine:
            times = run_import(engine, path, context)
        with store("baseline") as engine:
            baseline = run_baseline(engine, path, context, min(args.baseline, len(records)))
        rate = len(records) / (times["plan"] + times["apply"])
        apply_rate = len(records) / times["apply"]
        table.add_row(
            label,
            f"{times['plan']:.2f}",
            f"{times['apply']:.2f}",
            f"{rate:,.0f}",
            f"{times['reimport']:.2f}",
            f"{baseline:,.0f}",
            f"{apply_rate / baseline:.1f}x",
        )
    Console().print(table)
    Console().print(
        "services/s = plan (read, validate, diff) + apply; ratio = apply rate / baseline rate (same rows, same"
        " store, same run)"
    )
    Console().print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
