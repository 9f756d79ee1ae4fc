"""The PCC team's side of the bot, offline: real ``Update`` objects through the real Application, with the staff
handlers plugged in as the adapter's extension, over a real directory on SQLite and PostgreSQL.

The HTTP layer is the adapter's :class:`RecordingRequest`, taught here to serve the files a person uploads
(getFile + download) and to accept sendDocument, as the Bot API does.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from telegram import Update
from telegram.request import RequestData

from bot.adapters.offline import RecordedCall, RecordingRequest
from bot.adapters.telegram import VictimBot, build_application
from bot.adapters.telegram_admin import StaffBot
from bot.engine import Engine as ConversationEngine
from bot.persistence import ChatKeyer, ConversationStore
from mapping.areas import AreaRegistry
from mapping.types import Confirmation, ServiceRecord, channel_key
from services_db import access, importer, repository, signin
from services_db.diff import ChangeSet, ServiceChange
from services_db.force_area import ForceAreaCheck, default_force_area_check
from services_db.formats import write_services
from services_db.models import Account, AuditEntry, PendingUpload, Service
from services_db.uploads import change_digest
from tests.bot.support import Clock, shipped_signposter
from tests.services_db.factories import DRAMA_PHONES, PLACES, area_service, phone, radius_service

TOKEN = "123456:ADMIN-TEST"
NOW = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
LEEDS_LAT, LEEDS_LON, LEEDS_LAD, WEST_YORKSHIRE = PLACES["leeds"]
OWN, OTHER = "pcc-E23000010", "pcc-E23000005"
EDITOR_ID, SECOND_EDITOR_ID, ANALYST_ID, STRANGER_ID = 5001, 5002, 5003, 9999


class FileRequest(RecordingRequest):
    """RecordingRequest plus the file side of the Bot API: uploaded files by id, and documents the bot sends."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.documents: list[tuple[str, bytes]] = []

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            return 200, self.files[url.rsplit("/", 1)[-1]]
        api_method = url.rsplit("/", 1)[-1]
        if api_method == "getFile":
            params = dict(request_data.json_parameters) if request_data is not None else {}
            self.calls.append(RecordedCall(api_method, params))
            file_id = params["file_id"]
            result = {"file_id": file_id, "file_unique_id": file_id, "file_size": len(self.files[file_id])}
            return 200, json.dumps({"ok": True, "result": {**result, "file_path": f"documents/{file_id}"}}).encode()
        if api_method == "sendDocument" and request_data is not None:
            for _, (filename, content, *_rest) in (request_data.multipart_data or {}).items():
                self.documents.append((filename, content))
            self.calls.append(RecordedCall(api_method, dict(request_data.json_parameters)))
            message = self._message("sendMessage", dict(request_data.json_parameters))
            message["document"] = {"file_id": "sent", "file_unique_id": "sent"}
            return 200, json.dumps({"ok": True, "result": message}).encode()
        return await super().do_request(url, method, request_data, *args, **kwargs)


class Person:
    """One private chat with the bot."""

    _update_ids = itertools.count(1)
    _file_ids = itertools.count(1)

    def __init__(self, harness: Harness, user_id: int) -> None:
        self.h, self.user_id = harness, user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": "Sam", "language_code": "en"}
        self._message_ids = itertools.count(1)

    def _message(self, **fields: Any) -> dict[str, Any]:
        chat = {"id": self.user_id, "type": "private"}
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user,
            **fields,
        }

    async def _process(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.h.request.clear()
        self.h.request.documents.clear()
        update = Update.de_json({"update_id": next(self._update_ids), **data}, self.h.app.bot)
        await self.h.app.process_update(update)
        return [{"method": c.method, **c.params} for c in self.h.request.calls]

    async def send(self, text: str) -> list[dict[str, Any]]:
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text[:1] == "/" else []
        return await self._process({"message": self._message(text=text, entities=entities)})

    async def upload(self, name: str, content: bytes, *, size: int | None = None) -> list[dict[str, Any]]:
        file_id = f"file{next(self._file_ids)}-{self.user_id}"
        self.h.request.files[file_id] = content
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name,
            "mime_type": "text/csv",
            "file_size": size if size is not None else len(content),
        }
        return await self._process({"message": self._message(document=document)})

    async def press(self, data: str) -> list[dict[str, Any]]:
        message = self._message(text="earlier message")
        message["from"] = {"id": 777000, "is_bot": True, "first_name": "Signpost"}
        query = {"id": str(next(self._update_ids)), "from": self.user, "chat_instance": "1", "data": data}
        return await self._process({"callback_query": {**query, "message": message}})


def texts(calls: list[dict[str, Any]]) -> list[str]:
    return [c["text"] for c in calls if c["method"] == "sendMessage"]


def buttons(calls: list[dict[str, Any]]) -> dict[str, str]:
    """Label -> callback data of every inline button sent."""
    out = {}
    for c in calls:
        markup = c.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        for row in markup.get("inline_keyboard", []):
            for b in row:
                out[b["text"]] = b.get("callback_data")
    return out


class Harness:
    def __init__(self, engine: Engine, force_area: ForceAreaCheck) -> None:
        self.db = engine
        self.clock = Clock(NOW)
        self.request = FileRequest()
        store = ConversationStore(engine, keyer=ChatKeyer(b"admin-test-secret-0123456789abc"), ttl=timedelta(hours=1))
        victim = VictimBot(engine=ConversationEngine(shipped_signposter(), clock=self.clock), store=store)
        self.staff = StaffBot(
            engine=engine, force_area=lambda: force_area, clock=self.clock, console_url="https://console.example"
        )
        self.app = build_application(
            token=TOKEN, victim_bot=victim, request=self.request, extensions=[self.staff.extension]
        )

    def person(self, user_id: int) -> Person:
        return Person(self, user_id)

    def services(self) -> dict[str, ServiceRecord]:
        with Session(self.db) as session:
            return {r.id: r for r in repository.list_services(session=session)}

    def refusals(self) -> list[AuditEntry]:
        with Session(self.db) as session:
            return list(session.exec(select(AuditEntry).where(AuditEntry.action == "refused")))


def _leeds(service_id: str, **overrides: Any) -> ServiceRecord:
    return area_service(LEEDS_LAD, service_id=service_id, commissioner_code=OWN, **overrides)


@pytest.fixture(scope="module")
def force_area() -> ForceAreaCheck:
    return default_force_area_check()


@pytest.fixture
async def harness(engine: Engine, force_area: ForceAreaCheck) -> AsyncIterator[Harness]:
    registry = AreaRegistry.default()
    with Session(engine, expire_on_commit=False) as session:
        repository.upsert_commissioners(
            session=session,
            commissioners=[registry.commissioner_for(WEST_YORKSHIRE), registry.commissioner_for("E23000005")],
        )
        for record in (
            _leeds("leeds-hub", verified_on=date(2025, 1, 10)),  # stale by NOW
            _leeds("leeds-youth", verified_on=date(2026, 10, 1)),
            area_service(PLACES["manchester"][2], service_id="manchester-hub", commissioner_code=OTHER),
        ):
            repository.create_service(session=session, record=record, actor="setup", now=NOW - timedelta(days=1))
        for name, role, tid in (
            ("Leeds team", "pcc_editor", EDITOR_ID),
            ("Leeds deputy", "pcc_editor", SECOND_EDITOR_ID),
            ("Analyst", "analyst", ANALYST_ID),
        ):
            access.add_account(
                session=session,
                name=name,
                role=role,
                commissioner_code=OWN if role == "pcc_editor" else None,
                telegram_user_id=tid,
                actor="setup",
            )
    h = Harness(engine, force_area)
    async with h.app:
        yield h


def _csv(records: list[ServiceRecord]) -> bytes:
    return write_services(records, "csv").encode("utf-8")


# --- victims never see the staff side --------------------------------------------------------------------


async def test_a_stranger_gets_only_the_victim_flow(harness: Harness) -> None:
    stranger = harness.person(STRANGER_ID)
    before = harness.services()
    for calls in (
        await stranger.send("/myservices"),
        await stranger.send("/verify leeds-hub"),
        await stranger.upload("services.csv", _csv([_leeds("sneaky")])),
    ):
        sent = [c for c in calls if c["method"] == "sendMessage"]
        assert sent and all(c.get("parse_mode") == "HTML" for c in sent)  # the victim engine answered
        assert "getFile" not in {c["method"] for c in calls}
        joined = "\n".join(texts(calls))
        assert "commissioned by" not in joined and "Preview" not in joined and "Not allowed" not in joined
    assert harness.services() == before
    with Session(harness.db) as session:
        assert session.exec(select(func.count()).select_from(PendingUpload)).one() == 0
        assert session.exec(select(Account).where(Account.telegram_user_id == STRANGER_ID)).first() is None
    assert harness.refusals() == []  # nothing about a victim is recorded


async def test_staff_menus_are_per_chat(harness: Harness) -> None:
    calls = await harness.person(STRANGER_ID).send("/myservices")
    assert "setMyCommands" not in {c["method"] for c in calls}
    calls = await harness.person(EDITOR_ID).send("/myservices")  # registered after start: menu set on first use
    assert [c["method"] for c in calls].count("setMyCommands") == 1
    harness.request.clear()
    await harness.staff.set_staff_menus(harness.app)
    scoped = harness.request.of("setMyCommands")
    chats = sorted(json.loads(c["scope"])["chat_id"] if isinstance(c["scope"], str) else c["scope"]["chat_id"]
                   for c in scoped)  # fmt: skip
    assert chats == [EDITOR_ID, SECOND_EDITOR_ID, ANALYST_ID]
    names = {cmd["command"] for cmd in (json.loads(scoped[0]["commands"]) if isinstance(scoped[0]["commands"], str)
                                        else scoped[0]["commands"])}  # fmt: skip
    assert {"myservices", "verify", "history", "start", "emergency"} <= names


# --- /myservices, /verify, /history, /restore -------------------------------------------------------------


async def test_myservices_lists_own_services_with_last_checked_and_verify_buttons(harness: Harness) -> None:
    calls = await harness.person(EDITOR_ID).send("/myservices")
    text = "\n".join(texts(calls))
    assert "[leeds-hub]: last checked on 10 January 2025 - NEEDS CHECKING" in text
    assert "[leeds-youth]: last checked on 1 October 2026" in text and "manchester-hub" not in text
    assert buttons(calls) == {"Checked: leeds-hub": "adm:v:leeds-hub"}
    assert all("parse_mode" not in c for c in calls if c["method"] == "sendMessage")


async def test_verify_own_service_and_refuse_another_commissioners(harness: Harness) -> None:
    editor = harness.person(EDITOR_ID)
    calls = await editor.press("adm:v:leeds-hub")
    assert "Recorded: Test service leeds-hub [leeds-hub] was checked on 26 November 2026." in texts(calls)
    assert harness.services()["leeds-hub"].verified_on == NOW.date()
    version = harness.services()["leeds-hub"].version
    calls = await editor.press("adm:v:leeds-hub")  # the same person again the same day: nothing new to record
    assert (
        texts(calls)[0]
        == "Already recorded: Test service leeds-hub [leeds-hub] was checked on 26 November 2026 by you."
    )
    assert harness.services()["leeds-hub"].version == version
    calls = await editor.send("/verify manchester-hub")
    assert texts(calls)[0].startswith("Not allowed:")
    assert "commissioned by pcc-E23000005" in texts(calls)[0]
    assert harness.services()["manchester-hub"].verified_on != NOW.date()
    refusals = harness.refusals()
    assert (
        len(refusals) == 1 and refusals[0].actor.startswith("Leeds team") and refusals[0].service_id == "manchester-hub"
    )


async def test_history_and_restore(harness: Harness) -> None:
    editor = harness.person(EDITOR_ID)
    changed = replace(harness.services()["leeds-youth"], channels=(phone(DRAMA_PHONES[5]),))
    with Session(harness.db, expire_on_commit=False) as session:
        repository.update_service(session=session, record=changed, actor="someone", expected_version=1, now=NOW)
    calls = await editor.send("/history leeds-youth")
    text = texts(calls)[0]
    assert "v2 2026-11-26 14:30 someone: update: channels" in text and "v1 " in text
    assert buttons(calls) == {"Restore v1": "adm:r:1:leeds-youth"}
    calls = await editor.press("adm:r:1:leeds-youth")
    assert "to version 1's content (now v3)" in texts(calls)[0]
    assert harness.services()["leeds-youth"].channels != changed.channels
    calls = await editor.press("adm:r:1:leeds-youth")  # the old button again: no identical extra version
    assert "already has version 1's content: nothing changed" in texts(calls)[0]
    assert harness.services()["leeds-youth"].version == 3
    calls = await editor.send("/restore manchester-hub 1")
    assert texts(calls)[0].startswith("Not allowed:") and len(harness.refusals()) == 1


# --- uploads -----------------------------------------------------------------------------------------------


async def test_upload_preview_confirm_applies_in_one_go(harness: Harness) -> None:
    editor = harness.person(EDITOR_ID)
    stored = harness.services()
    new_phone = DRAMA_PHONES[7]
    file = _csv(
        [replace(stored["leeds-hub"], channels=(phone(new_phone),)), stored["leeds-youth"], _leeds("leeds-new")]
    )
    calls = await editor.upload("leeds.csv", file)
    preview = texts(calls)[-1]
    assert "Preview of leeds.csv: 1 added, 1 changed, 0 removed (closed)" in preview
    assert "+ added leeds-new" in preview and "~ changed leeds-hub" in preview and new_phone in preview
    assert any(c["method"] == "editMessageText" for c in calls)  # progress on the status message
    assert harness.services() == stored  # nothing until confirmed
    confirm = buttons(calls)["Confirm"]
    calls = await editor.press(confirm)
    assert "Done: 1 added, 1 changed, 0 closed." in texts(calls)[-1]
    after = harness.services()
    assert "leeds-new" in after and after["leeds-hub"].channels[0].value == new_phone
    with Session(harness.db) as session:
        actors = set(session.exec(select(AuditEntry.actor).where(AuditEntry.service_id == "leeds-new")).all())
        assert actors == {"Leeds team (account 1, telegram)"}
        assert session.exec(select(func.count()).select_from(PendingUpload)).one() == 0
    calls = await editor.press(confirm)  # a second press does nothing
    assert "already used" in texts(calls)[-1]


async def test_cancel_changes_nothing(harness: Harness) -> None:
    editor = harness.person(EDITOR_ID)
    stored = harness.services()
    calls = await editor.upload("leeds.csv", _csv([*[stored[k] for k in ("leeds-hub", "leeds-youth")], _leeds("x1")]))
    calls = await editor.press(buttons(calls)["Cancel"])
    assert texts(calls)[-1] == "Cancelled: nothing was changed."
    assert harness.services() == stored


async def test_an_upload_with_errors_changes_nothing_and_says_where(harness: Harness) -> None:
    editor = harness.person(EDITOR_ID)
    stored = harness.services()
    good = _csv([stored["leeds-hub"], stored["leeds-youth"], _leeds("leeds-new")]).decode()
    lines = good.splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("kind")] = "wizardry"
    bad = "\n".join([*lines[:3], ",".join(row)]).encode()
    calls = await editor.upload("leeds.csv", bad)
    text = texts(calls)[-1]
    assert "has 1 problem; nothing was changed" in text and "row 4" in text and "kind" in text
    assert "Confirm" not in buttons(calls)
    assert harness.services() == stored


async def test_an_upload_reaching_another_force_is_refused_and_audited(harness: Harness) -> None:
    editor = harness.person(EDITOR_ID)
    stored = harness.services()
    # Wetherby, 6 km: about 40 % in North Yorkshire: a valid file (a warning), but beyond what an editor may do.
    outside = radius_service(53.92, -1.40, 6_000, service_id="leeds-reaching-north-yorkshire", commissioner_code=OWN)
    calls = await editor.upload("leeds.csv", _csv([stored["leeds-hub"], stored["leeds-youth"], outside]))
    text = texts(calls)[-1]
    assert text.startswith("Not allowed (nothing was changed):") and "leeds-reaching-north-yorkshire" in text
    assert harness.services() == stored
    assert [r.detail.split(":")[0] for r in harness.refusals()] == ["import"]


async def test_an_analyst_upload_is_refused_and_audited(harness: Harness) -> None:
    stored = harness.services()
    calls = await harness.person(ANALYST_ID).upload("x.csv", _csv([_leeds("x")]))
    assert texts(calls)[-1].startswith("Not allowed:") and "analysts" in texts(calls)[-1]
    assert harness.services() == stored and len(harness.refusals()) == 1


async def test_a_file_over_telegrams_limit_is_not_downloaded(harness: Harness) -> None:
    calls = await harness.person(EDITOR_ID).upload("big.csv", b"id\n", size=25 * 1024 * 1024)
    assert "up to 20 MB" in texts(calls)[-1] and "getFile" not in {c["method"] for c in calls}


@pytest.mark.parametrize("with_versions", [True, False], ids=["exported-file", "no-version-column"])
async def test_two_editors_of_one_service_the_second_is_told(harness: Harness, with_versions: bool) -> None:
    first, second = harness.person(EDITOR_ID), harness.person(SECOND_EDITOR_ID)
    stored = harness.services()
    base = [stored["leeds-hub"], stored["leeds-youth"]]
    mine = _csv([replace(base[0], channels=(phone(DRAMA_PHONES[2]),)), base[1]])
    theirs = _csv([replace(base[0], channels=(phone(DRAMA_PHONES[3]),)), base[1]])
    if not with_versions:
        mine, theirs = _drop_column(mine, "version"), _drop_column(theirs, "version")
    confirm_first = buttons(await first.upload("a.csv", mine))["Confirm"]
    confirm_second = buttons(await second.upload("b.csv", theirs))["Confirm"]
    assert "Done:" in texts(await first.press(confirm_first))[-1]
    calls = await second.press(confirm_second)
    joined = "\n".join(texts(calls))
    if with_versions:  # the file says which version it was edited from: the import names the service
        assert "'leeds-hub' was changed by someone else after this file was exported" in joined
        assert "Confirm" not in buttons(calls)
    else:  # the preview's digest no longer matches: a new preview against the new state
        assert "Someone changed the directory after your preview" in joined
        assert f"{DRAMA_PHONES[2]} -> {DRAMA_PHONES[3]}" in joined
        assert "Confirm" in buttons(calls)
    assert harness.services()["leeds-hub"].channels[0].value == DRAMA_PHONES[2]  # not overwritten


async def test_someone_elses_confirm_is_refused_audited_and_left_for_its_owner(harness: Harness) -> None:
    owner, colleague = harness.person(EDITOR_ID), harness.person(SECOND_EDITOR_ID)
    stored = harness.services()
    calls = await owner.upload("a.csv", _csv([stored["leeds-hub"], stored["leeds-youth"], _leeds("leeds-other")]))
    confirm, cancel = buttons(calls)["Confirm"], buttons(calls)["Cancel"]
    for button in (confirm, cancel):
        calls = await colleague.press(button)
        assert texts(calls)[-1].startswith("Not allowed (nothing was changed):")
        assert "only they can confirm or cancel" in texts(calls)[-1]
    assert len(harness.refusals()) == 2 and "leeds-other" not in harness.services()
    assert "Done:" in texts(await owner.press(confirm))[-1]  # still the owner's to confirm


def _drop_column(content: bytes, column: str) -> bytes:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    index = rows[0].index(column)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([r[:index] + r[index + 1 :] for r in rows])
    return out.getvalue().encode("utf-8")


@pytest.mark.slow
async def test_a_large_upload_shows_progress_and_applies(harness: Harness) -> None:
    editor = harness.person(EDITOR_ID)
    stored = harness.services()
    records = [stored["leeds-hub"], stored["leeds-youth"]]
    for n in range(4_998):
        if n % 2:
            records.append(_leeds(f"leeds-bulk-{n:05d}", name=f"Leeds centre {n}"))
        else:
            lat, lon = LEEDS_LAT + (n % 40 - 20) * 0.001, LEEDS_LON + (n // 40 % 40 - 20) * 0.001
            records.append(
                radius_service(
                    round(lat, 4), round(lon, 4), 1_500, service_id=f"leeds-bulk-{n:05d}", commissioner_code=OWN
                )
            )
    content = _csv(records)
    assert len(content) < 20 * 1024 * 1024
    calls = await editor.upload("all-of-leeds.csv", content)
    progress = [c["text"] for c in calls if c["method"] == "editMessageText"]
    assert any(t.startswith("Validating: ") for t in progress), progress
    assert any(t.startswith("Checking your force area: 4,998 of 4,998") for t in progress), progress
    assert "4998 added" in texts(calls)[-1]
    assert [name for name, _ in harness.request.documents] == ["preview.txt"]
    calls = await editor.press(buttons(calls)["Confirm"])
    assert "Done: 4998 added" in texts(calls)[-1]
    with Session(harness.db) as session:
        assert session.exec(select(func.count()).select_from(Service)).one() == 5_001


def test_change_digest_changes_with_the_versions_changed_against() -> None:
    before = _leeds("a")
    after = replace(before, description="new")
    one = ChangeSet(added=(), changed=(ServiceChange("a", before, after, ()),), removed=(), unchanged=())
    two = ChangeSet(
        added=(), changed=(ServiceChange("a", replace(before, version=2), after, ()),), removed=(), unchanged=()
    )
    assert change_digest(one) != change_digest(two)
    assert change_digest(one) == change_digest(replace(one))


async def test_a_change_between_the_last_check_and_the_write_is_refused_and_explained(harness: Harness) -> None:
    """The last window: the plan was re-checked on confirm, then someone wrote before the apply (VersionConflict)."""
    stored = harness.services()
    edited = replace(stored["leeds-hub"], channels=(phone(DRAMA_PHONES[8]),))
    file = _drop_column(_csv([edited, stored["leeds-youth"]]), "version")
    with Session(harness.db) as session:
        plan = importer.plan_import(session=session, data=file, name="late.csv")
    assert plan.ok
    meanwhile = replace(stored["leeds-hub"], description="edited by the other editor")
    with Session(harness.db, expire_on_commit=False) as session:
        repository.update_service(session=session, record=meanwhile, actor="other", expected_version=1, now=NOW)
    editor = access.Principal(1, "Leeds team", access.Role.PCC_EDITOR, OWN, "telegram")
    report = harness.staff._apply(editor, plan)
    assert not report.applied
    assert "'leeds-hub' was changed by someone else" in report.problems[0].message
    assert harness.services()["leeds-hub"].description == "edited by the other editor"


async def test_myservices_says_which_services_lack_welsh_or_easy_read(harness: Harness) -> None:
    youth = harness.services()["leeds-youth"]
    assert youth.description and youth.untranslated() == ("cy", "easy")
    notes = {channel_key(c): "nodyn" for c in youth.channels if c.note}
    translated = replace(
        youth,
        translations={
            "cy": {"description": "Data prawf.", "notes": notes},
            "easy": {"summary": "Test.", "notes": notes},
        },
    )
    assert translated.untranslated() == ()
    with Session(harness.db, expire_on_commit=False) as session:
        repository.update_service(session=session, record=translated, actor="someone", expected_version=1, now=NOW)
    text = "\n".join(texts(await harness.person(EDITOR_ID).send("/myservices")))
    lines = {
        sid: next(line for line in text.splitlines() if f"[{sid}]" in line) for sid in ("leeds-hub", "leeds-youth")
    }
    assert lines["leeds-hub"].endswith(" - NO WELSH OR EASY READ")
    assert "NO WELSH" not in lines["leeds-youth"]
    assert "_cy and _easy columns" in text


async def test_console_sends_a_one_time_sign_in_link_to_staff_only(harness: Harness) -> None:
    calls = await harness.person(EDITOR_ID).send("/console")
    [text] = texts(calls)
    found = re.search(r"https://console\.example/signin\?code=(\S+)", text)
    assert found and "works once" in text
    with Session(harness.db, expire_on_commit=False) as session:
        opened = signin.redeem_code(session=session, code=found.group(1), now=NOW)
    assert not isinstance(opened, access.Decision) and opened.principal.name == "Leeds team"
    stranger = await harness.person(999_999).send("/console")
    assert not any("signin?code=" in t for t in texts(stranger))  # not staff: the victim flow answers


# --- unconfirmed entries from the starter directory -----------------------------------------------------


def _add_unconfirmed(harness: Harness, service_id: str, commissioner_code: str = OWN) -> None:
    lad = LEEDS_LAD if commissioner_code == OWN else PLACES["manchester"][2]
    record = area_service(
        lad,
        service_id=service_id,
        commissioner_code=commissioner_code,
        confirmation=Confirmation.UNCONFIRMED,
        verified_on=None,
    )
    with Session(harness.db, expire_on_commit=False) as session:
        repository.create_service(session=session, record=record, actor="seed", now=NOW - timedelta(days=1))


async def test_unconfirmed_entries_are_listed_first_and_confirmed_or_closed(harness: Harness) -> None:
    _add_unconfirmed(harness, "leeds-from-a-page")
    _add_unconfirmed(harness, "leeds-gone")
    _add_unconfirmed(harness, "manchester-from-a-page", OTHER)
    editor = harness.person(EDITOR_ID)
    text = "\n".join(texts(await editor.send("/myservices")))
    lines = text.splitlines()
    assert lines[1].startswith("- Test service leeds-from-a-page [leeds-from-a-page]: NOT YET CONFIRMED")
    assert "/verify ID if it is right" in text and "manchester-from-a-page" not in text
    assert "Checked: leeds-from-a-page" in buttons(await editor.send("/myservices"))
    calls = await editor.send("/verify leeds-from-a-page")
    assert (
        texts(calls)[0] == "Confirmed: Test service leeds-from-a-page [leeds-from-a-page], checked on 26 November 2026."
    )
    stored = harness.services()["leeds-from-a-page"]
    assert stored.confirmation is Confirmation.CONFIRMED and stored.verified_on == NOW.date()
    with Session(harness.db) as session:
        last = repository.history(session=session, service_id="leeds-from-a-page")[-1]
    assert last.action == "verify" and {"confirmation", "verified_on"} <= set(last.changed_fields)
    assert last.actor.startswith("Leeds team")
    calls = await editor.send("/close leeds-gone")
    assert texts(calls)[0].startswith("Closed: Test service leeds-gone [leeds-gone]")
    assert harness.services()["leeds-gone"].status.value == "closed"
    calls = await editor.send("/close manchester-from-a-page")
    assert texts(calls)[0].startswith("Not allowed:")
    assert harness.services()["manchester-from-a-page"].status.value == "active"
