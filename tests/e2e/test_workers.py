"""Several webhook workers behind one load balancer, sharing one PostgreSQL database (the production layout).

Two workers (each its own engine and memory, as two processes would be; the same database and
``SIGNPOST_CHAT_KEY_SECRET``) sit behind a round-robin balancer on loopback, so consecutive updates of one person
land on alternate workers. The guided note is written to the end, every answer on the other worker from the
last, and given back whole; afterwards no table holds anything the person typed.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.adapters.telegram import Webhook, WebhookServer
from bot.content import catalogue
from bot.engine import Language
from signpost import wiring
from tests.e2e.balancer import RoundRobin
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import RunningBot, User, bot_settings, with_button
from tests.e2e.test_telegram_bot import NOTE_ANSWERS, _scan_database, label_of, texts

pytestmark = pytest.mark.e2e

EN = catalogue(Language.EN)
SECRET = "webhook-secret-for-two-workers"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def two_workers(
    bot_api_proxy: BotApiProxy, postgres_url: str, tmp_path: Path
) -> AsyncIterator[tuple[RunningBot, RoundRobin]]:
    config = bot_settings(bot_api_proxy.url, tmp_path / "data", database_url=postgres_url)
    ports = [_port(), _port()]
    balancer = RoundRobin([f"http://127.0.0.1:{port}" for port in ports], secret=SECRET).start()
    workers: list[tuple[Application, WebhookServer]] = []  # type: ignore[type-arg]
    for port in ports:
        application = wiring.telegram_application(config)
        await application.initialize()
        await application.start()
        server = WebhookServer(application, Webhook(f"{balancer.url}/hook", SECRET, "127.0.0.1", port))
        await server.start()  # as `signpost bot` serves a webhook
        workers.append((application, server))
    yield RunningBot(workers[0][0], config), balancer
    for application, server in workers:
        await server.stop()
        await application.stop()
        await application.shutdown()
    balancer.stop()


async def test_a_note_is_written_across_two_workers(
    two_workers: tuple[RunningBot, RoundRobin], make_user: Callable[..., User]
) -> None:
    bot, balancer = two_workers
    user = make_user(bot, "Alex")
    await user.tg.send_command("/start")
    menu = await user.until_buttons("note")
    await user.press(with_button(menu, "note"), label_of("note"))
    await user.until_buttons("note:skip")
    for index, answer in enumerate(NOTE_ANSWERS):
        await user.tg.send_text(answer)
        if index < len(NOTE_ANSWERS) - 1:
            got = await user.until_buttons("note:skip")
            assert EN["note_lost"] not in texts(got)
    done = await user.until(lambda got: all(a in texts(got) for a in NOTE_ANSWERS))
    assert EN["note_lost"] not in texts(done)
    assert min(balancer.served) >= 3  # both workers took answers, alternately
    found = _scan_database(bot, [*NOTE_ANSWERS, "Priyanka", "Quarry Street"])
    assert found == [], f"typed text stored: {found}"


def _strand_buttons(message: dict[str, object]) -> dict[str, str]:
    """callback data -> label of the strand buttons on a screen."""
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return {
        b["callback_data"]: b["text"]
        for row in rows
        for b in row
        if str(b.get("callback_data", "")).startswith("strand:")
        and b["callback_data"] not in {"strand:done", "strand:other", "strand:unsure"}
    }


async def test_simultaneous_taps_on_two_workers_leave_the_screen_as_stored(
    two_workers: tuple[RunningBot, RoundRobin], make_user: Callable[..., User], bot_api_proxy: BotApiProxy
) -> None:
    """Two taps at once land on the two workers; the first edit sent is held back on its way to Telegram, so
    it arrives after the later one (as happens on real networks). The screen must end as the stored state."""
    import asyncio
    import time

    from tests.e2e.test_telegram_bot import stored_state

    bot, _ = two_workers
    user = make_user(bot, "Alex")
    await user.tg.send_command("/start")
    menu = await user.until_buttons("happened")
    await user.press(with_button(menu, "happened"), label_of("happened"))
    asked = await user.until_buttons("happened:yes")
    await user.press(with_button(asked, "happened:yes"), EN["btn_yes"])
    strands = await user.until_buttons("strand:race", "strand:religion")
    screen_id = with_button(strands, "strand:race")["messageId"]
    pairs = [("race", "religion"), ("disability", "race"), ("religion", "sexual_orientation"), ("race", "disability")]

    for first, second in pairs * 2:
        current = await user.tg.get_bot_message(screen_id)
        record = {"messageId": screen_id, "time": current["time"], "message": current["tg"]}
        buttons = _strand_buttons(current["tg"])
        bot_api_proxy.delay("editMessageReplyMarkup", 1.0)
        await asyncio.gather(
            user.press(record, buttons[f"strand:{first}"]), user.press(record, buttons[f"strand:{second}"])
        )
        deadline, stable_since = time.monotonic() + 20, None
        while True:
            shown_message = (await user.tg.get_bot_message(screen_id))["tg"]
            shown = {k.removeprefix("strand:") for k, v in _strand_buttons(shown_message).items() if "✅" in v}
            stored = set((stored_state(bot, user) or {}).get("strands", []))  # type: ignore[call-overload]
            if shown == stored:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since > 1.5:
                    break
            else:
                stable_since = None
            assert time.monotonic() < deadline, f"screen shows {sorted(shown)}, stored {sorted(stored)}"
            await asyncio.sleep(0.2)
