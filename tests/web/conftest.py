"""A real console over the test database (SQLite and PostgreSQL), with one account per role and two commissioners."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from mapping.areas import AreaRegistry
from services_db import access, repository, signin
from tests.services_db.factories import area_service
from web import WebConfig, create_app

WEST_YORKSHIRE, GREATER_MANCHESTER = "pcc-E23000010", "pcc-E23000005"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Site:
    """The console, its database and the accounts: ``sign_in(role)`` gives a signed-in browser-like client."""

    engine: Engine
    app: object
    accounts: dict[str, int]
    data_dir: Path

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="https://console.test", follow_redirects=False)  # type: ignore[arg-type]

    def code(self, who: str) -> str:
        with Session(self.engine, expire_on_commit=False) as session:
            return signin.issue_code(session=session, account_id=self.accounts[who], actor="test").code

    def sign_in(self, who: str) -> TestClient:
        client = self.client()
        if who == "anonymous":
            return client
        code = self.code(who)
        page = client.get(f"/signin?code={code}")
        reply = client.post("/signin", data={"csrf": csrf_of(page.text), "code": code})
        assert reply.status_code == 303, reply.text
        return client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Iterator[Site]:
    registry = AreaRegistry.default()
    with Session(engine, expire_on_commit=False) as session:
        repository.upsert_commissioners(
            session=session,
            commissioners=[registry.commissioner_for("E23000010"), registry.commissioner_for("E23000005")],
        )
        own = area_service(
            "E08000035", service_id="wy-centre", name="Leeds reporting centre", commissioner_code=WEST_YORKSHIRE
        )
        repository.create_service(session=session, record=own, actor="test")
        repository.update_service(
            session=session, record=replace(own, eligibility="Anyone in Leeds"), actor="test", expected_version=1
        )
        other = area_service(
            "E08000003",
            service_id="gm-centre",
            name="Manchester reporting centre",
            commissioner_code=GREATER_MANCHESTER,
        )
        repository.create_service(session=session, record=other, actor="test")
        accounts = {
            "editor": access.add_account(
                session=session, name="Leeds team", role="pcc_editor", commissioner_code=WEST_YORKSHIRE, actor="test"
            ).id,
            "other_editor": access.add_account(
                session=session, name="Manchester team", role="pcc_editor", commissioner_code=GREATER_MANCHESTER,
                actor="test",
            ).id,
            "analyst": access.add_account(session=session, name="Ana", role="analyst", actor="test").id,
            "admin": access.add_account(session=session, name="Boss", role="admin", actor="test").id,
        }  # fmt: skip
    config = WebConfig(engine=engine, data_dir=tmp_path / "data", public_url="https://console.test")
    yield Site(engine, create_app(config), accounts, tmp_path / "data")
