"""The CSV template: one row per service, one column per field (see ``validation.COLUMN_NOTES``).

Lists are ';'-separated; a channel's note goes in square brackets after its value
(``0800 123 4567 [free, 24/7]``). Line numbers in problems are the ones a spreadsheet shows (header = 1).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path

from mapping.spreadsheet import csv_writer, restore_cell, safe_cell
from mapping.types import (
    AreaCoverage,
    ChannelKind,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceRecord,
)
from services_db.formats.common import strands_text
from services_db.validation import (
    CHANNEL_COLUMNS,
    COLUMN_NOTES,
    COLUMNS,
    MAX_ROWS,
    REQUIRED_COLUMNS,
    Problem,
    RawService,
    format_channel_cell,
    suggest,
)

__all__ = ["TEMPLATE", "TEMPLATE_NOTES", "read_csv", "record_to_row", "template_notes", "write_csv"]


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def read_csv(text: str, *, file: str) -> tuple[list[RawService], list[Problem], list[Problem]]:
    """Rows of a CSV file as raw entries, plus problems with the header and the file's shape."""
    problems: list[Problem] = []
    first_line = text.split("\n", 1)[0]
    if "," not in first_line and (";" in first_line or "\t" in first_line):
        separator = "semicolons" if ";" in first_line else "tabs"
        return (
            [],
            [
                Problem(
                    file,
                    1,
                    None,
                    f"the columns are separated by {separator}, not commas: in Excel use Save As >"
                    " 'CSV UTF-8 (Comma delimited)'",
                )
            ],
            [],
        )
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], [Problem(file, None, None, "the file is empty: fill in at least one service (see the template)")], []
    known = _header_columns(header, file, problems)
    if problems:
        return [], problems, []
    services: list[RawService] = []
    line = 1
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(services) >= MAX_ROWS:
                problems.append(
                    Problem(
                        file, start, None, f"more than {MAX_ROWS:,} rows: the limit is {MAX_ROWS:,}; split the file"
                    )
                )
                break
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                problems.append(
                    Problem(
                        file,
                        start,
                        None,
                        f"has {len(cells)} cells but the header has {len(header)} columns: a value probably contains"
                        " an unquoted comma; put it in double quotes or remove the extra cells",
                    )
                )
                continue
            if len(cells) < len(header) and max(known.values()) >= len(cells):
                missing = [name for name, index in known.items() if index >= len(cells)]
                problems.append(
                    Problem(
                        file,
                        start,
                        None,
                        f"has {len(cells)} cells but the header has {len(header)} columns: the cells for"
                        f" {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''} are missing. Add the"
                        " missing commas (an empty cell is two commas side by side) or save the file again from"
                        " the spreadsheet",
                    )
                )
                continue
            fields = {key: restore_cell(cells[index]) for key, index in known.items()}
            services.append(RawService(row=start, fields=fields))
    except csv.Error as exc:
        problems.append(_csv_error(text, line + 1, header, file, exc))
    if not services and not problems:
        problems.append(
            Problem(file, None, None, "the file has a header but no services: add one row per service under it")
        )
    return services, problems, []


def _csv_error(text: str, line: int, header: list[str], file: str, exc: csv.Error) -> Problem:
    """A line the csv module cannot read; a cell over its size limit is named, with the limit in words."""
    if "field larger than field limit" not in str(exc):
        return Problem(file, line, None, f"cannot read this line as CSV ({exc}): check its quotes")
    limit = csv.field_size_limit()
    index = _oversized_cell(text, line, limit)
    column = header[index].strip() if index is not None and index < len(header) else None
    return Problem(
        file,
        line,
        column,
        f"a cell{f' (column {index + 1})' if index is not None else ''} is longer than {limit:,} characters, the"
        " most one cell can hold (a description may have 2,000; a polygon that big needs simplifying): shorten it,"
        " or if the cell is short, check its quotes (a quote left open runs on into the rows below)",
    )


def _oversized_cell(text: str, line: int, limit: int) -> int | None:
    """The number (from 0) of the first cell over ``limit`` characters in the record starting on ``line``."""
    offset = 0
    for _ in range(line - 1):
        offset = text.find("\n", offset) + 1
        if offset == 0:
            return None
    cell, size, quoted, at = 0, 0, False, offset
    while at < len(text):
        char = text[at]
        if char == '"':
            if quoted and text.startswith('"', at + 1):
                at += 1
                size += 1
            else:
                quoted = not quoted
        elif char == "," and not quoted:
            cell, size = cell + 1, 0
        elif char in "\r\n" and not quoted:
            return None
        else:
            size += 1
        if size > limit:
            return cell
        at += 1
    return None


def _header_columns(header: list[str], file: str, problems: list[Problem]) -> dict[str, int]:
    """Where each template column is; an unknown, repeated or missing required column is added to ``problems``."""
    known: dict[str, int] = {}
    for index, raw_name in enumerate(header):
        key = _header_key(raw_name)
        if not key:
            continue
        if key not in COLUMNS:
            problems.append(
                Problem(
                    file,
                    1,
                    raw_name,
                    f"unknown column {raw_name!r}.{suggest(key, COLUMNS)} Use the template's column names"
                    " (`signpost services template`)",
                )
            )
        elif key in known:
            problems.append(Problem(file, 1, raw_name, f"column {raw_name!r} appears twice: keep one"))
        else:
            known[key] = index
    for column in REQUIRED_COLUMNS:
        if column not in known:
            problems.append(Problem(file, 1, column, f"required column {column!r} is missing: add it to the header"))
    return known


def _number(value: float | None) -> str:
    return repr(float(value)) if value is not None else ""  # repr: the shortest text that reads back exactly


def record_to_row(record: ServiceRecord) -> dict[str, str]:
    """One service as the template's cells (text)."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        id=record.id,
        name=record.name,
        organisation=record.organisation,
        kind=record.kind.value,
        description=record.description,
        strands=strands_text(record),
        local_strands="; ".join(record.local_strands),
        commissioner_code=record.commissioner_code or "",
        languages="; ".join(record.languages),
        hours=record.hours.to_text(),
        bank_holidays=record.hours.bank_holidays,
        hours_note=record.hours.note,
        eligibility=record.eligibility,
        communities="; ".join(record.communities),
        min_age=str(record.min_age) if record.min_age is not None else "",
        max_age=str(record.max_age) if record.max_age is not None else "",
        residents_only="yes" if record.residents_only else "",
        coverage_type=record.coverage.type.value,
        status=record.status.value,
        source_url=record.source_url,
        verified_on=record.verified_on.isoformat() if record.verified_on else "",
        caveat=record.caveat,
        confirmation=record.confirmation.value,
        page_date=record.page_date.isoformat() if record.page_date else "",
        version=str(record.version),
    )
    for language, fields in record.translations.items():
        for name, value in fields.items():
            if name == "notes":
                row[f"notes_{language}"] = format_channel_cell(value.items())
            else:
                row[f"{name}_{language}"] = value
    for column, kind in CHANNEL_COLUMNS.items():
        row[column] = format_channel_cell((c.value, c.note) for c in record.channels if c.kind is kind)
    in_person = [c for c in record.channels if c.kind is ChannelKind.IN_PERSON]
    row["in_person_address"] = format_channel_cell((c.value, c.note) for c in in_person)
    if in_person and all(c.lat is not None and c.lon is not None for c in in_person):
        row["in_person_lat"] = "; ".join(_number(c.lat) for c in in_person)
        row["in_person_lon"] = "; ".join(_number(c.lon) for c in in_person)
    coverage = record.coverage
    if isinstance(coverage, NationalCoverage):
        row["nation"] = coverage.nation.value
    elif isinstance(coverage, AreaCoverage):
        row["area_codes"] = "; ".join(coverage.area_codes)
    elif isinstance(coverage, RadiusCoverage):
        row["centre_lat"], row["centre_lon"] = _number(coverage.lat), _number(coverage.lon)
        row["radius_m"] = _number(coverage.radius_m)
    else:
        assert isinstance(coverage, PolygonCoverage)
        row["geometry"] = json.dumps(dict(coverage.geojson), separators=(",", ":"))
    return row


def write_csv(records: Iterable[ServiceRecord]) -> str:
    """The template's header and one row per service."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerow({column: safe_cell(value) for column, value in record_to_row(record).items()})
    return out.getvalue()


TEMPLATE = Path(__file__).resolve().parent.parent / "data" / "services_template.csv"
TEMPLATE_NOTES = TEMPLATE.with_name("services_template_notes.csv")


def template_notes() -> str:
    """The notes sheet: for each template column, whether it is required, what to write and the example."""
    example = next(csv.DictReader(io.StringIO(TEMPLATE.read_text(encoding="utf-8-sig"), newline="")))
    out = io.StringIO(newline="")
    writer = csv_writer(out, lineterminator="\r\n")
    writer.writerow(["column", "required", "what to write", "example"])
    for column in COLUMNS:
        required, note = COLUMN_NOTES[column]
        writer.writerow([column, "yes" if required else "no", note, example.get(column, "")])
    return out.getvalue()
