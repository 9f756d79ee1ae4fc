"""`signpost bot` in webhook mode when its start is refused: the port is taken, or Telegram answers setWebhook
with flood control (429, as when several workers restart at once). Each is a line or two naming the setting to
look at and exit 1, never a traceback; a 429 that passes after a couple of tries is waited out.

The Bot API is the emulator behind tests/e2e/botapi_proxy.py (which answers the 429s); the bot is a real process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import ROOT, bot_settings

pytestmark = pytest.mark.e2e

SECRET = "webhook-secret-for-the-start-tests"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(proxy: BotApiProxy, tmp_path: Path, port: int) -> dict[str, str]:
    config = bot_settings(proxy.url, tmp_path / "data")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": config.telegram_bot_token or "",
        "TELEGRAM_BASE_URL": config.telegram_base_url or "",
        "TELEGRAM_BASE_FILE_URL": config.telegram_base_file_url or "",
        "SIGNPOST_DATA_DIR": str(config.data_dir),
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
        "TELEGRAM_WEBHOOK_PORT": str(port),
    }


def _bot(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "signpost", "bot"]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_taken_port_is_named(bot_api_proxy: BotApiProxy, tmp_path: Path) -> None:
    port = _port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = _bot(_env(bot_api_proxy, tmp_path, port))
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "TELEGRAM_WEBHOOK_PORT" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2, done.stderr


def test_set_webhook_refused_for_flood_control_is_explained(bot_api_proxy: BotApiProxy, tmp_path: Path) -> None:
    flood = "Too Many Requests: retry after 1"
    bot_api_proxy.fail("setWebhook", times=100, status=429, description=flood, retry_after=1)
    started = time.monotonic()
    done = _bot(_env(bot_api_proxy, tmp_path, _port()))
    assert done.returncode == 1, done.stderr
    assert "Telegram refused setWebhook" in done.stderr and "TELEGRAM_WEBHOOK_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr[done.stderr.index("error:") :].strip().splitlines()) <= 2, done.stderr
    tries = [method for method, _ in bot_api_proxy.calls if method == "setWebhook"]
    assert len(tries) == 4 and time.monotonic() - started > 3  # tried 4 times, waiting as told in between


def test_set_webhook_flood_control_is_waited_out(bot_api_proxy: BotApiProxy, tmp_path: Path) -> None:
    bot_api_proxy.fail("setWebhook", times=2, status=429, description="Too Many Requests", retry_after=1)
    port = _port()
    command = [sys.executable, "-m", "signpost", "bot"]
    env = _env(bot_api_proxy, tmp_path, port)
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while [method for method, _ in bot_api_proxy.calls].count("setWebhook") < 3:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5.0)
        assert (health.status_code, health.text) == (200, "ok")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr and "error:" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
