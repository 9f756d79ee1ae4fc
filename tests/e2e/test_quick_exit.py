"""Leave quickly: the chat is deleted from the person's phone, then one neutral line.

Through the emulator (with ``deleteMessages`` from tests/e2e/botapi_proxy.py): after "Leave quickly" or /forget,
none of the person's messages (a postcode, the guided note's answers) and none of the bot's screens remain in the
chat, only the neutral line; the server keeps no state and no message ids for the chat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot.content import catalogue
from bot.engine import Language
from services_db.db import make_engine
from services_db.models import ChatMessage
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import RunningBot, StartBot, User, bot_settings, with_button
from tests.e2e.test_telegram_bot import LEEDS_POSTCODE, NOTE_ANSWERS, label_of, stored_state, texts

pytestmark = pytest.mark.e2e

EN = catalogue(Language.EN)


async def chat_history(user: User) -> list[dict[str, Any]]:
    """What the emulator still holds of this private chat: the person's messages and the bot's."""
    history = (await user.tg._post("/getUpdatesHistory", {"token": user.tg.token}))["result"]
    mine = []
    for record in history:
        message = record.get("message") or {}
        chat_id = (message.get("chat") or {}).get("id", message.get("chat_id"))
        if "callbackQuery" not in record and str(chat_id) == str(user.id):
            mine.append(message)
    return mine


async def conversation_with_a_note(user: User) -> None:
    await user.tg.send_command("/start")
    menu = await user.until_buttons("find")
    await user.press(with_button(menu, "find"), label_of("find"))
    await user.until_location_keyboard()
    await user.tg.send_text(LEEDS_POSTCODE)
    results = await user.until_buttons("note")
    await user.press(with_button(results, "note"), EN["btn_note"])
    await user.until_buttons("note:skip")
    for answer in NOTE_ANSWERS[:3]:
        await user.tg.send_text(answer)
        await user.until_buttons("note:skip")


def kept_message_ids(bot: RunningBot) -> int:
    engine = make_engine(bot.config.effective_database_url)
    try:
        with Session(engine) as session:
            return len(session.execute(select(ChatMessage.__table__)).all())  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["button", "command"])
async def test_leave_quickly_deletes_the_chat_from_the_phone(
    how: str, start_bot: StartBot, make_user: Callable[..., User], bot_api_proxy: BotApiProxy, tmp_path: Path
) -> None:
    bot = await start_bot(config=bot_settings(bot_api_proxy.url, tmp_path / "data"))
    bystander = make_user(bot, "Sam")  # another person's chat is not touched
    await bystander.tg.send_command("/start")
    await bystander.until_buttons("danger")
    user = make_user(bot, "Alex")
    await conversation_with_a_note(user)
    before = await chat_history(user)
    assert any(m.get("text") == LEEDS_POSTCODE for m in before) and len(before) > 10
    assert kept_message_ids(bot) > 0

    if how == "button":
        await user.press(with_button(user.seen, "leave"), EN["btn_leave"])  # on the note's question
    else:
        await user.tg.send_command("/forget")
    await user.until(lambda got: EN["left"] in texts(got))

    after = await chat_history(user)
    assert [m.get("text") for m in after] == [EN["left"]], after  # the neutral line, nothing else
    assert stored_state(bot, user) is None
    assert {chat for chat, _ in bot_api_proxy.deleted} == {user.id}
    assert len(bot_api_proxy.deleted) >= len(before)
    assert len(await chat_history(bystander)) == 2  # the welcome with its menu stays (plus its /start)
    assert kept_message_ids(bot) == 2  # the bystander's ids only: their /start and the reply


async def test_leave_quickly_on_the_location_keyboard_deletes_the_chat_with_the_label(
    start_bot: StartBot, make_user: Callable[..., User], bot_api_proxy: BotApiProxy, tmp_path: Path
) -> None:
    """On "where are you?" the way out is a text button of the location keyboard: the label the app sends for it
    is read as Leave quickly, and goes with the rest of the chat."""
    bot = await start_bot(config=bot_settings(bot_api_proxy.url, tmp_path / "data"))
    user = make_user(bot, "Alex")
    await user.tg.send_command("/start")
    menu = await user.until_buttons("find")
    await user.press(with_button(menu, "find"), label_of("find"))
    (question,) = await user.until_location_keyboard()
    keyboard = question["message"]["reply_markup"]["keyboard"]
    assert EN["btn_leave"] in [b.get("text") for row in keyboard for b in row]
    await user.tg.send_text(EN["btn_leave"])
    await user.until(lambda got: EN["left"] in texts(got))

    after = await chat_history(user)
    assert [m.get("text") for m in after] == [EN["left"]], after  # the label sent and the question are gone too
    assert stored_state(bot, user) is None
    assert kept_message_ids(bot) == 0
