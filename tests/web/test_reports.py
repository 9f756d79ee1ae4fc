"""Analysts in the console: run a coverage report, open it (sandboxed) and download its files, coverage history."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from services_db import access, signin
from services_db.models import CoverageSnapshot
from tests.web.conftest import csrf_of
from web import WebConfig, create_app


def _analyst(engine: Engine, tmp_path: Path) -> TestClient:
    with Session(engine, expire_on_commit=False) as session:
        account = access.add_account(session=session, name="Ana", role="analyst", actor="test")
        code = signin.issue_code(session=session, account_id=account.id, actor="test").code
    client = TestClient(
        create_app(WebConfig(engine=engine, data_dir=tmp_path / "data")), base_url="https://console.test",
        follow_redirects=False,
    )  # fmt: skip
    page = client.get(f"/signin?code={code}")
    assert client.post("/signin", data={"csrf": csrf_of(page.text), "code": code}).status_code == 303
    return client


@pytest.mark.slow
def test_an_analyst_runs_a_report_and_opens_it(sqlite_engine: Engine, tmp_path: Path) -> None:
    client = _analyst(sqlite_engine, tmp_path)
    page = client.get("/reports")
    assert page.status_code == 200 and "No report yet" in page.text
    assert client.post("/reports/run", data={"csrf": csrf_of(page.text)}).status_code == 303
    deadline = time.monotonic() + 600
    while "A report is being made now" in (page := client.get("/reports")).text:  # wait for the run, not a time
        assert time.monotonic() < deadline, "the report did not finish"
        time.sleep(0.5)
    assert "Latest report" in page.text, page.text
    run = page.text.split('href="/reports/')[1].split("/")[0]
    report = client.get(f"/reports/{run}/report.html")
    policy = report.headers["content-security-policy"]
    assert report.status_code == 200 and policy.startswith("sandbox allow-scripts")
    assert "allow-same-origin" not in policy  # an opaque origin: the report cannot act as the analyst
    table = client.get(f"/reports/{run}/coverage_pfa.csv")
    assert table.status_code == 200 and "attachment" in table.headers["content-disposition"]
    assert "E23000010" in table.text
    assert client.get(f"/reports/{run}/..%2F..%2Fsignpost.sqlite3").status_code == 404
    assert client.get("/reports/../../etc/passwd").status_code == 404


def test_coverage_history_table_and_chart(sqlite_engine: Engine, tmp_path: Path) -> None:
    with Session(sqlite_engine) as session:
        for day, covered in ((date(2026, 5, 1), 400_000.0), (date(2026, 6, 1), 600_000.0)):
            session.add(
                CoverageSnapshot(
                    taken_on=day, level="pfa", area_code="E23000010", strand="any", population=2_000_000.0,
                    population_covered=covered, method="postcode proxy",
                )
            )  # fmt: skip
        session.commit()
    client = _analyst(sqlite_engine, tmp_path)
    page = client.get("/reports?area=E23000010&strand=any")
    assert "2026-06-01" in page.text and "30.0" in page.text and "20.0" in page.text
    chart = client.get("/reports/history.png?area=E23000010&strand=any")
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
