"""Fingerprints of the secrets bot workers must share: the first start records one, a different secret is refused
unless it replaces the fingerprint on purpose; on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from services_db.models import SecretFingerprint
from services_db.shared_secrets import FingerprintCheck, SecretMismatch, check_shared_secret, fingerprint

CHAT = "SIGNPOST_CHAT_KEY_SECRET"
HOOK = "TELEGRAM_WEBHOOK_SECRET"
_TABLE = SecretFingerprint.__table__  # type: ignore[attr-defined]


def _stored(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(_TABLE.c.setting, _TABLE.c.fingerprint)).all())  # type: ignore[arg-type]


def test_the_first_worker_records_and_the_next_with_the_same_secret_starts(engine: Engine) -> None:
    assert check_shared_secret(engine=engine, setting=CHAT, secret=b"a" * 32) is FingerprintCheck.RECORDED
    assert check_shared_secret(engine=engine, setting=CHAT, secret=b"a" * 32) is FingerprintCheck.SAME
    stored = _stored(engine)
    assert stored == {CHAT: fingerprint(b"a" * 32, setting=CHAT)}
    assert "a" * 16 not in stored[CHAT] and b"a".hex() * 16 not in stored[CHAT]  # never the secret itself


def test_a_worker_with_another_secret_is_refused_naming_the_setting(engine: Engine) -> None:
    when = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    check_shared_secret(engine=engine, setting=CHAT, secret=b"a" * 32, clock=lambda: when)
    with pytest.raises(SecretMismatch) as refused:
        check_shared_secret(engine=engine, setting=CHAT, secret=b"b" * 32)
    assert refused.value.setting == CHAT
    assert "SIGNPOST_CHAT_KEY_SECRET" in str(refused.value) and "2026-12-06 05:00 UTC" in str(refused.value)
    assert _stored(engine) == {CHAT: fingerprint(b"a" * 32, setting=CHAT)}  # unchanged


def test_a_deliberate_change_replaces_the_fingerprint_and_then_the_old_secret_is_refused(engine: Engine) -> None:
    check_shared_secret(engine=engine, setting=HOOK, secret=b"old-webhook-secret")
    changed = check_shared_secret(engine=engine, setting=HOOK, secret=b"new-webhook-secret", replace=True)
    assert changed is FingerprintCheck.REPLACED
    assert check_shared_secret(engine=engine, setting=HOOK, secret=b"new-webhook-secret") is FingerprintCheck.SAME
    with pytest.raises(SecretMismatch):
        check_shared_secret(engine=engine, setting=HOOK, secret=b"old-webhook-secret")


def test_each_setting_has_its_own_fingerprint(engine: Engine) -> None:
    check_shared_secret(engine=engine, setting=CHAT, secret=b"one-value-for-both-settings")
    assert check_shared_secret(engine=engine, setting=HOOK, secret=b"one-value-for-both-settings") is (
        FingerprintCheck.RECORDED
    )
    stored = _stored(engine)
    assert stored[CHAT] != stored[HOOK]


def test_workers_starting_at_once_agree_on_the_first_secret(engine: Engine) -> None:
    secrets = [bytes([65 + n]) * 32 for n in range(4)]

    def start(secret: bytes) -> FingerprintCheck | str:
        try:
            return check_shared_secret(engine=engine, setting=CHAT, secret=secret)
        except SecretMismatch:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(start, secrets))
    assert sorted(map(str, outcomes)) == ["recorded", "refused", "refused", "refused"]
    winner = secrets[outcomes.index(FingerprintCheck.RECORDED)]
    assert _stored(engine) == {CHAT: fingerprint(winner, setting=CHAT)}
