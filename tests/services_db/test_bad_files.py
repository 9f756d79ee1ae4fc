"""Every bad file gets a clear, located message, `signpost services import` exits 2, and nothing is written.

The corpus (tests/services_db/bad_files) holds one defect per file; the good row it is built from imports
cleanly, so each failure here is caused by its defect alone. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from typer.testing import CliRunner

from services_db import repository
from services_db.importer import plan_import
from services_db.models import AuditEntry, Commissioner, Service
from services_db.seed import seed
from signpost.cli import app
from tests.services_db.bad_files import BAD_FILES, GOOD_ROW, BadFile, csv_bytes

runner = CliRunner()


def test_the_corpus_has_at_least_a_hundred_distinct_defects() -> None:
    assert len({case.defect for case in BAD_FILES}) == len(BAD_FILES) >= 100


@pytest.fixture
def cli_database(cli_database: Engine) -> Engine:
    """The test database, seeded, as the one the `signpost` command opens."""
    with Session(cli_database, expire_on_commit=False) as session:
        seed(session=session)
    return cli_database


def _state(engine: Engine) -> tuple[str, int, int, int]:
    with Session(engine) as session:
        return (
            repository.snapshot_key(session=session),
            session.exec(select(func.count()).select_from(Service)).one(),
            session.exec(select(func.count()).select_from(AuditEntry)).one(),
            session.exec(select(func.count()).select_from(Commissioner)).one(),
        )


def test_the_good_row_imports(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "services.csv"
    path.write_bytes(csv_bytes([GOOD_ROW]))
    result = runner.invoke(app, ["services", "import", str(path), "--actor", "test"])
    assert result.exit_code == 0, result.output
    with Session(cli_database) as session:
        assert repository.get_service(session=session, service_id=GOOD_ROW["id"]) is not None


@pytest.mark.parametrize("case", BAD_FILES, ids=lambda c: c.defect)
def test_bad_file_is_refused_with_a_located_message(case: BadFile, cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / case.filename
    path.write_bytes(case.content)
    before = _state(cli_database)

    with Session(cli_database) as session:
        plan = plan_import(session=session, path=path)
    assert not plan.ok and plan.changes is None
    located = [p for p in plan.problems if p.row == case.row and p.field == case.field]
    assert located, f"no problem at row {case.row}, field {case.field}: {[str(p) for p in plan.problems]}"
    assert any(case.fragment in p.message for p in located), [p.message for p in located]
    assert all(p.file == case.filename for p in plan.problems)

    result = runner.invoke(app, ["services", "import", str(path), "--actor", "test"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    expected = str(located[0])
    assert expected in result.output
    assert _state(cli_database) == before
