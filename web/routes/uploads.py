"""Upload a services file: the same preview and Confirm as the chat app (``services_db.uploads``).

The file waits for Confirm in ``<data dir>/uploads`` (owner-only), named by a random nonce recorded in
``PendingUpload`` with the digest of the previewed changes; Confirm plans it again and applies it only if the
changes are exactly those previewed.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import delete
from sqlmodel import col

from services_db import importer
from services_db.access import Action, Principal, Role
from services_db.models import PendingUpload
from services_db.uploads import UploadPreview, preview_text, preview_upload
from web.core import Console, Refused

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # the import limit
PENDING_TTL = timedelta(hours=1)
FILE_PREFIX = "web:"


def router(console: Console) -> APIRouter:
    routes = APIRouter()

    @routes.get("/upload")
    def upload_page(request: Request) -> Response:
        console.authorise(request, Action.IMPORT)
        return console.page(request, "upload.html")

    @routes.post("/upload")
    async def upload(request: Request) -> Response:
        form = await console.form(request)
        principal = console.authorise(request, Action.IMPORT)
        sent = form.get("file")
        if sent is None or not hasattr(sent, "read"):
            return console.page(request, "upload.html", status_code=422, problems=[])
        data = await sent.read(MAX_UPLOAD_BYTES + 1)
        name = (getattr(sent, "filename", None) or "upload.csv")[:255]
        return _show(console, request, _plan(console, principal, data, name), principal, data, name)

    @routes.post("/upload/confirm")
    async def confirm(request: Request) -> Response:
        form = await console.form(request)
        principal = console.authorise(request, Action.IMPORT)
        visit = console.visit(request)
        taken = _take(console, principal, str(form.get("nonce", ""))[:64])
        if taken is None:
            return console.page(request, "upload.html", status_code=410, notice=visit.t("preview_gone"))
        pending, data = taken
        if form.get("cancel"):
            return console.page(request, "upload.html", notice=visit.t("cancelled"))
        preview = _plan(console, principal, data, pending.file_name)
        if preview.digest != pending.digest or not preview.confirmable:
            response = _show(console, request, preview, principal, data, pending.file_name)
            response.status_code = 409
            return response
        with console.session() as session:
            report = importer.apply_import(
                session=session, plan=preview.plan, actor=principal.actor, areas=console.areas()
            )
        if not report.applied:
            return console.page(request, "upload.html", status_code=409, problems=report.problems)
        message = visit.t("applied", added=len(report.created), changed=len(report.updated), closed=len(report.closed))
        return console.page(request, "upload.html", notice=message, done=report)

    return routes


def _plan(console: Console, principal: Principal, data: bytes, name: str) -> UploadPreview:
    with console.session() as session:
        preview = preview_upload(
            session=session,
            principal=principal,
            data=data,
            name=name,
            force_area=console.force_area() if principal.role is Role.PCC_EDITOR else None,
            now=console.config.clock(),
        )
    if preview.decision is not None and not preview.decision.allowed:
        raise Refused(preview.decision)
    return preview


def _remember(console: Console, principal: Principal, data: bytes, name: str, digest: str) -> str:
    now = console.config.clock()
    folder = console.config.uploads_dir
    nonce = secrets.token_hex(16)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in folder.iterdir():  # previews nobody confirmed
        if old.stat().st_mtime < (now - PENDING_TTL).timestamp():
            old.unlink(missing_ok=True)
    descriptor = os.open(folder / nonce, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    with console.session() as session:
        session.execute(delete(PendingUpload).where(col(PendingUpload.expires_at) < now))
        session.add(
            PendingUpload(
                id=nonce, account_id=principal.account_id, file_id=FILE_PREFIX + nonce, file_name=name[:255],
                digest=digest, created_at=now, expires_at=now + PENDING_TTL,
            )
        )  # fmt: skip
        session.commit()
    return nonce


def _take(console: Console, principal: Principal, nonce: str) -> tuple[PendingUpload, bytes] | None:
    """The pending upload if it is this person's and not expired; removed either way."""
    if not nonce.isalnum() or len(nonce) != 32:
        return None
    with console.session() as session:
        pending = session.get(PendingUpload, nonce)
        if pending is None or pending.account_id != principal.account_id:
            return None
        session.delete(pending)
        session.commit()
    path = console.config.uploads_dir / nonce
    try:
        data = path.read_bytes()
    except OSError:
        return None
    path.unlink(missing_ok=True)
    expires = pending.expires_at
    expires = expires if expires.tzinfo else expires.replace(tzinfo=console.config.clock().tzinfo)
    return (pending, data) if expires > console.config.clock() else None


def _show(
    console: Console, request: Request, preview: UploadPreview, principal: Principal, data: bytes, name: str
) -> Response:
    visit = console.visit(request)
    if preview.decision is None or preview.changes is None:
        return console.page(request, "upload.html", status_code=422, problems=preview.plan.problems)
    if preview.changes.is_empty:
        return console.page(request, "upload.html", notice=visit.t("no_changes"))
    assert preview.digest is not None
    nonce = _remember(console, principal, data, name, preview.digest)
    text = preview_text(preview.changes, file=preview.plan.file)
    return console.page(request, "preview.html", changes=preview.changes, text=text, nonce=nonce)
