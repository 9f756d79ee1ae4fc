"""The direction of imports in architecture.md: mapping is pure, bot's engine never sees Telegram."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _files("mapping"), ids=lambda p: str(p.relative_to(ROOT)))
def test_mapping_stays_pure(path: Path) -> None:
    forbidden = {"telegram", "sqlmodel", "sqlalchemy", "apscheduler", "services_db", "bot", "jobs", "signpost"}
    assert not (_imports(path) & forbidden), f"{path} imports {_imports(path) & forbidden}"


@pytest.mark.parametrize("path", _files("services_db"), ids=lambda p: str(p.relative_to(ROOT)))
def test_services_db_points_inward(path: Path) -> None:
    forbidden = {"telegram", "bot", "jobs", "signpost", "apscheduler"}
    assert not (_imports(path) & forbidden), f"{path} imports {_imports(path) & forbidden}"


def _engine_files() -> list[Path]:
    engine = ROOT / "bot" / "engine"
    return sorted(engine.rglob("*.py")) if engine.is_dir() else [p for p in [ROOT / "bot" / "engine.py"] if p.exists()]


def test_bot_engine_never_imports_telegram() -> None:
    files = _engine_files()
    assert files, "bot/engine is missing"
    for path in files:
        bad = _imports(path) & {"telegram", "sqlmodel", "sqlalchemy", "services_db", "signpost", "apscheduler"}
        assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("path", _files("web"), ids=lambda p: str(p.relative_to(ROOT)))
def test_web_is_a_thin_adapter_over_services_db(path: Path) -> None:
    """The console uses services_db and mapping only: never the bot's or the jobs' internals, nor the CLI."""
    forbidden = {"telegram", "bot", "jobs", "signpost", "apscheduler"}
    assert not (_imports(path) & forbidden), f"{path} imports {_imports(path) & forbidden}"


@pytest.mark.parametrize("package", ["mapping", "services_db", "bot", "jobs"])
def test_inner_packages_never_import_the_web_console(package: str) -> None:
    for path in _files(package):
        assert "web" not in _imports(path), f"{path} imports web"


# bot, jobs and web are siblings: what two of them share lives in services_db or mapping, once.
SIBLINGS = {"bot": {"jobs", "web"}, "jobs": {"bot", "web"}, "web": {"bot", "jobs"}}


@pytest.mark.parametrize(
    "path",
    [p for package in SIBLINGS if (ROOT / package).is_dir() for p in _files(package)],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_bot_jobs_and_web_do_not_reach_into_each_other(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    bad = _imports(path) & SIBLINGS[package]
    assert not bad, f"{path} imports {bad}: move what they share into services_db or mapping"


@pytest.mark.parametrize("package", ["mapping", "services_db", "bot", "jobs", "web", "signpost"])
def test_every_csv_is_written_through_the_formula_safe_writer(package: str) -> None:
    """A spreadsheet runs a cell starting with = + - @: mapping.spreadsheet.csv_writer shows it as text."""
    for path in _files(package):
        if path.name != "spreadsheet.py":
            assert "csv.writer(" not in path.read_text(encoding="utf-8"), f"{path}: use mapping.spreadsheet.csv_writer"


MAX_FUNCTION_LINES = 80  # style.md 12: a function reads in one screen
# Alembic revisions are history: written once, never edited or split.
REVISIONS = ROOT / "services_db" / "migrations" / "versions"


def _long_functions(source: str, name: str, limit: int) -> list[str]:
    """Functions in ``source`` with more than ``limit`` lines, not counting their docstring."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            lines = node.end_lineno - node.lineno + 1
            if ast.get_docstring(node, clean=False) is not None:
                doc = node.body[0]
                lines -= (doc.end_lineno or doc.lineno) - doc.lineno + 1
            if lines > limit:
                found.append(f"{name}:{node.lineno} {node.name}() has {lines} lines")
    return found


@pytest.mark.parametrize("package", ["mapping", "services_db", "bot", "jobs", "web", "signpost", "bench"])
def test_every_function_reads_in_one_screen(package: str) -> None:
    """Past 80 lines of code (its docstring not counted) a function is split into the domain's own steps."""
    too_long = [
        line
        for path in _files(package)
        if REVISIONS not in path.parents
        for line in _long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), MAX_FUNCTION_LINES)
    ]
    assert not too_long, "split these into well-named steps:\n" + "\n".join(too_long)


def test_the_function_length_check_counts_code_not_docstrings() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(5))
    source = f'def short():\n    """Doc.\n\n    More.\n    """\n{body}\n\ndef long():\n{body}{body}'
    found = _long_functions(source, "example.py", 6)
    assert len(found) == 1 and "long()" in found[0] and "11 lines" in found[0]
