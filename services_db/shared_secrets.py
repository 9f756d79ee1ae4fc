"""Secrets every bot worker on one database must share, checked by a fingerprint kept in the database.

Workers behind one load balancer must agree on ``SIGNPOST_CHAT_KEY_SECRET`` (conversation rows are keyed, and
guided notes sealed, under it) and ``TELEGRAM_WEBHOOK_SECRET`` (Telegram sends the last one registered, and a
worker refuses the others' calls). A worker that disagrees does not crash: it answers wrongly or not at all. So
the first worker records a fingerprint of each secret (HMAC-SHA256 of a fixed label under the secret: the secret
itself never goes in the database), and a worker whose secret gives another fingerprint refuses to start, unless
it is asked to replace the fingerprint (a deliberate change of the secret).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services_db.models import SecretFingerprint

__all__ = ["FingerprintCheck", "SecretMismatch", "check_shared_secret", "fingerprint"]

_TABLE = SecretFingerprint.__table__  # type: ignore[attr-defined]


class FingerprintCheck(StrEnum):
    """What a start found: the first worker on this database (recorded), the same secret, or a replaced one."""

    RECORDED = "recorded"
    SAME = "same"
    REPLACED = "replaced"


class SecretMismatch(Exception):
    """The secret named ``setting`` is not the one whose fingerprint the database holds (recorded ``recorded_at``
    by the first worker, or by the last deliberate change)."""

    def __init__(self, setting: str, recorded_at: datetime) -> None:
        when = recorded_at.strftime("%Y-%m-%d %H:%M UTC")
        super().__init__(f"{setting} is not the one the other workers on this database use (recorded {when})")
        self.setting = setting
        self.recorded_at = recorded_at


def fingerprint(secret: bytes, *, setting: str) -> str:
    """HMAC-SHA256 of a fixed label (with the setting's name, so two settings with one value differ) under
    ``secret``, as hex. It proves two workers hold the same secret without storing it."""
    label = f"signpost shared-secret fingerprint: {setting}".encode("ascii")
    return hmac.new(secret, label, hashlib.sha256).hexdigest()


def check_shared_secret(
    *,
    engine: Engine,
    setting: str,
    secret: bytes,
    replace: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FingerprintCheck:
    """Record the fingerprint of ``secret`` if the database has none for ``setting``, else compare with it.

    Raises :class:`SecretMismatch` when it differs, unless ``replace`` (the secret is being changed on purpose:
    the fingerprint is replaced, and workers still holding the old secret refuse to start from then on). Two
    workers starting at once agree on the first one written (an insert that ignores a conflict, then a read).
    """
    wanted = fingerprint(secret, setting=setting)
    now = clock()
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with engine.begin() as conn:
        inserted = conn.execute(
            dialect.insert(_TABLE)
            .values(setting=setting, fingerprint=wanted, recorded_at=now)
            .on_conflict_do_nothing(index_elements=["setting"])
            .returning(_TABLE.c.setting)  # (rowcount is not told on every driver)
        ).first()
        if inserted is not None:
            return FingerprintCheck.RECORDED
        stored, recorded_at = conn.execute(
            select(_TABLE.c.fingerprint, _TABLE.c.recorded_at).where(_TABLE.c.setting == setting)
        ).one()
        if hmac.compare_digest(stored, wanted):
            return FingerprintCheck.SAME
        if not replace:
            raise SecretMismatch(setting, recorded_at)
        conn.execute(update(_TABLE).where(_TABLE.c.setting == setting).values(fingerprint=wanted, recorded_at=now))
    return FingerprintCheck.REPLACED
