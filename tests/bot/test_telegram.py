"""The Telegram adapter offline: real ``Update`` objects through ``Application.process_update``.

The HTTP layer is :class:`bot.adapters.offline.RecordingRequest` (python-telegram-bot's own test style): every
Bot API call the real ``Bot`` makes is recorded and answered with well-formed JSON. The engine, renderer,
signposter (shipped national directory + offline postcodes) and the SQLite conversation store are the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, CommandHandler

from bot.adapters.offline import RecordingRequest
from bot.adapters.telegram import (
    HTTP_CONNECTIONS,
    SEND_ATTEMPTS,
    STAFF_GROUP,
    RateLimit,
    RateLimiter,
    VictimBot,
    _BoundedRequest,
    build_application,
    set_command_menu,
    staff_notifier,
)
from bot.content import catalogue
from bot.engine import Conversation, Language, State
from bot.engine import Engine as ConversationEngine
from bot.persistence import ChatKeyer, ConversationStore
from bot.render import split_text
from bot.signposter import DirectorySignposter
from mapping.locate import Locator
from mapping.types import ServiceKind
from services_db.models import ConversationRecord
from services_db.seed import load_national_directory
from services_db.stats import signposting_counts
from tests.services_db.factories import PLACES, radius_service

TOKEN = "123456:OFFLINE-TEST"
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday afternoon
MANCHESTER = PLACES["manchester"]
SECRET = b"telegram-test-secret-0123456789"
EN = catalogue(Language.EN)


@pytest.fixture(scope="module")
def signposter() -> DirectorySignposter:
    lat, lon, _, _ = MANCHESTER
    local = radius_service(lat, lon, 3_000, name="A&B <Support> Centre", kind=ServiceKind.THIRD_PARTY_REPORTING)
    services = [*load_national_directory().services, local]
    return DirectorySignposter.from_services(services, locator=Locator.offline_default())


class Chat:
    """One private chat, building the updates Telegram would deliver."""

    _update_ids = itertools.count(1)

    def __init__(self, app: Application, request: RecordingRequest, chat_id: int = 4242, **user: Any) -> None:
        self.app, self.request, self.chat_id = app, request, chat_id
        self.user = {"id": chat_id, "is_bot": False, "first_name": "Alex", "language_code": "en", **user}
        self._message_ids = itertools.count(1)

    def _message(self, **fields: Any) -> dict[str, Any]:
        chat = {"id": self.chat_id, "type": fields.pop("chat_type", "private")}
        self.last_message_id = next(self._message_ids)
        return {
            "message_id": self.last_message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.user,
            **fields,
        }

    async def _process(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.request.clear()
        await self.app.process_update(Update.de_json({"update_id": next(self._update_ids), **data}, self.app.bot))
        return [{"method": c.method, **c.params} for c in self.request.calls]

    async def send(self, text: str, **extra: Any) -> list[dict[str, Any]]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}]
        return await self._process({"message": self._message(text=text, entities=entities, **extra)})

    async def send_raw(self, **fields: Any) -> list[dict[str, Any]]:
        return await self._process({"message": self._message(**fields)})

    async def share_location(self, lat: float, lon: float) -> list[dict[str, Any]]:
        return await self._process({"message": self._message(location={"latitude": lat, "longitude": lon})})

    async def press(self, action: str, *, on_text: str = "earlier message") -> list[dict[str, Any]]:
        message = self._message(text=on_text)
        message["from"] = {"id": 777000, "is_bot": True, "first_name": "Signpost"}
        query = {"id": str(next(self._update_ids)), "from": self.user, "chat_instance": "1", "data": action}
        return await self._process({"callback_query": {**query, "message": message}})


def texts(calls: list[dict[str, Any]]) -> list[str]:
    return [c["text"] for c in calls if c["method"] == "sendMessage"]


def inline_actions(call: dict[str, Any]) -> list[str]:
    markup = call.get("reply_markup") or {}
    return [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]


class Harness:
    def __init__(self, engine: Engine, signposter: DirectorySignposter, *, limit: RateLimit = RateLimit()) -> None:
        self.db = engine
        self.request = RecordingRequest()
        self.store = ConversationStore(engine, keyer=ChatKeyer(SECRET), ttl=timedelta(hours=24), clock=lambda: NOW)
        self.victim_bot = VictimBot(
            engine=ConversationEngine(signposter, clock=lambda: NOW),
            store=self.store,
            limiter=RateLimiter(limit, clock=lambda: self.seconds),
        )
        self.seconds = 0.0
        self.app = build_application(token=TOKEN, victim_bot=self.victim_bot, request=self.request)

    def chat(self, chat_id: int = 4242, **user: Any) -> Chat:
        return Chat(self.app, self.request, chat_id, **user)


@pytest.fixture
async def harness(sqlite_engine: Engine, signposter: DirectorySignposter) -> AsyncIterator[Harness]:
    h = Harness(sqlite_engine, signposter)
    async with h.app:
        yield h


async def test_start_sends_the_welcome_in_html_with_the_menu(harness: Harness) -> None:
    calls = await harness.chat().send("/start")
    sent = [c for c in calls if c["method"] == "sendMessage"]
    assert sent[0]["text"].startswith("<b>In danger now? Call 999.</b>")  # before any tap
    assert "<b>Welcome to Signpost.</b>" in sent[0]["text"]
    assert all(c["parse_mode"] == "HTML" for c in sent)
    assert len(sent) == 1  # one message, one round trip: the welcome with the menu's buttons
    assert inline_actions(sent[-1])[:2] == ["danger", "leave"]
    assert {"happened", "report", "find", "note"} <= set(inline_actions(sent[-1]))


async def test_start_from_the_location_step_removes_the_location_keyboard_first(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("find")
    sent = [c for c in await chat.send("/start") if c["method"] == "sendMessage"]
    assert sent[0]["reply_markup"] == {"remove_keyboard": True}
    assert sent[0]["text"].startswith("<b>In danger now? Call 999.</b>")
    assert inline_actions(sent[-1])[:2] == ["danger", "leave"]


async def test_danger_is_one_tap_from_the_menu(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    calls = await chat.press("danger")
    assert calls[0]["method"] == "answerCallbackQuery"
    assert "999" in texts(calls)[0]


async def test_urgent_text_goes_straight_to_danger(harness: Harness) -> None:
    calls = await harness.chat().send("he is outside my door")
    assert "999" in texts(calls)[0]


async def test_find_help_asks_for_a_location_in_one_message_with_the_way_out_on_its_keyboard(
    harness: Harness,
) -> None:
    chat = harness.chat()
    await chat.send("/start")
    calls = [c for c in await chat.press("find") if c["method"] == "sendMessage"]
    assert len(calls) == 1  # one message: nothing of the question is lost if the worker dies after one send
    assert calls[0]["reply_markup"]["keyboard"] == [
        [{"text": EN["btn_share_location"], "request_location": True}],
        [{"text": EN["btn_menu"]}],
        [{"text": EN["btn_danger"]}, {"text": EN["btn_leave"]}],
    ]
    assert harness.store.load(chat.chat_id).state is State.ASK_LOCATION  # type: ignore[union-attr]


async def at_the_location_step(chat: Chat, language: Language) -> list[dict[str, Any]]:
    await chat.send("/start")
    await chat.press(f"lang:{language.value}")
    return [c for c in await chat.press("find") if c["method"] == "sendMessage"]


def reply_labels(call: dict[str, Any]) -> list[str]:
    return [b["text"] for row in (call.get("reply_markup") or {}).get("keyboard", []) for b in row]


@pytest.mark.parametrize("language", list(Language), ids=str)
@pytest.mark.parametrize(("action", "key"), [("danger", "btn_danger"), ("menu", "btn_menu")])
async def test_a_text_button_of_the_location_keyboard_does_what_the_inline_button_does(
    harness: Harness, language: Language, action: str, key: str
) -> None:
    by_label, by_button = harness.chat(5001), harness.chat(5002)
    (question,) = await at_the_location_step(by_label, language)
    await at_the_location_step(by_button, language)
    label = catalogue(language)[key]
    assert label in reply_labels(question)
    pressed = texts(await by_label.send(label))  # what the app sends for a text button: its label
    tapped = texts(await by_button.press(action))
    assert pressed and pressed == tapped
    labelled, inline = harness.store.load(by_label.chat_id), harness.store.load(by_button.chat_id)
    assert labelled is not None and inline is not None and labelled.state is inline.state
    assert labelled.state is (State.DANGER if action == "danger" else State.WELCOME)


@pytest.mark.parametrize("language", list(Language), ids=str)
async def test_leave_quickly_on_the_location_keyboard_deletes_the_chat_and_the_label_sent(
    harness: Harness, language: Language
) -> None:
    chat = harness.chat()
    (question,) = await at_the_location_step(chat, language)
    label = catalogue(language)["btn_leave"]
    assert label in reply_labels(question)
    calls = await chat.send(label)
    deleted = {i for c in calls if c["method"] == "deleteMessages" for i in c["message_ids"]}
    assert chat.last_message_id in deleted  # the person's "Leave quickly" goes too
    assert len(deleted) > 3  # with the rest of the chat (the person's /start, the bot's replies)
    assert texts(calls) == [texts(calls)[0]] and catalogue(language)["left"].split(".")[0] in texts(calls)[0]
    assert harness.store.load(chat.chat_id) is None


async def test_on_the_location_step_typed_text_is_still_read_as_text(harness: Harness) -> None:
    chat = harness.chat()
    await at_the_location_step(chat, Language.EN)
    calls = await chat.send(EN["btn_menu"] + " please")  # not a label: a place to look up, not found
    assert harness.store.load(chat.chat_id).state is State.ASK_LOCATION  # type: ignore[union-attr]
    assert len(texts(calls)) == 1 and reply_labels(calls[-1])[0] == EN["btn_share_location"]
    calls = await chat.send("he is outside my door")  # urgent words still go straight to danger
    assert "999" in texts(calls)[0]
    await at_the_location_step(chat, Language.EN)
    calls = await chat.send("M1 1AE")
    assert "A&amp;B &lt;Support&gt; Centre" in "\n".join(texts(calls))
    assert calls[0]["reply_markup"] == {"remove_keyboard": True}  # the location keyboard goes away


async def test_a_shared_location_finds_local_help_escaped_and_counted(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("find")
    lat, lon, lad, pfa = MANCHESTER
    calls = await chat.share_location(lat, lon)
    joined = "\n".join(texts(calls))
    assert "A&amp;B &lt;Support&gt; Centre" in joined
    assert "<Support>" not in joined
    assert calls[0]["reply_markup"] == {"remove_keyboard": True}  # the location keyboard goes away
    stored = harness.store.load(chat.chat_id)
    assert stored is not None and (stored.state, stored.lad_code, stored.pfa_code) == (State.RESULTS, lad, pfa)
    with Session(harness.db) as session:
        counts = signposting_counts(session=session, suppress_under=1)
    assert [(r.lad_code, r.pfa_code, r.strand, r.outcome, r.count) for r in counts] == [
        (lad, pfa, "any", "matched_local", 1),
        (lad, pfa, "unspecified", "matched_local", 1),
    ]


async def test_a_typed_postcode_works_too(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("find")
    calls = await chat.send("M1 1AE")
    assert "A&amp;B &lt;Support&gt; Centre" in "\n".join(texts(calls))


async def test_ticking_a_strand_redraws_the_buttons_in_place(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("happened")
    strands_screen = texts(await chat.press("happened:yes"))[-1]
    calls = await chat.press("strand:race", on_text=strands_screen)
    assert [c["method"] for c in calls] == ["answerCallbackQuery", "editMessageReplyMarkup"]
    labels = [b["text"] for row in calls[1]["reply_markup"]["inline_keyboard"] for b in row]
    assert "✅ Race, ethnicity or nationality" in labels


async def test_a_restart_mid_conversation_resumes(sqlite_engine: Engine, signposter: DirectorySignposter) -> None:
    first = Harness(sqlite_engine, signposter)
    async with first.app:
        chat = first.chat()
        await chat.send("/start")
        await chat.press("happened")
        await chat.press("happened:yes")
        await chat.press("strand:religion")
    second = Harness(sqlite_engine, signposter)  # a new process: new Application, engine and store; same database
    async with second.app:
        chat = second.chat()
        await chat.press("strand:disability")
        calls = await chat.press("strand:done")
    stored = second.store.load(chat.chat_id)
    assert stored is not None and {s.value for s in stored.strands} == {"religion", "disability"}
    assert "religion or belief" in "\n".join(texts(calls))


async def test_forget_deletes_the_state_at_once(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("happened")
    calls = await chat.send("/forget")
    assert EN["left"].split(".")[0] in texts(calls)[0]
    with Session(harness.db) as session:
        assert session.execute(select(ConversationRecord.__table__)).all() == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        (
            {
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            },
            "unsupported_sticker",
        ),
        ({"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}, "unsupported_media"),
        ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}}, "unsupported_voice"),
        ({"document": {"file_id": "d", "file_unique_id": "d", "file_name": "x.pdf"}}, "unsupported_media"),
        ({"contact": {"phone_number": "02079460000", "first_name": "Sam"}}, "unsupported_contact"),
        ({"text": "x" * 3000}, "too_long"),
        ({"text": "مرحبا كيف حالك اليوم"}, "other_language"),
        ({"text": "banana"}, "not_understood"),
    ],
    ids=["sticker", "photo", "voice", "document", "contact", "long", "arabic", "nonsense"],
)
async def test_unexpected_input_gets_a_kind_useful_answer(harness: Harness, fields: dict[str, Any], key: str) -> None:
    chat = harness.chat()
    await chat.send("/start")
    calls = await chat.send_raw(**fields)
    assert texts(calls)[0] == EN[key].strip()
    assert harness.store.load(chat.chat_id).state is State.WELCOME  # type: ignore[union-attr]


async def test_group_chats_are_ignored(harness: Harness) -> None:
    assert await harness.chat(chat_id=-100123).send("/start", chat_type="supergroup") == []


async def test_edited_messages_are_ignored(harness: Harness) -> None:
    chat = harness.chat()
    message = chat._message(text="M1 1AE", edit_date=int(time.time()))
    assert await chat._process({"edited_message": message}) == []


async def test_going_too_fast_is_told_once_but_danger_always_answers(
    sqlite_engine: Engine, signposter: DirectorySignposter
) -> None:
    h = Harness(sqlite_engine, signposter, limit=RateLimit(burst=3, per_minute=6))
    async with h.app:
        chat = h.chat()
        for _ in range(3):
            assert texts(await chat.send("/help"))
        assert texts(await chat.send("/help")) == [EN["rate_limited"]]
        assert await chat.send("/help") == []
        button = await chat.press("menu")
        assert [c["method"] for c in button] == ["answerCallbackQuery"] and button[0]["text"]
        assert "999" in texts(await chat.press("danger"))[0]
        assert "999" in texts(await chat.send("help me please"))[0]
        h.seconds += 10  # one token back
        assert texts(await chat.send("/help"))


def test_the_limiter_forgets_the_least_recent_people() -> None:
    limiter = RateLimiter(RateLimit(burst=1, per_minute=1), clock=lambda: 0.0, max_keys=2)
    assert limiter.check("a") == (True, False)
    assert limiter.check("a") == (False, True)
    assert limiter.check("a") == (False, False)
    limiter.check("b")
    limiter.check("c")
    assert limiter.check("a") == (True, False)  # "a" was dropped, so it starts with a full bucket


async def test_errors_are_logged_without_what_the_person_sent(
    sqlite_engine: Engine, signposter: DirectorySignposter, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(sqlite_engine, signposter)
    h.request.fail_methods = frozenset({"sendMessage"})
    secret_words = "my neighbour Sam shouted at me on Elm Road"
    async with h.app:
        with caplog.at_level(logging.DEBUG):
            calls = await h.chat().send(secret_words)
    assert "BadRequest" in caplog.text
    assert "Sam" not in caplog.text and "Elm Road" not in caplog.text and "4242" not in caplog.text
    assert texts(calls)[-1] == EN["error_sorry"]  # the apology was attempted


async def test_staff_extensions_run_first_and_can_stop_the_victim_flow(
    sqlite_engine: Engine, signposter: DirectorySignposter
) -> None:
    staff_ids = {9001}
    seen: list[int] = []

    async def myservices(update: Update, context: Any) -> None:
        assert update.effective_user is not None
        if update.effective_user.id not in staff_ids:
            return  # not staff: the victim flow answers
        seen.append(update.effective_user.id)
        await context.bot.send_message(update.effective_user.id, "staff list")
        raise ApplicationHandlerStop

    def register_staff(app: Application) -> None:
        app.add_handler(CommandHandler("myservices", myservices), group=STAFF_GROUP)

    h = Harness(sqlite_engine, signposter)
    h.app = build_application(token=TOKEN, victim_bot=h.victim_bot, request=h.request, extensions=[register_staff])
    async with h.app:
        assert texts(await h.chat(chat_id=9001).send("/myservices")) == ["staff list"]
        victim = texts(await h.chat(chat_id=5555).send("/myservices"))
    assert victim[0] == EN["unknown_command"] and seen == [9001]


async def test_the_command_menu_is_set_per_language(harness: Harness) -> None:
    harness.request.clear()
    await set_command_menu(harness.app)
    menus = {c.get("language_code"): c["commands"] for c in harness.request.of("setMyCommands")}
    assert set(menus) == {None, "cy"}
    assert [c["command"] for c in menus[None]] == ["start", "emergency", "help", "language", "cancel", "forget"]
    assert menus[None][1]["description"] == EN["cmd_emergency"]
    assert menus["cy"][1]["description"] == catalogue(Language.CY)["cmd_emergency"]


async def test_a_welsh_app_starts_in_welsh(harness: Harness) -> None:
    calls = await harness.chat(chat_id=777, language_code="cy").send("/start")
    assert texts(calls)[0].startswith(catalogue(Language.CY)["welcome"].strip())


async def test_staff_notifier_sends_plain_text_and_reports_failure(harness: Harness) -> None:
    notify = staff_notifier(harness.app)
    assert await notify(9001, "3 services need checking <soon>") is True
    assert harness.request.of("sendMessage")[-1]["text"] == "3 services need checking <soon>"
    assert "parse_mode" not in harness.request.of("sendMessage")[-1]
    harness.request.fail_methods = frozenset({"sendMessage"})
    assert await notify(9001, "again") is False


def test_long_text_is_split_between_lines_never_inside_one() -> None:
    lines = [f"<b>Service {n}</b>\nline two of {n}" for n in range(400)]
    text = "\n\n".join(lines)
    chunks = split_text(text, limit=1000)
    assert all(len(c) <= 1000 for c in chunks)
    assert "\n\n".join(chunks) == text
    assert all(c.count("<b>") == c.count("</b>") for c in chunks)


async def test_one_persons_updates_run_in_order_even_when_they_arrive_together(harness: Harness) -> None:
    chat = harness.chat()
    updates = [
        chat._message(text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]),
        chat._message(text="/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}]),
        chat._message(text="/emergency", entities=[{"type": "bot_command", "offset": 0, "length": 10}]),
    ]
    harness.request.clear()
    await asyncio.gather(
        *(
            harness.app.process_update(Update.de_json({"update_id": 900 + i, "message": m}, harness.app.bot))
            for i, m in enumerate(updates)
        )
    )
    sent = texts([{"method": c.method, **c.params} for c in harness.request.calls])
    welcome, help_text = EN["welcome"].split("\n")[0], EN["help"].split("\n")[0]
    first_help = next(i for i, t in enumerate(sent) if t.startswith(help_text))
    first_danger = next(i for i, t in enumerate(sent) if t.startswith(EN["danger"].split("\n")[0]))
    assert sent[0].startswith(welcome) and sent[0].endswith(EN["menu"].strip())  # /start's one message
    assert 0 < first_help < first_danger
    assert harness.store.load(chat.chat_id).state is State.DANGER  # type: ignore[union-attr]


async def test_webhook_mode_accepts_only_updates_carrying_the_secret(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram hears 200 only once the update has been processed (a worker that dies before then gets it
    redelivered); only requests with the secret are read; JSON with a charset is JSON."""
    import httpx

    from bot.adapters.telegram import Webhook, WebhookServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "s3cret-token-for-webhook-tests"
    await harness.app.start()
    server = WebhookServer(harness.app, Webhook("https://bot.example.org/hook", secret, "127.0.0.1", port))
    await server.start()
    try:
        (set_webhook,) = harness.request.of("setWebhook")
        assert set_webhook["url"] == "https://bot.example.org/hook" and set_webhook["secret_token"] == secret
        chat = harness.chat()
        update = {"update_id": 1, "message": chat._message(text="/emergency")}
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/hook"
            forged = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            missing = await client.post(url, json=update)
            harness.request.clear()
            genuine = await client.post(
                url,
                content=json.dumps(update).encode(),
                headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json; charset=utf-8"},
            )
            answered = texts([{"method": c.method, **c.params} for c in harness.request.calls])
            again = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            repeated = texts([{"method": c.method, **c.params} for c in harness.request.calls])
            # Hostile bodies with the right secret: refused with 400, nothing answered, no traceback logged.
            hostile = [b"[" * 100_000 + b"]" * 100_000, b"[1, 2]", b'"text"', b"{not json", b'{"update_id": "x"}']
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
            refused = [(await client.post(url, content=body, headers=headers)).status_code for body in hostile]
            try:  # over the body limit: refused before it is read (tornado closes the connection)
                huge = (await client.post(url, content=b" " * (2 * 1024 * 1024), headers=headers)).status_code
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
                huge = 0
            after = texts([{"method": c.method, **c.params} for c in harness.request.calls])
        assert refused == [400] * len(hostile) and huge in (0, 400, 413), (refused, huge)
        assert after == repeated
        assert "Traceback" not in caplog.text and "RecursionError" in caplog.text
        assert (forged.status_code, missing.status_code, genuine.status_code) == (403, 403, 200)
        assert "999" in answered[0]  # sent before Telegram heard 200
        assert again.status_code == 200 and repeated == answered  # a redelivery is not answered twice
    finally:
        await server.stop()
        await harness.app.stop()


def run_signpost_bot(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, env: dict[str, str]) -> Any:
    """``signpost bot`` through the CLI with only ``env`` of the bot's settings (no .env, a data directory of its
    own); the CliRunner's result."""
    from typer.testing import CliRunner

    from signpost import wiring
    from signpost.cli import app

    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "SIGNPOST_CHAT_KEY_SECRET", "TELEGRAM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path / "data"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring.settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["bot"])
    finally:
        wiring.settings.cache_clear()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN is not set"),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/hook"},
            "TELEGRAM_WEBHOOK_SECRET",
        ),
    ],
    ids=["no-token", "webhook-without-secret"],
)
def test_signpost_bot_refuses_an_incomplete_configuration(
    env: dict[str, str], says: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_signpost_bot(monkeypatch, tmp_path, env)
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())
    assert "Traceback" not in result.output


async def test_webhook_calls_with_a_wrong_secret_are_logged_in_one_line_a_minute(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker with another TELEGRAM_WEBHOOK_SECRET registered last: this one's refusals say so in the log, at
    most one line a minute however many calls come, and nothing of the update."""
    import httpx

    from bot.adapters.telegram import Webhook, WebhookServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = WebhookServer(harness.app, Webhook("https://bot.example.org/hook", "s3cret-token", "127.0.0.1", port))
    now = [1000.0]
    server.wrong_secret.clock = lambda: now[0]
    await harness.app.start()
    await server.start()
    update = {"update_id": 1, "message": harness.chat()._message(text="Quarry Street")}
    caplog.set_level(logging.WARNING, logger="bot.adapters.telegram")
    try:
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/hook"
            for _ in range(5):
                refused = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "other"})
                assert refused.status_code == 403
            first = [r.getMessage() for r in caplog.records]
            now[0] += 61
            await client.post(url, json=update)  # no header at all
            lines = [r.getMessage() for r in caplog.records]
    finally:
        await server.stop()
        await harness.app.stop()
    assert len(first) == 1 and first[0].startswith("1 webhook call(s) refused")
    assert "TELEGRAM_WEBHOOK_SECRET" in first[0]
    assert len(lines) == 2 and lines[1].startswith("5 webhook call(s) refused")  # the 4 held back, and this one
    assert "Quarry" not in caplog.text and "update_id" not in caplog.text


@pytest.mark.parametrize(
    ("other", "says", "remedy"),
    [
        ({"SIGNPOST_CHAT_KEY_SECRET": "b" * 32}, "SIGNPOST_CHAT_KEY_SECRET", "--rotate-chat-key-secret"),
        ({"TELEGRAM_WEBHOOK_SECRET": "another-webhook-secret"}, "TELEGRAM_WEBHOOK_SECRET", "--rotate-webhook-secret"),
    ],
    ids=["chat-key-secret", "webhook-secret"],
)
def test_signpost_bot_refuses_a_worker_whose_secret_is_not_the_others(
    other: dict[str, str],
    says: str,
    remedy: str,
    cli_database: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from services_db.shared_secrets import check_shared_secret
    from signpost import wiring
    from signpost.cli import app

    first = {"SIGNPOST_CHAT_KEY_SECRET": "a" * 32, "TELEGRAM_WEBHOOK_SECRET": "the-webhook-secret"}
    for setting, value in first.items():  # as the first worker on this database recorded them
        check_shared_secret(engine=cli_database, setting=setting, secret=value.encode())
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name, value in {**first, **other, "TELEGRAM_BOT_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/hook")
    wiring.settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["bot"])
    finally:
        wiring.settings.cache_clear()
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]  # one line
    assert line.startswith(f"Not started: {says} is not the one the other workers on this database use")
    assert f"Set the same {says} on every worker" in line and remedy in line
    assert "Traceback" not in result.output


@pytest.mark.parametrize("configured", [None, "c" * 32], ids=["generated", "configured"])
def test_a_webhook_worker_on_a_shared_database_warns_when_its_chat_key_secret_is_its_own(
    configured: str | None, engine: Engine, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL (workers on several machines), a generated chat-key secret is one machine's: said at start."""
    from signpost import wiring
    from signpost.config import Settings

    values = {"SIGNPOST_DATA_DIR": str(tmp_path / "data"), "TELEGRAM_BOT_TOKEN": TOKEN}
    values["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    if configured is not None:
        values["SIGNPOST_CHAT_KEY_SECRET"] = configured
    config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    caplog.set_level(logging.WARNING, logger="signpost.wiring")
    wiring.telegram_application(config, engine=engine, webhook_secret="the-webhook-secret")
    warned = [r.getMessage() for r in caplog.records if "SIGNPOST_CHAT_KEY_SECRET is not set" in r.getMessage()]
    if configured is None and engine.dialect.name == "postgresql":
        (line,) = warned
        assert str(tmp_path / "data" / "chat-key.secret") in line and "every worker" in line
    else:
        assert warned == []  # one process on SQLite, or the secret every worker is given


@pytest.mark.parametrize(
    ("env", "says", "code"),
    [
        ({"SIGNPOST_CHAT_KEY_SECRET": "too-short"}, "SIGNPOST_CHAT_KEY_SECRET is too short", 2),
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/signpost"}, "Check DATABASE_URL", 1),
        ({"DATABASE_URL": "not-a-url"}, "DATABASE_URL is not a database URL", 2),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/hook", "TELEGRAM_WEBHOOK_SECRET": "has spaces & more"},
            "TELEGRAM_WEBHOOK_SECRET has 17 characters, some of which Telegram refuses",
            2,
        ),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/hook", "TELEGRAM_WEBHOOK_SECRET": "x" * 257},
            "use 1-256 characters",
            2,
        ),
    ],
    ids=["short-chat-key-secret", "database-unreachable", "database-url-malformed", "secret-characters", "secret-long"],
)
def test_signpost_bot_explains_a_setting_it_cannot_use(
    env: dict[str, str], says: str, code: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One or two lines naming the setting, exit 2 (a setting to fix) or 1 (the database is down), no traceback."""
    result = run_signpost_bot(monkeypatch, tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, **env})
    assert result.exit_code == code, result.output
    assert says in " ".join(result.output.split())
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3, result.output


async def test_offline_privacy_scan_after_a_full_conversation(harness: Harness) -> None:
    """The same scan as the end-to-end test, for machines without the emulator: nothing typed, no place, no name."""
    chat = harness.chat(chat_id=31337, first_name="Zebedee", username="zeb_offline")
    lat, lon = 53.4668, -2.2339  # no directory entry sits exactly here
    note = ("Friday night", "Quarry Street bus stop", "he shouted at me", "Priyanka saw it", "photos on my phone")
    await chat.send("/start")
    await chat.press("find")
    await chat.share_location(lat, lon)
    await chat.press("find")
    await chat.send("LS6 1AA")
    await chat.press("note")
    for answer in note:
        await chat.send(answer)
    await chat.send("my name is Zebedee")
    assert harness.store.load(chat.chat_id) is not None
    forbidden = [*note, "LS6 1AA", "LS61AA", "Zebedee", "zeb_offline", "31337", f"{lat:.3f}", f"{lon:.3f}"]
    database_file = harness.db.url.database
    assert database_file is not None
    with harness.db.connect() as conn:
        tables = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")]
        dumped = " ".join(str(row) for t in tables for row in conn.exec_driver_sql(f'SELECT * FROM "{t}"')).lower()
    raw = b"".join(p.read_bytes() for p in Path(database_file).parent.glob("signpost.sqlite3*")).lower()
    assert "e08000035" in dumped  # the scan sees the stored state (Leeds' LAD code, an enumerated value)
    assert [n for n in forbidden if n.lower() in dumped] == []
    assert [n for n in forbidden if n.lower().encode() in raw] == []


async def test_a_turn_commits_once_its_reply_is_written_before_telegram_answers(
    engine: Engine, signposter: DirectorySignposter
) -> None:
    """Over real HTTP (a loopback Bot API): on PostgreSQL the turn's transaction is held until the reply's request
    has been written, then committed without waiting for Telegram's answer. The Bot API here answers sendMessage
    only once it sees the turn stored, so a commit that waited for the answer would never come."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the transaction is held only where a turn's read and write share one (PostgreSQL)")
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    store = ConversationStore(engine, keyer=ChatKeyer(SECRET), ttl=timedelta(hours=24))
    seen: dict[str, object] = {}

    class BotApi(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            method = self.path.rsplit("/", 1)[-1]
            result: object = True
            if method == "getMe":
                result = {"id": 1, "is_bot": True, "first_name": "Signpost", "username": "SignpostTestBot"}
            if method == "sendMessage":
                seen["on_arrival"] = store.load(4242)
                deadline = time.monotonic() + 5
                while store.load(4242) is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                seen["before_answer"] = store.load(4242)
                result = {"message_id": 2, "date": 0, "chat": {"id": 4242, "type": "private"}, "text": "x"}
            body = json.dumps({"ok": True, "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BotApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    victim_bot = VictimBot(engine=ConversationEngine(signposter), store=store)
    app = build_application(token=TOKEN, victim_bot=victim_bot, base_url=f"http://127.0.0.1:{server.server_port}/bot")
    try:
        async with app:
            message = {"message_id": 1, "date": 0, "chat": {"id": 4242, "type": "private"}, "text": "/start"}
            message["from"] = {"id": 4242, "is_bot": False, "first_name": "Alex"}
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
            await app.process_update(Update.de_json({"update_id": 1, "message": message}, app.bot))
    finally:
        server.shutdown()
    stored = seen["before_answer"]
    assert isinstance(stored, Conversation) and stored.state is State.WELCOME  # committed before the answer


def loopback_bot_api(calls: list[tuple[str, dict[str, str]]], refuse: dict[str, int] | None = None) -> Any:
    """A Bot API on loopback (a real HTTP server in a thread) that answers every call and records it: getMe as a
    bot, sendMessage with a new message id, anything else True; the next ``refuse[method]`` calls of a method get
    502 Bad Gateway (after reading them whole), recorded as "<method> refused". Returns the server
    (``server_port``, ``shutdown()``)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qsl

    class BotApi(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            params = dict(parse_qsl(body))  # python-telegram-bot posts form fields
            method = self.path.rsplit("/", 1)[-1]
            if refuse and refuse.get(method, 0) > 0:
                refuse[method] -= 1
                calls.append((f"{method} refused", params))
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            calls.append((method, params))
            result: object = True
            if method == "getMe":
                result = {"id": 1, "is_bot": True, "first_name": "Signpost", "username": "SignpostTestBot"}
            if method == "sendMessage":
                chat = {"id": int(params["chat_id"]), "type": "private"}
                result = {"message_id": len(calls) + 100, "date": 0, "chat": chat, "text": "x"}
            answer = json.dumps({"ok": True, "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # every slot's connection at once (the default backlog of 5 drops some)
        daemon_threads = True

    server = Server(("127.0.0.1", 0), BotApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def bounded_application(
    port: int, engine: Engine, signposter: DirectorySignposter
) -> tuple[Application, _BoundedRequest]:  # type: ignore[type-arg]
    """The victim bot over the Bot API on loopback ``port``, with the bounded HTTP layer it runs with."""
    store = ConversationStore(engine, keyer=ChatKeyer(SECRET), ttl=timedelta(hours=24))
    request = _BoundedRequest()
    app = build_application(
        token=TOKEN,
        victim_bot=VictimBot(engine=ConversationEngine(signposter), store=store),
        base_url=f"http://127.0.0.1:{port}/bot",
        request=request,
    )
    return app, request


async def test_bot_api_calls_queue_past_the_bound_but_the_danger_screen_never_waits(
    sqlite_engine: Engine, signposter: DirectorySignposter
) -> None:
    """Over real HTTP (a loopback Bot API): with every one of the bounded slots taken, a /start waits its turn,
    and "I'm in danger" is answered at once."""
    calls: list[tuple[str, dict[str, str]]] = []
    server = loopback_bot_api(calls)
    app, request = bounded_application(server.server_port, sqlite_engine, signposter)

    def update(update_id: int, chat_id: int, text: str) -> Update:
        message = {"message_id": update_id, "date": 0, "chat": {"id": chat_id, "type": "private"}, "text": text}
        message["from"] = {"id": chat_id, "is_bot": False, "first_name": "Alex"}
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return Update.de_json({"update_id": update_id, "message": message}, app.bot)

    try:
        async with app:
            for _ in range(HTTP_CONNECTIONS):
                await request.slots.acquire()
            waiting = asyncio.ensure_future(app.process_update(update(1, 5001, "/start")))
            await asyncio.wait_for(app.process_update(update(2, 5002, "/emergency")), timeout=10)
            sent = [params.get("text", "") for method, params in calls if method == "sendMessage"]
            assert len(sent) == 1 and "999" in sent[0]  # the danger screen went; the /start is still waiting
            assert not waiting.done()
            for _ in range(HTTP_CONNECTIONS):
                request.slots.release()
            await asyncio.wait_for(waiting, timeout=10)
            sent = [params.get("text", "") for method, params in calls if method == "sendMessage"]
            assert len(sent) == 2 and sent[1].startswith(EN["welcome"].split("\n")[0])
    finally:
        server.shutdown()


async def test_redelivered_button_presses_filling_every_slot_are_all_answered(
    sqlite_engine: Engine, signposter: DirectorySignposter
) -> None:
    """As after a crash: as many button presses as there are Bot API slots, already answered, come again at once.
    Each turn reserves a slot and sends nothing, while its button's answer needs a slot of its own: the unused
    reservation is given back first, so none of them waits for ever (they had all stuck, and so had everyone
    else on that worker)."""
    calls: list[tuple[str, dict[str, str]]] = []
    server = loopback_bot_api(calls)
    app, request = bounded_application(server.server_port, sqlite_engine, signposter)
    people = range(6001, 6001 + HTTP_CONNECTIONS)

    def press(chat_id: int) -> Update:
        chat = {"id": chat_id, "type": "private"}
        bot = {"id": 1, "is_bot": True, "first_name": "Signpost"}
        shown = {"message_id": 7, "date": 0, "chat": chat, "text": "menu", "from": bot}
        person = {"id": chat_id, "is_bot": False, "first_name": "Alex"}
        query = {"id": f"q{chat_id}", "from": person, "chat_instance": "1", "data": "find", "message": shown}
        return Update.de_json({"update_id": chat_id * 10, "callback_query": query}, app.bot)

    try:
        async with app:
            for chat_id in people:
                await app.process_update(press(chat_id))  # answered: the location question
            asked = sum(method == "sendMessage" for method, _ in calls)
            assert asked == len(people)
            await asyncio.wait_for(asyncio.gather(*(app.process_update(press(c)) for c in people)), timeout=15)
            assert sum(method == "sendMessage" for method, _ in calls) == asked  # not answered twice
            assert sum(method == "answerCallbackQuery" for method, _ in calls) == 2 * len(people)  # spinners stop
            assert request.slots._free == HTTP_CONNECTIONS  # every slot given back
    finally:
        server.shutdown()


@pytest.mark.parametrize("refused", [SEND_ATTEMPTS, 1])
async def test_a_redelivered_button_whose_reply_was_refused_shows_the_screen_again(
    refused: int, sqlite_engine: Engine, signposter: DirectorySignposter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram refuses the reply to "Find help" (502) after its request was written, so the update is taken; a
    worker killed while the reply waits to be sent again (here: every try refused) leaves the update marked, and
    its redelivery asks for the location again instead of sending nothing. Refused once, then sent: unmarked,
    and a redelivery is not answered twice."""
    monkeypatch.setattr("bot.adapters.telegram.SEND_BACKOFF_S", 0.01)
    calls: list[tuple[str, dict[str, str]]] = []
    refuse: dict[str, int] = {}
    server = loopback_bot_api(calls, refuse)
    app, _ = bounded_application(server.server_port, sqlite_engine, signposter)
    person = {"id": 7001, "is_bot": False, "first_name": "Alex"}
    chat = {"id": 7001, "type": "private"}
    start = {"message_id": 1, "date": 0, "chat": chat, "from": person, "text": "/start"}
    start["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
    shown = {"message_id": 2, "date": 0, "chat": chat, "text": "menu"}
    shown["from"] = {"id": 1, "is_bot": True, "first_name": "Signpost"}
    query = {"id": "q1", "from": person, "chat_instance": "1", "data": "find", "message": shown}

    def asked() -> int:
        return sum(m == "sendMessage" and "request_location" in p.get("reply_markup", "") for m, p in calls)

    try:
        async with app:
            await app.process_update(Update.de_json({"update_id": 1, "message": start}, app.bot))
            refuse["sendMessage"] = refused
            await app.process_update(Update.de_json({"update_id": 2, "callback_query": query}, app.bot))
            delivered = 0 if refused == SEND_ATTEMPTS else 1
            assert asked() == delivered
            await app.process_update(Update.de_json({"update_id": 2, "callback_query": query}, app.bot))
            assert asked() == 1  # refused every time: asked again; sent at the second try: not asked twice
    finally:
        server.shutdown()


async def test_store_threads_start_together_each_set_up_once_and_a_failed_set_up_only_costs_speed(
    sqlite_engine: Engine, signposter: DirectorySignposter
) -> None:
    """Every store thread starts at once and runs the set-up (the wiring's: pyproj's transforms, built per
    thread) before its first turn; a set-up that fails is logged and the thread still takes store calls."""
    import threading

    set_up: list[str] = []

    def thread_setup() -> None:
        set_up.append(threading.current_thread().name)
        if len(set_up) == 1:
            raise RuntimeError("no PROJ database")

    store = ConversationStore(sqlite_engine, keyer=ChatKeyer(SECRET), ttl=timedelta(hours=24))
    victim_bot = VictimBot(
        engine=ConversationEngine(signposter), store=store, store_threads=4, thread_setup=thread_setup
    )
    try:
        await asyncio.wait_for(victim_bot.start_threads(), 10)
        assert sorted(set_up) == sorted(set(set_up)) and len(set_up) == 4  # four threads, each set up once
        loop = asyncio.get_running_loop()
        names = await asyncio.gather(
            *(loop.run_in_executor(victim_bot._executor, lambda: threading.current_thread().name) for _ in range(20))
        )
        assert set(names) <= set(set_up) and len(set_up) == 4  # no thread was replaced or set up again
    finally:
        await victim_bot.close()


def test_prepare_thread_builds_the_transforms_this_thread_uses() -> None:
    import threading

    from mapping.crs import bng_to_wgs84, prepare_thread, to_bng, to_wgs84, wgs84_to_bng

    built: list[bool] = []

    def run() -> None:
        prepare_thread()
        built.append(to_bng()._local.transformer is not None and to_wgs84()._local.transformer is not None)
        e, n = wgs84_to_bng(-1.5491, 53.8008)  # Leeds
        lon, lat = bng_to_wgs84(float(e), float(n))
        built.append(abs(float(lon) + 1.5491) < 1e-6 and abs(float(lat) - 53.8008) < 1e-6)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert built == [True, True]
