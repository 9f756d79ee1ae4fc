"""What the readers do with files that are not files, text that is not what it looks like, and CSV exports a
spreadsheet would run. The corpus of hostile *files* is in tests/services_db/bad_files/hostile.py."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from mapping.spreadsheet import csv_writer, restore_cell, safe_cell
from mapping.types import ChannelKind
from services_db.formats import read_services, write_services
from services_db.formats.common import MAX_JSON_DEPTH, load_json, read_file_bounded
from services_db.importer import default_context
from services_db.validation import ValidationContext, validate_services
from signpost.cli import app
from tests.services_db.bad_files import row
from tests.services_db.factories import make_service, phone

runner = CliRunner()


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_by_type_without_reading(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} missing")
    started = time.perf_counter()
    data, problem = read_file_bounded(Path(device))
    assert data is None and problem is not None and "not a regular file" in problem.message
    assert time.perf_counter() - started < 1  # refused by type, not after gigabytes


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "services.csv"
    os.mkfifo(fifo)
    data, problem = read_file_bounded(fifo)  # opening a FIFO without a writer would block forever
    assert data is None and problem is not None and "pipe" in problem.message


def test_a_folder_and_a_missing_file_are_named(tmp_path: Path) -> None:
    _, folder = read_file_bounded(tmp_path)
    _, missing = read_file_bounded(tmp_path / "nope.csv")
    assert folder is not None and "is a folder" in folder.message
    assert missing is not None and "no such file" in missing.message


def test_the_size_is_checked_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 5000)
    data, problem = read_file_bounded(path, limit=4096)
    assert data is None and problem is not None and "the limit is" in problem.message
    data, problem = read_file_bounded(path, limit=5000)
    assert problem is None and data == b"x" * 5000


def test_dev_zero_on_the_command_line_exits_2_at_once(cli_database: Engine) -> None:
    result = runner.invoke(app, ["services", "import", "/dev/zero", "--actor", "test"])
    assert result.exit_code == 2 and "not a regular file" in result.output


def test_json_depth_is_limited_before_parsing() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_json(ok, file="f")[1] is None
    _, problem = load_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), file="f")
    assert problem is not None and "nested" in problem.message
    # Brackets inside strings are text, not depth.
    assert load_json('{"a": "' + "[" * 1000 + '"}', file="f")[1] is None


def test_a_key_twice_is_refused_not_last_wins() -> None:
    _, problem = load_json('{"a": {"b": 1, "b": 2}}', file="f")
    assert problem is not None and "'b' appears twice" in problem.message


def test_text_is_nfc_normalised(context_for_import: ValidationContext) -> None:
    decomposed = "Cafe\u0301 centre (test data)"
    parsed = read_services(row(name=decomposed), name="s.csv")
    result = validate_services(parsed.services, file="s.csv", context=context_for_import)
    assert result.ok, [str(p) for p in result.problems]
    assert result.records[0].name == "Caf\u00e9 centre (test data)"


@pytest.fixture
def context_for_import(cli_database: Engine) -> ValidationContext:

    with Session(cli_database) as session:
        return default_context(session=session)


def test_phone_numbers_may_start_with_plus_44(context_for_import: ValidationContext) -> None:
    parsed = read_services(row(phone="+44 113 496 0000"), name="s.csv")
    result = validate_services(parsed.services, file="s.csv", context=context_for_import)
    assert result.ok, [str(p) for p in result.problems]


def test_a_chargeable_number_with_its_cost_is_accepted(context_for_import: ValidationContext) -> None:
    cell = "0844 123 4567 [calls cost 7p per minute plus your phone company's access charge]"
    parsed = read_services(row(phone=cell), name="s.csv")
    result = validate_services(parsed.services, file="s.csv", context=context_for_import)
    assert result.ok, [str(p) for p in result.problems]


@pytest.mark.parametrize(
    "value", ["=1+1", "+SUM(A1)", "-2+3", "@SUM(1)", "\t=1", "\r=1", "+44 113 496 0000", "'=already marked"]
)
def test_export_neutralises_formulas_and_import_takes_the_mark_off(value: str) -> None:
    written = safe_cell(value)
    assert written.startswith("'")
    assert restore_cell(written) == value


@pytest.mark.parametrize("value", ["-1.5492", "53.7997", "+5", "Leeds", "", "0113 496 0000", "'quoted"])
def test_plain_cells_are_left_alone(value: str) -> None:
    assert safe_cell(value) == value and restore_cell(value) == value


def test_every_csv_writer_is_safe() -> None:
    buffer = io.StringIO()
    csv_writer(buffer).writerow(["=cmd|' /C calc'!A0", -1.5, "-1.5", "ok"])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=cmd|' /C calc'!A0", "-1.5", "-1.5", "ok"]


def test_directory_export_round_trips_an_international_phone_number() -> None:
    record = make_service("test-plus", channels=(phone("+44 113 496 0000"),))
    text = write_services([record], "csv")
    assert "'+44 113 496 0000" in text  # a spreadsheet shows it as text, not as a formula
    parsed = read_services(text.encode(), name="d.csv")
    assert parsed.services[0].fields["phone"] == "+44 113 496 0000"
    assert any(c.kind is ChannelKind.PHONE for c in record.channels)


def test_a_lone_surrogate_never_crashes_the_command_line(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "s.geojson"
    path.write_bytes(
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null,'
        b' "properties": {"id": "x\\ud800", "name": "\\udfff [/free] [free, 24/7]"}}]}'
    )
    result = runner.invoke(app, ["services", "import", str(path), "--actor", "test"])
    assert result.exit_code == 2, result.output
    assert "surrogate" in result.output and "Traceback" not in result.output


def test_markup_in_a_file_is_printed_as_text(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(b'id,name,[/free],"[free, 24/7]"\r\nx,y,1,2\r\n')
    result = runner.invoke(app, ["coverage", "report", "--services", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "MarkupError" not in result.output and "Traceback" not in result.output
    assert "'[/free]'" in result.output and "'[free, 24/7]'" in result.output


def test_user_errors_exit_2_with_the_text_escaped() -> None:
    result = runner.invoke(app, ["chat", "--language", "[/bold]"])
    assert result.exit_code == 2 and "[/bold]" in result.output
    result = runner.invoke(app, ["jobs", "run-now", "[red]nope"])
    assert result.exit_code == 2 and "[red]nope" in result.output
