"""A round-robin HTTP load balancer on loopback, for webhook workers behind one URL (as in production)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding"}


@dataclass
class RoundRobin:
    """POSTs to :attr:`url` go to each of ``workers`` (base URLs) in turn; :attr:`served` counts per worker.

    ``secret``: the emulator's webhook calls lack the ``X-Telegram-Bot-Api-Secret-Token`` header Telegram sends
    (the token given to setWebhook); the balancer adds it, as the real path from Telegram would carry it."""

    workers: list[str]
    secret: str | None = None
    served: list[int] = field(default_factory=list)
    redelivered: int = 0  # calls retried on another worker after a transport failure
    _next: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RoundRobin:
        self.served = [0] * len(self.workers)
        self._next = itertools.cycle(range(len(self.workers)))
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                balancer._forward(self)

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

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self._lock:
            index = next(self._next)
            self.served[index] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        if self.secret is not None:
            headers.setdefault("X-Telegram-Bot-Api-Secret-Token", self.secret)
        status, content = 502, b""
        # A worker that is down, or dies before answering, gets the update sent to the next one, as Telegram
        # redelivers an update whose webhook call failed.
        for attempt in range(20):  # Telegram keeps trying far longer; enough for a test
            worker = self.workers[(index + attempt) % len(self.workers)]
            try:
                with httpx.Client(timeout=60.0) as client:
                    answer = client.post(worker + request.path, content=body, headers=headers)
            except httpx.TransportError:
                with self._lock:
                    self.redelivered += 1
                time.sleep(0.2)
                continue
            status, content = answer.status_code, answer.content
            if status < 500:
                break
        request.send_response(status)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)
