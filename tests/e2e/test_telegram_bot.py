"""The real bot over HTTP against the Telegram Bot API emulator, with scripted users; then a privacy scan.

The user presses buttons, shares a location, types a postcode, writes a guided note, sends a sticker and
/forget; a restart mid-conversation resumes. Afterwards no table of the database and no file in the data
directory holds anything the person typed, where they were, or who they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlmodel import Session

from bot.content import catalogue
from bot.engine import Language, State
from bot.persistence import ChatKeyer, chat_key_secret
from services_db.db import make_engine
from services_db.models import ConversationRecord
from services_db.stats import signposting_counts
from tests.e2e.conftest import (
    Record,
    RunningBot,
    StartBot,
    User,
    asks_location,
    callback_data,
    labels,
    with_button,
)

pytestmark = pytest.mark.e2e

EN = catalogue(Language.EN)
MANCHESTER = (53.4668, -2.2339)  # near the university: no directory entry sits exactly here
LEEDS_POSTCODE = "LS6 1AA"
NAME, USERNAME = "Zebedee", "zeb_the_tester"
NOTE_ANSWERS = (
    "Tuesday 24 November about 9pm",
    "the 42 bus outside Quarry Street library",
    "a man shouted slurs at me and spat",
    "the driver Priyanka saw it",
    "I kept screenshots of his posts",
)


def texts(records: Iterable[Record]) -> str:
    return "\n".join(r["message"].get("text") or "" for r in records)


def label_of(action: str, language: Language = Language.EN) -> str:
    from bot.engine.engine import Button
    from bot.render import render_label

    keys = {"find": "btn_find", "happened": "btn_what_happened", "note": "btn_note", "danger": "btn_danger"}
    return render_label(Button(keys[action], action), language)


def conversation_rows(bot: RunningBot) -> list[tuple[object, ...]]:
    engine = make_engine(bot.config.effective_database_url)
    try:
        with Session(engine) as session:
            return list(session.execute(select(ConversationRecord.__table__)).all())  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def stored_state(bot: RunningBot, user: User) -> dict[str, object] | None:
    key = ChatKeyer(chat_key_secret(configured=None, data_dir=bot.config.data_dir))(user.id)
    for row in conversation_rows(bot):
        if row[0] == key:
            return row[1]  # type: ignore[return-value]
    return None


async def test_find_help_by_location_and_by_postcode(signpost_bot: RunningBot, make_user: Callable[..., User]) -> None:
    user = make_user(signpost_bot, NAME, USERNAME)
    await user.tg.send_command("/start")
    start = await user.until_buttons("danger", "find")
    assert EN["welcome"].split("\n")[0] in texts(start)
    assert all(r["message"].get("parse_mode") == "HTML" for r in start)

    await user.press(with_button(start, "find"), label_of("find"))
    ask = await user.until_location_keyboard()
    assert any(asks_location(r) for r in ask)
    assert stored_state(signpost_bot, user)["state"] == State.ASK_LOCATION.value  # type: ignore[index]

    await user.tg.send_location(*MANCHESTER)
    results = await user.until_buttons("find", "note", "danger")
    assert "Manchester" in texts(results) or "Help near" in texts(results)
    assert any(r["message"].get("reply_markup", {}).get("remove_keyboard") for r in results)
    stored = stored_state(signpost_bot, user)
    assert stored is not None and stored["state"] == State.RESULTS.value
    assert stored["lad_code"] == "E08000003" and stored["pfa_code"] == "E23000005"

    await user.press(with_button(results, "find"), EN["btn_new_place"])
    await user.until_location_keyboard()
    await user.tg.send_text(LEEDS_POSTCODE)
    leeds = await user.until_buttons("find", "note")
    assert "Leeds" in texts(leeds) or LEEDS_POSTCODE in texts(leeds)
    assert stored_state(signpost_bot, user)["lad_code"] == "E08000035"  # type: ignore[index]

    engine = make_engine(signpost_bot.config.effective_database_url)
    with Session(engine) as session:
        counts = signposting_counts(session=session, suppress_under=1, group_by=("lad_code", "strand"))
    engine.dispose()
    assert {(r.lad_code, r.strand) for r in counts} >= {("E08000003", "any"), ("E08000035", "any")}

    answers = await user.tg.callback_answers()
    assert answers and all(a["answer"] is not None for a in answers)  # every button press was answered


async def test_strands_are_ticked_in_place_and_a_restart_resumes(
    start_bot: StartBot, make_user: Callable[..., User]
) -> None:
    first = await start_bot()
    user = make_user(first, NAME, USERNAME)
    await user.tg.send_command("/start")
    menu = await user.until_buttons("happened")
    await user.press(with_button(menu, "happened"), label_of("happened"))
    asked = await user.until_buttons("happened:yes")
    await user.press(with_button(asked, "happened:yes"), EN["btn_yes"])
    strands = await user.until_buttons("strand:race", "strand:other")
    screen = with_button(strands, "strand:race")

    race = EN["strand_race"].format(mark="")
    await user.press(screen, race)
    edited = await user.tg.wait_edit(screen["messageId"], min_edits=1, timeout=15)
    assert "✅ " + race in labels({"message": edited["tg"]})

    from tests.e2e.conftest import stop_bot

    await stop_bot(first.application)  # the process goes away mid-conversation
    second = await start_bot(config=first.config)  # a new process, same database
    religion = EN["strand_religion"].format(mark="")
    await user.press({"messageId": edited["messageId"], "time": edited["time"], "message": edited["tg"]}, religion)
    edited_again = await user.tg.wait_edit(screen["messageId"], min_edits=2, timeout=15)
    assert {"✅ " + race, "✅ " + religion} <= set(labels({"message": edited_again["tg"]}))
    stored = stored_state(second, user)
    assert stored is not None and sorted(stored["strands"]) == ["race", "religion"]  # type: ignore[arg-type]


async def test_note_unsupported_input_and_forget(signpost_bot: RunningBot, make_user: Callable[..., User]) -> None:
    user = make_user(signpost_bot, NAME, USERNAME)
    await user.tg.send_command("/start")
    menu = await user.until_buttons("note")
    await user.press(with_button(menu, "note"), label_of("note"))
    await user.until_buttons("note:skip")
    for index, answer in enumerate(NOTE_ANSWERS):
        await user.tg.send_text(answer)
        if index < len(NOTE_ANSWERS) - 1:
            await user.until_buttons("note:skip")
    done = await user.until(lambda got: all(a in texts(got) for a in NOTE_ANSWERS))
    assert all(answer in texts(done) for answer in NOTE_ANSWERS)  # given back, once, to keep

    await user.tg.send_raw(
        sticker={
            "file_id": "st1",
            "file_unique_id": "st1",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
    )
    sticker = await user.until(lambda got: EN["unsupported_sticker"] in texts(got))
    assert sticker

    await user.tg.send_text("help he is outside")
    danger = await user.until(lambda got: "999" in texts(got) and any("menu" in callback_data(r) for r in got))
    assert danger

    assert stored_state(signpost_bot, user) is not None
    await user.tg.send_command("/forget")
    await user.until(lambda got: EN["left"] in texts(got))
    assert stored_state(signpost_bot, user) is None


async def test_the_command_menu_is_set(signpost_bot: RunningBot, make_user: Callable[..., User]) -> None:
    user = make_user(signpost_bot)
    commands = (await user.tg._post("/shim/myCommands", {"token": signpost_bot.token}))["result"]
    assert commands is not None and {c["command"] for c in commands} >= {"start", "emergency", "forget", "help"}


async def test_nothing_typed_located_or_personal_is_stored(start_bot: StartBot, make_user: Callable[..., User]) -> None:
    bot = await start_bot()
    user = make_user(bot, NAME, USERNAME)
    await user.tg.send_command("/start")
    menu = await user.until_buttons("find", "note")
    await user.press(with_button(menu, "find"), label_of("find"))
    await user.until_location_keyboard()
    await user.tg.send_location(*MANCHESTER)
    results = await user.until_buttons("find", "note")
    await user.press(with_button(results, "find"), EN["btn_new_place"])
    await user.until_location_keyboard()
    await user.tg.send_text(LEEDS_POSTCODE)
    leeds = await user.until_buttons("note")
    await user.press(with_button(leeds, "note"), EN["btn_note"])
    await user.until_buttons("note:skip")
    for index, answer in enumerate(NOTE_ANSWERS):
        await user.tg.send_text(answer)
        if index < len(NOTE_ANSWERS) - 1:
            await user.until_buttons("note:skip")
    await user.until(lambda got: NOTE_ANSWERS[-1] in texts(got))
    await user.tg.send_text("my name is Zebedee and I live at 12 Quarry Street")
    await user.until(lambda got: bool(got))
    assert stored_state(bot, user) is not None  # there is state: the scan below is not of an empty database

    forbidden = [
        *NOTE_ANSWERS,
        "Quarry Street",
        "Priyanka",
        LEEDS_POSTCODE,
        LEEDS_POSTCODE.replace(" ", ""),
        NAME,
        USERNAME,
        str(user.id),
        *_coordinate_forms(*MANCHESTER),
    ]
    found = _scan_database(bot, forbidden) + _scan_files(bot.config.data_dir, forbidden)
    assert found == [], f"personal data stored: {found}"


def _coordinate_forms(lat: float, lon: float) -> list[str]:
    forms = []
    for digits in (3, 4):
        forms += [f"{lat:.{digits}f}", f"{lon:.{digits}f}"]
    return forms


def _scan_database(bot: RunningBot, forbidden: list[str]) -> list[str]:
    engine = make_engine(bot.config.effective_database_url)
    found: list[str] = []
    try:
        with engine.connect() as conn:
            for table in inspect(engine).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    dumped = json.dumps([str(v) for v in row])
                    found += [f"{table}: {needle!r}" for needle in forbidden if needle.lower() in dumped.lower()]
    finally:
        engine.dispose()
    return found


def _scan_files(data_dir: Path, forbidden: list[str]) -> list[str]:
    """Every file in the data directory, byte for byte (the SQLite file's free pages included)."""
    found: list[str] = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        content = path.read_bytes().lower()
        found += [f"{path.name}: {needle!r}" for needle in forbidden if needle.lower().encode() in content]
    return found


async def test_with_jobs_the_scheduler_runs_inside_the_bot(start_bot: StartBot, make_user: Callable[..., User]) -> None:
    from jobs.schedule import JOBS

    bot = await start_bot(with_jobs=True)
    engine = make_engine(bot.config.effective_database_url)
    try:
        with engine.connect() as conn:
            scheduled = {row[0] for row in conn.execute(text("SELECT id FROM apscheduler_jobs"))}
    finally:
        engine.dispose()
    assert scheduled == {spec.id for spec in JOBS}
    user = make_user(bot)
    await user.tg.send_command("/start")
    assert await user.until_buttons("danger")  # the bot still answers with the scheduler beside it
