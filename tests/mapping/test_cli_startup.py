"""The `signpost` command starts without loading the report's plotting stack (matplotlib) until a command needs it."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_does_not_import_matplotlib() -> None:
    code = "import sys, signpost.cli; print('matplotlib' in sys.modules, 'mapping.report' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
