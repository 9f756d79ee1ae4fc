"""File formats of the services directory: CSV (the spreadsheet template), GeoJSON and Open Referral UK JSON.

Readers turn bytes into :class:`services_db.validation.RawService` entries plus file-level problems (encoding,
size, structure); :func:`services_db.validation.validate_services` does the rest. Writers turn
:class:`mapping.types.ServiceRecord` values into text. Export then import gives back the same directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

from shapely.geometry.base import BaseGeometry

from mapping.types import ServiceRecord
from services_db.formats import csv_format, geojson_format, oruk
from services_db.formats.common import decode_text
from services_db.validation import Problem, RawService

__all__ = ["FileFormat", "ParsedFile", "detect_format", "read_services", "write_services"]


class FileFormat(StrEnum):
    CSV = "csv"
    GEOJSON = "geojson"
    ORUK = "oruk"


@dataclass(frozen=True)
class ParsedFile:
    """What a reader found: entries to validate, and problems with the file as a whole (or its structure)."""

    file: str
    format: FileFormat
    services: tuple[RawService, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()


def detect_format(name: str, data: bytes) -> FileFormat:
    """Guess the format from the file name, then from the content (JSON object kinds)."""
    suffix = PurePath(name).suffix.lower()
    if suffix == ".csv":
        return FileFormat.CSV
    if suffix == ".geojson":
        return FileFormat.GEOJSON
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")) or suffix == ".json":
        # GeoJSON says what it is near the top; anything else in JSON is taken as Open Referral UK.
        if b'"FeatureCollection"' in data[:65536] or b'"Feature"' in data[:65536]:
            return FileFormat.GEOJSON
        return FileFormat.ORUK
    return FileFormat.CSV


def read_services(data: bytes, *, name: str, fmt: FileFormat | str = "auto") -> ParsedFile:
    """Read a services file of any supported format; never raises for a bad file (problems are values)."""
    file = PurePath(name).name or name
    chosen = detect_format(name, data) if fmt == "auto" else FileFormat(fmt)
    if chosen is FileFormat.CSV and data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        looks = detect_format(f"{file}.json", data)
        label = "GeoJSON" if looks is FileFormat.GEOJSON else "Open Referral UK JSON"
        return ParsedFile(
            file,
            chosen,
            (),
            (
                Problem(
                    file,
                    None,
                    None,
                    f"this looks like {label}, not CSV: use --format {looks.value}"
                    + (" or leave --format out" if fmt != "auto" else " or name the file .geojson / .json"),
                ),
            ),
        )
    text, problems = decode_text(data, file=file, fmt=chosen.value)
    if text is None:
        return ParsedFile(file, chosen, (), tuple(problems))
    if chosen is FileFormat.CSV:
        services, more, warnings = csv_format.read_csv(text, file=file)
    elif chosen is FileFormat.GEOJSON:
        services, more, warnings = geojson_format.read_geojson(text, file=file)
    else:
        services, more, warnings = oruk.read_oruk(text, file=file)
    return ParsedFile(file, chosen, tuple(services), tuple(problems + more), tuple(warnings))


def write_services(
    records: Sequence[ServiceRecord],
    fmt: FileFormat | str,
    *,
    geometries: Mapping[str, BaseGeometry] | None = None,
) -> str:
    """Write ``records`` as CSV, GeoJSON or Open Referral UK JSON text.

    ``geometries`` (service id -> resolved WGS84 geometry) adds the outline of national and area-coded
    services to GeoJSON and Open Referral UK exports when boundaries are loaded.
    """
    chosen = FileFormat(fmt)
    ordered = sorted(records, key=lambda r: r.id)
    if chosen is FileFormat.CSV:
        return csv_format.write_csv(ordered)
    if chosen is FileFormat.GEOJSON:
        return geojson_format.write_geojson(ordered, geometries=geometries or {})
    return oruk.write_oruk(ordered, geometries=geometries or {})
