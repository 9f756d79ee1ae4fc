"""Several webhook workers behind one load balancer, sharing one PostgreSQL database (the production layout).

Two workers (each its own engine and memory, as two processes would be; the same database and
``SIGNPOST_CHAT_KEY_SECRET``) sit behind a round-robin balancer on loopback, so consecutive updates of one person
land on alternate workers. The guided note is written to the end, every answer on the other worker from the
last, and given back whole; afterwards no table holds anything the person typed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from telegram.ext import Application

from bot.adapters.telegram import Webhook, WebhookServer
from bot.content import catalogue
from bot.engine import Language
from signpost import wiring
from tests.e2e.balancer import RoundRobin
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import ROOT, RunningBot, User, bot_settings, with_button
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
        application = wiring.telegram_application(config, webhook_secret=SECRET)
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


def _worker_process(env: dict[str, str], *options: str) -> subprocess.Popen[str]:
    """``signpost bot`` in a process of its own, as a worker on another machine."""
    return subprocess.Popen(
        [sys.executable, "-m", "signpost", "bot", *options],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "SIGNPOST_LOG_LEVEL": "WARNING", "COLUMNS": "80"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _refusal(process: subprocess.Popen[str]) -> str:
    """The one line a refused worker printed (it must exit with code 2, without a traceback)."""
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, (process.returncode, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    (line,) = [line for line in err.splitlines() if line.strip()]
    return line


async def test_a_worker_with_another_secret_refuses_to_start_until_a_change_is_asked_for(
    bot_api_proxy: BotApiProxy, postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first worker records its secrets; a second `signpost bot` (another machine: its own data directory)
    with another SIGNPOST_CHAT_KEY_SECRET, or another TELEGRAM_WEBHOOK_SECRET, refuses to start with one line
    saying what to do; with --rotate-webhook-secret it starts, and the first worker's refused calls are logged."""
    chat_secret = "chat-key-secret-shared-by-all-workers"
    config = bot_settings(bot_api_proxy.url, tmp_path / "one", database_url=postgres_url)
    config = config.model_copy(update={"chat_key_secret": chat_secret})
    port = _port()
    application = wiring.telegram_application(config, webhook_secret=SECRET)
    await application.initialize()
    await application.start()
    first = WebhookServer(application, Webhook(f"http://127.0.0.1:{port}/hook", SECRET, "127.0.0.1", port))
    await first.start()
    env = {
        "TELEGRAM_BOT_TOKEN": config.telegram_bot_token or "",
        "TELEGRAM_BASE_URL": config.telegram_base_url or "",
        "TELEGRAM_BASE_FILE_URL": config.telegram_base_file_url or "",
        "DATABASE_URL": postgres_url,
        "SIGNPOST_DATA_DIR": str(tmp_path / "two"),
        "SIGNPOST_CHAT_KEY_SECRET": chat_secret,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_WEBHOOK_PORT": str(_port()),
    }
    rotated = None
    try:
        chat_key = _refusal(_worker_process({**env, "SIGNPOST_CHAT_KEY_SECRET": "another-chat-key-secret"}))
        assert chat_key.startswith("Not started: SIGNPOST_CHAT_KEY_SECRET is not the one the other workers")
        assert "Set the same SIGNPOST_CHAT_KEY_SECRET on every worker" in chat_key

        new_secret = "the-rotated-webhook-secret"
        webhook = _refusal(_worker_process({**env, "TELEGRAM_WEBHOOK_SECRET": new_secret}))
        assert webhook.startswith("Not started: TELEGRAM_WEBHOOK_SECRET is not the one the other workers")
        assert "--rotate-webhook-secret" in webhook

        rotated = _worker_process({**env, "TELEGRAM_WEBHOOK_SECRET": new_secret}, "--rotate-webhook-secret")
        assert rotated.stdout is not None
        assert "Signpost bot running by webhook" in rotated.stdout.readline()  # started
        caplog.set_level(logging.WARNING, logger="bot.adapters.telegram")
        async with httpx.AsyncClient() as client:  # Telegram now sends the new secret, to both workers
            headers = {"X-Telegram-Bot-Api-Secret-Token": new_secret}
            refused = await client.post(f"http://127.0.0.1:{port}/hook", json={"update_id": 1}, headers=headers)
        assert refused.status_code == 403
        assert any("TELEGRAM_WEBHOOK_SECRET" in r.getMessage() for r in caplog.records)
        # The first worker, restarted as it was, is now the one refused.
        again = _refusal(_worker_process({**env, "SIGNPOST_DATA_DIR": str(tmp_path / "three")}))
        assert again.startswith("Not started: TELEGRAM_WEBHOOK_SECRET")
    finally:
        if rotated is not None:
            rotated.send_signal(signal.SIGTERM)
            rotated.communicate(timeout=60)
        await first.stop()
        await application.stop()
        await application.shutdown()
