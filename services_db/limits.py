"""Number limits the directory checks, in a module of their own so that the command line can show them in its
``--help`` without importing SQLAlchemy (``services_db.access`` re-exports them)."""

from __future__ import annotations

__all__ = ["DEFAULT_TOKEN_DAYS", "MAX_ROW_ID", "MAX_TELEGRAM_ID", "MAX_TOKEN_DAYS"]

MAX_ROW_ID = 2**31 - 1  # row ids are 32-bit integers on PostgreSQL: anything larger names no row
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 366
MAX_TELEGRAM_ID = 2**52 - 1  # Telegram: user ids have at most 52 significant bits
