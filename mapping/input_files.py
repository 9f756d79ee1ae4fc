"""Reading what a person hands in (a path, standard input, a JSON document) with bounds, whatever it turns out to be.

Every reader of a user's file goes through :func:`read_input_file`: devices (``/dev/zero``), FIFOs, sockets and
folders are refused by type before a byte is read, and the size is counted while reading, so neither an endless
stream nor a file growing under us is read past its limit. :func:`read_stream` does the same for standard input,
and :func:`load_json` refuses nesting deep enough to exhaust Python's recursion before parsing. Each refusal is an
:class:`InputFileError` whose message names the file, what it is, the limit and what to give instead.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "BOUNDARY_FILE_BYTES",
    "CSV_FILE_BYTES",
    "LINES_FILE_BYTES",
    "MAX_JSON_DEPTH",
    "InputFileError",
    "Refusal",
    "check_input_file",
    "json_depth",
    "load_json",
    "read_input",
    "read_input_file",
    "read_stream",
]

# ONS full-resolution (BFE) boundary GeoJSON for all UK districts is a few hundred MB; the generalised (BGC/BUC)
# files are 2-40 MB. Above 1 GB is not a boundary file (and parsing it would need tens of GB).
BOUNDARY_FILE_BYTES = 1 << 30
# Census and LSOA tables are a few MB (35,672 LSOA centroids: 2.5 MB; with names and counts under 10 MB); a zip
# may hold all levels. Recorded-crime tables are smaller still.
CSV_FILE_BYTES = 200 << 20
# A list of postcodes or places for `signpost locate`: a million lines are about 10 MB.
LINES_FILE_BYTES = 20 << 20
# A MultiPolygon is 4 deep inside a FeatureCollection's 3, about 10 inside an Open Referral UK service; 100,000 is an
# attack (it exhausts Python's recursion).
MAX_JSON_DEPTH = 32
_CHUNK = 1 << 20
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")  # for bytes.translate: deleting is C-fast


# Why a file or stream was refused. "replaced": the path was a regular file when checked but not when opened.
Refusal = Literal[
    "missing",
    "permission",
    "unreadable",
    "folder",
    "not_regular",
    "replaced",
    "too_big",
    "download",
    "too_deep",
    "not_json",
]


class InputFileError(ValueError):
    """A file or stream Signpost will not read; the message names it and says what to give instead.

    ``reason`` says which refusal it is, ``size`` how many bytes were counted (``"too_big"``) and ``detail`` the
    system's words (``"unreadable"``), so that a caller with its own wording (the services import) can say it its way.
    """

    def __init__(self, message: str, *, reason: Refusal, size: int = 0, detail: str = "") -> None:
        super().__init__(message)
        self.reason: Refusal = reason
        self.size = size
        self.detail = detail


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:,.0f} MB" if size >= 1_048_576 else f"{size:,} bytes"


def _too_big(name: str, limit: int, what: str, size: int) -> InputFileError:
    return InputFileError(
        f"{name}: over {_megabytes(limit)}, the limit for {what}: is it the right file? (split it or give a"
        " smaller extract)",
        reason="too_big",
        size=size,
    )


def _refuse_by_type(path: Path, mode: int, what: str, *, opened: bool = False) -> None:
    if stat.S_ISDIR(mode):
        raise InputFileError(
            f"{path}: is a folder, not a file: give the path of {what} inside it",
            reason="replaced" if opened else "folder",
        )
    if not stat.S_ISREG(mode):
        kind = "a pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise InputFileError(
            f"{path}: is {kind}, not a regular file: save {what} as a file and give its path",
            reason="replaced" if opened else "not_regular",
        )


def read_input_file(path: str | Path, *, limit: int, what: str) -> bytes:
    """The bytes of the regular file at ``path``, read at most ``limit`` bytes.

    Parameters
    ----------
    path
        The path a person gave.
    limit
        The most bytes read; a longer file is refused (its size is counted while reading, not trusted from stat).
    what
        What the file should be, for messages, e.g. ``"an ONS boundary file (GeoJSON)"``.

    Raises
    ------
    InputFileError
        Missing, unreadable, a folder, device, FIFO or socket, or over ``limit`` (its ``reason`` says which).
    """
    path = Path(path)
    try:
        _refuse_by_type(path, os.stat(path).st_mode, what)
        # O_NONBLOCK: a path swapped for a FIFO after the check above must not hang here.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            _refuse_by_type(path, os.fstat(handle.fileno()).st_mode, what, opened=True)
            return _read_bounded(handle, name=str(path), limit=limit, what=what)
    except FileNotFoundError:
        raise _missing(path, what) from None
    except PermissionError:
        raise InputFileError(
            f"{path}: cannot read it (permission denied): give a file you can read", reason="permission"
        ) from None
    except IsADirectoryError:
        raise InputFileError(
            f"{path}: is a folder, not a file: give the path of {what} inside it", reason="folder"
        ) from None
    except OSError as exc:
        raise _unreadable(path, what, exc) from None


def _missing(path: Path, what: str) -> InputFileError:
    return InputFileError(f"{path}: no such file: give the path of {what}", reason="missing")


def _unreadable(path: Path, what: str, exc: OSError) -> InputFileError:
    detail = str(exc.strerror or exc)
    return InputFileError(
        f"{path}: cannot read it ({detail}): give the path of {what}", reason="unreadable", detail=detail
    )


def read_input(source: str | Path, *, limit: int, what: str, timeout_s: float = 120.0) -> bytes:
    """The bytes of a path (as :func:`read_input_file`) or an ``http(s)`` URL, either read at most ``limit`` bytes.

    Raises
    ------
    InputFileError
        As :func:`read_input_file`; for a URL, also a failed download or a response over ``limit``.
    """
    name = str(source)
    if not name.startswith(("http://", "https://")):
        return read_input_file(source, limit=limit, what=what)
    import httpx  # only for URLs: keeps import time low for local files

    try:
        with httpx.stream("GET", name, follow_redirects=True, timeout=timeout_s) as response:
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise _too_big(name, limit, what, size)
            return b"".join(chunks)
    except httpx.HTTPStatusError as exc:
        raise InputFileError(
            f"{name}: download failed (the server answered HTTP {exc.response.status_code}): check the address,"
            f" or download {what}",
            reason="download",
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise InputFileError(
            f"{name}: download failed ({exc}): check the address, or download {what}", reason="download"
        ) from None


def check_input_file(path: str | Path, *, limit: int, what: str) -> None:
    """Refuse, as :func:`read_input_file` does, a path another library will read (by type, and by its size)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _missing(path, what) from None
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    _refuse_by_type(path, info.st_mode, what)
    if info.st_size > limit:
        raise _too_big(str(path), limit, what, info.st_size)


def read_stream(stream: IO[bytes], *, name: str, limit: int, what: str) -> bytes:
    """Up to ``limit`` bytes of ``stream`` (standard input, a zip member), read in chunks; more is refused."""
    return _read_bounded(stream, name=name, limit=limit, what=what)


def _read_bounded(stream: IO[bytes], *, name: str, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(min(_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_big(name, limit, what, size)
    return b"".join(chunks)


def json_depth(data: bytes | str) -> int:
    """How deeply the arrays and objects of a JSON document (UTF-8 bytes or text) nest; brackets inside strings
    do not count."""
    import numpy as np  # here, not at the top: commands import this module for its limits and errors

    if isinstance(data, str):
        # surrogatepass: a lone surrogate (from a "\ud800" escape decoded earlier) is text, not an error here.
        data = data.encode("utf-8", "surrogatepass")
    brackets = np.frombuffer(_JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if not brackets.size:
        return 0
    # "[" and "{" open, "]" and "}" close: the deepest point of the running sum.
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def load_json(data: bytes, *, name: str, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON document, refusing nesting deeper than ``max_depth`` before parsing (:class:`InputFileError`)."""
    depth = json_depth(data)
    if depth > max_depth:
        raise InputFileError(
            f"{name}: the JSON is nested {depth:,} levels deep; the limit is {max_depth}: is it {what}?",
            reason="too_deep",
        )
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{name}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}): give {what}",
            reason="not_json",
        ) from None
    except (ValueError, RecursionError) as exc:  # not UTF-8, or an integer of thousands of digits
        raise InputFileError(
            f"{name}: cannot read it as JSON ({str(exc)[:120]}): give {what}", reason="not_json"
        ) from None
