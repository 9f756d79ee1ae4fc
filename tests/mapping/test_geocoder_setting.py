"""SIGNPOST_GEOCODER switches the online geocoder on for the staff commands; off, nothing goes online."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapping.geocoder import NominatimGeocoder
from signpost import wiring
from signpost.config import Settings


def test_the_geocoder_is_off_unless_switched_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("SIGNPOST_GEOCODER", raising=False)
    assert wiring.geocoder(Settings(SIGNPOST_DATA_DIR=tmp_path)) is None
    monkeypatch.setenv("SIGNPOST_GEOCODER", "1")
    monkeypatch.setenv("SIGNPOST_GEOCODER_USER_AGENT", "signpost-test (test@example.org)")
    chosen = wiring.geocoder(Settings(SIGNPOST_DATA_DIR=tmp_path))
    assert isinstance(chosen, NominatimGeocoder)
    assert chosen._nominatim.headers["User-Agent"] == "signpost-test (test@example.org)"
