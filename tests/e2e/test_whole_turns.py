"""Whole turns: a Bot API call that fails in the middle of a turn is retried, so the person never sees half a
screen; when it keeps failing, the turn still ends with its buttons and an apology. Faults come from a proxy in
front of the emulator (tests/e2e/botapi_proxy.py) answering one ``sendMessage`` with an HTTP error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.telegram import SEND_ATTEMPTS
from bot.content import catalogue
from bot.engine import Language
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import StartBot, User, asks_location, bot_settings, callback_data, with_button
from tests.e2e.test_telegram_bot import LEEDS_POSTCODE, texts

pytestmark = pytest.mark.e2e

EN = catalogue(Language.EN)


async def at_the_location_step(user: User) -> list[dict[str, Any]]:
    """/start, then "Find help": its question comes as one message carrying the location keyboard with the
    danger screen, the way out and the menu on it."""
    await user.tg.send_command("/start")
    menu = await user.until_buttons("danger", "find")
    await user.press(with_button(menu, "find"), EN["btn_find"])
    got = await user.until_location_keyboard()
    got += await user.tg.next_messages(1.0)  # anything more would show now
    assert len(got) == 1 and asks_location(got[0]), got
    labels = [b.get("text") for row in got[0]["message"]["reply_markup"]["keyboard"] for b in row]
    assert {EN["btn_danger"], EN["btn_leave"], EN["btn_menu"]} <= set(labels)
    return got


async def test_a_failed_send_mid_turn_is_retried(
    start_bot: StartBot, make_user: Callable[..., User], bot_api_proxy: BotApiProxy, tmp_path: Path
) -> None:
    bot = await start_bot(config=bot_settings(bot_api_proxy.url, tmp_path / "data"))
    user = make_user(bot)
    await at_the_location_step(user)
    # The results after leaving the location step: the first message removes the location keyboard, the last
    # has the buttons. The second fails once.
    bot_api_proxy.fail("sendMessage", chat_id=user.id, skip=1)
    await user.tg.send_text(LEEDS_POSTCODE)
    got = await user.until_buttons("note", "danger")
    got += await user.tg.next_messages(1.0)
    assert bot_api_proxy.failed == [("sendMessage", user.id)]
    assert got[0]["message"].get("reply_markup", {}).get("remove_keyboard") and "note" in callback_data(got[-1])
    shown = [m["message"].get("text") for m in got]
    assert len(got) >= 2 and len(set(shown)) == len(shown) and EN["error_sorry"] not in texts(got)  # whole, once


async def test_a_send_that_keeps_failing_still_ends_the_turn_with_its_buttons(
    start_bot: StartBot, make_user: Callable[..., User], bot_api_proxy: BotApiProxy, tmp_path: Path
) -> None:
    bot = await start_bot(config=bot_settings(bot_api_proxy.url, tmp_path / "data"))
    user = make_user(bot)
    await at_the_location_step(user)
    bot_api_proxy.fail("sendMessage", chat_id=user.id, times=SEND_ATTEMPTS)  # the results' first message never goes
    await user.tg.send_text(LEEDS_POSTCODE)
    got = await user.until(lambda got: EN["error_sorry"] in texts(got), timeout=30)
    assert len(bot_api_proxy.failed) == SEND_ATTEMPTS
    assert len(got) == 2 and "note" in callback_data(got[0])  # the turn's last message (the way on), the apology
