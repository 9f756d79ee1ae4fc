"""What the formats share: reading bytes safely, and one JSON shape of a service (GeoJSON, Open Referral UK)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mapping.input_files import MAX_JSON_DEPTH, InputFileError, Refusal, json_depth, read_input_file
from mapping.types import (
    AreaCoverage,
    Channel,
    NationalCoverage,
    OpeningHours,
    PolygonCoverage,
    RadiusCoverage,
    ServiceRecord,
    Strand,
    normalise_translations,
)
from services_db.validation import MAX_FILE_BYTES, Problem

__all__ = [
    "MAX_JSON_DEPTH",
    "JsonProblem",
    "as_records",
    "decode_text",
    "hours_to_dict",
    "load_json",
    "read_file_bounded",
    "record_to_properties",
    "strands_text",
]


_LONG_NUMBER = re.compile(r'"([^"\\]{1,80})"\s*:\s*-?(\d{1000,})')


def _size_problem(file: str, size: float) -> Problem:
    return Problem(
        file,
        None,
        None,
        f"the file is {'over ' if size > MAX_FILE_BYTES else ''}{size / 1_048_576:.1f} MB; the limit is"
        f" {MAX_FILE_BYTES // 1_048_576} MB: split it (e.g. one file per commissioner)",
    )


# The services import's own words for each refusal of mapping's reader ("too_big" is _size_problem's).
_REFUSED: dict[Refusal, str] = {
    "folder": "{path} is a folder: give the services file inside it",
    "not_regular": "{path} is not a regular file (a device, pipe or socket): save the services file",
    "replaced": "{path} is not a regular file: save the services file",
    "missing": "no such file: {path}",
    "permission": "cannot read {path}: permission denied",
    "unreadable": "cannot read {path}: {detail}",
}


def read_file_bounded(path: Path, *, limit: int = MAX_FILE_BYTES) -> tuple[bytes | None, Problem | None]:
    """The bytes of a regular file, read at most ``limit`` bytes, or a problem saying why not.

    Reads through :func:`mapping.input_files.read_input_file`: devices (``/dev/zero``), FIFOs, sockets and folders
    are refused by type before reading, and the size is counted while reading.
    """
    try:
        return read_input_file(path, limit=limit, what="the services file"), None
    except InputFileError as exc:
        label = path.name or str(path)
        if exc.reason == "too_big":
            return None, _size_problem(label, exc.size)
        wording = _REFUSED.get(exc.reason)
        message = wording.format(path=path, detail=exc.detail) if wording else str(exc)
        return None, Problem(label, None, None, message)


class JsonProblem(ValueError):
    """A JSON document Signpost will not read (too deep, a key twice, not a number)."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonProblem(
                f"the key {key!r} appears twice in one object: keep one (Signpost does not guess which one you meant)"
            )
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise JsonProblem(f"{name} is not a JSON number: write a number or null")


def _contains(value: Any, target: dict[str, Any]) -> bool:
    if value is target:
        return True
    if isinstance(value, dict):
        return any(_contains(v, target) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, target) for v in value)
    return False


def _duplicate_key_problem(text: str, file: str, records: Callable[[Any], Any] | None) -> Problem:
    """Where a key given twice is: the record (numbered from 1) whose object holds it, read a second time."""
    found: list[tuple[str, dict[str, Any]]] = []

    def remember(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out and not found:
                found.append((key, out))
            out[key] = value
        return out

    document = json.loads(text, object_pairs_hook=remember, parse_constant=_no_constant)
    key, holder = found[0]
    message = f"the key {key!r} appears twice in one object: keep one (Signpost does not guess which one you meant)"
    items = records(document) if records is not None else None
    if isinstance(items, list):
        for number, item in enumerate(items, start=1):
            if _contains(item, holder):
                return Problem(file, number, None, message, "record", _item_id(item))
    return Problem(file, None, None, message.replace("one object", "the file's top-level object", 1))


def _long_number_problem(text: str, file: str) -> Problem:
    """A number too long to read: the field that holds it and its line."""
    match = _LONG_NUMBER.search(text)
    if match is None:
        return Problem(file, None, None, "a number in the JSON is thousands of digits long: write a real value")
    line = text.count("\n", 0, match.start()) + 1
    return Problem(
        file,
        None,
        match.group(1),
        f"holds a number {len(match.group(2)):,} digits long (line {line}): write the real value (a version is"
        " 1 to 1,000,000,000, an age 0 to 120, a radius 50 to 100,000 metres, coordinates are degrees)",
    )


def _item_id(item: Any) -> str | None:
    found = item.get("id") if isinstance(item, dict) else None
    if found is None and isinstance(item, dict) and isinstance(item.get("properties"), dict):
        found = item["properties"].get("id")  # a GeoJSON feature's service id
    return found[:80] if isinstance(found, str) and found.strip() else None


def load_json(text: str, *, file: str, records: Callable[[Any], Any] | None = None) -> tuple[Any, Problem | None]:
    """Parse JSON text, refusing nesting deeper than :data:`MAX_JSON_DEPTH`, keys repeated inside one object,
    ``NaN``/``Infinity`` and numbers too long to be real; the problem names the line and column when it can.

    ``records`` picks the list of records out of the document, so that a key given twice is placed in its
    record (numbered from 1)."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        return None, Problem(
            file,
            None,
            None,
            f"the JSON is nested {depth:,} levels deep; the limit is {MAX_JSON_DEPTH}: is it the right file?",
        )
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant), None
    except json.JSONDecodeError as exc:
        return None, Problem(file, None, None, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    except JsonProblem as exc:
        if "appears twice" in str(exc):
            try:
                return None, _duplicate_key_problem(text, file, records)
            except (ValueError, RecursionError):
                pass
        return None, Problem(file, None, None, str(exc))
    except ValueError as exc:
        if "digits" in str(exc):  # Python refuses to convert integers of more than 4,300 digits
            return None, _long_number_problem(text, file)
        return None, Problem(file, None, None, f"cannot read the JSON: {str(exc)[:160]}")
    except RecursionError as exc:
        return None, Problem(file, None, None, f"cannot read the JSON: {str(exc)[:160]}")


def as_records(problems: list[Problem], items: list[Any]) -> list[Problem]:
    """Problems located by number (from 1) in a JSON list, said as "record N" with the item's id when it has one."""
    out: list[Problem] = []
    for problem in problems:
        if problem.row is None:
            out.append(problem)
            continue
        item = items[problem.row - 1] if 0 < problem.row <= len(items) else None
        out.append(replace(problem, unit="record", record_id=_item_id(item)))
    return out


def decode_text(data: bytes, *, file: str, fmt: str) -> tuple[str | None, list[Problem]]:
    """UTF-8 text of ``data`` (a BOM is fine), or ``None`` and a problem saying how to save the file."""
    save_as = (
        "in Excel use File > Save As > 'CSV UTF-8 (Comma delimited) (*.csv)'"
        if fmt == "csv"
        else "save it as UTF-8 (RFC 8259 requires it for JSON)"
    )
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return None, [Problem(file, None, None, "the file is empty: fill in at least one service (see the template)")]
    if len(data) > MAX_FILE_BYTES:
        return None, [_size_problem(file, len(data))]
    if data.startswith(b"PK\x03\x04"):
        return None, [
            Problem(file, None, None, f"this is an Excel workbook or other zip file, not {fmt.upper()}: {save_as}")
        ]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [Problem(file, None, None, f"the file is saved as UTF-16 ('Unicode Text'): {save_as}")]
    if b"\x00" in data[:65536]:
        return None, [Problem(file, None, None, f"this is a binary file, not {fmt.upper()} text: {save_as}")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        sample = data[exc.start : exc.start + 1].decode("cp1252", errors="replace")
        return None, [
            Problem(
                file,
                line,
                None,
                f"the file is not UTF-8 (byte {data[exc.start]:#x} = {sample!r} in Windows-1252/Latin-1 on line"
                f" {line}): {save_as}",
            )
        ]


def strands_text(record: ServiceRecord) -> str:
    """``'all'`` or the strands in the standard order, ';'-separated."""
    if not record.strands:
        return "all"
    return "; ".join(s.value for s in Strand if s in record.strands)


def hours_to_dict(hours: OpeningHours) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if hours.always_open:
        out["always_open"] = True
    if hours.intervals:
        out["intervals"] = [p.strip() for p in hours.to_text().split(";")]
    if hours.bank_holidays:
        out["bank_holidays"] = hours.bank_holidays
    if hours.note:
        out["note"] = hours.note
    return out


def _channel(channel: Channel) -> dict[str, Any]:
    out = channel.to_dict()
    if "lat" in out:
        out["lat"], out["lon"] = float(out["lat"]), float(out["lon"])
    return out


def record_to_properties(record: ServiceRecord) -> dict[str, Any]:
    """One service as JSON-native properties named like the CSV columns (GeoJSON, Open Referral UK extension)."""
    props: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "organisation": record.organisation,
        "kind": record.kind.value,
        "description": record.description,
        "strands": [s.value for s in Strand if s in record.strands],
        "local_strands": list(record.local_strands),
        "commissioner_code": record.commissioner_code,
        "channels": [_channel(c) for c in record.channels],
        "languages": list(record.languages),
        "hours": hours_to_dict(record.hours),
        "eligibility": record.eligibility,
        "communities": list(record.communities),
        "min_age": record.min_age,
        "max_age": record.max_age,
        "residents_only": record.residents_only,
        "coverage_type": record.coverage.type.value,
    }
    coverage = record.coverage
    if isinstance(coverage, NationalCoverage):
        props["nation"] = coverage.nation.value
    elif isinstance(coverage, AreaCoverage):
        props["area_codes"] = list(coverage.area_codes)
    elif isinstance(coverage, RadiusCoverage):
        props["radius_m"] = float(coverage.radius_m)
    else:
        assert isinstance(coverage, PolygonCoverage)
    props.update(
        status=record.status.value,
        source_url=record.source_url,
        verified_on=record.verified_on.isoformat() if record.verified_on else None,
        caveat=record.caveat,
        translations=normalise_translations(record.translations),
        confirmation=record.confirmation.value,
        page_date=record.page_date.isoformat() if record.page_date else None,
        version=record.version,
    )
    return props
