"""Danger first, whatever the database does: the real bot, the emulator, real PostgreSQL and SQLite under faults.

- PostgreSQL unreachable (the relay in front of it cut): ``/emergency``, urgent text and the danger button are
  answered from the catalogue, in the language last seen for the chat, else the app's, else English; anything
  else gets the apology (which reads no database either); once the database is back the bot carries on.
- One chat's row locked by another connection (``SELECT ... FOR UPDATE``): that chat still gets the danger
  screen at once, and 20 other people finish a whole journey while the lock is held.
- A SQLite file locked by another process (``BEGIN EXCLUSIVE``): the danger screen still reaches everyone at
  once; the rest of their replies follow when the lock goes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from bot.content import catalogue
from bot.engine import Language
from bot.persistence import ChatKeyer, chat_key_secret
from services_db.db import make_engine
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import Emulator, RunningBot, StartBot, User, bot_settings, with_button
from tests.e2e.faults import TcpRelay, sqlite_locked_by_another_process
from tests.e2e.test_telegram_bot import label_of, texts

pytestmark = pytest.mark.e2e

# Generous for a loaded 2-core machine; the bot's own deadline is 0.3 s.
QUICK_S = 5.0


def danger_line(language: Language) -> str:
    """The first line of the danger screen as sent (HTML)."""
    return catalogue(language)["danger"].strip().split("\n")[0]


async def answered_with_danger(user: User, language: Language) -> float:
    """Seconds until the danger screen arrived (the caller has just sent something)."""
    started = time.monotonic()
    await user.until(lambda got: danger_line(language) in texts(got), timeout=30)
    return time.monotonic() - started


@pytest.fixture
def relay(postgres_url: str) -> Iterator[TcpRelay]:
    parts = urlsplit(postgres_url)
    relay = TcpRelay((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield relay
    relay.cut()


def through(relay: TcpRelay, url: str) -> str:
    parts = urlsplit(url)
    return url.replace(parts.netloc, f"{parts.username or 'postgres'}@127.0.0.1:{relay.port}", 1)


async def test_danger_is_answered_with_postgresql_unreachable(
    emulator: Emulator,
    start_bot: StartBot,
    make_user: Callable[..., User],
    postgres_url: str,
    relay: TcpRelay,
    tmp_path: Path,
) -> None:
    bot = await start_bot(config=bot_settings(emulator, tmp_path / "data", database_url=through(relay, postgres_url)))
    welsh = make_user(bot, "Cerys")  # chose Welsh in the bot
    await welsh.tg.send_command("/start cy")
    await welsh.until_buttons("danger")
    app_welsh = make_user(bot, "Dafydd")  # never spoke to the bot; a Welsh-language app
    app_welsh.tg.user["language_code"] = "cy"
    english = make_user(bot, "Alex")
    await english.tg.send_command("/start")
    menu = await english.until_buttons("danger")

    relay.cut()
    await welsh.tg.send_command("/emergency")
    assert await answered_with_danger(welsh, Language.CY) < QUICK_S
    await app_welsh.tg.send_command("/emergency")
    assert await answered_with_danger(app_welsh, Language.CY) < QUICK_S
    await english.tg.send_text("help he is outside my door")
    assert await answered_with_danger(english, Language.EN) < QUICK_S
    await english.press(with_button(menu, "danger"), label_of("danger"))
    assert await answered_with_danger(english, Language.EN) < QUICK_S
    # Anything else cannot be answered without the database: the apology, in the person's language.
    await welsh.tg.send_text("diolch")
    await welsh.until(lambda got: catalogue(Language.CY)["error_sorry"] in texts(got), timeout=30)
    answers = await english.tg.callback_answers()
    assert answers and all(a["answer"] is not None for a in answers)  # the spinner stopped, database or not

    relay.restore()
    await english.tg.send_command("/start")
    assert await english.until_buttons("danger", "find")


async def test_a_locked_row_delays_only_its_own_chat(
    emulator: Emulator,
    start_bot: StartBot,
    make_user: Callable[..., User],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    bot = await start_bot(config=bot_settings(emulator, tmp_path / "data", database_url=postgres_url))
    victim = make_user(bot, "Cerys")
    await victim.tg.send_command("/start cy")
    await victim.until_buttons("danger")
    others = [make_user(bot, f"Person {n}") for n in range(20)]

    locker = make_engine(postgres_url)
    connection = locker.connect()
    transaction = connection.begin()
    try:
        key = ChatKeyer(chat_key_secret(configured=None, data_dir=bot.config.data_dir))(victim.id)
        held = connection.execute(
            text("SELECT chat_key FROM conversation_state WHERE chat_key = :key FOR UPDATE"), {"key": key}
        ).all()
        assert len(held) == 1
        await victim.tg.send_command("/emergency")
        assert await answered_with_danger(victim, Language.CY) < QUICK_S
        await victim.tg.send_text("helo")  # waits behind its own chat's lock: nobody else does

        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(journey(bot, user) for user in others)), timeout=120)
        took = time.monotonic() - started
        still_locked = connection.execute(
            text("SELECT count(*) FROM pg_locks WHERE mode = 'RowShareLock' AND granted")
        ).scalar()
        assert still_locked, "the row lock was released before the others finished: the test proves nothing"
        print(f"20 journeys while one chat's row was locked: {took:.1f} s")
    finally:
        transaction.rollback()
        connection.close()
        locker.dispose()
    await victim.until(lambda got: bool(got), timeout=30)  # its own reply follows once the lock goes


async def journey(bot: RunningBot, user: User) -> None:
    """Start, find help by postcode, see the results."""
    await user.tg.send_command("/start")
    menu = await user.until_buttons("find", timeout=60)
    await user.press(with_button(menu, "find"), label_of("find"))
    await user.until_location_keyboard(timeout=60)
    await user.tg.send_text("LS6 1AA")
    await user.until_buttons("note", timeout=60)


async def test_a_sqlite_file_locked_by_another_process_does_not_delay_the_danger_screen(
    signpost_bot: RunningBot, make_user: Callable[..., User]
) -> None:
    users = [make_user(signpost_bot, f"Person {n}") for n in range(20)]
    for user in users:
        await user.tg.send_command("/start")
    for user in users:
        await user.until_buttons("danger")
    path = Path(signpost_bot.config.effective_database_url.removeprefix("sqlite:///"))

    with sqlite_locked_by_another_process(path):
        started = time.monotonic()
        for user in users:
            await user.tg.send_command("/emergency")
        waits = await asyncio.gather(*(answered_with_danger(user, Language.EN) for user in users))
        assert max(waits) < QUICK_S, waits
        for user in users:
            await user.tg.send_command("/help")
        locked_for = time.monotonic() - started
    # What needs a write waited for the other process, and then arrives: nothing was dropped.
    for user in users:
        await user.until(lambda got: catalogue(Language.EN)["help"].split("\n")[0] in texts(got), timeout=60)
    print(f"danger screens while SQLite was locked: slowest {max(waits):.2f} s (lock held {locked_for:.1f} s)")


async def test_leave_quickly_still_clears_the_phone_with_postgresql_unreachable(
    bot_api_proxy: BotApiProxy,
    start_bot: StartBot,
    make_user: Callable[..., User],
    postgres_url: str,
    relay: TcpRelay,
    tmp_path: Path,
) -> None:
    from tests.e2e.test_quick_exit import chat_history, conversation_with_a_note

    config = bot_settings(bot_api_proxy.url, tmp_path / "data", database_url=through(relay, postgres_url))
    bot = await start_bot(config=config)
    user = make_user(bot, "Alex")
    await conversation_with_a_note(user)
    assert len(await chat_history(user)) > 10

    relay.cut()
    await user.press(with_button(user.seen, "leave"), catalogue(Language.EN)["btn_leave"])
    await user.until(lambda got: catalogue(Language.EN)["left"] in texts(got), timeout=30)
    after = await chat_history(user)
    assert [m.get("text") for m in after] == [catalogue(Language.EN)["left"]], after
