"""What the formats share: reading bytes safely, and one JSON shape of a service (GeoJSON, Open Referral UK)."""

from __future__ import annotations

import json
import os
import re
import stat
from itertools import accumulate
from pathlib import Path
from typing import Any

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
    "decode_text",
    "hours_to_dict",
    "load_json",
    "read_file_bounded",
    "record_to_properties",
    "strands_text",
]


MAX_JSON_DEPTH = 32  # a MultiPolygon inside an ORUK service is about 10 deep; 100,000 is an attack
_CHUNK = 1 << 20
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _size_problem(file: str, size: float) -> Problem:
    return Problem(
        file,
        None,
        None,
        f"the file is {'over ' if size > MAX_FILE_BYTES else ''}{size / 1_048_576:.1f} MB; the limit is"
        f" {MAX_FILE_BYTES // 1_048_576} MB: split it (e.g. one file per commissioner)",
    )


def read_file_bounded(path: Path, *, limit: int = MAX_FILE_BYTES) -> tuple[bytes | None, Problem | None]:
    """The bytes of a regular file, read at most ``limit`` + 1 bytes at a time, or a problem saying why not.

    Devices (``/dev/zero``, ``/dev/urandom``), FIFOs, sockets and folders are refused by type before reading, and
    the size is counted while reading, so neither an endless stream nor a growing file is read past the limit.
    """
    label = path.name or str(path)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            return None, Problem(label, None, None, f"{path} is a folder: give the services file inside it")
        if not stat.S_ISREG(mode):
            return None, Problem(
                label, None, None, f"{path} is not a regular file (a device, pipe or socket): save the services file"
            )
        # O_NONBLOCK: a path swapped for a FIFO after the check above must not hang the import.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None, Problem(label, None, None, f"{path} is not a regular file: save the services file")
            chunks: list[bytes] = []
            size = 0
            while chunk := handle.read(min(_CHUNK, limit + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return None, _size_problem(label, size)
            return b"".join(chunks), None
    except FileNotFoundError:
        return None, Problem(label, None, None, f"no such file: {path}")
    except PermissionError:
        return None, Problem(label, None, None, f"cannot read {path}: permission denied")
    except OSError as exc:
        return None, Problem(label, None, None, f"cannot read {path}: {exc.strerror or exc}")


class JsonProblem(ValueError):
    """A JSON document Signpost will not read (too deep, a key twice, not a number)."""


def _json_depth(text: str) -> int:
    # Only brackets outside strings count; walking them is fast enough for the 20 MB limit.
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(1 if c in "[{" else -1 for c in brackets))


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


def load_json(text: str, *, file: str) -> tuple[Any, Problem | None]:
    """Parse JSON text, refusing nesting deeper than :data:`MAX_JSON_DEPTH`, keys repeated inside one object,
    ``NaN``/``Infinity`` and numbers too long to be real; the problem names the line and column when it can."""
    depth = _json_depth(text)
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
        return None, Problem(file, None, None, str(exc))
    except (ValueError, RecursionError) as exc:  # e.g. an integer of thousands of digits
        return None, Problem(file, None, None, f"cannot read the JSON: {str(exc)[:160]}")


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
