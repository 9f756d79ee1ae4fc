"""`signpost chat`: the same engine in a terminal, numbered choices, typed places, piped input ending cleanly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.adapters.terminal import MAX_LINE, TerminalChat
from bot.engine import Language
from signpost import wiring
from signpost.cli import app
from tests.bot.support import make_engine


def _chat(lines: str, *, language: Language = Language.EN, start: str = "") -> tuple[str, TerminalChat]:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, emoji=False, highlight=False)
    chat = TerminalChat(make_engine(), console=console, input_stream=io.StringIO(lines), echo=True)
    chat.run(start=start, language=language)
    return out.getvalue(), chat


def test_numbers_choose_and_piped_input_ends_cleanly() -> None:
    text, chat = _chat("1\n")
    assert "1) 🆘 I'm in danger now" in text
    assert "Police emergency: 999" in text
    assert text.rstrip().endswith("Goodbye. Nothing from this chat was kept.")
    assert chat.stats.turns == 2


def test_typed_postcode_finds_local_help_and_counts_the_outcome() -> None:
    text, chat = _chat("5\nLS6 1AA\n")
    assert "Help near LS6 1AA" in text
    assert "Stop Hate UK" in text  # a local entry of the starter directory, with its caveat
    assert "Not yet confirmed" in text and "Example" not in text
    assert chat.stats.outcomes == ["matched_local"]


def test_lat_lon_is_a_shared_location_when_one_is_asked_for() -> None:
    text, chat = _chat("5\n53.4794,-2.2453\n")
    assert "type it as latitude,longitude" in text
    assert "Help near Manchester" in text
    assert "53.4794" not in text.split("> 53.4794,-2.2453", 1)[1]  # named by district, not echoed back
    assert chat.stats.outcomes == ["matched_local"]


def test_a_number_that_is_not_offered_says_which_are() -> None:
    text, _ = _chat("42\n")
    assert "There is no choice 42. Choose 1 to 8" in text


def test_quit_and_commands_work() -> None:
    text, chat = _chat("/emergency\n/quit\n3\n")
    assert "Police emergency: 999" in text
    assert "Ways to report" not in text.rsplit("> /quit", 1)[1]
    assert chat.stats.turns == 2


def test_the_guided_note_comes_back_whole() -> None:
    text, _ = _chat("6\nlast night\nthe station\nshouting\nno one\nphotos\n")
    assert "When: last night" in text and "Evidence: photos" in text


def test_leave_quickly_when_piped_prints_only_the_neutral_line_and_starts_afresh() -> None:
    text, _ = _chat("3\n6\n/start\n")
    assert "6) 🚪 Leave quickly" in text
    after = text.split("> 6", 1)[1]
    assert after.splitlines()[1:3] == ["Cleared. Type /start to begin again.", "> /start"]
    assert "\x1b[" not in text
    assert "Welcome to Signpost." in after.split("> /start", 1)[1]


def test_leave_quickly_in_a_terminal_clears_the_screen_and_its_scrollback() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    chat = TerminalChat(make_engine(), console=console, input_stream=io.StringIO("/forget\n"), echo=True)
    chat.run(language=Language.CY)
    text = out.getvalue()
    before, after = text.split("\x1b[H\x1b[2J\x1b[3J", 1)
    assert "Croeso i Signpost." in before and "Croeso" not in after
    assert "Wedi clirio." in after


def test_welsh_and_deep_links() -> None:
    text, _ = _chat("", language=Language.CY, start="strand-race")
    assert "Croeso i Signpost." in text and "Hwyl fawr." in text


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    wiring.settings.cache_clear()
    yield tmp_path
    wiring.settings.cache_clear()


def test_signpost_chat_runs_on_a_fresh_embedded_directory(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["chat"], input="5\nLS6 1AA\n")
    assert result.exit_code == 0, result.output
    assert "Not yet confirmed" in result.output and "not a real service" not in result.output
    assert "Goodbye." in result.output
    assert (data_dir / "signpost.sqlite3").exists()


def test_signpost_chat_rejects_an_unknown_language(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["chat", "--language", "fr"])
    assert result.exit_code == 2
    assert "Use en, cy or easy" in result.output


class _Interrupted(io.StringIO):
    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        raise KeyboardInterrupt


def test_ctrl_c_leaves_kindly_without_a_traceback() -> None:
    out = io.StringIO()
    chat = TerminalChat(make_engine(), console=Console(file=out, width=100), input_stream=_Interrupted())
    chat.run()
    assert out.getvalue().rstrip().endswith("Goodbye. Nothing from this chat was kept.")


def test_signpost_chat_says_when_the_database_cannot_be_opened(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/signpost")
    wiring.settings.cache_clear()
    result = CliRunner().invoke(app, ["chat"], input="")
    assert result.exit_code == 2
    assert "Cannot open the database" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("language", "line"),
    [
        (Language.EN, "In danger now? Call 999."),
        (Language.CY, "Mewn perygl nawr? Ffoniwch 999."),
        (Language.EASY, "Are you in danger now? Call 999."),
    ],
)
def test_999_is_on_screen_before_anything_is_typed(language: Language, line: str) -> None:
    text, _ = _chat("", language=language)
    assert line in text.splitlines()[1]  # the first line inside the first panel


def test_an_urgent_answer_in_the_terminal_note_shows_999_and_the_next_question() -> None:
    text, _ = _chat("6\nhe has a knife\n")
    after = text.split("> he has a knife", 1)[1]
    assert "Police emergency: 999" in after and "2 of 5: Where did it happen?" in after


def test_a_line_over_the_limit_is_refused_politely_and_the_chat_goes_on() -> None:
    text, chat = _chat("x" * (MAX_LINE * 3) + "\n1\n")
    assert f"That message is longer than {MAX_LINE} characters, so it was not read" in text
    assert "x" * 100 not in text  # neither echoed nor handed to the engine
    assert "Police emergency: 999" in text and chat.stats.turns == 2


class _Endless(io.StringIO):
    """A stream with no line end, ever (like /dev/zero): counts what was read from it."""

    read_chars = 0

    def readline(self, size: int | None = -1, /) -> str:
        assert size is not None and size > 0, "an unbounded readline on an endless stream never returns"
        self.read_chars += size
        return "\0" * size


def test_a_stream_with_no_line_end_is_not_read_whole() -> None:
    out = io.StringIO()
    stream = _Endless()
    console = Console(file=out, width=100, color_system=None, emoji=False, highlight=False)
    TerminalChat(make_engine(), console=console, input_stream=stream).run()
    assert "longer than" in out.getvalue() and out.getvalue().rstrip().endswith("Nothing from this chat was kept.")
    assert stream.read_chars < 2_000_000
