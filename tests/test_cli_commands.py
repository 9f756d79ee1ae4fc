"""The root command imports a command's module only to run it: `signpost --help` lists every command from
the registry, whose one-line help must be each command's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from signpost.cli import COMMANDS, load_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    command = load_command(name)
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert own == COMMANDS[name][2], f"update COMMANDS[{name!r}] in signpost/cli/__init__.py"


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from signpost.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.startswith(('signpost.cli.', 'sqlalchemy', 'sqlmodel', 'services_db'))]\n"
        "print(heavy, file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "services" in done.stdout and "chat" in done.stdout
    assert done.stderr.strip() == "[]", done.stderr


def test_the_cli_knows_every_file_format() -> None:
    from services_db.formats import FileFormat
    from signpost.cli.services_io import FILE_FORMATS

    assert tuple(f.value for f in FileFormat) == FILE_FORMATS


def test_reading_the_directory_loads_no_geometry(tmp_path: Path) -> None:
    """`services list` and `show` read rows: shapely, numpy, pyproj and scipy load only for commands that resolve
    coverage (seeding a brand-new directory does, in the first process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIGNPOST_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "signpost", "services", "list"], capture_output=True, check=True, env=env)
    code = (
        "import sys\n"
        "from signpost.cli import app\n"
        "for argv in (['services', 'list'], ['services', 'show', 'british-transport-police']):\n"
        "    try:\n        app(argv)\n    except SystemExit as done:\n        assert not done.code, done.code\n"
        "geometry = sorted({m.split('.')[0] for m in sys.modules} & {'shapely', 'numpy', 'pyproj', 'scipy'})\n"
        "print(geometry, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "British Transport Police" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def test_show_on_a_current_directory_loads_no_orm(tmp_path: Path) -> None:
    """A brand-new data directory is migrated and seeded (with the ORM) by the first `show`; later ones find it
    current and read through SQLAlchemy Core alone, printing the same."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIGNPOST_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("DATABASE_URL", None)
    code = (
        "import sys\n"
        "from signpost.cli import app\n"
        "try:\n    app(['services', 'show', 'galop'])\n"
        "except SystemExit as done:\n    assert not done.code, done.code\n"
        "print(sorted(m for m in ('sqlmodel', 'services_db.models', 'services_db.repository') if m in sys.modules),"
        " file=sys.stderr)"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)]
    runs.append(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env))
    assert runs[0].stderr.strip().splitlines()[-1] != "[]"  # the first run seeded
    assert runs[1].stderr.strip().splitlines()[-1] == "[]", runs[1].stderr
    assert "Galop" in runs[1].stdout and runs[1].stdout == runs[0].stdout


# Not pydantic: typer builds its commands with it.
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "pydantic_settings",
    "shapely",
    "pyproj",
    "numpy",
    "scipy",
    "telegram",
    "fastapi",
    "uvicorn",
    "apscheduler",
    "matplotlib",
)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_commands_help_loads_no_database_geometry_or_telegram(name: str) -> None:
    """`signpost NAME --help` and every `signpost NAME SUB --help` are read by PCC teams and analysts as they type:
    the libraries a command needs to run load when it runs, not for its help."""
    code = (
        "import sys\n"
        "from signpost.cli import app, load_command\n"
        f"paths, todo = [], [[{name!r}]]\n"
        "while todo:\n"
        "    path = todo.pop()\n"
        "    paths.append(path)\n"
        "    command = load_command(path[0])\n"
        "    for part in path[1:]:\n        command = command.commands[part]\n"
        "    todo += [[*path, sub] for sub in getattr(command, 'commands', {})]\n"
        "for path in paths:\n"
        "    try:\n        app([*path, '--help'])\n"
        "    except SystemExit as done:\n        assert not done.code, done.code\n"
        f"print(len(paths), sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    pages, heavy = done.stderr.strip().splitlines()[-1].split(" ", 1)
    assert done.stdout.count("Usage:") == int(pages) >= 1
    assert heavy == "[]", f"`signpost {name} --help` imported {heavy}"
