"""Nothing lost on a crash: ``signpost bot`` (long polling, PostgreSQL) is killed with SIGKILL while it is in the
middle of answering 50 people, then started again; every person gets the menu exactly once.

The Bot API side is the emulator behind tests/e2e/botapi_proxy.py, which gives ``getUpdates`` Telegram's offset
semantics (an update comes again until confirmed) and slows each ``sendMessage`` so that the kill lands while
replies are being sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.content import catalogue
from bot.engine import Language
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import ROOT, RunningBot, User, bot_settings, callback_data
from tests.e2e.test_telegram_bot import texts

pytestmark = pytest.mark.e2e

EN = catalogue(Language.EN)
PEOPLE = 50


def start_process(config_env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **config_env, "PYTHONPATH": str(ROOT), "SIGNPOST_LOG_LEVEL": "INFO"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "signpost", "bot"], env=env, stdout=out, stderr=out, cwd=ROOT)


async def test_a_killed_bot_loses_no_reply_and_sends_none_twice(
    bot_api_proxy: BotApiProxy, make_user: Callable[..., User], postgres_url: str, tmp_path: Path
) -> None:
    config = bot_settings(bot_api_proxy.url, tmp_path / "data", database_url=postgres_url)
    env = {
        "TELEGRAM_BOT_TOKEN": config.telegram_bot_token or "",
        "TELEGRAM_BASE_URL": config.telegram_base_url or "",
        "TELEGRAM_BASE_FILE_URL": config.telegram_base_file_url or "",
        "DATABASE_URL": postgres_url,
        "SIGNPOST_DATA_DIR": str(config.data_dir),
    }
    log = tmp_path / "bot.log"
    process = start_process(env, log)
    bot = RunningBot(application=None, config=config)  # type: ignore[arg-type]  (only its token is used)
    try:
        warm = make_user(bot, "First")
        await warm.tg.send_command("/start")
        await warm.until_buttons("danger", timeout=90)  # started: migrated, seeded, polling

        bot_api_proxy.delay("sendMessage", 0.4, times=10_000)  # every reply takes a while on the wire
        users = [make_user(bot, f"Person {n}") for n in range(PEOPLE)]
        got: dict[int, list[dict[str, object]]] = {u.id: [] for u in users}
        for user in users:
            await user.tg.send_command("/start")

        async def collect(user: User, until: float) -> None:
            while time.monotonic() < until:
                got[user.id] += await user.tg.next_messages(min(2.0, max(0.1, until - time.monotonic())))

        menus = lambda: sum(any("danger" in callback_data(m) for m in got[u.id]) for u in users)  # noqa: E731
        deadline = time.monotonic() + 60
        while menus() < 5:  # some answered, most still in hand
            assert time.monotonic() < deadline, "the bot answered nobody"
            await asyncio.gather(*(collect(u, time.monotonic() + 0.5) for u in users))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        answered_before = menus()
        assert answered_before < PEOPLE, "everyone was answered before the kill: the test proves nothing"

        process = start_process(env, log)
        settle = time.monotonic() + 90
        while menus() < PEOPLE and time.monotonic() < settle:
            await asyncio.gather(*(collect(u, time.monotonic() + 1.0) for u in users))
        await asyncio.gather(*(collect(u, time.monotonic() + 3.0) for u in users))  # anything more would show now

        menu_counts = {u.id: sum("danger" in callback_data(m) for m in got[u.id]) for u in users}
        welcome = EN["welcome"].split("\n")[0]
        welcome_counts = {u.id: texts(got[u.id]).count(welcome) for u in users}  # type: ignore[arg-type]
        print(f"answered before the kill: {answered_before}/{PEOPLE}; after the restart: {menus()}/{PEOPLE}")
        assert set(menu_counts.values()) == {1}, menu_counts  # nobody lost, nobody answered twice
        assert max(welcome_counts.values()) <= 1, welcome_counts
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
