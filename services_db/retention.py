"""Retention of the bot's stored state: what the daily retention job deletes.

Lives here, not in bot/, because the job (jobs/) and the bot both depend on it and neither may reach into the
other: conversations idle past their expiry, sealed notes past theirs, and the ids of messages Telegram no
longer lets the bot delete.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import Session

from services_db.models import ChatMessage, ConversationRecord

__all__ = ["DELETABLE_FOR", "purge_expired"]

DELETABLE_FOR = timedelta(hours=48)  # Telegram lets a bot delete its messages for 48 hours
_TABLE = ConversationRecord.__table__  # type: ignore[attr-defined]
_MESSAGES = ChatMessage.__table__  # type: ignore[attr-defined]


def purge_expired(*, session: Session, now: datetime) -> int:
    """Delete every conversation idle past its expiry, sealed notes past theirs, and message ids of chats with
    no conversation left (or too old to delete anyway); returns how many conversations. The retention job
    calls this.

    Parameters
    ----------
    session
        An open session; the caller commits.
    now
        Aware UTC time.
    """
    conn = session.connection()
    result = conn.execute(delete(_TABLE).where(_TABLE.c.expires_at <= now))
    conn.execute(update(_TABLE).where(_TABLE.c.note_expires_at <= now).values(note=None, note_expires_at=None))
    conn.execute(
        delete(_MESSAGES).where(
            (_MESSAGES.c.sent_at <= now - DELETABLE_FOR) | _MESSAGES.c.chat_key.not_in(select(_TABLE.c.chat_key))
        )
    )
    return int(result.rowcount or 0)
