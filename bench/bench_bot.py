"""Benchmark: the Telegram bot's throughput offline, and its round-trip latency under 200 simulated users.

1. Updates per second through ``Application.process_update`` (the real adapter, engine, renderer and SQLite
   conversation store; the Bot API answered offline by ``RecordingRequest``), against a baseline measured in
   the same run: the same events through the engine and renderer alone (no Telegram objects, no database).
2. Round trips over HTTP through the Telegram Bot API emulator on loopback: ``signpost bot`` runs as its own
   process (long polling); first one user alone, then 200 users at once, each scripted through a short
   conversation (/start, Find help, a postcode, Menu). The baseline, in the same run, is a scripted bot that
   answers each step with one canned message (no engine, no database): the emulator's own ceiling. Each bot is
   measured in its steady state: after one warm-up user, the bench waits until the bot is idle (start-up work
   such as Signpost's lookup indexes done; under 5% of a core over half a second, at most a minute). Prints
   p50/p95/p99, lost round trips, how many messages a step brought and the ratios. Skipped, with the reason,
   when node or the emulator's npm packages are missing (``SIGNPOST_TG_EMULATOR_NODE_PATH``, as for the tests).

With ``--database-url postgresql://...`` (a scratch database: conversation rows are written to it) the store is
also measured on PostgreSQL and the emulator's bot runs on it. Run::

    python bench/bench_bot.py [--chats 300] [--users 200] [--rounds 3] [--database-url URL] [--skip-emulator]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import platformdirs
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event as sql_event
from sqlmodel import Session
from telegram import Update

from bot.adapters.offline import RecordingRequest
from bot.adapters.telegram import VictimBot, build_application
from bot.engine import Choice, Conversation, Engine, Event, Text
from bot.persistence import ChatKeyer, ConversationStore
from bot.render import render
from bot.signposter import DirectorySignposter
from services_db.db import make_engine, migrate
from services_db.seed import seed_if_new

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_DIR = Path(os.environ.get("SIGNPOST_TG_EMULATOR_DIR", ROOT.parent / "shared" / "tools" / "telegram-emulator"))
console = Console(stderr=True)
POSTCODES = ("LS6 1AA", "M1 1AE", "CF10 1EP", "B1 1BB", "EX1 1AA", "SW1A 1AA", "NR1 1AA", "BS1 4DJ")


def script(n: int) -> list[Event]:
    """One person's conversation: a mix of commands, buttons and a typed postcode."""
    return [
        Text("/start"),
        Choice("happened"),
        Choice("happened:yes"),
        Choice("strand:race"),
        Choice("strand:done"),
        Choice("find"),
        Text(POSTCODES[n % len(POSTCODES)]),
        Choice("menu"),
        Text("/help"),
        Choice("danger"),
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- 1. offline throughput ------------------------------------------------------------------------------------


def _update(event: Event, chat_id: int, update_id: int) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Bench"}
    chat = {"id": chat_id, "type": "private"}
    if isinstance(event, Choice):
        message = {
            "message_id": 1,
            "date": 0,
            "chat": chat,
            "text": "earlier",
            "from": {**user, "id": 1, "is_bot": True},
        }
        query = {"id": str(update_id), "from": user, "chat_instance": "1", "data": event.action, "message": message}
        return {"update_id": update_id, "callback_query": query}
    assert isinstance(event, Text)
    entities = [{"type": "bot_command", "offset": 0, "length": len(event.text)}] if event.text.startswith("/") else []
    message = {"message_id": update_id, "date": 0, "chat": chat, "from": user, "text": event.text, "entities": entities}
    return {"update_id": update_id, "message": message}


def engine_alone(signposter: DirectorySignposter, chats: int) -> list[float]:
    engine = Engine(signposter)
    conversations: dict[int, Conversation] = {}
    timings: list[float] = []
    cpu_started = time.process_time()
    for n in range(chats):
        for event in script(n):
            started = time.perf_counter()
            turn = engine.handle(conversations.get(n, Conversation.new()), event)
            conversations[n] = turn.conversation
            for message in turn.messages:
                render(message, turn.conversation.language, markup="html")
            timings.append(time.perf_counter() - started)
    CPU_SECONDS["engine"] = time.process_time() - cpu_started
    return timings


def wal(engine: SqlEngine) -> SqlEngine:
    """SQLite in write-ahead-log mode with NORMAL sync: a commit no longer waits for the disk (durable across a
    crash of the process, not of the machine)."""

    @sql_event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


async def through_process_update(
    signposter: DirectorySignposter, db_url: str, chats: int, *, write_ahead_log: bool = False
) -> list[float]:
    database = make_engine(db_url)
    store = ConversationStore(
        wal(database) if write_ahead_log else database,
        keyer=ChatKeyer(b"bench-secret-bench-secret"),
        ttl=timedelta(hours=1),
    )
    request = RecordingRequest()
    app = build_application(
        token="1:BENCH", victim_bot=VictimBot(engine=Engine(signposter), store=store), request=request
    )
    timings: list[float] = []
    ids = itertools.count(1)
    async with app:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("process_update", total=chats)
            cpu_started = time.process_time()  # every thread of the process: the store's included
            for n in range(chats):
                for event in script(n):
                    update = Update.de_json(_update(event, 10_000 + n, next(ids)), app.bot)
                    started = time.perf_counter()
                    await app.process_update(update)
                    timings.append(time.perf_counter() - started)
                request.clear()
                progress.advance(task)
            CPU_SECONDS[db_url] = time.process_time() - cpu_started
    return timings


CPU_SECONDS: dict[str, float] = {}  # database URL -> process CPU seconds of its process_update run


def offline(chats: int, workdir: Path, database_url: str = "") -> None:
    db_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    engine = make_engine(db_url)
    migrate(engine)
    with Session(engine) as session:
        seed_if_new(session=session)
        session.commit()
    signposter = DirectorySignposter.from_database(engine)
    engine_alone(signposter, 5)  # warm caches (postcodes, catalogues) for both sides alike
    base = engine_alone(signposter, chats)
    adapter = asyncio.run(through_process_update(signposter, db_url, chats))
    wal_url = f"sqlite:///{workdir / 'bench-wal.sqlite3'}"
    migrate(make_engine(wal_url))
    adapter_wal = asyncio.run(through_process_update(signposter, wal_url, chats, write_ahead_log=True))
    rows = [
        ("engine + render (baseline)", base, "engine"),
        ("process_update, SQLite store (as the bot opens it: WAL)", adapter, db_url),
        ("process_update, SQLite store, WAL set again (same)", adapter_wal, wal_url),
    ]
    if database_url.startswith("postgresql"):
        migrate(make_engine(database_url))
        on_postgres = asyncio.run(through_process_update(signposter, database_url, chats))
        rows.append(("process_update, PostgreSQL store", on_postgres, database_url))
    table = Table("path", "updates", "updates/s", "p50 ms", "p95 ms", "CPU ms/update", "updates/s per core")
    for name, timings, key in rows:
        cpu_ms = CPU_SECONDS[key] * 1000 / len(timings)
        table.add_row(
            name,
            str(len(timings)),
            f"{len(timings) / sum(timings):,.0f}",
            f"{percentile(timings, 0.5) * 1000:.2f}",
            f"{percentile(timings, 0.95) * 1000:.2f}",
            f"{cpu_ms:.2f}",
            f"{1000 / cpu_ms:,.0f}",
        )
    Console().print(table)
    for name, timings, _ in rows[1:]:
        ratio = (len(timings) / sum(timings)) / (len(base) / sum(base))
        Console().print(f"{name}: {ratio:.2f}x the engine-alone rate (the rest is Telegram objects and the store)")


# --- 2. emulator round trips ----------------------------------------------------------------------------------


def _node_modules() -> Path | None:
    configured = os.environ.get("SIGNPOST_TG_EMULATOR_NODE_PATH")
    candidates = [Path(configured)] if configured else []
    candidates.append(
        Path(platformdirs.user_cache_dir("signpost", appauthor=False)) / "telegram-emulator" / "node_modules"
    )
    return next((c for c in candidates if (c / "telegram-test-api").is_dir()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(cmd: list[str], env: dict[str, str], ready: str, timeout: float, log: list[str]) -> subprocess.Popen[str]:
    """Start a process and wait for ``ready`` in its output; the rest of its output is kept in ``log``."""
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = process.stdout.readline()
                log.append(line)
                if ready in line:
                    # Keep draining, or a full pipe would stall the process.
                    threading.Thread(target=lambda: log.extend(process.stdout or ()), daemon=True).start()
                    return process
                if not line and process.poll() is not None:
                    break
    process.kill()
    raise RuntimeError(f"{cmd[0]} did not become ready ({ready!r}) within {timeout}s: {''.join(log)[-2000:]}")


def _actions(record: dict[str, Any]) -> set[str]:
    markup = record["message"].get("reply_markup") or {}
    return {b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row}


def _asks_location(record: dict[str, Any]) -> bool:
    markup = record["message"].get("reply_markup") or {}
    return any(b.get("request_location") for row in markup.get("keyboard", []) for b in row)


class BenchUser:
    def __init__(self, tguser: Any) -> None:
        self.tg = tguser

    async def until(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not done(got):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"user {self.tg.user_id}: no answer within {timeout}s")
            got += await self.tg.next_messages(min(left, 10.0))
        return got

    async def conversation(self, n: int, timings: list[float], messages: list[int]) -> int:
        """/start, Find help, a postcode, Menu: four round trips, each timed from sending to the turn's last message
        (``messages``: how many messages each round trip brought).

        Returns how many round trips were lost (no answer within a minute: the rest of the script is dropped).
        """
        steps: list[tuple[Callable[[list[dict[str, Any]]], Any], Callable[[list[dict[str, Any]]], bool]]] = [
            (lambda _: self.tg.send_command("/start"), lambda got: any("find" in _actions(m) for m in got)),
            (
                lambda last: self.tg.press(_with(last, "find"), _label(last, "find")),
                lambda got: any(map(_asks_location, got)),
            ),
            (
                lambda _: self.tg.send_text(POSTCODES[n % len(POSTCODES)]),
                lambda got: any({"note", "menu"} <= _actions(m) for m in got),
            ),
            (
                lambda last: self.tg.press(_with(last, "menu"), _label(last, "menu")),
                lambda got: any("happened" in _actions(m) for m in got),
            ),
        ]
        last: list[dict[str, Any]] = []
        for index, (act, answered) in enumerate(steps):
            started = time.perf_counter()
            await act(last)
            try:
                last = await self.until(answered)
            except TimeoutError:
                return len(steps) - index
            timings.append(time.perf_counter() - started)
            messages.append(len(last))
        return 0


def _with(records: list[dict[str, Any]], action: str) -> dict[str, Any]:
    return next(m for m in records if action in _actions(m))


def _label(records: list[dict[str, Any]], action: str) -> str:
    for record in records:
        for row in (record["message"].get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button.get("callback_data") == action:
                    return str(button["text"])
    raise KeyError(action)


async def _run_users(
    url: str, token: str, users: int, first_id: int, tguser_class: Any, messages: list[int] | None = None
) -> tuple[list[float], int, float]:
    """Round-trip times, round trips lost, and wall time for ``users`` people chatting at once (``messages``
    collects how many bot messages each round trip brought)."""
    timings: list[float] = []
    messages = [] if messages is None else messages
    clients = [httpx.AsyncClient(timeout=90.0) for _ in range(users)]  # one client per user, as a phone would be
    try:
        people = [BenchUser(tguser_class(client, url, token, first_id + i)) for i, client in enumerate(clients)]
        started = time.perf_counter()
        lost = await asyncio.gather(*(p.conversation(i, timings, messages) for i, p in enumerate(people)))
        return timings, sum(lost), time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


# The emulator's own ceiling: a bot that answers each step of the script with one canned message, no engine and
# no database, run exactly like ``signpost bot`` (its own process, long polling, 32 updates at once).
SCRIPTED_BOT = """
import os
from telegram import InlineKeyboardButton as B, InlineKeyboardMarkup as K, KeyboardButton, ReplyKeyboardMarkup
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters

async def on_message(update, context):
    if (update.effective_message.text or "").startswith("/start"):
        await update.effective_chat.send_message("menu", reply_markup=K([[B("Find", callback_data="find")]]))
    else:
        buttons = [[B("Note", callback_data="note"), B("Menu", callback_data="menu")]]
        await update.effective_chat.send_message("results", reply_markup=K(buttons))

async def on_button(update, context):
    await update.callback_query.answer()
    if update.callback_query.data == "find":
        keyboard = ReplyKeyboardMarkup([[KeyboardButton("Share", request_location=True)]])
        await update.effective_chat.send_message("where?", reply_markup=keyboard)
    else:
        buttons = [[B("What happened?", callback_data="happened")]]
        await update.effective_chat.send_message("menu", reply_markup=K(buttons))

builder = ApplicationBuilder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(os.environ["TELEGRAM_BASE_URL"])
app = builder.concurrent_updates(32).build()
app.add_handler(MessageHandler(filters.ALL, on_message))
app.add_handler(CallbackQueryHandler(on_button))
print("scripted bot running", flush=True)
app.run_polling()
"""


def _cpu_seconds(pid: int) -> float | None:
    """The process's CPU time so far (Linux), or None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _until_idle(pid: int, *, timeout: float = 60.0) -> None:
    """Wait until the bot uses under 5% of a core over half a second (start-up work done), as long as
    ``timeout``; the same for both bots, so each is measured in its steady state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        after = _cpu_seconds(pid)
        if before is None or after is None:
            time.sleep(2.0)  # no /proc: a fixed pause instead
            return
        if after - before < 0.025:
            return


def _round_trips(
    bot_command: list[str], users: int, rounds: int, bot_env: dict[str, str], node: str, modules: Path
) -> tuple[list[float], list[float], int, float, float]:
    """A fresh emulator and bot; single-user round trips, then ``users`` at once."""
    from tguser import TgUser

    port = _free_port()
    url, token = f"http://127.0.0.1:{port}", "4242:BENCH"
    emulator_log: list[str] = []
    bot_log: list[str] = []
    emulator = _start(
        [node, str(EMULATOR_DIR / "shim_server.js")],
        {**os.environ, "NODE_PATH": str(modules), "PORT": str(port), "HOST": "127.0.0.1"},
        "listening",
        30,
        emulator_log,
    )
    env = {**bot_env, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_BASE_URL": f"{url}/bot"}
    env["TELEGRAM_BASE_FILE_URL"] = f"{url}/file/bot"
    bot = None
    try:
        bot = _start(bot_command, env, "running", 120, bot_log)
        asyncio.run(_run_users(url, token, 1, 900_000, TgUser))  # warm up (the first lookups load tables)
        _until_idle(bot.pid)  # and what either bot still does after starting (Signpost: its lookup indexes)
        single: list[float] = []
        for round_ in range(rounds * 5):
            single += asyncio.run(_run_users(url, token, 1, 910_000 + round_, TgUser))[0]
        messages: list[int] = []
        crowd, lost, wall = asyncio.run(_run_users(url, token, users, 1_000_000, TgUser, messages))
        return single, crowd, lost, wall, sum(messages) / max(1, len(messages))
    except BaseException:
        console.print("bot output (last lines):", "".join(bot_log[-40:]), "emulator:", "".join(emulator_log[-20:]))
        raise
    finally:
        for process in (bot, emulator):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


def emulator_round_trips(users: int, rounds: int, workdir: Path, database_url: str = "") -> None:
    node, modules = shutil.which("node"), _node_modules()
    if node is None or modules is None or not (EMULATOR_DIR / "shim_server.js").is_file():
        console.print(
            "[yellow]emulator round trips skipped: node, the emulator folder or its npm packages missing "
            "(set SIGNPOST_TG_EMULATOR_NODE_PATH)[/yellow]"
        )
        return
    sys.path.insert(0, str(EMULATOR_DIR))
    bot_env = {
        **os.environ,
        "SIGNPOST_DATA_DIR": str(workdir / "bot-data"),
        "DATABASE_URL": database_url,  # empty: SQLite in the bench's own data directory
        # One chat-key secret for every run: a scratch database remembers the first one's fingerprint.
        "SIGNPOST_CHAT_KEY_SECRET": "signpost-bench-chat-key-secret",
    }
    console.print(f"emulator + scripted bot (the emulator's ceiling): 1 user, then {users} at once")
    scripted = _round_trips([sys.executable, "-c", SCRIPTED_BOT], users, rounds, bot_env, node, modules)
    console.print(f"emulator + `signpost bot`: 1 user, then {users} at once")
    signpost = _round_trips(
        [sys.executable, "-c", "from signpost.cli import main; main()", "bot"], users, rounds, bot_env, node, modules
    )
    table = Table("bot", "users", "round trips", "lost", "p50 ms", "p95 ms", "p99 ms", "max ms", "per s", "msgs/step")
    for name, (single, crowd, lost, wall, per_step) in (("scripted", scripted), ("signpost", signpost)):
        for who, timings, missing, seconds in (("1", single, 0, None), (str(users), crowd, lost, wall)):
            table.add_row(
                name,
                who,
                str(len(timings)),
                str(missing),
                *(f"{percentile(timings, q) * 1000:.0f}" for q in (0.5, 0.95, 0.99)),
                f"{max(timings) * 1000:.0f}",
                f"{len(timings) / seconds:.0f}" if seconds else "",
                f"{per_step:.2f}" if seconds else "",
            )
    Console().print(table)
    for name, (single, crowd, _, _, _) in (("scripted bot", scripted), ("signpost bot", signpost)):
        ratio = percentile(crowd, 0.95) / percentile(single, 0.95)
        Console().print(f"{name}: p95 with {users} users is {ratio:.1f}x its single-user p95")
    Console().print(
        "signpost bot p95 with "
        f"{users} users is {percentile(signpost[1], 0.95) / percentile(scripted[1], 0.95):.2f}x the scripted bot's "
        "(the emulator's ceiling on this machine)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=300, help="offline: chats, 10 updates each")
    parser.add_argument("--users", type=int, default=200, help="emulator: simultaneous users")
    parser.add_argument("--rounds", type=int, default=3, help="emulator: single-user baseline rounds (x5)")
    parser.add_argument("--skip-emulator", action="store_true")
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL URL: also measure the store there, and the bot on it"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="signpost-bench-bot-") as tmp:
        offline(args.chats, Path(tmp), args.database_url)
        if not args.skip_emulator:
            emulator_round_trips(args.users, args.rounds, Path(tmp), args.database_url)


if __name__ == "__main__":
    main()
