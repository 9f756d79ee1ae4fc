"""The console's words in English and Welsh (Welsh language standards: every page in both, chosen by the user)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

__all__ = ["LANGUAGES", "catalogue", "translate"]

LANGUAGES = ("en", "cy")


@cache
def catalogue(language: str) -> dict[str, str]:
    """Every key's text in ``language`` (``en`` or ``cy``)."""
    if language not in LANGUAGES:
        raise ValueError(f"no console catalogue for {language!r}: use en or cy")
    text = resources.files("web").joinpath("content", f"{language}.toml").read_text(encoding="utf-8")
    return dict(tomllib.loads(text))


def translate(language: str, key: str, **values: object) -> str:
    """The text for ``key`` with its ``{placeholders}`` filled in."""
    text = catalogue(language if language in LANGUAGES else "en")[key]
    return text.format(**values) if values else text
