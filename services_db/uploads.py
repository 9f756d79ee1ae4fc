"""An upload's preview, shared by the chat app and the web console: read, validate, diff, authorise; write nothing.

Both show the same preview and apply only on Confirm, after planning again and checking that the changes are
exactly those previewed (:func:`change_digest`), so a directory that changed in between is noticed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services_db import access, importer
from services_db.access import Decision, Principal
from services_db.convert import record_to_dict
from services_db.diff import ChangeSet
from services_db.force_area import ForceAreaCheck

__all__ = ["UploadPreview", "change_digest", "preview_text", "preview_upload"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class UploadPreview:
    """What an upload would do: ``plan`` (with its problems), the role ``decision`` and the change ``digest``.

    ``decision`` and ``digest`` are ``None`` when the file has problems.
    """

    plan: importer.ImportPlan
    decision: Decision | None = None
    digest: str | None = None

    @property
    def changes(self) -> ChangeSet | None:
        return self.plan.changes

    @property
    def confirmable(self) -> bool:
        """Problem-free, allowed, and with something to change."""
        return (
            self.decision is not None
            and self.decision.allowed
            and self.plan.changes is not None
            and not self.plan.changes.is_empty
        )


def change_digest(changes: ChangeSet) -> str:
    """A digest of exactly what would change, including the versions changed against."""
    items: list[Any] = [["add", r.id, record_to_dict(r)] for r in changes.added]
    items += [["change", c.service_id, c.before.version, record_to_dict(c.after)] for c in changes.changed]
    items += [["close", r.id, r.version] for r in changes.removed]
    text = json.dumps(sorted(items, key=lambda i: (i[0], i[1])), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def preview_text(changes: ChangeSet, *, file: str, limit: int | None = None) -> str:
    """The diff as a person reads it: added, changed field by field (before -> after), closed."""
    lines = [f"Preview of {file}: {changes.summary()}."]
    detail: list[str] = []
    for record in changes.added:
        detail.append(f"+ added {record.id}: {record.name}")
    for change in changes.changed:
        detail.append(f"~ changed {change.service_id}: {change.after.name}")
        for f in change.fields:
            detail.append(f"    {f.column}: {f.before or '(empty)'} -> {f.after or '(empty)'}")
    for record in changes.removed:
        detail.append(f"- closed {record.id}: {record.name} (not in the file)")
    shown = detail if limit is None else detail[:limit]
    lines += shown
    if len(shown) < len(detail):
        lines.append(f"... and {len(detail) - len(shown)} more lines: see the attached full preview")
    return "\n".join(lines)


def preview_upload(
    *,
    session: Session,
    principal: Principal,
    data: bytes,
    name: str,
    force_area: ForceAreaCheck | None = None,
    close_missing: bool = True,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> UploadPreview:
    """Plan ``data`` as an import and check ``principal`` may apply it (a refusal is audited).

    ``close_missing=False`` plans an edit of the listed services only (the web console's edit form): services
    of the commissioner that the file does not list are left alone.
    """
    plan = importer.plan_import(session=session, data=data, name=name, progress=progress, close_missing=close_missing)
    if not plan.ok or plan.changes is None:
        return UploadPreview(plan)

    def checked(done: int, total: int) -> None:
        if progress is not None:
            progress("checking your force area", done, total)

    decision = access.authorise_plan(
        session=session, principal=principal, plan=plan, force_area=force_area, progress=checked, now=now
    )
    return UploadPreview(plan, decision, change_digest(plan.changes))
