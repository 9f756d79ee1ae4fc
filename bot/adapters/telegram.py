"""The Telegram adapter (python-telegram-bot 22): thin handlers around the pure conversation engine.

Each update becomes one engine event; the turn runs through :class:`~bot.persistence.ConversationStore` (state in
the database, keyed by an HMAC of the chat id, so any number of stateless workers can serve the same people);
what the engine says is rendered with HTML escaping (``bot.render``) and sent with ``parse_mode=HTML``.

There is no in-process conversation state (no ``ConversationHandler``). Updates from different people are
handled concurrently (bounded), one person's strictly in order; separate workers (webhook mode) are reconciled
by the store's version check.

Staff (PCC editor) handlers plug in through ``build_application(..., extensions=[...])``: an extension gets the
:class:`~telegram.ext.Application` and adds its handlers in :data:`STAFF_GROUP` (which runs before the victim
handlers); once it has handled a staff member's update it raises ``ApplicationHandlerStop`` so the victim flow
does not answer too. Anything it does not handle (an unregistered person, a victim's document) falls through to
the victim flow.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import html
import json
import logging
import signal
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, partial
from typing import Any, TypeVar

import httpx
from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.content import catalogue
from bot.engine import (
    Button,
    Choice,
    Conversation,
    Engine,
    Event,
    Language,
    SharedLocation,
    State,
    Text,
    Turn,
    Unsupported,
    looks_urgent,
    parse_command,
)
from bot.persistence import DELETABLE_FOR, AlreadyTaken, ConversationStore, OpenTurn
from bot.render import TELEGRAM_LIMIT, KeyboardRow, Rendered, render_label, render_turn, split_text

__all__ = [
    "ALLOWED_UPDATES",
    "MENU_COMMANDS",
    "STAFF_GROUP",
    "VICTIM_GROUP",
    "Extension",
    "NotStarted",
    "Poller",
    "RateLimit",
    "RateLimiter",
    "VictimBot",
    "Webhook",
    "WebhookServer",
    "build_application",
    "event_from_message",
    "run",
    "set_command_menu",
    "staff_notifier",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ALLOWED_UPDATES: tuple[str, ...] = (Update.MESSAGE, Update.CALLBACK_QUERY)
STAFF_GROUP = -1
VICTIM_GROUP = 0
DANGER_COMMANDS = frozenset({"emergency", "danger", "999"})
# The danger screen waits this long for the database, then answers from the catalogue without it.
DANGER_DEADLINE_S = 0.3
# Sending a message: attempts, first backoff (doubled each time) and the longest flood wait honoured.
SEND_ATTEMPTS = 4
SEND_BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 30.0
HTTP_CONNECTIONS = 16  # to the Bot API, at once: at 50-150 ms a call, more than the 30 messages a second Telegram takes
HTTP_URGENT_CONNECTIONS = 8  # more, for the danger screen only: it never waits behind other people's calls
MAX_REMEMBERED_CHATS = 100_000
DELETE_BATCH = 100  # Bot API deleteMessages takes at most 100 ids
MAX_IDS_PER_CHAT = 500  # in memory, besides the database, for a quick exit with the database down
MAX_CHATS_WITH_IDS = 20_000
WIPE_WAIT_S = 2.0  # how long a quick exit waits for the stored ids before going on with those in memory
# On a stop (SIGTERM in a rolling deploy) updates in progress get this long to finish and be answered.
DRAIN_S = 10.0
# setWebhook refused for flood control (several workers restarting at once): tries, honouring its wait.
SET_WEBHOOK_ATTEMPTS = 4
MENU_COMMANDS: tuple[str, ...] = ("start", "emergency", "help", "language", "cancel", "forget")
# The Telegram app languages we have a catalogue for; everyone else gets English (Easy Read is chosen in the bot).
MENU_LANGUAGES: dict[str | None, Language] = {None: Language.EN, "en": Language.EN, "cy": Language.CY}
# States in which the "share my location" keyboard may be showing.
_LOCATION_STATES = frozenset({State.ASK_LOCATION, State.CHOOSE_PLACE})
# Actions a location question's buttons may carry on its reply keyboard, as text buttons (pressing one sends its
# label, read back by event_from_message), with their catalogue labels.
_REPLY_KEYBOARD_ACTIONS: dict[str, str] = {"danger": "btn_danger", "leave": "btn_leave", "menu": "btn_menu"}
_UNSUPPORTED_KINDS = (
    "sticker",
    "voice",
    "audio",
    "video_note",
    "photo",
    "video",
    "animation",
    "document",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)

Extension = Callable[[Application], None]  # type: ignore[type-arg]


# --- events -------------------------------------------------------------------------------------------------


def event_from_message(message: Message) -> Event:
    """The engine event for a Telegram message: text, a shared location (or venue), or what it cannot read.

    A text that is exactly the label of one of the location keyboard's buttons (in any of the bot's languages)
    is that button's action, as the inline button would give it: see :func:`telegram_messages`."""
    if message.location is not None:
        loc = message.location
        return SharedLocation(lat=loc.latitude, lon=loc.longitude, accuracy_m=loc.horizontal_accuracy)
    if message.text is not None:
        action = _reply_actions().get(message.text)
        return Choice(action) if action is not None else Text(message.text)
    for kind in _UNSUPPORTED_KINDS:
        if getattr(message, kind, None):
            return Unsupported(kind)
    return Unsupported("other")


# --- rate limiting ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per person: ``burst`` updates at once, refilled at ``per_minute``."""

    burst: int = 20
    per_minute: float = 40.0


class RateLimiter:
    """Token buckets in memory, keyed by the hashed chat id; the least recently seen are dropped past ``max_keys``.

    :meth:`check` returns ``(allowed, tell)``: ``tell`` is true for the first refusal after an allowed update,
    so a person hears once that they are going too fast rather than once per message.
    """

    def __init__(
        self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float, bool]] = OrderedDict()  # tokens, at, told

    def check(self, key: str) -> tuple[bool, bool]:
        now = self.clock()
        tokens, at, told = self._buckets.pop(key, (float(self.limit.burst), now, False))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.per_minute / 60.0)
        if tokens >= 1.0:
            self._store(key, (tokens - 1.0, now, False))
            return True, False
        self._store(key, (tokens, now, True))
        return False, not told

    def _store(self, key: str, bucket: tuple[float, float, bool]) -> None:
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


# --- rendering for Telegram ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outbound:
    text: str
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None


def _inline(rendered: Rendered) -> InlineKeyboardMarkup | None:
    rows = []
    for row in rendered.keyboard:
        buttons = []
        for label, action, url in row:
            if url:
                buttons.append(InlineKeyboardButton(label, url=url))
            elif action and len(action.encode("utf-8")) <= 64:
                buttons.append(InlineKeyboardButton(label, callback_data=action))
            else:
                log.warning("button dropped: callback data missing or over 64 bytes")
        if buttons:
            rows.append(buttons)
    return InlineKeyboardMarkup(rows) if rows else None


def telegram_messages(turn: Turn, *, previous: State | None) -> list[_Outbound]:
    """What to send for a turn, in order: as few messages as fit (``bot.render.render_turn``), usually one with
    its keyboard, since each message is a round trip to Telegram.

    A Telegram message has one keyboard: when the engine asks for a location, the question's message carries a
    reply keyboard with "share my location" first and the screen's buttons after it as text buttons (danger,
    leave quickly, the menu: their labels are read back as those actions), so the question is one message.
    Should a location screen ever have a button a reply keyboard cannot carry (a link, another action), the
    location keyboard goes on a short follow-up message instead. The location keyboard is removed (on the first
    message that has no inline buttons) once the conversation leaves the location steps; a message the engine
    marks ``remove_keyboard`` (the welcome after /start, /cancel) goes on its own to carry that removal only
    when the keyboard may be showing (the previous step asked for a location, or is unknown).
    """
    language = turn.conversation.language
    asks_location = any(message.request_location for message in turn.messages)
    may_show = previous is None or previous in _LOCATION_STATES
    explicit = bool(turn.messages) and turn.messages[0].remove_keyboard
    rendered = render_turn(
        turn.messages, language, markup="html", first_alone=explicit and may_show and not asks_location
    )
    pending_remove = not asks_location and (previous in _LOCATION_STATES or any(r.remove_keyboard for r in rendered))
    if pending_remove and may_show and len(turn.messages) > 1 and all(r.keyboard for r in rendered):
        # Leaving the location step in one message with buttons: its first part goes alone, to remove the keyboard.
        rendered = render_turn(turn.messages, language, markup="html", first_alone=True)
    out: list[_Outbound] = []
    for item in rendered:
        markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = _inline(item)
        follow_up = None
        if item.request_location_label:
            if _text_buttons_only(item.keyboard):
                markup = _location_keyboard(item.request_location_label, item.keyboard)
            else:  # buttons a reply keyboard cannot carry: the location keyboard follows on its own
                hint = "👇 " + html.escape(item.request_location_label, quote=False)
                follow_up = _Outbound(hint, _location_keyboard(item.request_location_label))
        elif markup is None and pending_remove:
            markup = ReplyKeyboardRemove()
            pending_remove = False
        out.append(_Outbound(item.text, markup))
        if follow_up is not None:
            out.append(follow_up)
    return out


def _text_buttons_only(rows: Sequence[KeyboardRow]) -> bool:
    """Whether every button can go on a reply keyboard as text (an action of :data:`_REPLY_KEYBOARD_ACTIONS`)."""
    return all(not url and action in _REPLY_KEYBOARD_ACTIONS for row in rows for _, action, url in row)


def _location_keyboard(label: str, rows: Sequence[KeyboardRow] = ()) -> ReplyKeyboardMarkup:
    """The reply keyboard asking for a location: its button first, then ``rows`` (the screen's buttons) as text."""
    keyboard = [[KeyboardButton(label, request_location=True)]]
    keyboard += [[KeyboardButton(text) for text, _, _ in row] for row in rows]
    return ReplyKeyboardMarkup(keyboard, resize_keyboard=True, one_time_keyboard=True)


@cache
def _reply_actions() -> dict[str, str]:
    """The location keyboard's text-button labels, in every language, and the action each stands for."""
    labels: dict[str, str] = {}
    for language in Language:
        for action, key in _REPLY_KEYBOARD_ACTIONS.items():
            label = render_label(Button(key, action), language)
            if labels.setdefault(label, action) != action:
                raise ValueError(f"the label {label!r} names two actions on the location keyboard")
    return labels


# --- exactly once: a turn's transaction held open until its reply is on the wire ----------------------------

# How long a held transaction waits for the reply's first request to be written before committing anyway.
HOLD_S = 10.0
# Telegram's updates are a few kilobytes; a body over this is refused before it is read (tornado: 400).
WEBHOOK_MAX_BODY = 1024 * 1024
COMMIT_THREADS = 2  # threads that commit held turns (each a COMMIT, and a signposting count if any)
# Set while answering "I'm in danger": the Bot API calls skip the queue (see _BoundedRequest).
_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("_URGENT", default=False)
# Set while sending a turn's second message and after: it goes before any turn's first (see _Slots).
_FOLLOW_UP: contextvars.ContextVar[bool] = contextvars.ContextVar("_FOLLOW_UP", default=False)
# A slot taken ahead for the current task's next Bot API call (see _BoundedRequest.reserved).
_RESERVED: contextvars.ContextVar[_Reservation | None] = contextvars.ContextVar("_RESERVED", default=None)
# The current turn's watch on its reply's sends (see _SendWatch): set while a turn shows its reply.
_SEND_WATCH: contextvars.ContextVar[_SendWatch | None] = contextvars.ContextVar("_SEND_WATCH", default=None)
# Called once the body of the current task's next Bot API request has been written to the socket.
_ON_WRITTEN: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("_ON_WRITTEN", default=None)


class _Hold:
    """A turn's database transaction (PostgreSQL: the read and the write share one) kept open until the first
    request of its reply has been written to Telegram's socket, then committed.

    A worker killed before that write leaves nothing taken: the update is delivered again and answered in full
    by whoever gets it. Killed after it, the update is taken and its reply on its way (written bytes still go
    out when a process dies), so a redelivery is not answered twice. What is left between the two is the time
    for a commit thread to send COMMIT, not a round trip. No thread waits meanwhile: the open transaction waits
    in its connection, and :meth:`release` (on the event loop) hands the commit to the commit threads."""

    def __init__(self, opened: OpenTurn, commit_in: Callable[[Callable[[], None]], asyncio.Future[None]]) -> None:
        self.opened = opened
        self._commit_in = commit_in
        self.committing: asyncio.Future[None] | None = None
        self._late = asyncio.get_running_loop().call_later(HOLD_S, self._too_late) if opened.open else None

    @property
    def taken(self) -> bool:
        """Whether the update counts as taken (committed or committing): always on SQLite, where the turn comes
        back committed."""
        return not self.opened.open or self.committing is not None

    def release(self) -> None:
        """Commit now (once): the reply's first request is written, or the turn ended without one."""
        if self._late is not None:
            self._late.cancel()
            self._late = None
        if self.committing is None and self.opened.open:
            self.committing = self._commit_in(self.opened.commit)

    def _too_late(self) -> None:
        log.warning("a reply took over %.0f s to start; its turn is committed anyway", HOLD_S)
        self._late = None
        self.release()


class _SendWatch:
    """While a send of a taken turn's reply waits to be tried again (Telegram refused a request already written:
    a 5xx, a 429, a broken connection), the update is marked "reply not sent" in the store, and unmarked once a
    try succeeds: a worker killed meanwhile leaves the mark, and the redelivered update shows the screen again
    instead of nothing (see ``ConversationStore.mark_unsent``). ``mark(unsent)`` says whether it marked."""

    def __init__(self, mark: Callable[[bool], Awaitable[bool]]) -> None:
        self._mark = mark
        self._marked = False

    async def failed(self) -> None:
        if not self._marked:
            self._marked = await self._mark(True)

    async def recovered(self) -> None:
        if self._marked:
            self._marked = False
            await self._mark(False)


def _release_now() -> None:
    """Release the current task's held transaction, if any, before the reply's first request."""
    release = _ON_WRITTEN.get()
    if release is not None:
        release()


async def _on_request(request: httpx.Request) -> None:
    """httpx request hook: trace the request so that the task's ``_ON_WRITTEN`` runs once its body is written."""
    release = _ON_WRITTEN.get()
    if release is None:
        return

    async def trace(event: str, _info: dict[str, Any]) -> None:
        # Only a body written whole: after a failed write the turn stays held through the send's retries (a kill
        # during their backoff must leave the update to be delivered again, not taken with no reply out).
        if event.endswith("send_request_body.complete"):
            release()

    request.extensions["trace"] = trace


class _Slots:
    """At most ``size`` holders at once, first come first served, except that a turn's second message and after,
    and a button's answer (:data:`_FOLLOW_UP`), go before any turn's first: a turn under way is not queued again
    behind everyone else's.
    ``acquire``/``release`` as :class:`asyncio.Semaphore`."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    async def acquire(self) -> None:
        if self._free > 0 and not (self._waiting[0] or self._waiting[1]):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[0 if _FOLLOW_UP.get() else 1]
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as it was cancelled: pass it on
                self.release()
            else:
                with suppress(ValueError):
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_exc: object) -> None:
        self.release()


class _BoundedRequest(HTTPXRequest):
    """python-telegram-bot's HTTP layer with at most :data:`HTTP_CONNECTIONS` Bot API calls in flight; the rest
    wait their turn here, first come first served. Without the bound, hundreds of people at once meant hundreds
    of requests queued inside httpcore, which checks every queued request against every connection (each check a
    system call) whenever one starts or ends: more CPU than the rest of a turn. A turn's later messages go before
    any turn's first (see :class:`_Slots`), and a turn takes its first slot before its store call (see
    :meth:`reserved`).

    The danger screen does not wait: its calls go straight out, on connections kept for them."""

    def __init__(self) -> None:
        hooks = {"event_hooks": {"request": [_on_request]}}
        connections = HTTP_CONNECTIONS + HTTP_URGENT_CONNECTIONS
        super().__init__(connection_pool_size=connections, read_timeout=20, pool_timeout=30, httpx_kwargs=hooks)
        self._slots: _Slots | None = None

    @property
    def slots(self) -> _Slots:
        if self._slots is None:
            self._slots = _Slots(HTTP_CONNECTIONS)
        return self._slots

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if _URGENT.get():
            return await super().do_request(*args, **kwargs)
        reserved = _RESERVED.get()
        if reserved is not None and reserved.take():  # the slot reserved for the task's first call
            try:
                return await super().do_request(*args, **kwargs)
            finally:
                self.slots.release()
        async with self.slots:
            return await super().do_request(*args, **kwargs)

    @asynccontextmanager
    async def reserved(self) -> AsyncIterator[None]:
        """Take a slot now for the task's next Bot API call (given back at the end if no call used it).

        A turn takes its slot before its store call, so that its transaction, held open until its first request
        is written (see :class:`_Hold`), does not also wait behind everyone else's calls: a held transaction
        keeps a database connection, and locks its conversation's row."""
        await self.slots.acquire()
        reservation = _Reservation()
        token = _RESERVED.set(reservation)
        try:
            yield
        finally:
            _RESERVED.reset(token)
            if reservation.take():
                self.slots.release()


class _Reservation:
    """A slot of :class:`_Slots` held for a task's next call, used once."""

    def __init__(self) -> None:
        self._held = True

    def take(self) -> bool:
        held, self._held = self._held, False
        return held


@dataclass(frozen=True)
class _Prepared:
    """A stored turn ready to send, its transaction perhaps still open (see :class:`_Hold`)."""

    turn: Turn
    previous: State | None
    marked: bool
    outbound: list[_Outbound] | None
    hold: _Hold

    async def commit(self) -> None:
        """Release the transaction (if the reply never wrote anything) and wait for its commit."""
        self.hold.release()
        if self.hold.committing is None:
            return
        try:
            await self.hold.committing
        except Exception as exc:  # the reply went out; the next turn starts from the state before this one
            log.warning("a turn was answered but not stored: %s", type(exc).__name__)


# --- the victim flow ----------------------------------------------------------------------------------------


@dataclass
class _DangerRace:
    """A danger turn racing its deadline: ``computed`` resolves (True/False) when the stored turn is ready or
    failed; ``answered`` is set once the catalogue's danger screen went out without waiting for it."""

    computed: asyncio.Future[bool]
    answered: bool = False


@dataclass
class VictimBot:
    """The victim's conversation on Telegram: update -> event -> engine turn (stored) -> messages.

    Every store call runs in a thread pool, never on the event loop, and one person's updates run strictly in
    order (a lock per chat): a chat whose row is locked, or a database that is slow, holds up only that chat.
    The danger screen waits for the database at most ``danger_deadline`` seconds: after that it is answered
    from the catalogue, in the language last seen for the chat, else the Telegram app's, else English.

    Parameters
    ----------
    engine
        The conversation engine (one per process: it holds guided notes in memory).
    store
        Where conversation state lives.
    limiter
        Per-person rate limiting.
    danger_deadline
        Seconds the danger screen waits for the stored turn before answering without it.
    store_threads
        Threads for store calls (a chat waiting on a locked row holds one). Few: no thread waits for a reply to
        go out (see :class:`_Hold`), and every thread more that is ready to run takes turns with the event loop
        for the interpreter lock, which under load cost more than the calls themselves.
    thread_setup
        Run once in each store thread as it starts (the wiring passes the geography's per-thread set-up: pyproj
        builds its transforms per thread, about 30 ms each). :meth:`start_threads` starts them all at once.
    """

    engine: Engine
    store: ConversationStore
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(RateLimit()))
    danger_deadline: float = DANGER_DEADLINE_S
    store_threads: int = 8
    thread_setup: Callable[[], None] | None = None
    _chat_locks: dict[int, tuple[asyncio.Lock, int]] = field(default_factory=dict, init=False, repr=False)
    # The language each recent chat last used (an enum value; memory only), for answers that cannot wait.
    _languages: OrderedDict[int, Language] = field(default_factory=OrderedDict, init=False, repr=False)
    _recent_ids: OrderedDict[int, deque[tuple[int, float]]] = field(default_factory=OrderedDict, init=False, repr=False)
    _executor: ThreadPoolExecutor = field(init=False, repr=False)
    _committer: ThreadPoolExecutor = field(init=False, repr=False)
    _background: set[asyncio.Future[Any]] = field(default_factory=set, init=False, repr=False)
    # Message ids of replies sent, per chat, waiting to be stored (see _store_later), and the write under way.
    _unstored: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False)
    _storing: asyncio.Future[None] | None = field(default=None, init=False, repr=False)
    _writing: asyncio.Future[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=self.store_threads, thread_name_prefix="signpost-store", initializer=self._set_up_thread
        )
        # Commits of held turns (see _Hold): never queued behind other turns' store calls.
        self._committer = ThreadPoolExecutor(max_workers=COMMIT_THREADS, thread_name_prefix="signpost-commit")

    def _set_up_thread(self) -> None:
        # An initializer that raised would break the pool for good: a failed set-up only costs speed.
        if self.thread_setup is not None:
            try:
                self.thread_setup()
            except Exception:
                log.exception("a store thread's set-up failed; it runs without it")

    def start_threads(self) -> asyncio.Future[Any]:
        """Start every store thread now, in the background, each set up (:attr:`thread_setup`), rather than one by
        one under the first burst of people, when each new thread's set-up would hold up a turn."""
        barrier = threading.Barrier(self.store_threads, timeout=10)

        def meet() -> None:  # each task waits for the others, so each gets a thread of its own
            with suppress(threading.BrokenBarrierError):
                barrier.wait()

        loop = asyncio.get_running_loop()
        started = asyncio.gather(*(loop.run_in_executor(self._executor, meet) for _ in range(self.store_threads)))
        self._background.add(started)
        started.add_done_callback(self._background.discard)
        # A stop soon after the start (a refused start) cancels the threads' tasks: that is no error to log.
        started.add_done_callback(lambda done: done.cancelled() or done.exception())
        return started

    def handlers(self) -> list[Any]:
        private = filters.ChatType.PRIVATE
        return [
            MessageHandler(private & ~filters.UpdateType.EDITED, self.on_message),
            CallbackQueryHandler(self.on_button),
        ]

    async def close(self) -> None:
        """Store the message ids still waiting (a few seconds at most), then let go of the store threads (a thread
        stuck on a dead database is abandoned, not waited for)."""
        if self._storing is not None:
            with suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._storing), WIPE_WAIT_S)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._committer.shutdown(wait=False, cancel_futures=True)

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A message from the person: text, a command, a location or something the bot cannot read."""
        message = update.effective_message
        chat = update.effective_chat
        if message is None or chat is None:
            return
        event = event_from_message(message)
        if _is_danger(event):
            await self._danger(update, context, event, query=None)
        else:
            await self._serial_turn(update, context, event, query=None)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An inline button pressed: always answered, so the person's app stops its spinner."""
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None or chat.type != ChatType.PRIVATE:
            if query is not None:
                await query.answer()
            return
        event = Choice(query.data or "")
        if _is_danger(event):
            await self._danger(update, context, event, query=query)
        else:
            await self._serial_turn(update, context, event, query=query)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log what failed and where, never what anyone sent; say sorry when a person was waiting.

        The apology never reads the database (it may be what failed): the language is the one last seen for
        the chat in this process, else the person's Telegram app language."""
        error = context.error
        where = " <- ".join(
            f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
            for frame in reversed(traceback.extract_tb(error.__traceback__ if error else None)[-4:])
        )
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update %s failed: %s at %s", update_id, type(error).__name__, where or "?")
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        if update.effective_chat.type != ChatType.PRIVATE:
            return
        chat_id = update.effective_chat.id
        try:
            text = catalogue(self._language(update))["error_sorry"]
            await _send(context.bot, chat_id, _Outbound(text))
        except Exception as exc:  # the apology is best effort: its failure is logged, not raised
            log.error("could not apologise for update %s: %s", update_id, type(exc).__name__)
        if update.callback_query is not None:
            await _answer(update.callback_query)

    # --- internals --------------------------------------------------------------------------------------

    def _commit(self, commit: Callable[[], None]) -> asyncio.Future[None]:
        """Run a held turn's commit in the commit threads (see :class:`_Hold`)."""
        return asyncio.get_running_loop().run_in_executor(self._committer, commit)

    def _roll_back(self, opening: asyncio.Future[OpenTurn]) -> None:
        """Roll back a turn opened for an update whose handling was cancelled meanwhile."""
        if not opening.cancelled() and opening.exception() is None:
            self._committer.submit(opening.result().rollback)

    async def _off_loop(self, function: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """Run a (blocking) store call in the store's threads, never on the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(function, *args, **kwargs))

    async def _danger(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, event: Event, *, query: CallbackQuery | None
    ) -> None:
        """The danger screen; its Bot API calls skip the queue (see :class:`_BoundedRequest`)."""
        urgent = _URGENT.set(True)  # for this update (and the tasks it starts) only
        try:
            await self._danger_screen(update, context, event, query=query)
        finally:
            _URGENT.reset(urgent)

    async def _danger_screen(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, event: Event, *, query: CallbackQuery | None
    ) -> None:
        """The danger screen, within ``danger_deadline`` whatever the database does.

        The stored turn runs as usual (in order with the chat's other updates); if it is not ready in time, or
        fails, the engine answers a fresh conversation in the best language known without the database. A
        stored turn that finishes later is sent only if it says more than the danger screen (e.g. the note's
        next question), so nothing is lost and the screen is not repeated."""
        chat = update.effective_chat
        assert chat is not None
        race = _DangerRace(asyncio.get_running_loop().create_future())
        task = asyncio.ensure_future(self._serial_turn(update, context, event, query=query, race=race))
        stored_language = None
        if chat.id not in self._languages:
            stored_language = asyncio.ensure_future(self._off_loop(self.store.load, chat.id))
            self._keep(stored_language)
        try:
            ready = await asyncio.wait_for(asyncio.shield(race.computed), self.danger_deadline)
        except TimeoutError:
            ready = False
        if ready:
            await task
            return
        race.answered = True
        self._keep(task)
        language = self._language(update)
        if stored_language is not None and stored_language.done() and not stored_language.exception():
            conversation = stored_language.result()
            language = conversation.language if conversation is not None else language
        log.warning("danger screen answered without the database (stored turn %s)", "failed" if task.done() else "late")
        turn = self.engine.handle(Conversation.new(language), event)
        if query is not None:
            await _answer(query)
        sent = await _deliver(context.bot, chat.id, telegram_messages(turn, previous=None))
        self._keep(asyncio.ensure_future(self._remember(update, sent)))  # best effort, the database may be down

    def _keep(self, task: asyncio.Future[Any]) -> None:
        """Hold a reference to a task nobody awaits any more, and log (without content) if it failed."""
        self._background.add(task)

        def done(finished: asyncio.Future[Any]) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("a late store call failed: %s", type(finished.exception()).__name__)

        task.add_done_callback(done)

    async def _serial_turn(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        event: Event,
        *,
        query: CallbackQuery | None,
        race: _DangerRace | None = None,
    ) -> None:
        chat = update.effective_chat
        assert chat is not None
        async with self._one_at_a_time(chat.id):
            if race is None and not await self._allowed(update, context, event):
                return
            async with _slot_for_reply(context.bot):
                await self._turn_in_order(update, context, event, query=query, race=race)

    async def _turn_in_order(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        event: Event,
        *,
        query: CallbackQuery | None,
        race: _DangerRace | None,
    ) -> None:
        """The turn, under its chat's lock: stored, then shown; its transaction held until the reply is written."""
        chat = update.effective_chat
        assert chat is not None
        try:
            prepared = await self._stored_turn(update, event)
        except Exception:
            if race is None and _is_leave(event):
                # Leaving must work with the database down too: wipe what this worker knows of the chat.
                log.warning("quick exit without the database; the stored state expires on its own")
                fallback = self.engine.handle(Conversation.new(self._language(update)), event)
                await self._show(update, context, fallback, None, query=query)
                return
            if race is None:
                raise
            if not race.computed.done():
                race.computed.set_result(False)  # the danger screen goes out from the catalogue
            raise
        try:
            turn = prepared.turn
            if race is not None:
                if not race.computed.done():
                    race.computed.set_result(True)
                if race.answered and turn.conversation.state is State.DANGER:
                    return  # the catalogue's danger screen already said it
            token = _ON_WRITTEN.set(prepared.hold.release)  # the first request of the reply on the wire
            watching = _SEND_WATCH.set(_SendWatch(partial(self._mark_unsent, update, prepared.hold)))
            try:
                await self._show(
                    update,
                    context,
                    turn,
                    prepared.previous,
                    query=query,
                    marked=prepared.marked,
                    outbound=prepared.outbound,
                )
            finally:
                _SEND_WATCH.reset(watching)
                _ON_WRITTEN.reset(token)
        finally:
            await prepared.commit()

    @asynccontextmanager
    async def _one_at_a_time(self, chat_id: int) -> AsyncIterator[None]:
        """Updates of different people run concurrently; one person's run in the order they arrived (asyncio
        locks are first come, first served), so their replies never cross."""
        lock, waiting = self._chat_locks.get(chat_id, (asyncio.Lock(), 0))
        self._chat_locks[chat_id] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._chat_locks[chat_id]
            if waiting == 1:
                del self._chat_locks[chat_id]
            else:
                self._chat_locks[chat_id] = (lock, waiting - 1)

    async def _allowed(self, update: Update, context: ContextTypes.DEFAULT_TYPE, event: Event) -> bool:
        chat = update.effective_chat
        assert chat is not None
        allowed, tell = self.limiter.check(self.store.keyer(chat.id))
        if allowed or _is_danger(event):
            return True
        query = update.callback_query
        if query is None and not tell:
            return False
        text = catalogue(self._language(update))["rate_limited"]
        if query is not None:
            await _answer(query, text=_strip_tags(text)[:200], show_alert=tell)
        else:
            await _send(context.bot, chat.id, _Outbound(text))
        return False

    def _language(self, update: Update) -> Language:
        """The chat's language without asking the database: last seen here, else the app's, else English."""
        chat = update.effective_chat
        known = self._languages.get(chat.id) if chat is not None else None
        if known is not None:
            return known
        return _app_language(update.effective_user.language_code if update.effective_user else None)

    def _remember_language(self, chat_id: int, language: Language) -> None:
        self._languages.pop(chat_id, None)
        self._languages[chat_id] = language
        while len(self._languages) > MAX_REMEMBERED_CHATS:
            self._languages.popitem(last=False)

    async def _stored_turn(self, update: Update, event: Event) -> _Prepared:
        """The turn, ready to send; on PostgreSQL its transaction is still open (see :class:`_Hold`).

        With it: the state before the turn, the messages to send, and whether the person's message id is already
        remembered (with the state, for a one-message reply: see _show)."""
        chat = update.effective_chat
        assert chat is not None
        previous: list[State] = []
        marked: list[bool] = []
        outbound: list[list[_Outbound]] = []
        incoming = update.message.message_id if update.message is not None else None

        def handle(conversation: Conversation) -> Turn:
            previous[:] = [conversation.state]
            return self.engine.handle(conversation, event)

        def remember(turn: Turn) -> tuple[int, ...]:
            outbound[:] = [telegram_messages(turn, previous=previous[0])]  # rendered here, off the event loop
            marked[:] = []
            if incoming is None or turn.wipe or len(outbound[0]) != 1:
                return ()
            marked.append(True)
            return (incoming,)

        language_code = update.effective_user.language_code if update.effective_user else None
        fresh = partial(Conversation.new, _app_language(language_code))
        opening = asyncio.ensure_future(
            self._off_loop(
                self.store.open_turn, chat.id, handle, fresh=fresh, update_id=update.update_id, remember=remember
            )
        )
        try:
            opened = await asyncio.shield(opening)
        except AlreadyTaken as taken:
            turn = await self._replay(update, taken.conversation, unsent=taken.unsent)
            prepared = _Prepared(turn, None, False, None, _Hold(OpenTurn(turn), self._commit))
        except asyncio.CancelledError:
            opening.add_done_callback(self._roll_back)  # an open transaction nobody will send a reply for
            raise
        else:
            turn = opened.turn
            prepared = _Prepared(turn, previous[0], bool(marked), outbound[0], _Hold(opened, self._commit))
        self._remember_language(chat.id, turn.conversation.language)
        return prepared

    async def _mark_unsent(self, update: Update, hold: _Hold, unsent: bool) -> bool:
        """Mark (or unmark) the update's reply as not sent yet in the store, once its turn is taken (before that,
        a worker killed leaves the update untaken and it is answered in full again). Whether it marked."""
        chat = update.effective_chat
        if chat is None or not hold.taken:
            return False
        if hold.committing is not None:
            with suppress(Exception):  # a failed commit left nothing taken
                await hold.committing
        try:
            await self._off_loop(self.store.mark_unsent, chat.id, update.update_id, unsent)
        except Exception as exc:
            log.warning("a reply waiting to be sent again was not marked: %s", type(exc).__name__)
            return False
        return True

    async def _replay(self, update: Update, stored: Conversation, *, unsent: bool = False) -> Turn:
        """An update taken before (redelivered after a crash). On PostgreSQL "taken" means its reply's first request
        was written (see :class:`_Hold`); a one-message reply (the usual turn) is then on its way, and so is the last
        message of a longer one whose person's message id was remembered (just before that message). Otherwise
        show the stored screen (the turn is not run again, so nothing is counted twice); a button's longer reply
        cut short is not shown again. ``unsent``: a send of the reply was refused and waited to be tried again
        (see :class:`_SendWatch`), so the screen is shown again. Nothing to send is an empty turn."""
        chat = update.effective_chat
        assert chat is not None
        message = update.message
        if unsent:
            log.info("update %s: its reply was waiting to be sent again; the screen is shown again", update.update_id)
            return Turn(stored, self.engine.screen(stored))
        if message is None or await self._off_loop(self.store.has_message, chat.id, message.message_id):
            log.info("update %s was answered before; not answered again", update.update_id)
            return Turn(stored, ())
        # The reply's last message never started: show the screen where the person is (a repeat beats a gap).
        return Turn(stored, self.engine.screen(stored))

    async def _show(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        turn: Turn,
        previous: State | None,
        *,
        query: CallbackQuery | None,
        marked: bool = False,
        outbound: list[_Outbound] | None = None,
    ) -> None:
        chat = update.effective_chat
        assert chat is not None
        # The button's answer (stopping the app's spinner) goes alongside the reply rather than before it: one
        # round trip less before the person sees the screen.
        answering = None
        if query is not None:
            # (in a context of its own: its request is not the one that releases the turn's transaction)
            own = contextvars.copy_context()
            own.run(_ON_WRITTEN.set, None)
            own.run(_RESERVED.set, None)  # nor does it take the slot reserved for the reply,
            own.run(_FOLLOW_UP.set, True)  # but it goes before other turns' first calls, as the turn is under way
            answering = asyncio.create_task(_answer(query), context=own)
            await asyncio.sleep(0)  # let the answer go out first
        try:
            await self._show_turn(update, context, turn, previous, query=query, marked=marked, outbound=outbound)
        finally:
            if answering is not None:
                _give_back_reserved(context.bot)
                await answering

    async def _show_turn(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        turn: Turn,
        previous: State | None,
        *,
        query: CallbackQuery | None,
        marked: bool,
        outbound: list[_Outbound] | None,
    ) -> None:
        chat = update.effective_chat
        assert chat is not None
        if outbound is None:
            outbound = telegram_messages(turn, previous=previous)
        if turn.wipe:
            _release_now()  # the forget is committed before anything else happens
            await self._wipe(update, context)
            await _deliver(context.bot, chat.id, outbound)  # the one neutral line, kept nowhere
            return
        if query is not None and await self._edited_in_place(query, turn, outbound, previous):
            await self._reconcile(chat.id, query, turn)
            return
        # The person's message id is remembered just before the turn's last message goes: a redelivered update
        # (after a crash) whose id is remembered had its whole reply sent, or at least on its way (see _replay).
        if marked and update.message is not None:
            self._note_ids(chat.id, [update.message.message_id])
        before_last = None if marked else partial(self._remember, update)  # marked: kept with the state already
        sent = await _deliver(context.bot, chat.id, outbound, before_last=before_last)
        if sent:
            self._note_ids(chat.id, [sent[-1].message_id])
            self._store_later(chat.id, [sent[-1].message_id])

    def _note_ids(self, chat_id: int, ids: Sequence[int]) -> None:
        """The chat's message ids in this worker's memory too (numbers only, bounded), so a quick exit still
        deletes them when the database is down."""
        now = time.monotonic()
        recent = self._recent_ids.pop(chat_id, None) or deque(maxlen=MAX_IDS_PER_CHAT)
        recent.extend((i, now) for i in ids)
        self._recent_ids[chat_id] = recent
        while len(self._recent_ids) > MAX_CHATS_WITH_IDS:
            self._recent_ids.popitem(last=False)

    async def _remember(self, update: Update, sent: Sequence[Message]) -> None:
        """Keep the ids of the person's message and of the bot's replies (numbers only) for a quick exit."""
        chat = update.effective_chat
        assert chat is not None
        ids = [m.message_id for m in sent]
        if update.message is not None:
            ids.append(update.message.message_id)
        if ids:
            await self._keep_ids(chat.id, ids)

    async def _keep_ids(self, chat_id: int, ids: Sequence[int]) -> None:
        """Remember message ids in memory and in the store; the reply went out, so a store that fails here is
        logged, not apologised for (the ids in memory still serve a quick exit on this worker)."""
        self._note_ids(chat_id, ids)
        try:
            await self._off_loop(self.store.remember_messages, chat_id, ids)
        except Exception as exc:
            log.warning("message ids not stored: %s", type(exc).__name__)

    def _store_later(self, chat_id: int, ids: Sequence[int]) -> None:
        """Store message ids after the turn, in one transaction with other chats' (the ids are in this worker's
        memory already, so a quick exit here deletes them meanwhile): the turn does not wait, and under load one
        write carries many turns' ids. While one write runs, the next ids gather for the one after."""
        self._unstored.setdefault(chat_id, []).extend(ids)
        if self._storing is None or self._storing.done():
            self._storing = asyncio.ensure_future(self._store_unstored())

    async def _store_unstored(self) -> None:
        while self._unstored:
            batch, self._unstored = self._unstored, {}
            self._writing = asyncio.ensure_future(self._off_loop(self.store.remember_many, batch))
            try:
                await self._writing
            except Exception as exc:  # the replies went out: logged, not apologised for
                log.warning("message ids not stored: %s", type(exc).__name__)

    async def _wipe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Delete the chat from the person's phone: every message of it the bot knows (theirs and its own, under
        48 hours old, as Telegram allows), in batches of at most 100 ids."""
        chat = update.effective_chat
        assert chat is not None
        now = time.monotonic()
        ids = {i for i, at in self._recent_ids.pop(chat.id, ()) if now - at < DELETABLE_FOR.total_seconds()}
        self._unstored.pop(chat.id, None)  # in memory too: deleted below, never stored
        try:
            if self._writing is not None and not self._writing.done():  # this chat's ids may be in it
                await asyncio.wait((self._writing,), timeout=WIPE_WAIT_S)
            ids |= set(await asyncio.wait_for(self._off_loop(self.store.take_messages, chat.id), WIPE_WAIT_S))
        except Exception as exc:  # the database is down: what this worker remembers still goes
            log.warning("stored message ids unavailable for a quick exit: %s", type(exc).__name__)
        if update.message is not None:
            ids.add(update.message.message_id)
        if update.callback_query is not None and isinstance(update.callback_query.message, Message):
            ids.add(update.callback_query.message.message_id)
        ordered = sorted(ids)
        for start in range(0, len(ordered), DELETE_BATCH):
            batch = ordered[start : start + DELETE_BATCH]
            try:
                await context.bot.delete_messages(chat.id, batch)
            except TelegramError as exc:  # keep going: the rest of the chat still goes
                log.warning("could not delete %d messages: %s", len(batch), type(exc).__name__)

    async def _reconcile(self, chat_id: int, query: CallbackQuery, turn: Turn) -> None:
        """After an edit in place, make the screen match the stored state: another worker may have stored a later
        tap whose edit Telegram applied before ours. Whoever edits last has read the state after its own edit,
        so the last edit always shows the stored state."""
        stored = await self._off_loop(self.store.load, chat_id)
        if stored is None or stored == turn.conversation or stored.state is not turn.conversation.state:
            return
        redrawn = telegram_messages(Turn(stored, self.engine.screen(stored)), previous=stored.state)
        markup = redrawn[0].markup if len(redrawn) == 1 else None
        if not isinstance(query.message, Message) or not isinstance(markup, InlineKeyboardMarkup | None):
            return
        try:
            await query.message.edit_reply_markup(reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.info("screen not redrawn: %s", type(exc).__name__)

    async def _edited_in_place(
        self, query: CallbackQuery, turn: Turn, outbound: list[_Outbound], previous: State | None
    ) -> bool:
        """A toggle (a strand ticked) redraws the same screen: update the pressed message's buttons instead."""
        message = query.message
        if (
            len(outbound) != 1
            or previous is not turn.conversation.state
            or not isinstance(message, Message)
            or not isinstance(outbound[0].markup, InlineKeyboardMarkup)
        ):
            return False
        shown = (message.text or "").strip()
        new_html = outbound[0].text.strip()
        if shown not in (new_html, _strip_tags(new_html)):
            return False
        try:
            await message.edit_reply_markup(reply_markup=outbound[0].markup)
        except BadRequest as exc:
            # "not modified" means it already shows this; any other refusal (too old to edit...): send it anew.
            return "not modified" in str(exc).lower()
        return True


# --- sending: whole turns -----------------------------------------------------------------------------------


async def _answer(query: CallbackQuery, **kwargs: Any) -> None:
    """Stop the app's spinner; a query already answered (or too old) is not an error worth raising."""
    try:
        await query.answer(**kwargs)
    except TelegramError as exc:
        log.info("callback not answered: %s", type(exc).__name__)


async def _send(bot: Bot, chat_id: int, item: _Outbound) -> Message:
    """Send one message, retrying what may pass on a second try (timeouts, network errors, flood waits) with
    backoff; a request Telegram refuses (bad request, blocked) is not retried."""
    watch = _SEND_WATCH.get()
    for attempt in range(SEND_ATTEMPTS):
        try:
            sent = await bot.send_message(chat_id, item.text, parse_mode=ParseMode.HTML, reply_markup=item.markup)
        except RetryAfter as exc:
            if attempt == SEND_ATTEMPTS - 1:
                raise
            if watch is not None:
                await watch.failed()
            retry_after = exc.retry_after
            wait = retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
            await asyncio.sleep(min(wait, MAX_RETRY_AFTER_S))
        except BadRequest:
            raise
        except NetworkError as exc:  # TimedOut included; may have been delivered: a repeat beats a gap
            if attempt == SEND_ATTEMPTS - 1:
                raise
            log.info("send failed (%s); retrying", type(exc).__name__)
            if watch is not None:
                await watch.failed()
            await asyncio.sleep(SEND_BACKOFF_S * 2**attempt)
        else:
            if watch is not None:
                await watch.recovered()
            return sent
    raise AssertionError("unreachable")


async def _deliver(
    bot: Bot,
    chat_id: int,
    outbound: Sequence[_Outbound],
    *,
    before_last: Callable[[list[Message]], Awaitable[None]] | None = None,
) -> list[Message]:
    """Send a turn's messages in order, each retried (see :func:`_send`). If one still fails, the turn's last
    message (the one with the buttons) is still tried, so the person is never left on half a screen without a
    way on; then the error is raised for the apology. ``before_last`` is awaited with what was sent so far just
    before the last message goes. The second message and after go before other turns' first (see :class:`_Slots`)."""
    sent: list[Message] = []
    for index, item in enumerate(outbound):
        last = index == len(outbound) - 1
        if last and before_last is not None:
            await before_last(sent)
        try:
            sent.append(await _send_part(bot, chat_id, item, follow_up=index > 0))
        except TelegramError:
            if not last:
                try:
                    sent.append(await _send_part(bot, chat_id, outbound[-1], follow_up=True))
                except TelegramError as exc:
                    log.warning("the end of a turn could not be sent either: %s", type(exc).__name__)
            raise
    return sent


async def _send_part(bot: Bot, chat_id: int, item: _Outbound, *, follow_up: bool) -> Message:
    """:func:`_send` as part of a turn: ``follow_up`` when it is not the turn's first message."""
    following = _FOLLOW_UP.set(follow_up)
    try:
        return await _send(bot, chat_id, item)
    finally:
        _FOLLOW_UP.reset(following)


def _give_back_reserved(bot: Bot) -> None:
    """Give back the turn's reserved Bot API slot now if no call used it (a turn that sent nothing, such as a
    redelivered button press already answered). A turn waiting for its button's answer must not hold it: the answer
    needs a slot of its own, and with every slot reserved by such turns none of them could finish."""
    reservation = _RESERVED.get()
    request = bot.request
    if reservation is not None and isinstance(request, _BoundedRequest) and reservation.take():
        request.slots.release()


def _slot_for_reply(bot: Bot) -> AbstractAsyncContextManager[None]:
    """A Bot API slot reserved for the turn's reply (see :meth:`_BoundedRequest.reserved`); none for the danger
    screen (its calls do not queue) or another HTTP layer."""
    request = bot.request
    if _URGENT.get() or not isinstance(request, _BoundedRequest):
        return nullcontext()
    return request.reserved()


def _is_danger(event: Event) -> bool:
    """Someone in danger is never told to slow down."""
    if isinstance(event, Choice):
        return event.action == "danger"
    if isinstance(event, Text):
        command = parse_command(event.text)
        return command.name in DANGER_COMMANDS if command is not None else looks_urgent(event.text)
    return False


def _is_leave(event: Event) -> bool:
    """Leave quickly (the button) or /forget."""
    if isinstance(event, Choice):
        return event.action == "leave"
    if isinstance(event, Text):
        command = parse_command(event.text)
        return command is not None and command.name == "forget"
    return False


def _app_language(language_code: str | None) -> Language:
    code = (language_code or "").split("-", 1)[0].lower()
    return MENU_LANGUAGES.get(code, Language.EN)


def _strip_tags(text: str) -> str:
    return html.unescape(text.replace("<b>", "").replace("</b>", "").replace("<i>", "").replace("</i>", ""))


# --- the application ----------------------------------------------------------------------------------------


async def set_command_menu(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu, per app language (English by default, Welsh for Welsh-language apps)."""
    for code, language in MENU_LANGUAGES.items():
        if code == "en":
            continue
        cat = catalogue(language)
        commands = [BotCommand(name, _strip_tags(cat[f"cmd_{name}"])[:256]) for name in MENU_COMMANDS]
        await application.bot.set_my_commands(commands, language_code=code)


def build_application(
    *,
    token: str,
    victim_bot: VictimBot,
    base_url: str | None = None,
    base_file_url: str | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    extensions: Sequence[Extension] = (),
    on_start: Sequence[Callable[[Application], Awaitable[None]]] = (),  # type: ignore[type-arg]
    on_stop: Sequence[Callable[[Application], Awaitable[None]]] = (),  # type: ignore[type-arg]
    concurrent_updates: int = 512,
) -> Application:  # type: ignore[type-arg]
    """The bot's Application: victim handlers, staff extensions, the command menu on start.

    Parameters
    ----------
    token
        The bot token (``TELEGRAM_BOT_TOKEN``).
    victim_bot
        The victim flow (engine + store + rate limiter).
    base_url, base_file_url
        A self-hosted Bot API server or an emulator (the client appends the token).
    request, get_updates_request
        HTTP layers (tests pass :class:`bot.adapters.offline.RecordingRequest`).
    extensions
        Called with the application to add more handlers (staff commands: see the module docstring).
    on_start, on_stop
        Awaited after the bot is initialised / before it shuts down (e.g. the job scheduler).
    concurrent_updates
        How many updates are handled at once (different people overlap their Bot API calls; one person's
        updates still run in order). There is no ConversationHandler, so this is safe. It is generous because
        an update waiting behind its own chat's lock holds a slot while costing nothing; the database work is
        bounded by the store's threads instead.
    """
    builder = ApplicationBuilder().token(token).concurrent_updates(concurrent_updates)
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    # A reply that takes Telegram (or a self-hosted server) over PTB's default 5 s is still worth waiting for:
    # giving up mid-turn would drop the rest of what the person needs to read.
    # The request hook lets a turn's held transaction commit as soon as its reply is written (see _Hold).
    if request is None:
        request = _BoundedRequest()
    builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        await set_command_menu(application)
        for hook in on_start:
            await hook(application)

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        for hook in on_stop:
            await hook(application)
        await victim_bot.close()

    _quiet_library_logs()
    application = builder.post_init(post_init).post_shutdown(post_shutdown).build()
    application.add_handlers(victim_bot.handlers(), group=VICTIM_GROUP)
    application.add_error_handler(victim_bot.on_error)
    for extend in extensions:
        extend(application)
    return application


def _quiet_library_logs() -> None:
    """python-telegram-bot logs whole updates and request parameters at DEBUG, and httpx logs URLs that contain
    the bot token at INFO: keep both at WARNING whatever the configured level, so no message text is logged."""
    for name in ("telegram", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET too: the root may be set to DEBUG later
            logger.setLevel(logging.WARNING)


def staff_notifier(application: Application) -> Callable[[int, str], Awaitable[bool]]:  # type: ignore[type-arg]
    """A ``jobs.runner.Notifier``: send plain text to a registered staff member; ``False`` if Telegram refused."""

    async def notify(user_id: int, text: str) -> bool:
        try:
            for chunk in split_text(text, TELEGRAM_LIMIT):
                await application.bot.send_message(user_id, chunk)
        except TelegramError as exc:
            log.warning("staff notification not delivered: %s", type(exc).__name__)
            return False
        return True

    return notify


@dataclass(frozen=True)
class Webhook:
    """Webhook mode: Telegram posts updates to ``url`` with ``secret`` in a header; we listen locally."""

    url: str
    secret: str
    listen: str = "127.0.0.1"
    port: int = 8443


class Poller:
    """Long polling that acknowledges an update only once it has been processed, so nothing fetched is lost when
    the process dies (python-telegram-bot's own polling confirms a batch as soon as the next one is asked for).

    Telegram confirms every update below the ``offset`` of a getUpdates call: the offset asked for is the
    oldest update still being processed, so after a crash Telegram delivers it (and anything after it) again.
    Updates already seen are skipped here, and a conversation that already took one (recorded with its state)
    does not run it twice. An update stuck longer than ``stuck_after`` seconds (a locked row) stops holding the
    offset back, so one person's trouble never stops the bot from fetching everyone else's messages.
    """

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        *,
        batch: int = 20,
        timeout: int = 10,
        stuck_after: float = 30.0,
    ) -> None:
        self.application = application
        self.batch = batch
        self.timeout = timeout
        self.stuck_after = stuck_after
        self._in_flight: dict[int, tuple[float, asyncio.Task[None]]] = {}
        self._done: set[int] = set()
        self._next: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.application.bot.delete_webhook(drop_pending_updates=False)
        self._task = asyncio.create_task(self._loop(), name="signpost-poller")

    async def stop(self, *, drain_s: float = DRAIN_S) -> None:
        """Stop fetching; give the updates being processed up to ``drain_s`` seconds to finish."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        tasks = [task for _, task in self._in_flight.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=drain_s)
        if self._next is not None and not self._in_flight:
            with suppress(TelegramError):  # confirm the last ones now rather than redo them on the next start
                await self.application.bot.get_updates(offset=self._next, limit=1, timeout=0)

    def _offset(self) -> int | None:
        now = time.monotonic()
        holding = [update_id for update_id, (since, _) in self._in_flight.items() if now - since < self.stuck_after]
        offset = min(holding) if holding else self._next
        if offset is not None:
            self._done = {update_id for update_id in self._done if update_id >= offset}
        return offset

    async def _loop(self) -> None:
        failures = 0
        while True:
            try:
                updates = await self.application.bot.get_updates(
                    offset=self._offset(),
                    limit=self.batch,
                    timeout=self.timeout,
                    allowed_updates=list(ALLOWED_UPDATES),
                    read_timeout=self.timeout + 10,
                )
                failures = 0
            except TelegramError as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            new = [u for u in updates if u.update_id not in self._in_flight and u.update_id not in self._done]
            for update in new:
                self._next = max(self._next or 0, update.update_id + 1)
                task = asyncio.create_task(self._process(update))
                self._in_flight[update.update_id] = (time.monotonic(), task)
            if not new and self._in_flight:
                # Only redeliveries of what is in hand: wait for some of it to finish before asking again.
                tasks = [task for _, task in self._in_flight.values()]
                await asyncio.wait(tasks, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)

    async def _process(self, update: Update) -> None:
        try:
            processor = self.application.update_processor
            await processor.process_update(update, self.application.process_update(update))
        except Exception as exc:  # the error handlers have run; the poller goes on
            log.error("update %s not processed: %s", update.update_id, type(exc).__name__)
        finally:
            self._in_flight.pop(update.update_id, None)
            self._done.add(update.update_id)


class _WrongSecretLog:
    """One warning line, at most every ``every`` seconds, about webhook calls refused for a wrong secret token: the
    sign of a worker with another ``TELEGRAM_WEBHOOK_SECRET`` (Telegram sends the one registered last), or of a
    stranger's calls. Never anything of the request; a flood adds to a count, not to the log."""

    def __init__(self, *, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._last: float | None = None
        self._unlogged = 0

    def refused(self) -> None:
        self._unlogged += 1
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return
        log.warning(
            "%d webhook call(s) refused: wrong or missing secret token (does every worker have the same "
            "TELEGRAM_WEBHOOK_SECRET? the last one to start registered its own)",
            self._unlogged,
        )
        self._last, self._unlogged = now, 0


class NotStarted(Exception):
    """The bot could not start. ``stage``: "token" (the Bot API refused the token), "telegram" (it could not be
    reached or refused a call), "listen" (the webhook's address or port cannot be listened on) or "webhook"
    (setWebhook was refused)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


class WebhookServer:
    """Webhook mode that answers Telegram only once the update has been processed, so an update whose worker dies
    is delivered again (Telegram retries until it gets a 2xx); a conversation that already took it does not run it
    twice. Only requests carrying the secret token are read (others get 403, and a warning line a minute at most:
    :class:`_WrongSecretLog`); ``application/json`` with or without a charset is accepted; nothing of an update is
    logged.

    Telegram holds one connection per update in flight (up to ``max_connections``), so a person whose row is
    locked holds one connection and nobody else's.

    On :meth:`stop` new updates are refused at once with 503 (Telegram, or a balancer, delivers them again,
    elsewhere) while those in progress get ``drain_s`` seconds to finish and be answered: a rolling deploy does
    not cut a reply in half. ``GET /health`` says 200 "ok" while updates are taken, 503 "draining" after.
    """

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        webhook: Webhook,
        *,
        max_connections: int = 100,
        register: bool = True,
    ) -> None:
        self.application = application
        self.webhook = webhook
        self.max_connections = max_connections
        self.register = register
        self.wrong_secret = _WrongSecretLog()
        self.draining = False
        self._in_flight: set[asyncio.Future[None]] = set()
        self._server: Any = None

    async def start(self) -> None:
        """Listen, then (with ``register``) tell Telegram where to post (``setWebhook`` with the secret).

        Raises :class:`NotStarted` when the address cannot be listened on or Telegram keeps refusing setWebhook.
        """
        from urllib.parse import urlsplit

        import tornado.web

        path = "/" + urlsplit(self.webhook.url).path.lstrip("/")
        routes = [(path, _update_handler_class(), {"server": self}), ("/health", _health_class(), {"server": self})]
        app = tornado.web.Application(routes, log_function=lambda _h: None)
        try:
            self._server = app.listen(
                self.webhook.port, address=self.webhook.listen, xheaders=True, max_body_size=WEBHOOK_MAX_BODY
            )
        except OSError as exc:
            raise NotStarted("listen", exc.strerror or str(exc)) from None
        if self.register:
            try:
                await self._set_webhook()
            except TelegramError as exc:
                await self.stop()
                raise NotStarted("webhook", exc.message) from None

    async def _set_webhook(self) -> None:
        for attempt in range(1, SET_WEBHOOK_ATTEMPTS + 1):
            try:
                await self.application.bot.set_webhook(
                    self.webhook.url,
                    secret_token=self.webhook.secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                    max_connections=self.max_connections,
                )
                return
            except RetryAfter as exc:  # several workers restarting at once: wait as told, then again
                if attempt == SET_WEBHOOK_ATTEMPTS:
                    raise
                retry_after = exc.retry_after
                wait = retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
                log.warning("setWebhook: flood control, trying again in %.0f s", wait)
                await asyncio.sleep(min(wait, MAX_RETRY_AFTER_S))

    async def stop(self, *, drain_s: float = DRAIN_S) -> None:
        """Refuse new updates now; give those in progress up to ``drain_s`` seconds to be answered; then close."""
        self.draining = True
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=drain_s)
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    async def process(self, update: Update) -> None:
        processor = self.application.update_processor
        await processor.process_update(update, self.application.process_update(update))

    @asynccontextmanager
    async def in_flight(self) -> AsyncIterator[None]:
        """An update being processed and answered: :meth:`stop` waits for it."""
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight.add(finished)
        try:
            yield
        finally:
            self._in_flight.discard(finished)
            finished.set_result(None)


def _update_handler_class() -> type:
    import tornado.web
    from tornado.iostream import StreamClosedError

    class UpdateHandler(tornado.web.RequestHandler):
        SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

        def initialize(self, server: WebhookServer) -> None:
            self.server = server

        async def post(self) -> None:
            given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), self.server.webhook.secret.encode()):
                self.server.wrong_secret.refused()
                self.set_status(403)
                return
            if self.server.draining:  # stopping: not a 2xx, so the update is delivered again, elsewhere
                self.set_status(503)
                self.set_header("Retry-After", "1")
                return
            media_type = self.request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                self.set_status(415)
                return
            try:
                data = json.loads(self.request.body)
                if not isinstance(data, dict) or type(data.get("update_id")) is not int:
                    raise TypeError("an update is a JSON object with a whole-number update_id")
                update = Update.de_json(data, self.server.application.bot)
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError, TelegramError) as exc:
                log.warning("an unreadable update was refused: %s", type(exc).__name__)
                self.set_status(400)
                return
            async with self.server.in_flight():
                await self.server.process(update)  # errors go to the error handlers; Telegram hears only when done
                self.set_status(200)
                with suppress(StreamClosedError):  # the answer is written before a stopping server closes
                    await self.finish()

    return UpdateHandler


def _health_class() -> type:
    import tornado.web

    class Health(tornado.web.RequestHandler):
        """For a load balancer: 200 while this worker takes updates, 503 once it is stopping."""

        SUPPORTED_METHODS = ("GET",)  # type: ignore[assignment]

        def initialize(self, server: WebhookServer) -> None:
            self.server = server

        def get(self) -> None:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            if self.server.draining:
                self.set_status(503)
                self.write("draining")
            else:
                self.write("ok")

    return Health


async def _serve(application: Application, front: Poller | WebhookServer) -> None:  # type: ignore[type-arg]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    initialized = False
    try:
        try:
            await application.initialize()  # getMe: the token is checked here
            initialized = True
            if application.post_init is not None:
                await application.post_init(application)
            await application.start()
            await front.start()
        except InvalidToken as exc:
            raise NotStarted("token", exc.message) from None
        except TelegramError as exc:
            raise NotStarted("telegram", exc.message) from None
        await stopping.wait()
    finally:
        await front.stop()
        if application.running:
            await application.stop()
        if initialized:
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
            await application.shutdown()


def run(application: Application, *, webhook: Webhook | None = None) -> None:  # type: ignore[type-arg]
    """Serve until interrupted: long polling by default (see :class:`Poller`), or a webhook server (see
    :class:`WebhookServer`); either way an update is confirmed to Telegram only once it has been processed, and
    on SIGTERM or SIGINT the updates in progress get :data:`DRAIN_S` seconds to finish. Raises
    :class:`NotStarted` when Telegram or the webhook's address refuses the start."""
    front = Poller(application) if webhook is None else WebhookServer(application, webhook)
    asyncio.run(_serve(application, front))
