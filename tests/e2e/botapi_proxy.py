"""A loopback proxy in front of the Bot API emulator: what the shared emulator lacks, and Bot API faults on demand.

- ``deleteMessages`` (Bot API 7.0: up to 100 ids, ids that cannot be deleted are skipped), done with the emulator's
  own ``deleteMessage`` one id at a time; every deletion asked for is recorded in :attr:`BotApiProxy.deleted`.
- :meth:`BotApiProxy.fail`: the next matching calls of one method (for one chat) answer an HTTP error without
  reaching the emulator, as Telegram or a network in between sometimes does; :meth:`BotApiProxy.delay` holds
  calls back.
- ``getUpdates`` with Telegram's ``offset`` semantics (the emulator marks updates read as soon as it returns
  them): an update is delivered again until a later call's offset confirms it, so a bot killed before
  processing what it fetched gets it again when it restarts.

Everything else is forwarded byte for byte (long polling included). The emulator itself is not modified.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

_BOT_METHOD = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding"}


@dataclass
class _Fault:
    method: str
    chat_id: int | None
    skip: int  # matching calls to let through first
    times: int  # then fail this many
    status: int  # 0: not an error, a delay
    description: str
    delay_s: float = 0.0
    retry_after: int | None = None  # flood control: Telegram's parameters.retry_after


@dataclass
class BotApiProxy:
    """Listen on a free loopback port and forward to ``upstream`` (the emulator's root URL)."""

    upstream: str
    deleted: list[tuple[int, int]] = field(default_factory=list)  # (chat id, message id) actually deleted
    calls: list[tuple[str, int | None]] = field(default_factory=list)  # (method, chat id) seen, in order
    failed: list[tuple[str, int | None]] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _unconfirmed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # token -> updates, oldest first
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> BotApiProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda _request, _address: None  # type: ignore[method-assign]  (a peer killed mid-call)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def delay(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before forwarding them (a slow network
        path: a later call may overtake them)."""
        with self._lock:
            self._faults.append(_Fault(method, None, 0, times, 0, "", seconds))

    def fail(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        skip: int = 0,
        times: int = 1,
        status: int = 502,
        description: str = "Bad Gateway",
        retry_after: int | None = None,
    ) -> None:
        """After ``skip`` matching calls, answer the next ``times`` with HTTP ``status`` (and, with
        ``retry_after``, the seconds to wait, as Telegram's 429 says)."""
        with self._lock:
            self._faults.append(_Fault(method, chat_id, skip, times, status, description, retry_after=retry_after))

    # --- internals --------------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        matched = _BOT_METHOD.match(request.path.split("?", 1)[0])
        method = matched["method"] if matched else ""
        params = _params(request.headers.get("Content-Type", ""), body) if matched else {}
        chat_id = _int(params.get("chat_id"))
        with self._lock:
            self.calls.append((method, chat_id))
            fault = self._fault(method, chat_id)
            if fault is not None and fault.status:
                self.failed.append((method, chat_id))
        if fault is not None and not fault.status:
            time.sleep(fault.delay_s)
        elif fault is not None:
            error: dict[str, Any] = {"ok": False, "error_code": fault.status, "description": fault.description}
            if fault.retry_after is not None:
                error["parameters"] = {"retry_after": fault.retry_after}
            return _reply(request, fault.status, json.dumps(error).encode(), "application/json")
        if matched and method == "deleteMessages":
            return self._delete_messages(request, matched["token"], chat_id, params)
        if matched and method == "getUpdates":
            return self._get_updates(request, matched["token"], params, body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        with httpx.Client(timeout=90.0) as client:
            upstream = client.request(request.command, self.upstream + request.path, content=body, headers=headers)
        _reply(request, upstream.status_code, upstream.content, upstream.headers.get("content-type", "text/plain"))

    def _fault(self, method: str, chat_id: int | None) -> _Fault | None:
        for fault in self._faults:
            if fault.method != method or (fault.chat_id is not None and fault.chat_id != chat_id):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                return None
            if fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _get_updates(self, request: BaseHTTPRequestHandler, token: str, params: dict[str, Any], body: bytes) -> None:
        offset, limit = _int(params.get("offset")), _int(params.get("limit")) or 100
        with self._lock:
            pending = self._confirm(token, offset)
        if not pending:  # nothing unconfirmed: long-poll the emulator for new ones
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
            with httpx.Client(timeout=90.0) as client:
                fetched = client.post(self.upstream + request.path, content=body, headers=headers).json()
            with self._lock:
                self._unconfirmed.setdefault(token, []).extend(fetched.get("result") or [])
                pending = self._confirm(token, offset)
        answer = {"ok": True, "result": pending[:limit]}
        _reply(request, 200, json.dumps(answer).encode(), "application/json")

    def _confirm(self, token: str, offset: int | None) -> list[dict[str, Any]]:
        kept = [u for u in self._unconfirmed.get(token, []) if offset is None or u["update_id"] >= offset]
        self._unconfirmed[token] = kept
        return list(kept)

    def _delete_messages(
        self, request: BaseHTTPRequestHandler, token: str, chat_id: int | None, params: dict[str, Any]
    ) -> None:
        raw = params.get("message_ids")
        ids = json.loads(raw) if isinstance(raw, str) else raw
        if chat_id is None or not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            error = {"ok": False, "error_code": 400, "description": "Bad Request: message_ids must hold 1-100 ids"}
            return _reply(request, 400, json.dumps(error).encode(), "application/json")
        with httpx.Client(timeout=30.0) as client:
            for message_id in ids:
                done = client.post(
                    f"{self.upstream}/bot{token}/deleteMessage", json={"chat_id": chat_id, "message_id": message_id}
                )
                if done.status_code == 200:
                    with self._lock:
                        self.deleted.append((chat_id, int(message_id)))
        _reply(request, 200, json.dumps({"ok": True, "result": True}).encode(), "application/json")


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if "json" in content_type:
        loaded = json.loads(body)
        return loaded if isinstance(loaded, dict) else {}
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(body.decode("utf-8")))
    return {}  # multipart uploads: never faulted or rewritten


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _reply(request: BaseHTTPRequestHandler, status: int, content: bytes, content_type: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(content)))
    request.end_headers()
    request.wfile.write(content)
