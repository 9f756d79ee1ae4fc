"""`signpost locate FILE` on a fresh embedded data directory: the CSV, the summary, and no half-written output."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapping.locate import Locator
from signpost.cli import app

runner = CliRunner()


def test_mixed_lines_are_counted_honestly(data_dir: Path, tmp_path: Path) -> None:
    places = tmp_path / "places.txt"
    places.write_text("LS6 1AA\nZZ99 9ZZ\n\nNewport\n53.8,-1.55\n", encoding="utf-8")
    out = tmp_path / "located.csv"
    result = runner.invoke(app, ["locate", str(places), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 lines: 2 located" in result.output and "2 not (see the error column)" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["lad_code"] for r in rows] == ["E08000035", "", "", "E08000035"]
    assert rows[1]["error"].startswith("unknown_postcode") and rows[2]["error"].startswith("ambiguous")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_stdin_to_stdout(data_dir: Path) -> None:
    result = runner.invoke(app, ["locate", "-"], input="sw1a1aa\n")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["pfa_code"] == "E23000001"
    assert "1 line: 1 located" in result.stderr


def test_a_failure_part_way_leaves_no_output(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "located.csv"
    out.write_text("an earlier run\n", encoding="utf-8")
    places = tmp_path / "places.txt"
    places.write_text("LS6 1AA\nLS6 2AA\n", encoding="utf-8")
    real = Locator.locate
    seen: list[str] = []

    def fail_on_second(self: Locator, text: str) -> object:
        seen.append(text)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(self, text)

    monkeypatch.setattr(Locator, "locate", fail_on_second)
    result = runner.invoke(app, ["locate", str(places), "--out", str(out)])
    assert result.exit_code != 0
    assert out.read_text(encoding="utf-8") == "an earlier run\n"  # untouched, not half-overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "located.csv", "places.txt"]


def test_unwritable_out_exits_2(data_dir: Path, tmp_path: Path) -> None:
    places = tmp_path / "places.txt"
    places.write_text("LS6 1AA\n", encoding="utf-8")
    result = runner.invoke(app, ["locate", str(places), "--out", str(tmp_path / "missing" / "x.csv")])
    assert result.exit_code == 2
    assert "choose another --out path" in result.output


def test_comments_are_skipped_and_formulas_are_never_run(data_dir: Path, tmp_path: Path) -> None:
    places = tmp_path / "places.txt"
    places.write_text('# offices to check\n=HYPERLINK("x")\nLS6 1AA\n', encoding="utf-8")
    out = tmp_path / "located.csv"
    result = runner.invoke(app, ["locate", str(places), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["query"] for r in rows] == ['\'=HYPERLINK("x")', "LS6 1AA"]


def test_a_device_a_folder_and_an_endless_stdin_are_refused_in_locates_own_words(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from signpost.cli import places

    for path, words in (("/dev/zero", "is a device"), (str(tmp_path), "is a folder")):
        result = runner.invoke(app, ["locate", path])
        assert result.exit_code == 2 and words in result.output and "list of postcodes" in result.output
        assert "services" not in result.output and "commissioner" not in result.output
    monkeypatch.setattr(places, "LINES_FILE_BYTES", 100)
    result = runner.invoke(app, ["locate", "-"], input="LS1 1AA\n" * 50)
    assert result.exit_code == 2 and "standard input: over 100 bytes" in result.output
