"""Police-recorded hate crime per force area, and a priority ranking against coverage.

File format (CSV, UTF-8, one header row; column names are matched without regard to case, spaces or
underscores):

==============  =========================================================================================
column          meaning
==============  =========================================================================================
force_code      the force area's ONS code (E23000001 ... E23000039, W15000001 ... W15000004); or
force_name      the force's name ("Metropolitan Police", "Devon & Cornwall", "London, City of", ...)
year            the period, e.g. ``2023/24`` (Home Office financial years) or ``2024``
strand          disability, race, religion, sexual_orientation, transgender, or ``total`` (all hate crime);
                optional: without it every row is a total
count           the number of offences (rows with the same force, year and strand are added up)
==============  =========================================================================================

The Home Office open data table's names are accepted too: ``Force Name``, ``Financial Year``,
``Motivating Factor`` (values such as "Race", "Religion", "Sexual orientation", "Disability",
"Transgender") and ``Number of Offences``; its ``Offence Group`` column is summed over.
British Transport Police and other non-territorial forces have no force area and are set aside with a note.
An offence can have more than one motivating factor, so strand counts do not add up to the total.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from mapping.gaps import ANY, CoverageResult
from mapping.input_files import CSV_FILE_BYTES, InputFileError, read_input
from mapping.types import Strand

__all__ = [
    "CrimeError",
    "CrimeTable",
    "PriorityRow",
    "RecordedCrime",
    "load_recorded_crime",
    "prioritise",
]

TOTAL = "total"
NON_TERRITORIAL = ("british transport police", "action fraud", "civil nuclear", "ministry of defence")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "force_code": ("forcecode", "pfacode", "pfa23cd", "pfa19cd", "areacode", "forceareacode", "code"),
    "force_name": ("forcename", "force", "policeforce", "policeforcearea", "pfa23nm", "pfa19nm", "area", "name"),
    "year": ("year", "financialyear", "period"),
    "strand": ("strand", "motivatingfactor", "hatecrimestrand", "monitoredstrand", "motivation"),
    "count": ("count", "numberofoffences", "offences", "numberofcrimes", "value", "recorded"),
}
_STRANDS = {
    "disability": Strand.DISABILITY.value,
    "race": Strand.RACE.value,
    "religion": Strand.RELIGION.value,
    "religionorbelief": Strand.RELIGION.value,
    "sexualorientation": Strand.SEXUAL_ORIENTATION.value,
    "transgender": Strand.TRANSGENDER.value,
    "transgenderidentity": Strand.TRANSGENDER.value,
    "genderidentity": Strand.TRANSGENDER.value,
    "total": TOTAL,
    "all": TOTAL,
    "any": TOTAL,
    "totalhatecrime": TOTAL,
    "allhatecrime": TOTAL,
}


class CrimeError(ValueError):
    """A recorded crime file that cannot be used; the message names the file, row and field and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class RecordedCrime:
    pfa_code: str
    year: str
    strand: str  # a Strand value or "total"
    count: int


@dataclass(frozen=True)
class CrimeTable:
    records: tuple[RecordedCrime, ...]
    source: str
    set_aside: tuple[str, ...] = ()  # non-territorial forces left out

    @property
    def years(self) -> tuple[str, ...]:
        return tuple(sorted({r.year for r in self.records}))

    def counts(self, year: str, strand: str = TOTAL) -> tuple[dict[str, int], str]:
        """Recorded offences per force area for ``year`` and ``strand`` (``"total"`` or ``"any"`` for all hate
        crime), and a note on how the figure was made."""
        want = TOTAL if strand in (TOTAL, ANY) else strand
        rows = [r for r in self.records if r.year == year]
        exact = {r.pfa_code: r.count for r in rows if r.strand == want}
        if exact or want != TOTAL:
            return exact, ""
        summed: dict[str, int] = {}
        for r in rows:
            summed[r.pfa_code] = summed.get(r.pfa_code, 0) + r.count
        return summed, "no totals in the file: the strands were added up (an offence with two motivations counts twice)"


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _force_key(name: str) -> str:
    text = name.lower().replace("&", " and ")
    text = re.sub(r"\b(police|constabulary|service|force|area)\b", " ", text)
    if "," in text:  # "London, City of" -> "city of london"
        head, tail = text.split(",", 1)
        text = f"{tail} {head}"
    return _key(text)


def load_recorded_crime(source: str | Path, *, force_names: Mapping[str, str]) -> CrimeTable:
    """Read police-recorded hate crime per force (see the module docstring for the format).

    Parameters
    ----------
    source
        Path or http(s) URL of the CSV.
    force_names
        PFA code -> name of every force area (the authored table), for matching names and checking codes.

    Raises
    ------
    CrimeError
        Missing columns, a count that is not a whole number, an unknown force or strand: with the row and what to do.
    """
    name = str(source)
    reader = csv.reader(io.StringIO(_read_text(source)))
    try:
        table = list(reader)
    except csv.Error as exc:
        raise CrimeError(
            f"{name}: line {reader.line_num}: not readable as CSV ({exc}); give the recorded hate crime CSV"
            " (one row per force), saved from Excel as 'CSV UTF-8'"
        ) from None
    header = table[0] if table else None
    if not header:
        raise CrimeError(f"{name}: the file is empty")
    sheet = _Sheet(name, header, _columns(name, header), force_names)
    totals: dict[tuple[str, str, str], int] = {}
    set_aside: set[str] = set()
    for i, row in enumerate(table[1:]):
        line = i + 2
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise CrimeError(f"{name}: row {line}: {len(row)} fields, the header has {len(header)}")
        code = sheet.force_code(row, line)
        if code is None:
            set_aside.add(row[sheet.col["force_name"]].strip())
            continue
        key = (code, sheet.year(row, line), sheet.strand(row, line))
        totals[key] = totals.get(key, 0) + sheet.count(row, line)
    if not totals:
        raise CrimeError(f"{name}: no rows for territorial forces")
    records = tuple(RecordedCrime(c, y, s, n) for (c, y, s), n in sorted(totals.items()))
    return CrimeTable(records, name, tuple(sorted(set_aside)))


def _read_text(source: str | Path) -> str:
    """The CSV's text, from a path or an http(s) URL."""
    try:
        data = read_input(source, limit=CSV_FILE_BYTES, what="the recorded hate crime CSV (one row per force)")
    except InputFileError as exc:
        raise CrimeError(str(exc)) from None
    return data.decode("utf-8-sig", errors="replace")


def _columns(name: str, header: list[str]) -> dict[str, int]:
    """Where each field is (the first of its accepted column names present); refuses a file missing one."""
    keys = [_key(h) for h in header]
    col: dict[str, int] = {}
    for field, names in _COLUMNS.items():
        found = next((candidate for candidate in names if candidate in keys), None)
        if found is not None:
            col[field] = keys.index(found)
    if "force_code" not in col and "force_name" not in col:
        raise CrimeError(f"{name}: no force column: add force_code (E23/W15 code) or force_name")
    for needed in ("year", "count"):
        if needed not in col:
            raise CrimeError(f"{name}: no {needed} column (see the format in the report's method section)")
    return col


@dataclass(frozen=True)
class _Sheet:
    """The file being read: its name, header and columns, and the force areas its rows must name."""

    name: str
    header: list[str]
    col: dict[str, int]
    force_names: Mapping[str, str]

    @cached_property
    def _by_name(self) -> dict[str, str]:
        return {_force_key(n): c for c, n in self.force_names.items()}

    def _where(self, line: int, field: str) -> str:
        return f"{self.name}: row {line}, field {self.header[self.col[field]]}"

    def force_code(self, row: list[str], line: int) -> str | None:
        """The row's territorial force (by code, else by name); ``None`` for a non-territorial force."""
        code = row[self.col["force_code"]].strip().upper() if "force_code" in self.col else ""
        force = row[self.col["force_name"]].strip() if "force_name" in self.col else ""
        if code in self.force_names:
            return code
        if code and not force:
            raise CrimeError(f"{self._where(line, 'force_code')}: unknown force code {code}")
        if any(word in force.lower() for word in NON_TERRITORIAL):
            return None
        found = self._by_name.get(_force_key(force), "")
        if not found:
            close = difflib.get_close_matches(force, list(self.force_names.values()), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            where = self._where(line, "force_name" if "force_name" in self.col else "force_code")
            raise CrimeError(
                f"{where}: unknown force {force or code!r}{hint}; use a territorial force's name or its E23/W15 code"
            )
        return found

    def year(self, row: list[str], line: int) -> str:
        year = row[self.col["year"]].strip()
        if not year:
            raise CrimeError(f"{self._where(line, 'year')}: the year is empty")
        return year

    def strand(self, row: list[str], line: int) -> str:
        if "strand" not in self.col:
            return TOTAL
        raw = row[self.col["strand"]].strip()
        strand = _STRANDS.get(_key(raw), "")
        if not strand:
            raise CrimeError(
                f"{self._where(line, 'strand')}: unknown strand {raw!r}; use disability, race, religion, "
                "sexual_orientation, transgender or total"
            )
        return strand

    def count(self, row: list[str], line: int) -> int:
        raw_count = row[self.col["count"]].strip().replace(",", "")
        try:
            count = int(float(raw_count))
        except ValueError:
            raise CrimeError(f"{self._where(line, 'count')}: {raw_count!r} is not a number of offences") from None
        if count < 0:
            raise CrimeError(f"{self._where(line, 'count')}: negative count {count}")
        return count


@dataclass(frozen=True, slots=True)
class PriorityRow:
    """One force area in the priority ranking (rank 1 = highest recorded hate crime with the lowest coverage)."""

    rank: int
    pfa_code: str
    name: str
    year: str
    recorded: int
    population: float
    rate_per_100k: float | None
    pct_covered: float | None
    score: float


def prioritise(
    table: CrimeTable, result: CoverageResult, *, year: str | None = None, strand: str = ANY
) -> tuple[tuple[PriorityRow, ...], str]:
    """Rank force areas: recorded rate per 100,000 residents times the share of residents not covered.

    The score reads "recorded hate crimes per 100,000 residents, counting only the uncovered share", so a force
    with a high rate and low coverage comes first. With the postcode proxy there are no resident counts: the
    rate is left empty and the count stands in for it (the note says so).

    Returns
    -------
    (rows, note)
        Rows in rank order, and a note naming the year, strand and any caveat.
    """
    chosen_year = year or (table.years[-1] if table.years else "")
    counts, how = table.counts(chosen_year, strand)
    proxy = result.population.basis.is_proxy
    by_code = {r.code: r for r in result.rows_for("pfa", strand)} if "pfa" in result.levels else {}
    if not by_code:
        n_pfa = len(result.geography.pfas)
        total = np.bincount(result.point_pfa, weights=result.population.population, minlength=n_pfa)
        covered = result.covered_points(strand)
        cov = np.bincount(
            result.point_pfa, weights=result.population.population * covered, minlength=len(result.geography.pfas)
        )
        pops = {u.code: (float(total[i]), float(cov[i])) for i, u in enumerate(result.geography.pfas)}
    else:
        pops = {c: (r.population, r.population_covered) for c, r in by_code.items()}
    names = {u.code: u.name for u in result.geography.pfas}
    scored: list[tuple[float, float, str, PriorityRow]] = []
    for code, recorded in counts.items():
        population, covered_pop = pops.get(code, (0.0, 0.0))
        share = covered_pop / population if population > 0 else None
        rate = None if proxy or population <= 0 else recorded / population * 100_000
        base = float(recorded) if rate is None else rate
        score = base * (1.0 - (share or 0.0))
        row = PriorityRow(0, code, names.get(code, code), chosen_year, recorded, population, rate, _pct(share), score)
        scored.append((-score, share if share is not None else 0.0, code, row))
    scored.sort(key=lambda t: (t[0], t[1], t[2]))
    rows = tuple(replace(r, rank=i + 1) for i, (*_, r) in enumerate(scored))
    notes = [f"Recorded hate crime {chosen_year}, {'all hate crime' if strand in (ANY, TOTAL) else strand}"]
    if how:
        notes.append(how)
    if proxy:
        notes.append("no resident population (postcode proxy): ranked by recorded count times the uncovered share")
    if table.set_aside:
        notes.append(f"set aside (no force area): {', '.join(table.set_aside)}")
    missing = sorted(set(names) - set(counts))
    if missing:
        notes.append(f"no figure for {len(missing)} force area(s): {', '.join(names[c] for c in missing)}")
    return rows, "; ".join(notes) + "."


def _pct(share: float | None) -> float | None:
    return None if share is None else 100.0 * share
