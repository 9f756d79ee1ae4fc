"""The authored area tables: Local Authority Districts, Police Force Areas, commissioners and local strands.

These need no boundary files. ``mapping/data/lad_pfa.csv`` maps every current LAD in England and Wales
(May 2025 codes) to its Police Force Area (December 2023 codes), with the official Welsh names of Welsh areas
(as ONS publishes them in its ``..NMW`` columns), authored from the legal definition of police
areas (Police Act 1996 Schedule 1, as amended: forces are defined by counties) and checked against the official
ONS polygons by ``tests/mapping/test_areas.py``. ``commissioners.csv`` says who holds PCC functions for each
PFA; ``local_strands.csv`` lists strands some forces record beyond the five monitored nationally.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from mapping.types import Commissioner, CommissionerKind, Nation

__all__ = ["LAD", "PFA", "AreaInfo", "AreaRegistry", "LocalStrand", "area_level", "nation_of"]

LAD = "lad"
PFA = "pfa"
_LAD_PREFIXES = ("E06", "E07", "E08", "E09", "W06")
_PFA_PREFIXES = ("E23", "W15")


def area_level(code: str) -> str | None:
    """``"lad"`` or ``"pfa"`` from the shape of an ONS code (E06-E09/W06 or E23/W15), else ``None``."""
    if len(code) != 9 or not code[3:].isdigit():
        return None
    if code.startswith(_LAD_PREFIXES):
        return LAD
    if code.startswith(_PFA_PREFIXES):
        return PFA
    return None


def nation_of(code: str) -> Nation | None:
    """England or Wales from the first letter of an ONS code; ``None`` for Scotland, NI and others."""
    return {"E": Nation.ENGLAND, "W": Nation.WALES}.get(code[:1])


@dataclass(frozen=True, slots=True)
class AreaInfo:
    """A LAD or PFA. ``pfa_code`` is the PFA a LAD lies in (for a PFA, its own code)."""

    code: str
    name: str
    level: str
    pfa_code: str | None
    name_cy: str = ""  # the official Welsh name (ONS ..NMW) of a Welsh area; "" for English ones

    def name_in(self, language: str) -> str:
        """The area's name for a reader of ``language`` ("cy" gets the Welsh name where there is one)."""
        return self.name_cy if language == "cy" and self.name_cy else self.name


@dataclass(frozen=True, slots=True)
class LocalStrand:
    """A strand one force records locally beyond the five monitored nationally (data, never code)."""

    pfa_code: str
    key: str
    label: str
    since: str
    source_url: str
    label_cy: str = ""  # the label in Welsh, shown to people chatting in Welsh

    def label_in(self, language: str) -> str:
        """The label for a reader of ``language`` ("cy" gets the Welsh label where there is one)."""
        return self.label_cy if language == "cy" and self.label_cy else self.label


def _read_csv(name: str, text: str | None = None) -> list[dict[str, str]]:
    if text is None:
        text = resources.files("mapping.data").joinpath(name).read_text(encoding="utf-8")
    return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


class AreaRegistry:
    """Lookups over the authored tables: LAD and PFA names, LAD -> PFA, commissioners, local strands.

    Parameters
    ----------
    lad_pfa, commissioners, local_strands
        Rows as read from the CSV files (see ``mapping/data``). Use :meth:`default` for the shipped tables.
    """

    def __init__(
        self,
        *,
        lad_pfa: list[dict[str, str]],
        commissioners: list[dict[str, str]],
        local_strands: list[dict[str, str]],
    ) -> None:
        self._areas: dict[str, AreaInfo] = {}
        lads_by_pfa: dict[str, list[AreaInfo]] = {}
        for row in lad_pfa:
            pfa = AreaInfo(row["pfa_code"], row["pfa_name"], PFA, row["pfa_code"], row.get("pfa_name_cy", ""))
            lad = AreaInfo(row["lad_code"], row["lad_name"], LAD, pfa.code, row.get("lad_name_cy", ""))
            self._areas.setdefault(pfa.code, pfa)
            self._areas[lad.code] = lad
            lads_by_pfa.setdefault(pfa.code, []).append(lad)
        self._lads_by_pfa = {k: tuple(sorted(v, key=lambda a: a.code)) for k, v in lads_by_pfa.items()}
        self._commissioners = {
            row["pfa_code"]: Commissioner(row["code"], row["name"], CommissionerKind(row["kind"]), row["pfa_code"])
            for row in commissioners
        }
        self._commissioner_sources = {row["code"]: row["source_url"] for row in commissioners}
        strands: dict[str, list[LocalStrand]] = {}
        for row in local_strands:
            strand = LocalStrand(
                row["pfa_code"], row["key"], row["label"], row["since"], row["source_url"], row.get("label_cy", "")
            )
            strands.setdefault(strand.pfa_code, []).append(strand)
        self._local_strands = {k: tuple(v) for k, v in strands.items()}

    @classmethod
    @cache
    def default(cls) -> AreaRegistry:
        """The tables shipped in ``mapping/data`` (read once per process)."""
        return cls(
            lad_pfa=_read_csv("lad_pfa.csv"),
            commissioners=_read_csv("commissioners.csv"),
            local_strands=_read_csv("local_strands.csv"),
        )

    def area(self, code: str) -> AreaInfo | None:
        """The LAD or PFA with this ONS code (case and spaces ignored), or ``None``."""
        return self._areas.get(code.strip().upper())

    def is_known(self, code: str) -> bool:
        return self.area(code) is not None

    def pfa_for_lad(self, lad_code: str) -> str | None:
        """The PFA code a LAD lies in; ``None`` for unknown codes (Scotland, NI, retired codes)."""
        info = self.area(lad_code)
        return info.pfa_code if info is not None and info.level == LAD else None

    def lads_in(self, pfa_code: str) -> tuple[AreaInfo, ...]:
        return self._lads_by_pfa.get(pfa_code.strip().upper(), ())

    def pfas(self) -> tuple[AreaInfo, ...]:
        return tuple(sorted((a for a in self._areas.values() if a.level == PFA), key=lambda a: a.code))

    def lads(self) -> tuple[AreaInfo, ...]:
        return tuple(sorted((a for a in self._areas.values() if a.level == LAD), key=lambda a: a.code))

    def commissioner_for(self, pfa_code: str) -> Commissioner:
        """Who holds PCC functions for the PFA; raises ``KeyError`` naming the code when it is not a PFA."""
        try:
            return self._commissioners[pfa_code.strip().upper()]
        except KeyError:
            raise KeyError(f"{pfa_code!r} is not a Police Force Area code (E23000001-E23000039, W15000001-4)") from None

    def commissioners(self) -> tuple[Commissioner, ...]:
        return tuple(self._commissioners[k] for k in sorted(self._commissioners))

    def commissioner_source(self, code: str) -> str:
        """The page the commissioner entry was taken from."""
        return self._commissioner_sources[code]

    def local_strands(self, pfa_code: str) -> tuple[LocalStrand, ...]:
        return self._local_strands.get(pfa_code.strip().upper(), ())
