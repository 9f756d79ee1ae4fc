"""The shipped directory: the files that ship with Signpost, read into records, and whether a database's seeded
rows are what ships.

Two files ship: ``national_directory.json`` (national and specialist services, confirmed) and
``local_directory.json`` (the researched starter directory of local services, gathered from public pages and
``unconfirmed`` until the commissioner for the force area confirms, corrects or closes each entry). Both have
the same shape (``about``, optional ``commissioners``, ``services``); entries may carry ``translations``.
The local file's entries name PCCs, so seeding also adds the commissioners of every force area
(``mapping/data/commissioners.csv``).

Seeded rows are marked ``origin="seed"`` with ``seed_hash``, the content hash of what was shipped.
:mod:`services_db.seed` applies the files; this module only reads them, without the ORM, so that a command
that only reads can tell that there is nothing to apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapping.areas import AreaRegistry
from mapping.types import Commissioner, CommissionerKind, ServiceRecord, ServiceStatus
from services_db.convert import content_hash, record_from_dict

__all__ = [
    "LOCAL_DIRECTORY",
    "NATIONAL_DIRECTORY",
    "SEED_ORIGIN",
    "NationalDirectory",
    "load_national_directory",
    "load_shipped_directory",
    "shipped_changed",
    "shipped_hashes",
]

NATIONAL_DIRECTORY = Path(__file__).parent / "data" / "national_directory.json"
LOCAL_DIRECTORY = Path(__file__).parent / "data" / "local_directory.json"
SEED_ORIGIN = "seed"


@dataclass(frozen=True, slots=True)
class NationalDirectory:
    """The shipped data: commissioners of national services and the services themselves."""

    commissioners: tuple[Commissioner, ...]
    services: tuple[ServiceRecord, ...]


def load_national_directory(path: Path | None = None) -> NationalDirectory:
    """Read the shipped directory (or another file of the same shape); raises ``ValueError`` naming the entry."""
    source = path or NATIONAL_DIRECTORY
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    commissioners = tuple(
        Commissioner(c["code"], c["name"], CommissionerKind(c["kind"]), c.get("pfa_code"))
        for c in data.get("commissioners", [])
    )
    services: list[ServiceRecord] = []
    for index, entry in enumerate(data.get("services", [])):
        try:
            services.append(record_from_dict(entry))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{source}: service {index} ({entry.get('id', '?')}): {exc}") from exc
    return NationalDirectory(commissioners, tuple(services))


def load_shipped_directory(*paths: Path) -> NationalDirectory:
    """Everything that ships: the national file, then the local file when present (or the files given), with
    the force areas' commissioners. Raises ``ValueError`` naming a file and entry, or an id used twice."""
    files = paths or tuple(p for p in (NATIONAL_DIRECTORY, LOCAL_DIRECTORY) if p.exists())
    commissioners: dict[str, Commissioner] = {c.code: c for c in AreaRegistry.default().commissioners()}
    services: dict[str, ServiceRecord] = {}
    for path in files:
        part = load_national_directory(path)
        commissioners.update((c.code, c) for c in part.commissioners)
        for record in part.services:
            if record.id in services:
                raise ValueError(f"{path}: service id {record.id!r} is also used in another shipped file")
            services[record.id] = record
    return NationalDirectory(tuple(commissioners.values()), tuple(services.values()))


def shipped_hashes(directory: NationalDirectory | None = None) -> dict[str, str]:
    """The content hash of every shipped service by id: what a current seeded row's ``seed_hash`` holds."""
    directory = directory or load_shipped_directory()
    return {record.id: content_hash(record) for record in directory.services}


def shipped_changed(seeded: Iterable[tuple[str, str | None, str]], wanted: Mapping[str, str]) -> bool:
    """Whether a directory's seeded rows, ``(id, seed_hash, status)``, lag behind what ships (``wanted``, from
    :func:`shipped_hashes`): an entry new or changed since, or one no longer shipped still open.

    A directory never seeded (no such rows) was kept without the shipped entries on purpose: ``False``.
    """
    stored: dict[str, str | None] = {}
    still_open: set[str] = set()  # seeded rows not closed: one no longer shipped is to be retired
    for service_id, seed_hash, status in seeded:
        stored[service_id] = seed_hash
        if status != ServiceStatus.CLOSED.value:
            still_open.add(service_id)
    if not stored:
        return False
    current = all(stored.get(service_id) == digest for service_id, digest in wanted.items())
    return not (current and still_open <= set(wanted))
