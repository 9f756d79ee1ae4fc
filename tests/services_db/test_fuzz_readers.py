"""Property-based fuzzing of the three readers: whatever the bytes, JSON or CSV shape, a reader and the
validation return problems (each naming the file, and the row when there is one); they never raise, and an
import with problems writes nothing, on SQLite and on PostgreSQL.

Examples are bounded so the suite stays quick; hypothesis keeps the failing ones it finds in its database.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from mapping.areas import AreaRegistry
from services_db.formats import FileFormat, read_services
from services_db.importer import apply_import, plan_import
from services_db.models import AuditEntry, Service
from services_db.validation import COLUMNS, ValidationContext, validate_services
from tests.services_db.bad_files import GOOD_ROW

FORMATS = [FileFormat.CSV, FileFormat.GEOJSON, FileFormat.ORUK]
NAMES = {FileFormat.CSV: "fuzz.csv", FileFormat.GEOJSON: "fuzz.geojson", FileFormat.ORUK: "fuzz.json"}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _context() -> ValidationContext:
    registry = AreaRegistry.default()
    return ValidationContext(
        is_known_area=registry.is_known,
        commissioner_codes=frozenset({c.code for c in registry.commissioners()} | {"national"}),
        local_strand_keys=frozenset({"alternative_subculture"}),
        place_check=lambda lat, lon: None if 49.8 <= lat <= 55.9 and -6.5 <= lon <= 1.9 else "outside",
        today=date(2026, 1, 1),
    )


CONTEXT = _context()

# Text that hurts: surrogates, controls, bidi, formulas, markup, very long runs, brackets that look like markup.
_HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None, categories=("Cs", "Cc", "Cf", "Zl", "Zp")), max_size=8),
    st.sampled_from(["=1+1", "+44 113 496 0000", "-1.5", "@x", "\t=1", "[/free]", "[x](https://e.example)", "<b>"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "[", "{", "\u202e"]), st.integers(0, 3000)),
)
_JSON_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _HOSTILE_TEXT
)
_JSON = st.recursive(
    _JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
_PROPERTIES = st.dictionaries(st.sampled_from([*COLUMNS, "channels", "x"]), _JSON, max_size=8).map(
    lambda changes: {**GOOD_ROW, **changes}
)


def _check(file: str, problems: tuple[Any, ...] | list[Any]) -> None:
    for problem in problems:
        assert problem.file == file, problem
        assert problem.message and "Traceback" not in problem.message
        str(problem).encode("utf-8", "backslashreplace")  # printable whatever it quotes


def _read_and_validate(data: bytes, fmt: FileFormat) -> None:
    name = NAMES[fmt]
    parsed = read_services(data, name=name, fmt=fmt)
    _check(name, parsed.problems)
    if not parsed.problems:
        result = validate_services(parsed.services, file=name, context=CONTEXT)
        _check(name, result.problems)
        _check(name, result.warnings)
        for record in result.records:  # what passes is clean text
            for text in (record.name, record.description, record.organisation, record.caveat):
                text.encode("utf-8")  # raises on a lone surrogate: none survives validation


@FAST
@given(st.binary(max_size=2000), st.sampled_from(FORMATS))
def test_arbitrary_bytes_never_raise(data: bytes, fmt: FileFormat) -> None:
    _read_and_validate(data, fmt)


@FAST
@given(_JSON, st.sampled_from([FileFormat.GEOJSON, FileFormat.ORUK]))
def test_arbitrary_json_documents_never_raise(document: Any, fmt: FileFormat) -> None:
    _read_and_validate(json.dumps(document).encode("utf-8", "surrogatepass"), fmt)


@FAST
@given(st.lists(_PROPERTIES, min_size=1, max_size=3), st.sampled_from([FileFormat.GEOJSON, FileFormat.ORUK]))
def test_arbitrary_service_properties_never_raise(rows: list[dict[str, Any]], fmt: FileFormat) -> None:
    if fmt is FileFormat.GEOJSON:
        document: Any = {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": None, "properties": row} for row in rows],
        }
    else:
        document = {"content": [{"id": row.get("id"), "x_signpost": row} for row in rows]}
    _read_and_validate(json.dumps(document).encode("utf-8", "surrogatepass"), fmt)


_CELL = st.one_of(_HOSTILE_TEXT.filter(lambda t: "\x00" not in t), st.sampled_from(list(GOOD_ROW.values())))


@FAST
@given(
    st.lists(st.sampled_from([*COLUMNS, "", "Unknown", "id"]), min_size=1, max_size=12),
    st.lists(st.lists(_CELL, max_size=14), max_size=4),
)
def test_arbitrary_csv_shapes_never_raise(header: list[str], rows: list[list[str]]) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    _read_and_validate(out.getvalue().encode("utf-8", "surrogatepass"), FileFormat.CSV)


def _counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(Service)).one(),
            session.exec(select(func.count()).select_from(AuditEntry)).one(),
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600) | _JSON.map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass")))
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_broken_file_writes_nothing(engine: Engine, fmt: FileFormat, data: bytes) -> None:
    before = _counts(engine)
    with Session(engine) as session:
        plan = plan_import(session=session, data=data, name=NAMES[fmt], fmt=fmt, context=CONTEXT)
        report = apply_import(session=session, plan=plan, actor="fuzz")
    _check(NAMES[fmt], plan.problems)
    if not plan.ok:
        assert not report.applied and _counts(engine) == before
