"""What an import would change: services added, changed (field by field, before and after), removed, unchanged.

"Removed" is deliberately narrow, because a file is usually one team's part of a national directory:

- only services *in the file's scope* can be removed: by default the commissioners named in the file (a PCC
  team's spreadsheet of its own services); with ``replace_all`` the whole directory (an admin's full export);
  with an empty scope nothing is ever removed;
- a service with no commissioner (the national directory) is only in scope with ``replace_all``;
- removal *closes* the service (status ``closed``, a new audited version); it never deletes it or its
  history, and a closed service can be restored or re-opened by a later import;
- services that are already closed are not "removed" again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace

from mapping.types import ChannelKind, OpeningHours, PolygonCoverage, ServiceRecord, ServiceStatus
from services_db.formats.csv_format import record_to_row
from services_db.validation import COLUMNS

__all__ = [
    "COMPARED_FIELDS",
    "ChangeSet",
    "FieldChange",
    "RemovalScope",
    "ServiceChange",
    "canonical",
    "diff_directory",
    "field_changes",
]

# Fields a person edits; version and updated_at are bookkeeping and never make a service "changed".
COMPARED_FIELDS: tuple[str, ...] = (
    "name",
    "organisation",
    "kind",
    "description",
    "strands",
    "local_strands",
    "commissioner_code",
    "channels",
    "languages",
    "hours",
    "eligibility",
    "communities",
    "min_age",
    "max_age",
    "residents_only",
    "coverage",
    "status",
    "source_url",
    "verified_on",
    "caveat",
    "translations",
    "confirmation",
    "page_date",
)
# The order of channels in the CSV template's columns: files group channels by kind, so order across kinds
# is not information a file can carry, and must not count as a change.
CHANNEL_ORDER = {kind: n for n, kind in enumerate(ChannelKind)}
# Display groups: field -> template columns shown for it in a field-level diff.
DISPLAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "channels": ("phone", "text", "email", "web", "web_form", "web_chat", "bsl", "relay", "app", "in_person_address"),
    "hours": ("hours", "bank_holidays", "hours_note"),
    "translations": tuple(c for c in COLUMNS if c.endswith(("_cy", "_easy"))),
    "coverage": ("coverage_type", "nation", "area_codes", "centre_lat", "centre_lon", "radius_m", "geometry"),
}


@dataclass(frozen=True, slots=True)
class RemovalScope:
    """Which stored services an import may remove (close) when the file does not list them."""

    commissioner_codes: frozenset[str] = frozenset()
    replace_all: bool = False

    @classmethod
    def of_file(cls, records: Iterable[ServiceRecord], *, replace_all: bool = False) -> RemovalScope:
        """The default scope: the commissioners the file names (or everything with ``replace_all``)."""
        codes = frozenset(r.commissioner_code for r in records if r.commissioner_code)
        return cls(commissioner_codes=codes, replace_all=replace_all)

    def covers(self, record: ServiceRecord) -> bool:
        return self.replace_all or (
            record.commissioner_code is not None and record.commissioner_code in self.commissioner_codes
        )

    def describe(self) -> str:
        if self.replace_all:
            return "the whole directory (--replace-all)"
        if not self.commissioner_codes:
            return "nothing (the file names no commissioner)"
        return "services commissioned by " + ", ".join(sorted(self.commissioner_codes))


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's value before and after, as the template shows it (``column`` is the template column)."""

    field: str
    column: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class ServiceChange:
    service_id: str
    before: ServiceRecord
    after: ServiceRecord
    fields: tuple[FieldChange, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.field for f in self.fields))


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The difference between the stored directory and a file. ``removed`` are closed on apply."""

    added: tuple[ServiceRecord, ...]
    changed: tuple[ServiceChange, ...]
    removed: tuple[ServiceRecord, ...]
    unchanged: tuple[str, ...]
    scope: RemovalScope = RemovalScope()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed (closed),"
            f" {len(self.unchanged)} unchanged"
        )


def canonical(record: ServiceRecord) -> ServiceRecord:
    """``record`` in the form files can carry: channels in template order (stable within a kind), polygon
    coordinates as plain JSON lists, bookkeeping cleared. Two records are the same service content exactly
    when their canonical forms are equal."""
    channels = tuple(sorted(record.channels, key=lambda c: CHANNEL_ORDER[c.kind]))
    coverage = record.coverage
    if isinstance(coverage, PolygonCoverage):
        coverage = PolygonCoverage(json.loads(json.dumps(dict(coverage.geojson))))
    # The directory stores hours as text to the minute: compare in that form (a closing "00:00" is 23:59).
    hours = OpeningHours.from_dict(record.hours.to_dict())
    return replace(record, channels=channels, coverage=coverage, hours=hours, version=1, updated_at=None)


def field_changes(before: ServiceRecord, after: ServiceRecord) -> tuple[FieldChange, ...]:
    """The fields that differ, as the template shows them (a history entry's before and after)."""
    return _field_changes(before, after)


def _field_changes(before: ServiceRecord, after: ServiceRecord) -> tuple[FieldChange, ...]:
    old, new = canonical(before), canonical(after)
    if old == new:
        return ()
    old_row, new_row = record_to_row(old), record_to_row(new)
    changes: list[FieldChange] = []
    for name in COMPARED_FIELDS:
        if getattr(old, name) == getattr(new, name):
            continue
        columns = DISPLAY_COLUMNS.get(name, (name,))
        shown = [c for c in columns if old_row[c] != new_row[c]]
        if name == "channels":
            shown += [c for c in ("in_person_lat", "in_person_lon") if old_row[c] != new_row[c]]
        for column in shown or [columns[0]]:
            changes.append(FieldChange(name, column, old_row.get(column, ""), new_row.get(column, "")))
    return tuple(changes)


def diff_directory(
    current: Iterable[ServiceRecord], incoming: Iterable[ServiceRecord], *, scope: RemovalScope
) -> ChangeSet:
    """Compare the stored directory with the services of a file.

    Parameters
    ----------
    current
        Every stored service (any status).
    incoming
        The services read from the file (ids unique).
    scope
        Which stored services absent from the file are removed (see the module docstring).

    Returns
    -------
    ChangeSet
        ``added`` (new ids), ``changed`` (with field-level before/after), ``removed`` (stored, in scope,
        absent from the file, not already closed: they will be closed) and ``unchanged`` ids.
    """
    stored = {r.id: r for r in current}
    added: list[ServiceRecord] = []
    changed: list[ServiceChange] = []
    unchanged: list[str] = []
    seen: set[str] = set()
    for record in incoming:
        seen.add(record.id)
        before = stored.get(record.id)
        if before is None:
            added.append(record)
            continue
        fields = _field_changes(before, record)
        if fields:
            changed.append(ServiceChange(record.id, before, record, fields))
        else:
            unchanged.append(record.id)
    removed = [
        r for r in stored.values() if r.id not in seen and r.status is not ServiceStatus.CLOSED and scope.covers(r)
    ]
    return ChangeSet(
        added=tuple(sorted(added, key=lambda r: r.id)),
        changed=tuple(sorted(changed, key=lambda c: c.service_id)),
        removed=tuple(sorted(removed, key=lambda r: r.id)),
        unchanged=tuple(sorted(unchanged)),
        scope=scope,
    )
