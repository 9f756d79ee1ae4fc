"""What a person can do: the events adapters turn their platform's updates into."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Choice", "Command", "Event", "SharedLocation", "Text", "Unsupported", "parse_command"]


@dataclass(frozen=True)
class Command:
    """A slash command: ``/start poster-race`` is ``Command("start", "poster-race")``."""

    name: str
    argument: str = ""


@dataclass(frozen=True)
class Choice:
    """A pressed button: its callback data (ASCII, at most 64 bytes)."""

    action: str


@dataclass(frozen=True)
class Text:
    """Typed text. The engine reads it and lets it go; only the guided note keeps it, in memory, briefly."""

    text: str


@dataclass(frozen=True)
class SharedLocation:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class Unsupported:
    """Something the bot cannot read: ``"sticker"``, ``"photo"``, ``"voice"``, ``"document"``, ..."""

    what: str


Event = Command | Choice | Text | SharedLocation | Unsupported


def parse_command(text: str) -> Command | None:
    """``"/start cy"`` -> ``Command("start", "cy")``; ``"/help@SignpostBot"`` -> ``Command("help")``; else None."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, argument = stripped[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name.isascii() or not name.replace("_", "").isalnum():
        return None
    return Command(name, argument.strip())
