"""The generated chat-key secret: written whole before anyone can read it, the same for workers starting at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.persistence import SECRET_FILE, chat_key_secret


def test_workers_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    start = threading.Barrier(8)
    secrets: list[bytes] = []

    def worker() -> None:
        start.wait()
        secrets.append(chat_key_secret(configured=None, data_dir=tmp_path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(secrets) == 8 and len(set(secrets)) == 1 and len(secrets[0]) == 32
    assert (tmp_path / SECRET_FILE).read_text(encoding="ascii") == secrets[0].hex()
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary file left behind
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o077 == 0  # the owner's alone


def test_an_empty_secret_file_is_not_taken_for_a_secret(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("", encoding="ascii")  # as a crashed older version could leave it
    with pytest.raises(ValueError, match="delete it"):
        chat_key_secret(configured=None, data_dir=tmp_path)
