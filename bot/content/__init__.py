"""Content catalogues: every word the bot says, by key, in English, Welsh (Cymraeg) and Easy Read English.

Catalogues are flat TOML files (``key = "text"``) with ``{placeholders}``. They hold no phone numbers, no
addresses and no web links: contact details always come from the services directory.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bot.engine.model import Language

__all__ = ["Catalogue", "CatalogueError", "catalogue", "placeholders"]


class CatalogueError(ValueError):
    """A catalogue file is missing, unreadable or has a key that is not text."""


@dataclass(frozen=True)
class Catalogue:
    language: Language
    entries: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.entries.get(key, default)

    def keys(self) -> frozenset[str]:
        return frozenset(self.entries)


@cache
def catalogue(language: Language | str) -> Catalogue:
    """The catalogue for ``language`` (``en``, ``cy`` or ``easy``), loaded once from the package."""
    language = Language(language)
    name = f"{language.value}.toml"
    try:
        raw = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        data = tomllib.loads(raw)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"bot/content/{name}: cannot read the catalogue ({exc})") from exc
    entries: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise CatalogueError(f"bot/content/{name}: key {key!r} must be text (a quoted string)")
        entries[key] = value.strip("\n")
    return Catalogue(language, entries)


def placeholders(text: str) -> frozenset[str]:
    """The ``{names}`` used in a catalogue text."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
