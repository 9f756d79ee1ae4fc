"""What the console needs, handed in by the composition root (``signpost web``) or a test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

__all__ = ["WebConfig"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WebConfig:
    """Settings of one console.

    Parameters
    ----------
    engine
        The directory's database.
    data_dir
        Where previewed uploads wait for Confirm and coverage reports are written (``reports/``).
    public_url
        The console's address as people reach it (sign-in links are built on it), e.g. ``https://signpost.example``.
    secure_cookies
        Mark cookies ``Secure`` (sent over HTTPS only). Only turn off for http://127.0.0.1 in tests.
    session_hours
        How long a session lasts after signing in.
    tiles_url, tiles_attribution
        Base map tiles (an ``{z}/{x}/{y}`` URL template) and their credit; empty: no base map, works offline.
    telegram_bot_token, telegram_base_url
        The bot's token to send sign-in links through the Bot API; the API's base URL (default Telegram's).
    stale_after_days
        A service unchecked for this long is flagged.
    sign_in_attempts, sign_in_window_s
        At most this many sign-in attempts (codes, link requests) per client address per window.
    clock
        The current time (tests set it).
    """

    engine: Engine
    data_dir: Path
    public_url: str = "http://127.0.0.1:8000"
    secure_cookies: bool = True
    session_hours: int = 8
    tiles_url: str = ""
    tiles_attribution: str = ""
    telegram_bot_token: str | None = None
    telegram_base_url: str | None = None
    stale_after_days: int = 183
    sign_in_attempts: int = 10
    sign_in_window_s: int = 900
    clock: Callable[[], datetime] = field(default=_utc_now)

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"
