"""A rolling deploy: a `signpost bot` webhook worker gets SIGTERM while it is in the middle of a reply of several
messages (a postcode's results). It stops taking updates at once (503, so the balancer sends them to the other
worker; ``GET /health`` says 503 too), finishes the reply, and only then exits: the person gets the whole reply,
buttons included, exactly once, and their next message is answered by the other worker.

Two workers (separate processes, one PostgreSQL database) sit behind tests/e2e/balancer.py, which, like Telegram,
delivers an update again when a worker answers 5xx or cannot be reached.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.balancer import RoundRobin
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import RunningBot, User, bot_settings, callback_data, process_env
from tests.e2e.test_crash import start_process, stop_process, worker_settings
from tests.e2e.test_telegram_bot import LEEDS_POSTCODE

pytestmark = pytest.mark.e2e

SECRET = "webhook-secret-for-the-rolling-stop"
SEND_DELAY_S = 0.5  # each message of the reply takes this long on the wire: the stop lands mid-reply


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _shown(records: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    """What a person saw: each message's text and its buttons, in order."""
    return [(r["message"].get("text") or "", tuple(callback_data(r))) for r in records]


async def _quiet(user: User, seconds: float) -> list[dict[str, Any]]:
    """Everything the bot sends ``user`` until nothing more has come for ``seconds``."""
    got: list[dict[str, Any]] = []
    while more := await user.tg.next_messages(seconds):
        got += more
    return got


async def test_sigterm_mid_reply_finishes_the_reply_then_stops(
    bot_api_proxy: BotApiProxy, make_user: Callable[..., User], postgres_url: str, tmp_path: Path
) -> None:
    ports = [_port(), _port()]
    balancer = RoundRobin([f"http://127.0.0.1:{port}" for port in ports], secret=SECRET).start()
    config = bot_settings(bot_api_proxy.url, tmp_path / "data", database_url=postgres_url)
    common = process_env(config, **worker_settings(balancer.url, SECRET))
    log = tmp_path / "workers.log"
    processes = [start_process({**common, "TELEGRAM_WEBHOOK_PORT": str(ports[0])}, log)]
    await asyncio.sleep(3)  # the first migrates and seeds the new database alone
    processes.append(start_process({**common, "TELEGRAM_WEBHOOK_PORT": str(ports[1])}, log))
    # Only its token is used.
    bot = RunningBot(application=None, config=config)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:  # both workers up and taking updates
            deadline = time.monotonic() + 90
            for port in ports:
                while True:
                    try:
                        health = await client.get(f"http://127.0.0.1:{port}/health")
                        assert (health.status_code, health.text) == (200, "ok")
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, log.read_text()[-3000:]
                        await asyncio.sleep(0.5)
        people = [make_user(bot, name) for name in ("Sam", "Alex")]
        for person in people:  # each at the menu
            await asyncio.wait_for(person.tg.send_command("/start"), timeout=30)
            await person.until_buttons("danger", timeout=30)

        # The whole reply, as a person whose worker is not stopped gets it.
        sam, alex = people
        await sam.tg.send_text(LEEDS_POSTCODE)
        whole = _shown(await _quiet(sam, 3.0))
        assert len(whole) >= 3 and any(buttons for _, buttons in whole), whole

        bot_api_proxy.delay("sendMessage", SEND_DELAY_S, times=len(whole) + 5)
        before = list(balancer.served)
        sending = asyncio.ensure_future(alex.tg.send_text(LEEDS_POSTCODE))
        first = await alex.until(bool, timeout=30)
        taken = next(i for i in range(2) if balancer.served[i] > before[i])
        stopping, other = processes[taken], processes[1 - taken]
        stopping.send_signal(signal.SIGTERM)
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=5.0) as client:
            await asyncio.sleep(0.2)  # the signal handled
            url = f"http://127.0.0.1:{ports[taken]}"
            draining = await client.get(f"{url}/health")
            refused = await client.post(
                f"{url}/hook", json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
        assert (draining.status_code, draining.text) == (503, "draining")
        assert refused.status_code == 503  # a new update: not taken, so it is delivered to the other worker
        stopping.wait(timeout=30)
        stopped_in = time.monotonic() - started
        got = _shown(first + await _quiet(alex, 3.0))
        await asyncio.wait_for(sending, 30)
        assert stopping.returncode == 0, log.read_text()[-3000:]
        assert stopped_in > SEND_DELAY_S, "the worker stopped before its reply was out: the test proves nothing"
        assert got == whole, f"cut or repeated: {got}\nexpected {whole}"

        # The next message goes to the worker still running (the stopped one cannot be reached).
        await alex.tg.send_command("/start")
        await alex.until_buttons("danger", timeout=30)
        assert other.poll() is None
        assert "Traceback" not in log.read_text()
    finally:
        for process in processes:
            stop_process(process)
        balancer.stop()
