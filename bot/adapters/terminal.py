"""The conversation in a terminal: the same engine as the Telegram bot, with numbered choices and typed input.

Works interactively and with piped input (each line is one thing the person types; end of input ends the chat).
Nothing is stored: the conversation lives in this process only. "Leave quickly" (and ``/forget``) clears the
screen and its scrollback when this is a terminal, and starts afresh.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.panel import Panel
from rich.text import Text as RichText

from bot.content import catalogue
from bot.engine import (
    NOTE_STATES,
    Button,
    Choice,
    Conversation,
    Engine,
    Event,
    Language,
    SharedLocation,
    Text,
    Turn,
    parse_command,
)
from bot.render import render_label, render_parts

__all__ = ["TerminalChat", "TranscriptStats"]

_LATLON = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_QUIT = frozenset({"/quit", "/exit", "/q"})
MAX_LINE = 4096  # characters in one line: Telegram's own limit for one message
# Characters of one over-long line skipped before the input is taken as not a chat (/dev/zero has no line ends).
_MAX_SKIP = 1 << 20
# Cursor home, clear the screen, clear the scrollback (xterm's "E3", honoured by most terminals).
_CLEAR = "\x1b[H\x1b[2J\x1b[3J"


@dataclass
class TranscriptStats:
    """What happened in one chat, without its content (for the caller's exit message and tests)."""

    turns: int = 0
    outcomes: list[str] = field(default_factory=list)


class TerminalChat:
    """Run one conversation between a person at a terminal (or a script) and the engine.

    Parameters
    ----------
    engine
        The conversation engine (with the real signposter).
    console
        Where to write; plain text (``markup="plain"``) so any terminal can show it.
    input_stream
        Where to read lines from (stdin by default).
    echo
        Print each line read after the prompt: useful when input is piped, so the transcript reads naturally.
    """

    def __init__(self, engine: Engine, *, console: Console, input_stream: TextIO, echo: bool = False) -> None:
        self._engine = engine
        self._console = console
        self._input = input_stream
        self._echo = echo
        self._choices: list[Button] = []
        self._location_requested = False
        self._in_note = False
        self.stats = TranscriptStats()

    def run(self, *, start: str = "", language: Language = Language.EN) -> TranscriptStats:
        """Chat until the input ends or the person types /quit."""
        conversation = Conversation.new(language)
        conversation = self._step(conversation, parse_command(f"/start {start}".strip()) or Text("/start"))
        self._hint(conversation.language, "term_quit")
        try:
            for line in self._lines():
                if line is None:
                    self._say(catalogue(conversation.language)["term_too_long"].format(limit=MAX_LINE))
                    continue
                stripped = line.strip()
                if stripped.lower() in _QUIT:
                    break
                event = self._event(stripped, conversation.language)
                if event is None:
                    continue
                conversation = self._step(conversation, event)
        except KeyboardInterrupt:
            pass  # Ctrl+C is a way to leave, not an error
        self._console.print()
        self._hint(conversation.language, "term_bye")
        return self.stats

    # --- reading --------------------------------------------------------------------------------------------

    def _lines(self) -> Iterator[str | None]:
        """Each line read, at most :data:`MAX_LINE` characters at a time; ``None`` for a longer one (skipped)."""
        while True:
            self._console.print("> ", end="", markup=False, highlight=False)
            line = self._input.readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE and not line.endswith("\n"):
                yield None
                if not self._skip_line():
                    return
                continue
            if self._echo:
                self._console.print(line.rstrip("\n"), markup=False, highlight=False)
            yield line

    def _skip_line(self) -> bool:
        """Read to the end of an over-long line, a bounded amount at a time; False when it has no end in sight."""
        skipped = 0
        while skipped <= _MAX_SKIP:
            chunk = self._input.readline(65536)
            if not chunk or chunk.endswith("\n"):
                return bool(chunk)
            skipped += len(chunk)
        return False

    def _event(self, text: str, language: Language) -> Event | None:
        if not text:
            return None
        if text.isdigit() and self._in_note and not 1 <= int(text) <= len(self._choices):
            return Text(text)  # in the note, a number that picks nothing is an answer ("how many saw it?")
        if text.isdigit():
            number = int(text)
            if 1 <= number <= len(self._choices):
                button = self._choices[number - 1]
                if button.action:
                    return Choice(button.action)
                if button.url:
                    self._say(catalogue(language)["term_link"].format(url=button.url))
                    return None
            if self._choices and not self._location_requested:
                self._say(catalogue(language)["term_no_such"].format(number=number, last=len(self._choices)))
                return None
        if self._location_requested and (match := _LATLON.match(text)):
            return SharedLocation(float(match[1]), float(match[2]), None)
        return Text(text)

    # --- writing --------------------------------------------------------------------------------------------

    def _step(self, conversation: Conversation, event: Event) -> Conversation:
        turn = self._engine.handle(conversation, event)
        self.stats.turns += 1
        if turn.outcome is not None:
            self.stats.outcomes.append(turn.outcome.outcome)
        self._show(turn)
        return turn.conversation

    def _show(self, turn: Turn) -> None:
        language = turn.conversation.language
        self._choices = []
        self._location_requested = False
        self._in_note = turn.conversation.state in NOTE_STATES
        if turn.wipe:
            self._wipe(turn)
            return
        seen: set[tuple[str | None, str | None]] = set()
        for message in turn.messages:
            style = "red" if message.key == "danger" else "cyan"
            for rendered in render_parts(message, language, markup="plain"):
                self._console.print(Panel(RichText(rendered.text), border_style=style, expand=False))
                self._location_requested = self._location_requested or rendered.request_location_label is not None
            for row in message.buttons:
                for button in row:
                    if (button.action, button.url) not in seen:
                        seen.add((button.action, button.url))
                        self._choices.append(button)
        for number, button in enumerate(self._choices, start=1):
            line = RichText(f"  {number:>2}) ", style="bold")
            line.append(render_label(button, language))
            self._console.print(line)
        if self._location_requested:
            self._hint(language, "term_location")
        if self._choices:
            self._hint(language, "term_choose")
        if self._in_note:
            self._hint(language, "term_note_numbers")

    def _wipe(self, turn: Turn) -> None:
        """Quick exit: nothing of the chat left on screen, then only the turn's neutral line."""
        if self._console.is_terminal:
            self._console.file.write(_CLEAR)
            self._console.file.flush()
        for message in turn.messages:
            for part in render_parts(message, turn.conversation.language, markup="plain"):
                self._console.print(part.text)

    def _hint(self, language: Language, key: str) -> None:
        self._console.print(RichText(catalogue(language)[key], style="dim"))

    def _say(self, text: str) -> None:
        self._console.print(RichText(text, style="yellow"))
