"""An offline Bot API for tests and benchmarks: a python-telegram-bot request object that records every call.

This is python-telegram-bot's own testing style: the real ``Bot`` and ``Application`` run unchanged, only the
HTTP layer is replaced by one that answers each method with canned, well-formed Bot API JSON. Nothing here is
used by the running bot.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from telegram.request import BaseRequest, RequestData

__all__ = ["BOT_USER", "RecordedCall", "RecordingRequest"]

BOT_USER = {"id": 777000, "is_bot": True, "first_name": "Signpost", "username": "SignpostTestBot"}


@dataclass(frozen=True)
class RecordedCall:
    """One Bot API call: the method name and its parameters (as plain JSON-ready values)."""

    method: str
    params: dict[str, Any]


class RecordingRequest(BaseRequest):
    """Answers Bot API methods offline and records them in :attr:`calls`.

    ``sendMessage`` and the edit methods echo a message built from their parameters, so the adapter sees what
    Telegram would return. ``fail_methods`` makes chosen methods answer with a Bot API error.
    """

    def __init__(self, *, fail_methods: frozenset[str] = frozenset()) -> None:
        self.calls: list[RecordedCall] = []
        self.fail_methods = fail_methods
        # The bot's message ids: in a private chat Telegram numbers the person's and the bot's messages in one
        # sequence, so a reply never has the id of the message it answers; tests and benches number incoming
        # messages from small numbers, so the replies are numbered from far above them.
        self._message_id = 1_000_000_000

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def of(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every recorded call of ``method``, in order."""
        return [call.params for call in self.calls if call.method == method]

    def clear(self) -> None:
        self.calls.clear()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        await asyncio.sleep(0)  # yield to the event loop, as a real network call would
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data is not None else {}
        self.calls.append(RecordedCall(api_method, params))
        if api_method in self.fail_methods:
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {api_method} failed on purpose"}
            return 400, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(api_method, params)}).encode()

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup", "sendLocation"):
            return self._message(method, params)
        if method == "getUpdates":
            return []
        if method == "getMyCommands":
            return []
        return True

    def _message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method.startswith("edit"):
            message_id = int(params.get("message_id", 0))
        else:
            self._message_id += 1
            message_id = self._message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message
