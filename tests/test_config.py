"""Settings read from the environment and a .env file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from signpost.config import Settings, _default_data_dir

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_copied_as_is_keeps_the_per_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.env.example says to copy it as it is: its empty values are the defaults, not the current directory."""
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    monkeypatch.chdir(tmp_path)
    for name in ("SIGNPOST_DATA_DIR", "DATABASE_URL", "TELEGRAM_WEBHOOK_PORT", "SIGNPOST_CHAT_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    config = Settings()
    assert config.data_dir == _default_data_dir() != Path(".")
    assert config.effective_database_url == f"sqlite:///{_default_data_dir() / 'signpost.sqlite3'}"
    assert config.chat_key_secret is None and config.telegram_webhook_port == 8443

    monkeypatch.setenv("SIGNPOST_DATA_DIR", "")  # exported empty: unset too
    monkeypatch.setenv("TELEGRAM_WEBHOOK_PORT", "")
    assert Settings().data_dir == _default_data_dir() and Settings().telegram_webhook_port == 8443

    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path / "data"))  # a value is still used
    assert Settings().data_dir == tmp_path / "data"
