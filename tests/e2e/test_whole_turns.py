"""Whole turns: a Bot API call that fails in the middle of a turn is retried, so the person never sees half a
screen; when it keeps failing, the turn still ends with its buttons and an apology. Faults come from a proxy in
front of the emulator (tests/e2e/botapi_proxy.py) answering one ``sendMessage`` with an HTTP error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.adapters.telegram import SEND_ATTEMPTS
from bot.content import catalogue
from bot.engine import Language
from tests.e2e.botapi_proxy import BotApiProxy
from tests.e2e.conftest import StartBot, User, asks_location, bot_settings, callback_data, with_button
from tests.e2e.test_telegram_bot import texts

pytestmark = pytest.mark.e2e

EN = catalogue(Language.EN)


async def test_a_failed_send_mid_turn_is_retried(
    start_bot: StartBot, make_user: Callable[..., User], bot_api_proxy: BotApiProxy, tmp_path: Path
) -> None:
    bot = await start_bot(config=bot_settings(bot_api_proxy.url, tmp_path / "data"))
    user = make_user(bot)
    await user.tg.send_command("/start")
    menu = await user.until_buttons("danger", "find")
    # "Find help" is two messages (the question with its buttons, then the location keyboard): the second fails once
    bot_api_proxy.fail("sendMessage", chat_id=user.id, skip=1)
    await user.press(with_button(menu, "find"), EN["btn_find"])
    got = await user.until_location_keyboard()
    assert bot_api_proxy.failed == [("sendMessage", user.id)]
    assert "danger" in callback_data(got[0]) and asks_location(got[-1])
    assert len(got) == 2 and EN["error_sorry"] not in texts(got)  # the whole screen, once, no apology


async def test_a_send_that_keeps_failing_still_ends_the_turn_with_its_buttons(
    start_bot: StartBot, make_user: Callable[..., User], bot_api_proxy: BotApiProxy, tmp_path: Path
) -> None:
    bot = await start_bot(config=bot_settings(bot_api_proxy.url, tmp_path / "data"))
    user = make_user(bot)
    await user.tg.send_command("/start")
    menu = await user.until_buttons("danger", "find")
    bot_api_proxy.fail("sendMessage", chat_id=user.id, times=SEND_ATTEMPTS)  # the question never goes
    await user.press(with_button(menu, "find"), EN["btn_find"])
    got = await user.until(lambda got: EN["error_sorry"] in texts(got), timeout=30)
    assert len(bot_api_proxy.failed) == SEND_ATTEMPTS
    assert len(got) == 2 and asks_location(got[0])  # the turn's last message (the way on), then the apology
