"""Two imports creating the same new services at once: the second is refused cleanly, nothing half-written.

Real concurrent transactions on SQLite and PostgreSQL: import B reads the directory (no such services yet),
then waits at its first INSERT while import A commits the same ids; B then goes on and is refused with
"changed meanwhile, run it again", not an IntegrityError traceback.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func
from sqlmodel import Session, select

from mapping.areas import AreaRegistry
from services_db import repository
from services_db.formats import write_services
from services_db.importer import ImportReport, apply_import, plan_import
from services_db.models import AuditEntry, Service
from tests.services_db.factories import area_service

LEEDS_PCC = "pcc-E23000010"


def _file(tmp_path: Path, name: str, label: str) -> Path:
    records = [
        area_service(service_id=f"race-{k}", name=f"{label} service {k}", commissioner_code=LEEDS_PCC) for k in range(3)
    ]
    path = tmp_path / name
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    return path


def _counts(engine: Engine) -> tuple[int, int, set[str]]:
    with Session(engine) as session:
        services = session.exec(select(func.count()).select_from(Service)).one()
        audits = session.exec(select(func.count()).select_from(AuditEntry)).one()
        names = set(session.exec(select(Service.name)).all())
    return services, audits, names


def _commissioners(engine: Engine) -> None:
    with Session(engine) as session:
        repository.upsert_commissioners(session=session, commissioners=AreaRegistry.default().commissioners())


def test_two_concurrent_imports_of_the_same_new_ids(engine: Engine, tmp_path: Path) -> None:
    _commissioners(engine)
    file_a, file_b = _file(tmp_path, "a.csv", "A"), _file(tmp_path, "b.csv", "B")
    b_at_insert, go_on = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def pause_b(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name == "import-b" and statement.lstrip().upper().startswith(
            "INSERT INTO SERVICE"
        ):
            b_at_insert.set()
            assert go_on.wait(60), "import A never finished"

    def import_b() -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                plan = plan_import(session=session, path=file_b)
                results["b"] = apply_import(session=session, plan=plan, actor="B")
        except BaseException as exc:  # surfaced by the assertions below, not lost in the thread
            results["b"] = exc

    event.listen(engine, "before_cursor_execute", pause_b)
    try:
        worker = threading.Thread(target=import_b, name="import-b")
        worker.start()
        assert b_at_insert.wait(120), f"import B never reached its insert: {results}"
        with Session(engine, expire_on_commit=False) as session:  # import A, while B's transaction is open
            report_a = apply_import(session=session, plan=plan_import(session=session, path=file_a), actor="A")
        go_on.set()
        worker.join(120)
    finally:
        go_on.set()
        event.remove(engine, "before_cursor_execute", pause_b)
    assert report_a.applied and len(report_a.created) == 3
    report_b = results["b"]
    assert isinstance(report_b, ImportReport), report_b
    assert not report_b.applied
    [problem] = report_b.problems
    assert "changed meanwhile" in problem.message and "run it again" in problem.message
    services, audits, names = _counts(engine)
    assert (services, audits) == (3, 3) and names == {f"A service {k}" for k in range(3)}


def test_an_import_planned_before_another_created_the_ids_is_refused(engine: Engine, tmp_path: Path) -> None:
    """The same race, one step later: B's plan said "new", but A created them before B was confirmed."""
    _commissioners(engine)
    file_a, file_b = _file(tmp_path, "a.csv", "A"), _file(tmp_path, "b.csv", "B")
    with Session(engine, expire_on_commit=False) as session:
        plan_b = plan_import(session=session, path=file_b)
        assert apply_import(session=session, plan=plan_import(session=session, path=file_a), actor="A").applied
        report_b = apply_import(session=session, plan=plan_b, actor="B")
    assert not report_b.applied and "changed meanwhile" in report_b.problems[0].message
    services, audits, names = _counts(engine)
    assert (services, audits) == (3, 3) and names == {f"A service {k}" for k in range(3)}
