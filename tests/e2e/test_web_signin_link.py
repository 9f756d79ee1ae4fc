"""A sign-in link for the web console, sent on Telegram through the Bot API (the emulator) and used once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from services_db import access
from tests.e2e.conftest import Emulator, User
from web import WebConfig, create_app

pytestmark = pytest.mark.e2e
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


async def test_a_member_of_staff_gets_a_link_on_telegram_and_signs_in_with_it(
    emulator: Emulator, make_user: Callable[..., User], sqlite_engine: Engine, tmp_path: Path
) -> None:
    bot = SimpleNamespace(token="7000001:web-console-link")  # the bot's token, as the console is given it
    user = make_user(bot, first_name="Leeds")
    with Session(sqlite_engine, expire_on_commit=False) as session:
        access.add_account(
            session=session, name="Leeds team", role="pcc_editor", commissioner_code="pcc-E23000010",
            telegram_user_id=user.id, actor="test",
        )  # fmt: skip
    config = WebConfig(
        engine=sqlite_engine, data_dir=tmp_path, public_url="https://console.test",
        telegram_bot_token=bot.token, telegram_base_url=emulator.bot_url,
    )  # fmt: skip
    browser = TestClient(create_app(config), base_url="https://console.test", follow_redirects=False)
    token = CSRF.search(browser.get("/signin").text).group(1)  # type: ignore[union-attr]
    asked = browser.post("/signin/telegram", data={"csrf": token, "who": "leeds TEAM"})
    assert asked.status_code == 200

    [message] = await user.until(lambda got: len(got) >= 1)
    text = message["message"]["text"]
    link = re.search(r"https://console\.test/signin\?code=\S+", text)
    assert link is not None, text
    page = browser.get(link.group(0).removeprefix("https://console.test"))
    code = re.search(r'name="code" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    signed = browser.post("/signin", data={"csrf": CSRF.search(page.text).group(1), "code": code})  # type: ignore[union-attr]
    assert signed.status_code == 303
    assert "Services commissioned by pcc-E23000010" in browser.get("/services").text
