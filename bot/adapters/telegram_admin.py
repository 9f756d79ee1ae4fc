"""PCC team commands on the same Telegram bot: /myservices, file uploads with preview and confirm, /verify,
/history and /restore.

Only registered, active staff accounts (``signpost accounts add ... --telegram-id N``) reach these handlers;
for anyone else every update falls through to the victim flow, and nothing about them is looked up or stored
beyond the one query that finds no account. Staff see the admin commands in their own command menu (set per
chat at start-up); the public menu never lists them.

An upload runs the same validation as ``signpost services import`` (``services_db.importer``), the same
authorisation (``services_db.access``), then shows a preview with Confirm / Cancel buttons. The preview is
remembered in the database (``PendingUpload``: the Telegram file id and a digest of the changes), so any bot
worker can take the confirm: it reads the file again, plans again, and applies only if the changes are still
exactly those previewed; otherwise it shows the new preview. The apply is one transaction, and a service
changed by someone else in between is reported, never overwritten.

Messages are plain text (no parse mode): directory values are shown as they are, with nothing to escape.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.adapters.telegram import MENU_COMMANDS, STAFF_GROUP
from bot.content import catalogue
from bot.engine import Language
from bot.render import TELEGRAM_LIMIT, split_text
from mapping.coverage import AreaGeometryLookup
from mapping.types import ServiceRecord, ServiceStatus
from services_db import access, importer, repository, signin
from services_db.access import Action, Decision, Principal, Role
from services_db.boundaries import load_boundary_index
from services_db.diff import ChangeSet
from services_db.force_area import ForceAreaCheck, default_force_area_check
from services_db.models import Account, PendingUpload
from services_db.staleness import DEFAULT_STALE_AFTER_DAYS, is_stale, stale_services
from services_db.uploads import preview_text, preview_upload

__all__ = ["MAX_DOWNLOAD_BYTES", "STAFF_COMMANDS", "StaffBot"]

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit


class _TooBig(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """Keeps at most MAX_DOWNLOAD_BYTES + 1 bytes of a download: a sender's stated size is not trusted."""

    def write(self, chunk: Any, /) -> int:
        room = MAX_DOWNLOAD_BYTES + 1 - self.tell()
        if len(chunk) > room:
            super().write(bytes(chunk)[:room])
            raise _TooBig
        return super().write(chunk)


UPLOAD_SUFFIXES = (".csv", ".geojson", ".json")
STAFF_COMMANDS: tuple[tuple[str, str], ...] = (
    ("myservices", "Your services and when each was last checked"),
    ("verify", "/verify ID: record that a service was checked today (confirms an unconfirmed one)"),
    ("close", "/close ID: close a service that no longer runs"),
    ("history", "/history ID: a service's changes, with restore"),
    ("restore", "/restore ID VERSION: bring back an earlier version"),
    ("staffhelp", "How to update your services from a spreadsheet"),
    ("console", "A one-time link to sign in to the web console"),
)
_LANGUAGE_NAMES = {"cy": "WELSH", "easy": "EASY READ"}
PREVIEW_LINES = 40  # lines of detail in the chat preview; the full preview is attached as a file
PROBLEM_LINES = 25
PROGRESS_STEPS = 5  # progress edits per stage (deterministic: by fraction, not by time)
CALLBACK = "adm"

HELP_TEXT = (
    "Updating your services\n\n"
    "1. Get the spreadsheet: download it from the web console (Services, then Download), or the blank template.\n"
    "2. Edit it (one row per service), keep the id column, save as CSV UTF-8.\n"
    "3. Send the file here as a document. I check every row and show what would change.\n"
    "4. Press Confirm to apply it (all of it or nothing), or Cancel.\n\n"
    "Services of your commissioner that are missing from the file are closed (kept in the history, restorable).\n"
    "/myservices lists your services; /verify ID records a check; /history ID shows changes; "
    "/restore ID VERSION brings back an earlier version; /close ID closes a service that no longer runs;"
    " /console sends a link to sign in to the web console.\n\n"
    "Entries marked NOT YET CONFIRMED came from the organisations' public pages when Signpost was set up: "
    "check each with the organisation, then /verify ID (as it is), send the corrected spreadsheet with "
    "confirmation 'confirmed' and the check date in verified_on, or /close ID."
)


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _button(label: str, *parts: str) -> InlineKeyboardButton | None:
    """An inline button, or ``None`` when its callback data would pass Telegram's 64-byte limit."""
    data = ":".join((CALLBACK, *parts))
    return InlineKeyboardButton(label, callback_data=data) if len(data.encode()) <= 64 else None


@dataclass
class _Progress:
    """Edits one chat message as the work in a worker thread advances (a few steps per stage)."""

    message: Message
    loop: asyncio.AbstractEventLoop
    shown: dict[str, int] = field(default_factory=dict)
    edits: int = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total <= 0:
            return
        step = done * PROGRESS_STEPS // total
        if self.shown.get(stage, -1) >= step:
            return
        self.shown[stage] = step
        text = f"{stage.capitalize()}: {done:,} of {total:,}"
        asyncio.run_coroutine_threadsafe(self._edit(text), self.loop).result(timeout=30)

    async def _edit(self, text: str) -> None:
        try:
            await self.message.edit_text(text)
            self.edits += 1
        except TelegramError as exc:  # not modified, flood control, ...: progress is best effort
            log.debug("progress edit skipped: %s", type(exc).__name__)


@dataclass(frozen=True)
class _Outcome:
    """What a planned upload came to: problems, a refusal, nothing to do, or a preview to confirm."""

    text: str
    plan: importer.ImportPlan | None = None
    changes: ChangeSet | None = None
    digest: str | None = None
    full_preview: str | None = None
    problems_file: str | None = None


@dataclass
class StaffBot:
    """The staff side of the bot.

    Parameters
    ----------
    engine
        The directory database.
    force_area
        Builds the force-area check (built on first use: the postcode index takes seconds).
    areas
        Boundary lookup for resolving coverage on apply, or ``None`` (no boundaries loaded).
    clock
        The current time (settable in tests).
    stale_after_days
        When a service counts as stale (``SIGNPOST_STALE_AFTER_DAYS``).
    pending_ttl
        How long a preview can be confirmed.
    console_url
        The web console's public address (``SIGNPOST_WEB_URL``) for ``/console`` sign-in links; ``None``: none.
    """

    engine: Engine
    force_area: Callable[[], ForceAreaCheck] = default_force_area_check
    areas: AreaGeometryLookup | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS
    pending_ttl: timedelta = timedelta(minutes=30)
    console_url: str | None = None
    _menus: set[int] = field(default_factory=set, init=False, repr=False)

    # --- wiring --------------------------------------------------------------------------------------------

    @classmethod
    def from_database(
        cls, engine: Engine, *, stale_after_days: int = DEFAULT_STALE_AFTER_DAYS, console_url: str | None = None
    ) -> StaffBot:
        """The staff side over a directory: PFA polygons for the force-area check when boundaries are loaded."""
        with Session(engine) as session:
            index = load_boundary_index(session=session)
        areas = index.geometry if index is not None else None
        return cls(
            engine=engine,
            force_area=partial(default_force_area_check, boundaries=areas),
            areas=areas,
            stale_after_days=stale_after_days,
            console_url=console_url,
        )

    def extension(self, application: Application) -> None:  # type: ignore[type-arg]
        """``build_application(..., extensions=[staff.extension], on_start=[staff.set_staff_menus])``."""
        application.add_handlers(self.handlers(), group=STAFF_GROUP)

    def handlers(self) -> list[Any]:
        private = filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED
        return [
            MessageHandler(private & (filters.COMMAND | filters.Document.ALL), self.on_message),
            CallbackQueryHandler(self.on_button, pattern=rf"^{CALLBACK}:"),
        ]

    async def set_staff_menus(self, application: Application) -> None:  # type: ignore[type-arg]
        """Each registered staff member's own chat gets the victim menu plus the staff commands."""
        with Session(self.engine) as session:
            ids = session.exec(
                select(Account.telegram_user_id).where(
                    col(Account.revoked_at).is_(None), col(Account.telegram_user_id).is_not(None)
                )
            ).all()
        for user_id in ids:
            if user_id is not None:
                await self._set_menu(application.bot, user_id)

    async def _set_menu(self, bot: Bot, user_id: int) -> None:
        cat = catalogue(Language.EN)
        commands = [BotCommand(name, _plain(cat[f"cmd_{name}"])[:256]) for name in MENU_COMMANDS]
        commands += [BotCommand(name, text[:256]) for name, text in STAFF_COMMANDS]
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(user_id))
            self._menus.add(user_id)
        except TelegramError as exc:  # a member who never opened the chat: their menu waits
            log.info("staff menu not set for one account: %s", type(exc).__name__)

    # --- handlers ------------------------------------------------------------------------------------------

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A staff command or an uploaded file; anything else, or anyone else, goes on to the victim flow."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None or chat.type != ChatType.PRIVATE:
            return
        command, args = _command(message)
        if message.document is None and command not in _COMMANDS:
            return
        principal = await asyncio.to_thread(self._principal, user.id)
        if principal is None:
            return  # not staff: the victim flow answers, as for anyone
        if user.id not in self._menus:  # registered since the bot started
            await self._set_menu(context.bot, user.id)
        if message.document is not None:
            await self._upload(message, principal, context)
        elif command is not None:
            await getattr(self, _COMMANDS[command])(message, principal, args)
        raise ApplicationHandlerStop

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Confirm / Cancel of a preview, Verify, History and Restore buttons."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        principal = await asyncio.to_thread(self._principal, user.id)
        if principal is None:
            return
        await query.answer()
        parts = (query.data or "").split(":")
        message = query.message if isinstance(query.message, Message) else None
        if message is None or len(parts) < 3:
            raise ApplicationHandlerStop
        verb, rest = parts[1], parts[2:]
        if verb == "ok":
            await self._confirm(message, principal, rest[0], context)
        elif verb == "no":
            await self._cancel(message, principal, rest[0])
        elif verb == "v":
            await self.cmd_verify(message, principal, [":".join(rest)])
        elif verb == "h":
            await self.cmd_history(message, principal, [":".join(rest)])
        elif verb == "r" and len(rest) >= 2:
            await self.cmd_restore(message, principal, [":".join(rest[1:]), rest[0]])
        raise ApplicationHandlerStop

    # --- commands ------------------------------------------------------------------------------------------

    async def cmd_help(self, message: Message, principal: Principal, args: Sequence[str]) -> None:
        await _reply(message, HELP_TEXT)

    async def cmd_console(self, message: Message, principal: Principal, args: Sequence[str]) -> None:
        """A one-time sign-in link for the web console, sent only to this member of staff's own chat."""
        if not self.console_url:
            await _reply(message, "There is no web console set up here (SIGNPOST_WEB_URL): ask your admin.")
            return

        def issue() -> signin.IssuedCode:
            with Session(self.engine, expire_on_commit=False) as session:
                return signin.issue_code(
                    session=session, account_id=principal.account_id, actor=principal.actor, now=self.clock()
                )

        issued = await asyncio.to_thread(issue)
        link = f"{self.console_url.rstrip('/')}/signin?code={issued.code}"
        await _reply(
            message,
            f"Your web console sign-in link (works once, until {issued.expires_at:%H:%M} UTC):\n{link}\n"
            "Do not forward it: whoever opens it first is signed in as you.",
        )

    async def cmd_myservices(self, message: Message, principal: Principal, args: Sequence[str]) -> None:
        now = self.clock()

        def load() -> list[ServiceRecord]:
            with Session(self.engine) as session:
                if principal.commissioner_code is None:
                    return stale_services(session=session, now=now, older_than_days=self.stale_after_days)
                records = repository.list_services(session=session, commissioner_code=principal.commissioner_code)
                # Unconfirmed entries first: they are in front of victims with only a public page behind them.
                return sorted(
                    (r for r in records if r.status is not ServiceStatus.CLOSED), key=lambda r: (r.confirmed, r.id)
                )

        records = await asyncio.to_thread(load)
        if principal.commissioner_code is None:
            head = f"{len(records)} services in the directory were last checked over {self.stale_after_days} days ago."
        else:
            head = f"{len(records)} services commissioned by {principal.commissioner_code}:"
        lines = [head]
        stale_ids: list[str] = []
        for r in records:
            stale = is_stale(r, now=now, older_than_days=self.stale_after_days) or not r.confirmed
            mark = " - NEEDS CHECKING" if stale else ""
            status = f" ({r.status.value})" if r.status is not ServiceStatus.ACTIVE else ""
            untranslated = " - NO " + " OR ".join(_LANGUAGE_NAMES[lang] for lang in r.untranslated())
            untranslated = untranslated if r.untranslated() else ""
            if r.confirmed and r.verified_on is not None:
                checked = f"last checked on {_long_date(r.verified_on)}"
            else:
                checked = "NOT YET CONFIRMED (from its public page)"
            lines.append(f"- {r.name} [{r.id}]{status}: {checked}{mark}{untranslated}")
            if stale:
                stale_ids.append(r.id)
        if not records:
            lines.append("None yet: send a spreadsheet (CSV) to add them. /staffhelp says how.")
        elif stale_ids:
            lines.append("After checking a service with its provider, press its button or send /verify ID.")
        if any(not r.confirmed for r in records):
            lines.append(
                "NOT YET CONFIRMED entries are shown to people with 'contact them first'. Check each with the"
                " organisation: /verify ID if it is right, send the corrected spreadsheet if not, /close ID if it"
                " no longer runs."
            )
        if any(r.untranslated() for r in records):
            lines.append(
                "Add the missing Welsh and Easy Read text in the spreadsheet's _cy and _easy columns"
                " (the template's notes say how); until then people reading in Welsh or Easy Read see English."
            )
        buttons = [b for sid in stale_ids[:10] if (b := _button(f"Checked: {sid}"[:60], "v", sid))]
        markup = InlineKeyboardMarkup([[b] for b in buttons]) if buttons else None
        await _reply(message, "\n".join(lines), markup=markup)

    async def cmd_verify(self, message: Message, principal: Principal, args: Sequence[str]) -> None:
        if not args:
            await _reply(message, "Which service? Send /verify ID (the id is in /myservices).")
            return
        service_id, today = args[0], self.clock().date()

        def run() -> str:
            with Session(self.engine, expire_on_commit=False) as session:
                if repository.get_service(session=session, service_id=service_id) is None:
                    return f"There is no service {service_id!r}. /myservices lists yours."
                decision = access.authorise(
                    session=session, principal=principal, action=Action.VERIFY, service_id=service_id, now=self.clock()
                )
                if not decision.allowed:
                    return _refused(decision)
                before = repository.get_service(session=session, service_id=service_id)
                record = repository.set_verified(
                    session=session, service_id=service_id, on=today, actor=principal.actor, now=self.clock()
                )
                if before is not None and record.version == before.version:
                    return f"Already recorded: {record.name} [{record.id}] was checked on {_long_date(today)} by you."
                if before is not None and not before.confirmed:
                    return f"Confirmed: {record.name} [{record.id}], checked on {_long_date(today)}."
                return f"Recorded: {record.name} [{record.id}] was checked on {_long_date(today)}."

        await _reply(message, await asyncio.to_thread(run))

    async def cmd_close(self, message: Message, principal: Principal, args: Sequence[str]) -> None:
        if not args:
            await _reply(message, "Which service? Send /close ID (the id is in /myservices).")
            return
        service_id = args[0]

        def run() -> str:
            with Session(self.engine, expire_on_commit=False) as session:
                if repository.get_service(session=session, service_id=service_id) is None:
                    return f"There is no service {service_id!r}. /myservices lists yours."
                decision = access.authorise(
                    session=session, principal=principal, action=Action.CLOSE, service_id=service_id, now=self.clock()
                )
                if not decision.allowed:
                    return _refused(decision)
                record = repository.close_service(
                    session=session, service_id=service_id, actor=principal.actor, now=self.clock()
                )
                return (
                    f"Closed: {record.name} [{record.id}] is no longer shown to anyone."
                    f" /history {record.id} can restore it."
                )

        await _reply(message, await asyncio.to_thread(run))

    async def cmd_history(self, message: Message, principal: Principal, args: Sequence[str]) -> None:
        if not args:
            await _reply(message, "Which service? Send /history ID.")
            return
        service_id = args[0]

        def run() -> tuple[list[repository.AuditRecord], ServiceRecord | None]:
            with Session(self.engine) as session:
                return (
                    repository.history(session=session, service_id=service_id),
                    repository.get_service(session=session, service_id=service_id),
                )

        entries, current = await asyncio.to_thread(run)
        if not entries:
            await _reply(message, f"There is no history for {service_id!r}. /myservices lists your services.")
            return
        lines = [f"History of {service_id} (newest first):"]
        restorable: list[int] = []
        for entry in reversed(entries[-15:]):
            what = entry.action
            if entry.changed_fields:
                what += ": " + ", ".join(entry.changed_fields)
            elif entry.action == "refused":
                what += f" ({entry.detail})"
            version = f"v{entry.version} " if entry.version is not None else ""
            lines.append(f"{version}{entry.at:%Y-%m-%d %H:%M} {entry.actor}: {what}")
            if (
                entry.after is not None
                and entry.version is not None
                and (current is None or entry.version != current.version)
                and entry.version not in restorable
            ):
                restorable.append(entry.version)
        if restorable:
            lines.append("To bring back an earlier version: press its button, or /restore ID VERSION.")
        buttons = [b for v in restorable[:5] if (b := _button(f"Restore v{v}", "r", str(v), service_id))]
        markup = InlineKeyboardMarkup([buttons]) if buttons else None
        await _reply(message, "\n".join(lines), markup=markup)

    async def cmd_restore(self, message: Message, principal: Principal, args: Sequence[str]) -> None:
        if len(args) < 2 or not args[1].isdigit():
            await _reply(message, "Send /restore ID VERSION (the versions are in /history ID).")
            return
        service_id, version = args[0], int(args[1])

        def run() -> str:
            with Session(self.engine, expire_on_commit=False) as session:
                states = {
                    e.version: e.after
                    for e in repository.history(session=session, service_id=service_id)
                    if e.after is not None and e.version is not None
                }
                if version not in states:
                    known = ", ".join(str(v) for v in sorted(states)) or "none"
                    return f"{service_id!r} has no version {version} (versions: {known})."
                decision = access.authorise(
                    session=session,
                    principal=principal,
                    action=Action.RESTORE,
                    service_id=service_id,
                    proposed=states[version],
                    force_area=self._force_area_if_needed(principal),
                    now=self.clock(),
                )
                if not decision.allowed:
                    return _refused(decision)
                current = repository.get_service(session=session, service_id=service_id)
                try:
                    restored = repository.restore(
                        session=session,
                        service_id=service_id,
                        version=version,
                        actor=principal.actor,
                        areas=self.areas,
                        now=self.clock(),
                    )
                except repository.DirectoryError as exc:
                    return f"Not restored: {exc}"
                if current is not None and restored.version == current.version:
                    return f"{restored.name} [{service_id}] already has version {version}'s content: nothing changed."
                return (
                    f"Restored {restored.name} [{service_id}] to version {version}'s content (now v{restored.version})."
                )

        await _reply(message, await asyncio.to_thread(run))

    # --- uploads -------------------------------------------------------------------------------------------

    async def _upload(self, message: Message, principal: Principal, context: ContextTypes.DEFAULT_TYPE) -> None:
        document = message.document
        assert document is not None
        name = document.file_name or "upload.csv"
        if principal.role is Role.ANALYST:
            decision = await asyncio.to_thread(self._refuse_import, principal)
            await _reply(message, _refused(decision))
            return
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            await _reply(
                message,
                f"{name} is not a services file: send a CSV (.csv, saved as CSV UTF-8), GeoJSON (.geojson) or "
                "Open Referral UK (.json) file. /staffhelp says how.",
            )
            return
        if document.file_size is not None and document.file_size > MAX_DOWNLOAD_BYTES:
            await _reply(
                message,
                f"{name} is {document.file_size / 1_048_576:.1f} MB; Telegram lets me read files up to 20 MB. "
                "Split it (for example by commissioner) and send the parts. Nothing was changed.",
            )
            return
        status = await message.reply_text(f"Received {name}. Reading it...")
        outcome = await self._plan(status, principal, document.file_id, name, context)
        await self._send_outcome(message, status, principal, outcome, document.file_id, name)

    async def _plan(
        self,
        status: Message,
        principal: Principal,
        file_id: str,
        name: str,
        context: ContextTypes.DEFAULT_TYPE,
    ) -> _Outcome:
        telegram_file = await context.bot.get_file(file_id)
        buffer = _CappedBuffer()
        with contextlib.suppress(_TooBig):  # the first limit + 1 bytes are kept: plan_import reports the size
            await telegram_file.download_to_memory(out=buffer)
        data = buffer.getvalue()
        progress = _Progress(status, asyncio.get_running_loop())
        return await asyncio.to_thread(self._plan_sync, principal, data, name, progress)

    def _plan_sync(self, principal: Principal, data: bytes, name: str, progress: _Progress) -> _Outcome:
        with Session(self.engine, expire_on_commit=False) as session:
            preview = preview_upload(
                session=session,
                principal=principal,
                data=data,
                name=name,
                force_area=self._force_area_if_needed(principal),
                progress=progress,
                now=self.clock(),
            )
        plan = preview.plan
        if preview.decision is None or plan.changes is None:
            return _problems_outcome(plan)
        if not preview.decision.allowed:
            return _Outcome(_refused(preview.decision, nothing_changed=True))
        changes = plan.changes
        if changes.is_empty:
            return _Outcome(f"{plan.file} matches the directory: there is nothing to change.")
        full = preview_text(changes, file=plan.file, limit=None)
        short = preview_text(changes, file=plan.file, limit=PREVIEW_LINES)
        return _Outcome(
            short + "\n\nApply these changes? Nothing changes until you press Confirm.",
            plan=plan,
            changes=changes,
            digest=preview.digest,
            full_preview=full if full != short else None,
        )

    async def _send_outcome(
        self, message: Message, status: Message, principal: Principal, outcome: _Outcome, file_id: str, name: str
    ) -> None:
        await _edit_or_reply(status, "Checked.")
        if outcome.problems_file is not None:
            await message.reply_document(
                outcome.problems_file.encode("utf-8"), filename="problems.txt", caption="Every problem, located."
            )
        if outcome.changes is None or outcome.digest is None:
            await _reply(message, outcome.text)
            return
        if outcome.full_preview is not None:
            await message.reply_document(
                outcome.full_preview.encode("utf-8"), filename="preview.txt", caption="The full preview."
            )
        nonce = await asyncio.to_thread(self._remember, principal, file_id, name, outcome.digest)
        buttons = [b for b in (_button("Confirm", "ok", nonce), _button("Cancel", "no", nonce)) if b]
        await _reply(message, outcome.text, markup=InlineKeyboardMarkup([buttons]))

    def _remember(self, principal: Principal, file_id: str, name: str, digest: str) -> str:
        now = self.clock()
        nonce = secrets.token_hex(8)
        with Session(self.engine) as session:
            session.execute(delete(PendingUpload).where(col(PendingUpload.expires_at) < now))
            session.add(
                PendingUpload(
                    id=nonce,
                    account_id=principal.account_id,
                    file_id=file_id[:256],
                    file_name=name[:255],
                    digest=digest,
                    created_at=now,
                    expires_at=now + self.pending_ttl,
                )
            )
            session.commit()
        return nonce

    def _take(self, principal: Principal, nonce: str) -> PendingUpload | Decision | None:
        """The pending upload, if it is this person's and not expired; it is removed either way.

        Someone else's preview (a colleague pressing Confirm in a shared chat) is left for its owner, and the
        attempt is refused and audited like any other refusal.
        """
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session:
            pending = session.get(PendingUpload, nonce)
            if pending is None:
                return None
            if pending.account_id != principal.account_id:
                decision = Decision(
                    allowed=False,
                    action=Action.IMPORT,
                    actor=principal.actor,
                    reasons=("this preview belongs to the person who sent the file: only they can confirm or cancel",),
                )
                access.record_refusal(session=session, decision=decision, service_id=None, now=now)
                return decision
            session.delete(pending)
            session.commit()
        expires = pending.expires_at if pending.expires_at.tzinfo else pending.expires_at.replace(tzinfo=UTC)
        return pending if expires > now else None

    async def _confirm(
        self, message: Message, principal: Principal, nonce: str, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        pending = await asyncio.to_thread(self._take, principal, nonce)
        if isinstance(pending, Decision):
            await _reply(message, _refused(pending, nothing_changed=True))
            return
        await _drop_buttons(message)
        if pending is None:
            await _reply(message, "This preview has expired or was already used: send the file again.")
            return
        status = await message.reply_text("Applying: checking the file again...")
        outcome = await self._plan(status, principal, pending.file_id, pending.file_name, context)
        if outcome.changes is None or outcome.digest is None:
            await _edit_or_reply(status, "Not applied.")
            await _reply(message, outcome.text)
            return
        if outcome.digest != pending.digest:
            await _edit_or_reply(status, "Not applied: the directory changed since your preview.")
            await _reply(
                message,
                "Someone changed the directory after your preview, so your changes were not applied. "
                "Here is the preview against the directory as it is now:",
            )
            await self._send_outcome(message, status, principal, outcome, pending.file_id, pending.file_name)
            return
        assert outcome.plan is not None
        report = await asyncio.to_thread(self._apply, principal, outcome.plan)
        await _edit_or_reply(status, "Done." if report.applied else "Not applied.")
        if not report.applied:
            lines = ["Nothing was changed:"] + [f"- {p.message}" for p in report.problems]
            await _reply(message, "\n".join(lines))
            return
        await _reply(
            message,
            f"Done: {len(report.created)} added, {len(report.updated)} changed, {len(report.closed)} closed. "
            "Every change is in the history (/history ID) and can be undone with /restore.",
        )

    def _apply(self, principal: Principal, plan: importer.ImportPlan) -> importer.ImportReport:
        """One transaction; a service changed since the plan was made is reported, not overwritten."""
        with Session(self.engine, expire_on_commit=False) as session:
            return importer.apply_import(session=session, plan=plan, actor=principal.actor, areas=self.areas)

    async def _cancel(self, message: Message, principal: Principal, nonce: str) -> None:
        pending = await asyncio.to_thread(self._take, principal, nonce)
        if isinstance(pending, Decision):
            await _reply(message, _refused(pending, nothing_changed=True))
            return
        await _drop_buttons(message)
        text = "Cancelled: nothing was changed." if pending is not None else "This preview was already closed."
        await _reply(message, text)

    # --- helpers -------------------------------------------------------------------------------------------

    def _principal(self, telegram_user_id: int) -> Principal | None:
        with Session(self.engine) as session:
            return access.principal_for_telegram(session=session, telegram_user_id=telegram_user_id)

    def _refuse_import(self, principal: Principal) -> Decision:
        with Session(self.engine) as session:
            return access.authorise(session=session, principal=principal, action=Action.IMPORT, now=self.clock())

    def _force_area_if_needed(self, principal: Principal) -> ForceAreaCheck | None:
        return self.force_area() if principal.role is Role.PCC_EDITOR else None


_COMMANDS = {
    "myservices": "cmd_myservices",
    "verify": "cmd_verify",
    "close": "cmd_close",
    "history": "cmd_history",
    "restore": "cmd_restore",
    "staffhelp": "cmd_help",
    "console": "cmd_console",
}


def _plain(text: str) -> str:
    """A catalogue string without its HTML (command menus are plain text)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _command(message: Message) -> tuple[str | None, list[str]]:
    text = (message.text or "").strip()
    if not text.startswith("/"):
        return None, []
    head, *args = text.split()
    return head[1:].split("@", 1)[0].lower(), args


def _refused(decision: Decision, *, nothing_changed: bool = False) -> str:
    lines = ["Not allowed" + (" (nothing was changed):" if nothing_changed else ":")]
    lines += [f"- {reason}" for reason in decision.reasons[:PROBLEM_LINES]]
    if len(decision.reasons) > PROBLEM_LINES:
        lines.append(f"... and {len(decision.reasons) - PROBLEM_LINES} more")
    return "\n".join(lines)


def _problems_outcome(plan: importer.ImportPlan) -> _Outcome:
    problems = [str(p) for p in plan.problems]
    lines = [f"{plan.file} has {len(problems)} problem{'s' if len(problems) != 1 else ''}; nothing was changed:"]
    lines += [f"- {p}" for p in problems[:PROBLEM_LINES]]
    attached = None
    if len(problems) > PROBLEM_LINES:
        lines.append(f"... and {len(problems) - PROBLEM_LINES} more: see the attached problems.txt")
        attached = "\n".join(problems) + "\n"
    lines.append("Fix them in the spreadsheet and send it again.")
    return _Outcome("\n".join(lines), problems_file=attached)


async def _reply(message: Message, text: str, *, markup: InlineKeyboardMarkup | None = None) -> None:
    parts = split_text(text, TELEGRAM_LIMIT) or [""]
    for i, part in enumerate(parts):
        await message.get_bot().send_message(
            message.chat.id, part, reply_markup=markup if i == len(parts) - 1 else None
        )


async def _edit_or_reply(message: Message, text: str) -> None:
    try:
        await message.edit_text(text)
    except BadRequest:
        await message.get_bot().send_message(message.chat.id, text)


async def _drop_buttons(message: Message) -> None:
    try:
        await message.edit_reply_markup(reply_markup=None)
    except BadRequest as exc:
        log.debug("buttons not removed: %s", type(exc).__name__)
