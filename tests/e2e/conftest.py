"""End-to-end fixtures: the Telegram Bot API emulator (Node.js) on loopback, the real bot talking to it over HTTP,
and simulated users.

The emulator is ``../shared/tools/telegram-emulator/shim_server.js`` (``SIGNPOST_TG_EMULATOR_DIR`` to move it)
with the npm packages found at ``SIGNPOST_TG_EMULATOR_NODE_PATH`` (CI sets it), else in
``~/.cache/signpost/telegram-emulator``, installed there with npm on first use. Where node, npm or the emulator
folder is missing the tests skip with the reason, unless ``SIGNPOST_REQUIRE_EMULATOR=1`` (CI), where they fail.

Other helpers' end-to-end tests reuse these fixtures: ``emulator``, ``start_bot`` / ``signpost_bot`` (pass
``extensions=`` to ``start_bot`` for staff handlers) and ``make_user``.
"""

from __future__ import annotations

import itertools
import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import platformdirs
import pytest
from telegram.ext import Application

from bot.adapters.telegram import Poller
from signpost import wiring
from signpost.config import Settings
from tests.e2e.botapi_proxy import BotApiProxy

ROOT = Path(__file__).resolve().parents[2]
EMULATOR_DIR = Path(os.environ.get("SIGNPOST_TG_EMULATOR_DIR", ROOT.parent / "shared" / "tools" / "telegram-emulator"))
REQUIRE = os.environ.get("SIGNPOST_REQUIRE_EMULATOR") == "1"
NPM_PACKAGES = ("telegram-test-api@4.2.1", "busboy@1.6.0", "express@4")
START_TIMEOUT_S = 30.0


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"Telegram emulator required (SIGNPOST_REQUIRE_EMULATOR=1) but {reason}")
    pytest.skip(f"Telegram emulator unavailable: {reason}")


def _node_modules() -> Path:
    configured = os.environ.get("SIGNPOST_TG_EMULATOR_NODE_PATH")
    if configured:
        path = Path(configured)
        if not (path / "telegram-test-api").is_dir():
            _unavailable(f"SIGNPOST_TG_EMULATOR_NODE_PATH={path} has no telegram-test-api")
        return path
    cache = Path(platformdirs.user_cache_dir("signpost", appauthor=False)) / "telegram-emulator"
    modules = cache / "node_modules"
    if (modules / "telegram-test-api").is_dir():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed and SIGNPOST_TG_EMULATOR_NODE_PATH is not set")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(npm), "install", "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES],
        cwd=cache,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 or not (modules / "telegram-test-api").is_dir():
        _unavailable(f"npm install in {cache} failed: {done.stderr.strip()[-500:]}")
    return modules


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Emulator:
    """A running emulator: ``url`` is its root; bots use ``bot_url`` / ``file_url`` as base URLs."""

    url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def bot_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.url}/file/bot"


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """The shimmed telegram-test-api on a free loopback port, for the whole test session."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (EMULATOR_DIR / "shim_server.js").is_file():
        _unavailable(f"{EMULATOR_DIR}/shim_server.js not found (set SIGNPOST_TG_EMULATOR_DIR)")
    modules = _node_modules()
    port = _free_port()
    env = {**os.environ, "NODE_PATH": str(modules), "PORT": str(port), "HOST": "127.0.0.1"}
    process = subprocess.Popen(
        [str(node), str(EMULATOR_DIR / "shim_server.js")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:  # wait for its "listening" line, not a fixed time
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=START_TIMEOUT_S)
    first = process.stdout.readline() if ready else ""
    if "listening" not in first:
        process.kill()
        rest = process.stdout.read() if process.poll() is not None else ""
        pytest.fail(f"the emulator did not start within {START_TIMEOUT_S}s: {first}{rest}")
    running = Emulator(f"http://127.0.0.1:{port}", process, [first])
    # Keep reading its output so that the pipe never fills; kept for diagnostics.
    threading.Thread(target=lambda: running.output.extend(process.stdout or ()), daemon=True).start()
    yield running
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


_bot_ids = itertools.count(1)


@dataclass
class RunningBot:
    """The real bot (``signpost bot``'s wiring) polling the emulator; ``config`` is its settings."""

    application: Application  # type: ignore[type-arg]
    config: Settings

    @property
    def token(self) -> str:
        assert self.config.telegram_bot_token is not None
        return self.config.telegram_bot_token


def bot_settings(
    emulator: Emulator | str, data_dir: Path, token: str | None = None, *, database_url: str | None = None
) -> Settings:
    """Settings for a bot on the emulator (or another Bot API root URL): its own token (so its chats are its
    own) and data directory; SQLite there unless ``database_url`` is given."""
    root = emulator if isinstance(emulator, str) else emulator.url
    values = {
        "SIGNPOST_DATA_DIR": str(data_dir),
        "TELEGRAM_BOT_TOKEN": token or f"{next(_bot_ids)}00:E2E-{uuid.uuid4().hex[:12]}",
        "TELEGRAM_BASE_URL": f"{root}/bot",
        "TELEGRAM_BASE_FILE_URL": f"{root}/file/bot",
    }
    if database_url is not None:
        values["DATABASE_URL"] = database_url
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def process_env(config: Settings, **more: str) -> dict[str, str]:
    """The environment of a ``signpost bot`` process with ``config``'s Bot API, token, data directory and database
    (when set), plus ``more`` (e.g. ``TELEGRAM_WEBHOOK_URL``)."""
    env = {
        "TELEGRAM_BOT_TOKEN": config.telegram_bot_token or "",
        "TELEGRAM_BASE_URL": config.telegram_base_url or "",
        "TELEGRAM_BASE_FILE_URL": config.telegram_base_file_url or "",
        "SIGNPOST_DATA_DIR": str(config.data_dir),
    }
    if config.database_url:
        env["DATABASE_URL"] = config.database_url
    return {**env, **more}


StartBot = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def start_bot(emulator: Emulator, tmp_path: Path) -> AsyncIterator[StartBot]:
    """Start the bot as ``signpost bot`` wires it (long polling); every bot started is stopped at the end.

    ``await start_bot()`` uses a fresh token and data dir; ``await start_bot(config=running.config)`` starts a
    second process's worth of bot on the same database (a restart); ``extensions=`` adds staff handlers;
    ``with_jobs=True`` runs the scheduled jobs in the bot, as ``signpost bot --with-jobs`` does.
    """
    started: list[Application] = []  # type: ignore[type-arg]

    async def start(
        *,
        config: Settings | None = None,
        extensions: Sequence[Callable[[Application], None]] = (),  # type: ignore[type-arg]
        with_jobs: bool = False,
    ) -> RunningBot:
        config = config or bot_settings(emulator, tmp_path / "data")
        application = wiring.telegram_application(config, extensions=extensions, with_jobs=with_jobs)
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        poller = Poller(application, timeout=1)  # as `signpost bot` polls
        await poller.start()
        _pollers[id(application)] = poller
        started.append(application)
        return RunningBot(application, config)

    yield start
    for application in reversed(started):
        await stop_bot(application)


_pollers: dict[int, Poller] = {}


async def stop_bot(application: Application) -> None:  # type: ignore[type-arg]
    if not application.running:
        return
    poller = _pollers.pop(id(application), None)
    if poller is not None:
        await poller.stop()
    await application.stop()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
    await application.shutdown()


@pytest.fixture
async def signpost_bot(start_bot: StartBot) -> RunningBot:
    return await start_bot()


def _tguser_class() -> type:
    if str(EMULATOR_DIR) not in sys.path:
        sys.path.insert(0, str(EMULATOR_DIR))
    from tguser import TgUser  # the emulator's simulated user (not copied into the project)

    return TgUser


Record = dict[str, Any]


class User:
    """A simulated Telegram user (the emulator's ``TgUser``) with waits for what the bot sends."""

    def __init__(self, tguser: Any) -> None:
        self.tg = tguser
        self.seen: list[Record] = []

    @property
    def id(self) -> int:
        return int(self.tg.user_id)

    async def until(self, done: Callable[[list[Record]], bool], *, timeout: float = 30.0) -> list[Record]:
        """Bot messages received from now until ``done(messages)`` is true."""
        got: list[Record] = []
        deadline = time.monotonic() + timeout
        while not done(got):
            left = deadline - time.monotonic()
            if left <= 0:
                texts = [m["message"].get("text", "")[:80] for m in got]
                raise AssertionError(f"user {self.id}: bot did not answer as expected within {timeout}s: {texts}")
            got += await self.tg.next_messages(min(left, 5.0))
        self.seen += got
        return got

    async def until_buttons(self, *actions: str, timeout: float = 30.0) -> list[Record]:
        """Messages until one offers inline buttons with all of ``actions`` (callback data)."""
        return await self.until(lambda got: any(set(actions) <= set(callback_data(m)) for m in got), timeout=timeout)

    async def until_location_keyboard(self, timeout: float = 30.0) -> list[Record]:
        return await self.until(lambda got: any(asks_location(m) for m in got), timeout=timeout)

    async def press(self, message: Record, label: str) -> str:
        return str(await self.tg.press(message, label))


def callback_data(record: Record) -> list[str]:
    markup = record["message"].get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


def labels(record: Record) -> list[str]:
    markup = record["message"].get("reply_markup") or {}
    return [b.get("text", "") for row in markup.get("inline_keyboard", []) for b in row]


def asks_location(record: Record) -> bool:
    markup = record["message"].get("reply_markup") or {}
    return any(b.get("request_location") for row in markup.get("keyboard", []) for b in row)


def with_button(records: list[Record], action: str) -> Record:
    """The last message offering the button whose callback data is ``action``."""
    return next(m for m in reversed(records) if action in callback_data(m))


@pytest.fixture
def bot_api_proxy(emulator: Emulator) -> Iterator[BotApiProxy]:
    """A proxy in front of the emulator adding ``deleteMessages`` and Bot API faults (tests/e2e/botapi_proxy.py);
    start a bot on it with ``bot_settings(bot_api_proxy.url, ...)``."""
    proxy = BotApiProxy(emulator.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one bot (the bot migrates and seeds it as on a first start)."""
    from sqlalchemy import text

    from services_db.db import make_engine
    from tests.conftest import PG_ADMIN_URL, REQUIRE_PG

    admin = make_engine(PG_ADMIN_URL)
    name = f"signpost_e2e_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but not reachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_user_ids = itertools.count(70_001)


@pytest.fixture
async def make_user(emulator: Emulator) -> AsyncIterator[Callable[..., User]]:
    """``make_user(bot, first_name=...)``: a new simulated user of ``bot`` (one HTTP client per user)."""
    TgUser = _tguser_class()
    clients: list[httpx.AsyncClient] = []

    def make(bot: RunningBot, first_name: str = "Test", username: str | None = None) -> User:
        client = httpx.AsyncClient(timeout=30.0)
        clients.append(client)
        return User(TgUser(client, emulator.url, bot.token, next(_user_ids), first_name, username))

    yield make
    for client in clients:
        await client.aclose()
