"""The conversation engine: (conversation, event) -> turn. Pure: no Telegram, no database, no clock of its own.

Every screen carries a "danger now" button and every state accepts the ``danger`` choice and ``/emergency``,
so help in an emergency is always one tap away; typed text that reads as danger now (:mod:`bot.engine.urgency`)
goes straight there too, and inside the guided note gets the 999 message while the note goes on. Next to it,
"Leave quickly" (and ``/forget``) forgets the person and asks the adapter to wipe the chat (:attr:`Turn.wipe`).
The guided note is the one place typed text is kept: in this process's memory, under a random token, only
until the note is returned (or abandoned), never in the :class:`~bot.engine.model.Conversation`.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine.events import Choice, Command, Event, SharedLocation, Text, Unsupported, parse_command
from bot.engine.model import NOTE_STATES, Conversation, Language, State
from bot.engine.ports import Route, Signposter
from bot.engine.urgency import Urgency, assess, load_catalogues
from mapping.bank_holidays import is_bank_holiday
from mapping.types import (
    COMMUNITIES,
    Channel,
    Location,
    LocationSource,
    Match,
    MatchReason,
    Nation,
    NationalCoverage,
    ServiceKind,
    ServiceRecord,
    Strand,
)

__all__ = [
    "PAGE_SIZE",
    "Button",
    "Engine",
    "Outgoing",
    "ServiceCard",
    "SignpostingOutcome",
    "StrandNames",
    "Turn",
]

UK = ZoneInfo("Europe/London")
PAGE_SIZE = 3
PLACE_CHOICES = 5  # places with the same name offered at once: with the menu and the way out, 8 buttons
WHO_CHOICES = 4  # groups offered at once on "is one of these you?": with skip, the menu and the way out, 8 buttons
MAX_TEXT = 600  # longer typed text outside the note is not something the bot can act on
MAX_NOTE_ANSWER = 700  # keeps the returned note inside one Telegram message (4096 characters)
NOTE_TTL = timedelta(hours=2)
# A place named at the menu, unasked, smaller than this radius (about 50,000 people; see place_precision_m) is
# asked about first: Church, Street, Deal and March are also words.
CONFIRM_PLACE_BELOW_M = 2_700.0
NEAREST_OUTSIDE_MAX_KM = 80  # beyond this a service outside the person's area is not "near" in any useful sense
MAX_NOTES = 10_000
_NOTE_VALUES = frozenset(state.value for state in NOTE_STATES)
LOCAL_HELP_KINDS: tuple[ServiceKind, ...] = (
    ServiceKind.THIRD_PARTY_REPORTING,
    ServiceKind.VICTIM_SUPPORT,
    ServiceKind.SPECIALIST_SUPPORT,
    ServiceKind.HELPLINE,
    ServiceKind.EMOTIONAL_SUPPORT,
    ServiceKind.ONLINE_REPORTING,
)
STRAND_ALIASES: Mapping[str, Strand] = {
    "disability": Strand.DISABILITY,
    "race": Strand.RACE,
    "religion": Strand.RELIGION,
    "faith": Strand.RELIGION,
    "sexual-orientation": Strand.SEXUAL_ORIENTATION,
    "sexualorientation": Strand.SEXUAL_ORIENTATION,
    "lgb": Strand.SEXUAL_ORIENTATION,
    "transgender": Strand.TRANSGENDER,
    "trans": Strand.TRANSGENDER,
}
STRAND_ORDER: tuple[Strand, ...] = (
    Strand.DISABILITY,
    Strand.RACE,
    Strand.RELIGION,
    Strand.SEXUAL_ORIENTATION,
    Strand.TRANSGENDER,
)
UNSUPPORTED_KEYS: Mapping[str, str] = {
    "sticker": "unsupported_sticker",
    "voice": "unsupported_voice",
    "audio": "unsupported_voice",
    "video_note": "unsupported_voice",
    "photo": "unsupported_media",
    "video": "unsupported_media",
    "document": "unsupported_media",
    "animation": "unsupported_media",
    "contact": "unsupported_contact",
}
LOCATE_PROBLEMS = frozenset(
    {
        "empty",
        "malformed_postcode",
        "unknown_postcode",
        "unknown_place",
        "outside_england_wales",
        "at_sea",
        "swapped_coordinates",
        "invalid_coordinates",
        "whole_nation",
    }
)

_GREETING = re.compile(
    r"^\s*(hi+|hello|hey|hiya|start|menu|helo|shwmae|s'mae|sut mae|bore da|prynhawn da|noswaith dda)\b[\s!.,]*$",
    re.IGNORECASE,
)
_POSTCODE_LIKE = re.compile(r"^\s*[A-Za-z]{1,2}[0-9][0-9A-Za-z]?(\s*[0-9][A-Za-z]{0,2})?\s*$")
_EMBEDDED_POSTCODE = re.compile(r"\b[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}\b")
# A town's name, perhaps with its nation or county ("Newport, Wales"): a few words of letters, no digits.
_PLACE_LIKE = re.compile(r"^\s*[^\W\d_](?:[^\W\d_]|[ '’.,()-]){0,39}$")
_LATLON = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_AT = re.compile(r"^at:(-?\d{1,3}\.\d{1,5}),(-?\d{1,3}\.\d{1,5})$")
_WHO = re.compile(r"^who:(age[0-9-]{0,7}|[a-z_]{1,30}):(-?\d{1,3}\.\d{1,5}),(-?\d{1,3}\.\d{1,5})$")
_AGE_ANSWER = re.compile(r"^age(?:(\d{1,3})-(\d{1,3})?)?$")  # "age": skipped; "age11-25"; "age65-": 65 or over
_MORE = re.compile(r"^more:(\d{1,3}):(-?\d{1,3}\.\d{1,5}),(-?\d{1,3}\.\d{1,5})$")

_SIMPLE_CHOICES: Mapping[str, State] = {  # buttons that only go to a screen
    "danger": State.DANGER,
    "menu": State.WELCOME,
    "happened": State.WHAT_HAPPENED,
    "happened:yes": State.STRANDS,
    "happened:unsure": State.EXPLAIN,
    "explain": State.EXPLAIN,
    "online": State.ONLINE_HATE,
    "report": State.REPORTING,
    "report:police": State.REPORT_POLICE,
    "report:third_party": State.REPORT_THIRD_PARTY,
    "report:anonymous": State.REPORT_ANONYMOUS,
    "report:specialist": State.REPORT_SPECIALIST,
    "report:railway": State.REPORT_RAILWAY,
    "find": State.ASK_LOCATION,
    "after": State.AFTERCARE,
    "lang": State.LANGUAGE,
    "help": State.HELP,
    "strand:other": State.SOMETHING_ELSE,
    "strand:back": State.STRANDS,
    "more": State.MORE,
    "report:more": State.REPORTING_MORE,
    "witness": State.WITNESS,
    "after_report": State.AFTER_REPORT,
    "friend_family": State.FRIEND_FAMILY,
    "safety": State.SAFETY,
    "advocacy": State.ADVOCACY,
}

_SCRIPT_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


# --- what the engine returns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    """A keyboard button: a catalogue label and either a callback ``action`` or a ``url``."""

    label_key: str
    action: str | None = None
    url: str | None = None
    label_vars: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outgoing:
    """One message to send: catalogue ``key`` filled with ``vars``; inline ``buttons`` as rows."""

    key: str
    vars: Mapping[str, object] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()
    request_location: bool = False
    remove_keyboard: bool = False


@dataclass(frozen=True)
class SignpostingOutcome:
    """What one completed signposting found, for the analysts' counts (no user, no text, no coordinates)."""

    lad_code: str | None
    pfa_code: str | None
    strands: frozenset[Strand]
    outcome: str  # "matched_local" | "national_only" | "none"


@dataclass(frozen=True)
class Turn:
    """The engine's answer: the next conversation, what to send, and whether to forget the person now.

    ``wipe``: the person asked to leave quickly. The adapter should delete this chat's messages from their
    device (or clear the screen), then send the turn's one neutral line.
    """

    conversation: Conversation
    messages: tuple[Outgoing, ...]
    outcome: SignpostingOutcome | None = None
    forget: bool = False
    wipe: bool = False


@dataclass(frozen=True)
class ServiceCard:
    """A directory entry ready to show: every value comes from the directory (the renderer escapes them)."""

    id: str
    name: str
    organisation: str
    kind: ServiceKind
    description: str
    channels: tuple[Channel, ...]
    hours: str
    always_open: bool
    open_now: bool | None
    languages: tuple[str, ...]
    caveat: str
    checked_on: date | None  # set only when the entry was last checked longer ago than the staleness limit
    reason: MatchReason | None = None
    distance_km: float | None = None
    specialist: bool = False
    strands: frozenset[Strand] = frozenset()
    nation: Nation | None = None  # set when the service covers only England or only Wales
    eligibility: str = ""
    bank_holidays: str = ""  # what the directory says about bank holidays ("closed"), as written there
    bank_holiday_today: bool = False  # today is a bank holiday in England and Wales: weekly hours may not apply
    hours_note: str = ""  # the directory's note on the hours ("24/7, free")
    # From a public page, not yet confirmed by the commissioner: shown with "contact them first", never "open now".
    unconfirmed: bool = False
    # The directory's Welsh and Easy Read text (mapping.types.TRANSLATION_FIELDS): the renderer picks the
    # reader's language, so one card renders in any of them.
    translations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StrandNames:
    """The strands a person chose, for the renderer to name in the conversation's language."""

    strands: tuple[Strand, ...] = ()
    local: tuple[str, ...] = ()  # local strand labels, as the area's data gives them


# --- the guided note, in memory only ------------------------------------------------------------------------


@dataclass
class _Note:
    started: datetime
    answers: dict[State, str] = field(default_factory=dict)


class _NotePad:
    """Notes being written, keyed by a random token; bounded in size and age, never written anywhere."""

    def __init__(self) -> None:
        self._notes: OrderedDict[str, _Note] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, now: datetime) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._expire(now)
            self._notes[token] = _Note(started=now)
            while len(self._notes) > MAX_NOTES:
                self._notes.popitem(last=False)
        return token

    def get(self, token: str | None, now: datetime) -> _Note | None:
        if token is None:
            return None
        with self._lock:
            self._expire(now)
            return self._notes.get(token)

    def sweep(self, now: datetime) -> None:
        """Drop notes older than the time limit (a note abandoned mid-way does not linger)."""
        if self._notes:
            with self._lock:
                self._expire(now)

    def discard(self, token: str | None) -> None:
        if token is not None:
            with self._lock:
                self._notes.pop(token, None)

    def take(self, token: str) -> _Note | None:
        with self._lock:
            return self._notes.pop(token, None)

    def put(self, token: str, note: _Note) -> None:
        with self._lock:
            self._notes[token] = note

    def __len__(self) -> int:
        return len(self._notes)

    def _expire(self, now: datetime) -> None:
        while self._notes:
            token, note = next(iter(self._notes.items()))
            if now - note.started <= NOTE_TTL:
                break
            del self._notes[token]


# --- the engine ---------------------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _small_place(location: Location) -> bool:
    """A town or village under about 50,000 people, located by its name (its radius says its size)."""
    return location.source is LocationSource.PLACE and location.precision_m < CONFIRM_PLACE_BELOW_M


def _b(label_key: str, action: str, **label_vars: str) -> Button:
    return Button(label_key=label_key, action=action, label_vars=label_vars)


Row = tuple[Button, ...]
Rows = tuple[Row, ...]

_ROUTE_STATES = frozenset(
    {
        State.MORE,
        State.REPORTING_MORE,
        State.WITNESS,
        State.AFTER_REPORT,
        State.FRIEND_FAMILY,
        State.SAFETY,
        State.ADVOCACY,
    }
)

# Every screen: help in danger, and a quick way out that leaves nothing on the screen (see Turn.wipe).
SAFETY_ROW: Row = (_b("btn_danger", "danger"), _b("btn_leave", "leave"))
MENU_ROW: Row = (_b("btn_menu", "menu"),)


class Engine:
    """Drives one conversation step at a time.

    Parameters
    ----------
    signposter
        Places, areas and the services directory (see :class:`bot.engine.ports.Signposter`).
    clock
        Returns the current time (timezone-aware); tests pass a settable one.
    stale_after_days
        Directory entries last checked longer ago than this show "last checked on ...".
    """

    def __init__(
        self,
        signposter: Signposter,
        *,
        clock: Callable[[], datetime] = _utc_now,
        stale_after_days: int = 183,
    ) -> None:
        self._signposter = signposter
        self._clock = clock
        self._stale_after = timedelta(days=stale_after_days)
        self._notes = _NotePad()
        load_catalogues()

    @property
    def notes_in_memory(self) -> int:
        """How many guided notes are being written right now (for tests and monitoring; never their text)."""
        return len(self._notes)

    def export_note(self, token: str) -> dict[str, Any] | None:
        """A note being written, as plain values, taken out of memory: an adapter that keeps notes between turns
        elsewhere (sealed, see ``bot.persistence``) takes it after each turn and gives it back before the next."""
        note = self._notes.take(token)
        if note is None:
            return None
        return {"started": note.started.isoformat(), "answers": {s.value: a for s, a in note.answers.items()}}

    def import_note(self, token: str, data: Mapping[str, Any]) -> None:
        """Give back a note from :meth:`export_note` (unknown steps are dropped)."""
        try:
            started = datetime.fromisoformat(str(data["started"]))
            answers = {State(k): str(v) for k, v in dict(data.get("answers", {})).items() if k in _NOTE_VALUES}
        except (KeyError, TypeError, ValueError):
            return
        self._notes.put(token, _Note(started=started, answers=answers))

    def handle(self, conversation: Conversation, event: Event) -> Turn:
        """Answer one event. Never raises for anything a person can send."""
        self._notes.sweep(self._now())
        if isinstance(event, Text):
            command = parse_command(event.text)
            if command is not None:
                event = command
        if isinstance(event, Command):
            turn = self._command(conversation, event)
        elif isinstance(event, Choice):
            turn = self._choice(conversation, event.action)
        elif isinstance(event, Text):
            turn = self._text(conversation, event.text)
        elif isinstance(event, SharedLocation):
            turn = self._shared_location(conversation, event)
        else:
            turn = self._unsupported(conversation, event)
        return self._settle_note(conversation, turn)

    # --- dispatch -------------------------------------------------------------------------------------------

    def _command(self, conv: Conversation, command: Command) -> Turn:
        name = command.name
        if name == "start":
            return self._start(conv, command.argument)
        if name in ("emergency", "danger", "999"):
            return self._go(conv, State.DANGER)
        if name == "help":
            return self._go(conv, State.HELP)
        if name in ("language", "iaith"):
            return self._go(conv, State.LANGUAGE)
        if name in ("forget", "leave"):
            return self._leave(conv)
        if name == "cancel":
            return self._go(conv.but(page=0), State.WELCOME, before=(Outgoing("cancelled", remove_keyboard=True),))
        if name == "menu":
            return self._go(conv, State.WELCOME)
        return self._aside(conv, "unknown_command")

    def _choice(self, conv: Conversation, action: str) -> Turn:
        if action in _SIMPLE_CHOICES:
            return self._go(conv, _SIMPLE_CHOICES[action])
        if action == "happened:no":
            return self._go(conv, State.AFTERCARE, before=(Outgoing("not_hostility"),))
        if action == "strand:unsure":
            return self._go(conv.but(strands=frozenset(), local_strands=frozenset()), State.EXPLAIN)
        if action in ("strand:done", "local:done"):
            return self._go(conv, State.EXPLAIN)
        if action == "note":
            return self._start_note(conv)
        if action == "note:skip" and conv.state in NOTE_STATES:
            return self._note_answer(conv, "")
        if action == "note:cancel":
            return self._go(conv, State.WELCOME, before=(Outgoing("note_discarded"),))
        if action in ("forget", "leave"):  # "forget": the button's name in chats from before "leave"
            return self._leave(conv)
        return (
            self._strand_or_language_button(conv, action)
            or self._place_button(conv, action)
            or self._aside(conv, "stale_button")
        )

    def _strand_or_language_button(self, conv: Conversation, action: str) -> Turn | None:
        """A strand or local strand ticked or unticked, or a language picked; None for anything else (or a value
        the conversation does not offer)."""
        if action.startswith("strand:"):
            strand = _strand(action.removeprefix("strand:"))
            if strand is not None:
                return self._go(conv.but(strands=conv.strands ^ {strand}), State.STRANDS)
        if action.startswith("local:"):
            key = action.removeprefix("local:")
            offered = {ls.key for ls in self._signposter.local_strands(conv.pfa_code)}
            if key in offered:
                return self._go(conv.but(local_strands=conv.local_strands ^ {key}), State.SOMETHING_ELSE)
        if action.startswith("lang:"):
            try:
                language = Language(action.removeprefix("lang:"))
            except ValueError:
                return None
            return self._go(conv.but(language=language), State.WELCOME)
        return None

    def _place_button(self, conv: Conversation, action: str) -> Turn | None:
        """Buttons that carry a place, rounded (the conversation keeps none): a place picked from several,
        another page of services, who a service is for. None for anything else."""
        if match := _AT.match(action):
            lat, lon = float(match[1]), float(match[2])
            return self._located(conv, self._signposter.locate_point(lat, lon, 5000.0))
        if match := _MORE.match(action):
            page, lat, lon = int(match[1]), float(match[2]), float(match[3])
            return self._more(conv, page, lat, lon)
        match = _WHO.match(action)
        if match and (match[1] in ("ask", "skip") or match[1] in COMMUNITIES or _AGE_ANSWER.match(match[1])):
            return self._who_answer(conv, match[1], float(match[2]), float(match[3]))
        return None

    def _text(self, conv: Conversation, text: str) -> Turn:
        if conv.state in NOTE_STATES:
            return self._note_text(conv, text)
        urgency = assess(text)
        if urgency is Urgency.NOW:
            return self._go(conv, State.DANGER)
        if urgency is Urgency.PAST and conv.state not in (State.ASK_LOCATION, State.CHOOSE_PLACE, State.RESULTS):
            # "Last week someone hit me": not the danger screen, but the number, and the way on.
            return self._aside(conv, "danger_past_aside")
        if len(text) > MAX_TEXT:
            return self._aside(conv, "too_long")
        if not text.strip():
            return self._aside(conv, "not_understood")
        if _GREETING.match(text):
            return self._go(conv, State.WELCOME)
        wants_place = conv.state in (State.ASK_LOCATION, State.CHOOSE_PLACE, State.RESULTS)
        if wants_place or _POSTCODE_LIKE.match(text) or _LATLON.match(text) or _EMBEDDED_POSTCODE.search(text):
            turn = self._located(conv, self._signposter.locate(text))
            if urgency is Urgency.PAST and turn.conversation.state is not State.RESULTS:
                return self._aside(conv, "danger_past_aside")  # not "I could not find that place"
            return turn
        if conv.state is State.WELCOME and len(text.split()) <= 5 and _PLACE_LIKE.match(text):
            # A town typed at the menu instead of tapping "Find help near me": answer for the town when it is
            # one (named in full; never sent to an online geocoder), else say it was not understood.
            result = self._signposter.locate(text, strict=True)
            location = getattr(result, "location", None)
            if isinstance(location, Location) and _small_place(location):
                return self._confirm_place(conv, location)
            if isinstance(location, Location) or getattr(result, "choices", None):
                return self._located(conv, result)
            if str(getattr(result, "problem", "")) in ("outside_england_wales", "whole_nation"):
                return self._located(conv, result)
        if _mostly_other_script(text):
            return self._aside(conv, "other_language")
        return self._aside(conv, "not_understood")

    def _note_text(self, conv: Conversation, text: str) -> Turn:
        """An answer to the note: 999 at once if it reads as danger, and the note goes on with the answer kept."""
        urgency = assess(text, during_note=True)
        before: tuple[Outgoing, ...] = ()
        if urgency is Urgency.NOW:
            before = (self._danger_message(conv), Outgoing("note_kept"))
        elif urgency is Urgency.PAST:
            before = (Outgoing("danger_past"),)  # "he had a knife": one line, in case it is not over
        return self._note_answer(conv, text, before=before)

    def _shared_location(self, conv: Conversation, event: SharedLocation) -> Turn:
        if conv.state in NOTE_STATES:
            # A point is not kept in the note (nor anywhere): ask for words, and stay in the note.
            return self._aside(conv, "note_text_only")
        result = self._signposter.locate_point(event.lat, event.lon, event.accuracy_m)
        return self._located(conv, result)

    def _unsupported(self, conv: Conversation, event: Unsupported) -> Turn:
        if conv.state in NOTE_STATES:
            return self._aside(conv, "note_text_only")
        key = UNSUPPORTED_KEYS.get(event.what, "unsupported_other")
        return self._aside(conv, key)

    # --- /start and deep links ------------------------------------------------------------------------------

    def _start(self, conv: Conversation, argument: str) -> Turn:
        language = conv.language
        strands: set[Strand] = set()
        for part in re.split(r"[_\s]+", argument.strip().lower()):
            if not part:
                continue
            try:
                language = Language(part)
                continue
            except ValueError:
                pass
            for prefix in ("strand-", "poster-"):
                if part.startswith(prefix) and (strand := _strand(part.removeprefix(prefix))) is not None:
                    strands.add(strand)
        fresh = Conversation.new(language).but(strands=frozenset(strands))
        return self._go(fresh, State.WELCOME, before=(Outgoing("welcome", remove_keyboard=True),))

    # --- screens --------------------------------------------------------------------------------------------

    def _go(self, conv: Conversation, state: State, *, before: Sequence[Outgoing] = ()) -> Turn:
        conv = conv.but(state=state)
        return Turn(conv, (*before, *self.screen(conv)))

    def _leave(self, conv: Conversation) -> Turn:
        """Quick exit: forget everything, wipe the chat, and say one neutral line (no buttons to give it away)."""
        fresh = Conversation.new(conv.language)
        return Turn(fresh, (Outgoing("left", remove_keyboard=True),), forget=True, wipe=True)

    def _aside(self, conv: Conversation, key: str) -> Turn:
        """A short answer that keeps the person where they are, with that step's buttons."""
        last = self.screen(conv)[-1]
        return Turn(conv, (Outgoing(key, buttons=last.buttons, request_location=last.request_location),))

    def screen(self, conv: Conversation) -> tuple[Outgoing, ...]:
        """What a person sees on arriving at (or coming back to) ``conv.state``."""
        shown = self._conversation_screen(conv)
        return shown if shown is not None else self._fixed_screen(conv.state)

    def _conversation_screen(self, conv: Conversation) -> tuple[Outgoing, ...] | None:
        """The screens that show what this conversation chose (strands, place, language) and the services for it;
        ``None`` for the fixed screens."""
        state = conv.state
        if state is State.DANGER:
            return (
                self._danger_message(conv),
                Outgoing(
                    "danger_after",
                    buttons=(
                        (_b("btn_report", "report"), _b("btn_safety", "safety")),
                        (_b("btn_menu", "menu"), _b("btn_leave", "leave")),
                    ),
                ),
            )
        if state is State.STRANDS:
            return (Outgoing("strands", buttons=self._strand_buttons(conv)),)
        if state is State.SOMETHING_ELSE:
            return self._something_else(conv)
        if state is State.EXPLAIN:
            return self._explain(conv)
        if state is State.ONLINE_HATE:
            cards = self._cards(self._signposter.national([ServiceKind.ONLINE_REPORTING]), conv)
            rows = ((_b("btn_report", "report"), _b("btn_find", "find")), MENU_ROW, SAFETY_ROW)
            return (Outgoing("online_hate", {"services": cards}, buttons=rows),)
        if state is State.REPORTING:
            return (
                Outgoing("reporting", {"strands": self._strand_names(conv)}, buttons=self._reporting_buttons(conv)),
            )
        if state in (
            State.REPORT_POLICE,
            State.REPORT_ANONYMOUS,
            State.REPORT_RAILWAY,
            State.REPORT_SPECIALIST,
            State.REPORT_THIRD_PARTY,
        ):
            return self._report_route(conv)
        if state is State.AFTERCARE:
            services = self._signposter.national([ServiceKind.EMOTIONAL_SUPPORT, ServiceKind.VICTIM_SUPPORT])
            # Someone who answered "No" may still want to report a crime: the routes are one tap away.
            rows = ((_b("btn_report", "report"), _b("btn_advocacy", "advocacy")), MENU_ROW, SAFETY_ROW)
            return (
                Outgoing("aftercare", {"services": self._cards(services, conv)}),
                Outgoing("come_back", buttons=rows),
            )
        if state in _ROUTE_STATES:
            return self._more_routes(conv)
        return None

    def _fixed_screen(self, state: State) -> tuple[Outgoing, ...]:
        """The screens that are the same for everyone: the menu, questions, prompts and help."""
        if state is State.WELCOME:
            return (Outgoing("menu", buttons=self._menu_buttons()),)
        if state is State.WHAT_HAPPENED:
            rows: Rows = (
                (_b("btn_yes", "happened:yes"),),
                (_b("btn_not_sure", "happened:unsure"),),
                (_b("btn_no", "happened:no"),),
            )
            return (Outgoing("what_happened", buttons=(*rows, MENU_ROW, SAFETY_ROW)),)
        if state is State.ASK_LOCATION:
            return (self._ask_location(),)
        if state in (State.CHOOSE_PLACE, State.WHO_FOR):
            # (the groups to choose from depend on the place, which only the question's buttons carry)
            return (self._ask_location("ask_location_again"),)
        if state is State.RESULTS:
            rows = ((_b("btn_new_place", "find"), _b("btn_note", "note")), MENU_ROW, SAFETY_ROW)
            return (Outgoing("results_again", buttons=rows),)
        if state in NOTE_STATES:
            return (self._note_prompt(state),)
        if state is State.NOTE_DONE:
            rows = ((_b("btn_report", "report"), _b("btn_find", "find")), MENU_ROW, SAFETY_ROW)
            return (Outgoing("note_done", buttons=rows),)
        if state is State.LANGUAGE:
            rows = (
                (_b("btn_lang_en", "lang:en"),),
                (_b("btn_lang_cy", "lang:cy"),),
                (_b("btn_lang_easy", "lang:easy"),),
                MENU_ROW,
                SAFETY_ROW,
            )
            return (Outgoing("language", buttons=rows),)
        return (Outgoing("help", buttons=(MENU_ROW, SAFETY_ROW)),)

    def _danger_message(self, conv: Conversation) -> Outgoing:
        """Call 999, with every way to reach the emergency services the directory lists."""
        return Outgoing("danger", {"services": self._cards(self._signposter.national([ServiceKind.EMERGENCY]), conv)})

    def _menu_buttons(self) -> tuple[tuple[Button, ...], ...]:
        # At most 8 buttons a screen (a phone shows them without scrolling): the rest are on "More help".
        return (
            SAFETY_ROW,
            (_b("btn_what_happened", "happened"),),
            (_b("btn_report", "report"),),
            (_b("btn_find", "find"),),
            (_b("btn_note", "note"),),
            (_b("btn_language", "lang"), _b("btn_more_help", "more")),
        )

    def _more_routes(self, conv: Conversation) -> tuple[Outgoing, ...]:
        """The menu's second page, "Ways to report"'s second page, and the routes only they lead to."""
        state, sp = conv.state, self._signposter
        report_find = (_b("btn_report", "report"), _b("btn_find", "find"))
        if state is State.MORE:
            rows: Rows = (
                (_b("btn_safety", "safety"),),
                (_b("btn_witness", "witness"),),
                (_b("btn_after_report", "after_report"),),
                (_b("btn_friend_family", "friend_family"),),
                (_b("btn_after", "after"), _b("btn_menu", "menu")),
                SAFETY_ROW,
            )
            return (Outgoing("more", buttons=rows),)
        if state is State.REPORTING_MORE:
            rows = (
                (_b("btn_route_railway", "report:railway"),),
                (_b("btn_witness", "witness"),),
                (_b("btn_after_report", "after_report"),),
                (_b("btn_friend_family", "friend_family"),),
                (_b("btn_advocacy", "advocacy"), _b("btn_back_reporting", "report")),
                SAFETY_ROW,
            )
            return (Outgoing("reporting_more", buttons=rows),)
        if state is State.WITNESS:
            # True Vision takes reports from witnesses and for someone else (hate-crime-facts.md).
            services = self._cards(sp.national([ServiceKind.ONLINE_REPORTING]), conv)
            rows = (report_find, (_b("btn_note", "note"), _b("btn_menu", "menu")), SAFETY_ROW)
            return (Outgoing("witness", {"services": services}, buttons=rows),)
        if state is State.AFTER_REPORT:
            rows = (report_find, (_b("btn_after", "after"), _b("btn_menu", "menu")), SAFETY_ROW)
            return (Outgoing("after_report", buttons=rows),)
        if state is State.FRIEND_FAMILY:
            services = self._cards(sp.national([ServiceKind.VICTIM_SUPPORT]), conv)
            rows = (report_find, (_b("btn_safety", "safety"), _b("btn_menu", "menu")), SAFETY_ROW)
            return (Outgoing("friend_family", {"services": services}, buttons=rows),)
        if state is State.SAFETY:
            rows = (report_find, (_b("btn_note", "note"), _b("btn_menu", "menu")), SAFETY_ROW)
            return (Outgoing("safety", buttons=rows),)
        # Someone on your side: the directory's victim support services, national here and local by place.
        services = self._cards(sp.national([ServiceKind.VICTIM_SUPPORT]), conv)
        rows = (report_find, MENU_ROW, SAFETY_ROW)
        return (Outgoing("advocacy", {"services": services}, buttons=rows),)

    def _strand_buttons(self, conv: Conversation) -> tuple[tuple[Button, ...], ...]:
        rows: list[Row] = [
            (_b(f"strand_{s.value}", f"strand:{s.value}", mark=_mark(s in conv.strands)),) for s in STRAND_ORDER
        ]
        # "Next" leads on to local kinds, "Not sure" and "Done": with the way out, at most 8 buttons a screen.
        rows.append((_b("btn_something_else", "strand:other", mark=_mark(bool(conv.local_strands))),))
        rows.append(SAFETY_ROW)
        return tuple(rows)

    def _something_else(self, conv: Conversation) -> tuple[Outgoing, ...]:
        offered = self._signposter.local_strands(conv.pfa_code)
        rows: list[tuple[Button, ...]] = []
        seen: set[str] = set()
        for ls in offered:
            if ls.key in seen:
                continue
            seen.add(ls.key)
            rows.append(
                (
                    _b(
                        "local_strand",
                        f"local:{ls.key}",
                        label=ls.label_in(conv.language.value),
                        mark=_mark(ls.key in conv.local_strands),
                    ),
                )
            )
        rows.append((_b("btn_not_sure", "strand:unsure"), _b("btn_done", "local:done")))
        rows.append((_b("btn_back", "strand:back"),))
        rows.append(SAFETY_ROW)
        key = "something_else" if offered else "something_else_none"
        return (Outgoing(key, buttons=tuple(rows)),)

    def _explain(self, conv: Conversation) -> tuple[Outgoing, ...]:
        messages = [Outgoing("explain")]
        if conv.strands or conv.local_strands:
            messages.append(Outgoing("explain_chosen", {"strands": self._strand_names(conv)}))
        else:
            messages.append(Outgoing("explain_not_sure"))
        rows: Rows = (
            (_b("btn_report", "report"),),
            (_b("btn_find", "find"),),
            (_b("btn_online", "online"), _b("btn_menu", "menu")),
            SAFETY_ROW,
        )
        last = messages.pop()
        messages.append(Outgoing(last.key, last.vars, buttons=rows))
        return tuple(messages)

    def _reporting_buttons(self, conv: Conversation) -> tuple[tuple[Button, ...], ...]:
        return (
            (_b("btn_route_police", "report:police"),),
            (_b("btn_route_third_party", "report:third_party"),),
            (_b("btn_route_anonymous", "report:anonymous"),),
            (_b("btn_route_specialist", "report:specialist"),),
            (_b("btn_more_ways", "report:more"), _b("btn_menu", "menu")),
            SAFETY_ROW,
        )

    def _report_route(self, conv: Conversation) -> tuple[Outgoing, ...]:
        state = conv.state
        sp = self._signposter
        back = (_b("btn_back_reporting", "report"), _b("btn_find", "find"))
        rows: Rows = (back, (_b("btn_note", "note"), _b("btn_menu", "menu")), SAFETY_ROW)
        if state is State.REPORT_POLICE:
            services = sp.route(Route.POLICE)
            return (Outgoing("route_police", {"services": self._cards(services, conv)}, buttons=rows),)
        if state is State.REPORT_ANONYMOUS:
            services = sp.route(Route.ANONYMOUS)
            return (Outgoing("route_anonymous", {"services": self._cards(services, conv)}, buttons=rows),)
        if state is State.REPORT_RAILWAY:
            services = sp.route(Route.RAILWAY)
            return (Outgoing("route_railway", {"services": self._cards(services, conv)}, buttons=rows),)
        if state is State.REPORT_SPECIALIST:
            specialists = [s for s in sp.national([ServiceKind.SPECIALIST_SUPPORT, ServiceKind.HELPLINE]) if s.strands]
            if conv.strands:
                specialists = [s for s in specialists if s.strands & conv.strands]
            # For the groups the person said are theirs first, for everyone next, for other people last.
            specialists.sort(key=lambda s: s.fit_rank(conv.communities, conv.age_band))
            key = "route_specialist" if specialists else "route_specialist_none"
            variables = {"services": self._cards(specialists, conv), "strands": self._strand_names(conv)}
            return (Outgoing(key, variables, buttons=rows),)
        codes = [code for code in (conv.lad_code, conv.pfa_code) if code]
        services = sp.route(
            Route.THIRD_PARTY, area_codes=codes, strands=conv.strands, communities=conv.communities, age=conv.age_band
        )
        rows = ((_b("btn_find_third_party", "find"),), (_b("btn_back_reporting", "report"),), MENU_ROW, SAFETY_ROW)
        return (Outgoing("route_third_party", {"services": self._cards(services, conv)}, buttons=rows),)

    def _ask_location(self, key: str = "ask_location") -> Outgoing:
        return Outgoing(key, buttons=(MENU_ROW, SAFETY_ROW), request_location=True)

    # --- finding local help ---------------------------------------------------------------------------------

    def _located(self, conv: Conversation, result: object) -> Turn:
        location = getattr(result, "location", None)
        if isinstance(location, Location):
            return self._results(conv, location)
        choices = getattr(result, "choices", None)
        if choices:
            rows: list[Row] = [
                (
                    _b(
                        "place_choice",
                        f"at:{place.lat:.4f},{place.lon:.4f}",
                        name=_place_label(place, conv.language),
                    ),
                )
                for place in list(choices)[:PLACE_CHOICES]
            ]
            rows += [MENU_ROW, SAFETY_ROW]
            conv = conv.but(state=State.CHOOSE_PLACE)
            return Turn(conv, (Outgoing("choose_place", buttons=tuple(rows)),))
        problem = str(getattr(result, "problem", ""))
        if problem in ("outside_england_wales", "at_sea"):
            return self._outside(conv, problem)
        key = f"locate_{problem}" if problem in LOCATE_PROBLEMS else "locate_other"
        conv = conv.but(state=State.ASK_LOCATION)
        return Turn(conv, (Outgoing(key), self._ask_location("ask_location_again")))

    def _confirm_place(self, conv: Conversation, location: Location) -> Turn:
        """A small place's name typed at the menu may be an ordinary word ("church", "street"): ask before
        answering for it. Nothing is counted until the place is tapped."""
        rows: Rows = (
            (_b("btn_place_yes", f"at:{location.lat:.4f},{location.lon:.4f}", name=location.label_in(conv.language)),),
            (_b("btn_find", "find"),),
            MENU_ROW,
            SAFETY_ROW,
        )
        place = location.label_in(conv.language)
        return Turn(conv.but(state=State.CHOOSE_PLACE), (Outgoing("confirm_place", {"place": place}, buttons=rows),))

    def _outside(self, conv: Conversation, problem: str) -> Turn:
        if problem == "at_sea":
            # Probably a coastal fix that drifted: routes for all of England and Wales still apply.
            kinds = [ServiceKind.EMERGENCY, *LOCAL_HELP_KINDS]
            services = [s for s in self._signposter.national(kinds) if _nation_of(s) is Nation.ENGLAND_AND_WALES]
        else:
            # Elsewhere in the UK only the emergency routes in the directory work; the rest are England and Wales's.
            services = self._signposter.national([ServiceKind.EMERGENCY])
        cards = self._cards(services, conv.but(pfa_code=None))
        conv = conv.but(state=State.RESULTS, lad_code=None, pfa_code=None, page=0)
        rows: Rows = ((_b("btn_new_place", "find"),), MENU_ROW, SAFETY_ROW)
        outcome = SignpostingOutcome(None, None, conv.strands, "national_only" if cards else "none")
        return Turn(conv, (Outgoing(f"locate_{problem}", {"services": cards}, buttons=rows),), outcome=outcome)

    def _matches(self, conv: Conversation, location: Location) -> list[Match]:
        matches = self._signposter.find(
            location, strands=conv.strands, kinds=LOCAL_HELP_KINDS, communities=conv.communities, age=conv.age_band
        )
        # A service that does not cover the person and is hundreds of km away (Isles of Scilly -> Manchester)
        # is no help: offer "nearest outside your area" only within reach.
        return [
            m
            for m in matches
            if m.reason is not MatchReason.NEAREST_OUTSIDE
            or (m.distance_m is not None and m.distance_m <= NEAREST_OUTSIDE_MAX_KM * 1000)
        ]

    def _results(self, conv: Conversation, location: Location, *, count: bool = True) -> Turn:
        matches = self._matches(conv, location)
        conv = conv.but(state=State.RESULTS, lad_code=location.lad_code, pfa_code=location.pfa_code, page=0)
        where = self._where(location, conv.language)
        outcome = SignpostingOutcome(location.lad_code, location.pfa_code, conv.strands, _outcome(matches))
        local = [m for m in matches if m.reason is MatchReason.COVERS]
        if local:
            intro = Outgoing("results_local", where)
        elif any(m.reason is MatchReason.NEAREST_OUTSIDE for m in matches):
            intro = Outgoing("results_none_local", where)
        elif matches:
            # Say only what is shown: no "nearest outside your area" when there is none to list.
            intro = Outgoing("results_national_only", where)
        else:
            intro = Outgoing("results_nothing", where)
        messages = [intro, *self._page(conv, matches, 0, location)]
        return Turn(conv, tuple(messages), outcome=outcome if count else None)

    def _who_step(self, conv: Conversation, location: Location, *, groups_done: bool) -> Turn:
        """The next question of "services for particular groups": the groups some services here are limited to,
        then (when some are limited by age) an age band; when nothing is left to ask, the results, re-ranked.
        The place rides in the buttons (rounded to about 10 m), as for "Show more", not in the conversation."""
        conv = conv.but(lad_code=location.lad_code, pfa_code=location.pfa_code)
        matches = self._matches(conv, location)
        where = self._where(location, conv.language)
        point = f"{location.lat:.4f},{location.lon:.4f}"

        def screen(key: str, rows: list[Row], skip: str) -> Turn:
            tail: Rows = ((_b("btn_skip", f"who:{skip}:{point}"), _b("btn_menu", "menu")), SAFETY_ROW)
            return Turn(conv.but(state=State.WHO_FOR), (Outgoing(key, where, buttons=(*rows, *tail)),))

        if not groups_done and (offered := _communities_limiting(matches)):
            return screen(
                "who_for", [(_b(f"who_{key}", f"who:{key}:{point}"),) for key in offered[:WHO_CHOICES]], "skip"
            )
        if bands := _age_bands(matches):
            return screen("who_age", [(_age_button(band, point),) for band in bands], "age")
        # Nothing (more) to ask: the list, ranked with the answers (this place was counted when first answered).
        return self._results(conv.but(who_asked=True), location, count=False)

    def _who_answer(self, conv: Conversation, answer: str, lat: float, lon: float) -> Turn:
        """A tap on "services for particular groups" (``ask``), a group (or ``skip``) or an age band (``age…``):
        kept in the conversation for ranking only."""
        result = self._signposter.locate_point(lat, lon, 100.0)
        location = getattr(result, "location", None)
        if not isinstance(location, Location):
            return self._located(conv, result)
        if answer == "ask":
            return self._who_step(conv, location, groups_done=False)
        if answer.startswith("age"):
            band = _parse_age_band(answer.removeprefix("age"))
            return self._results(conv.but(age_band=band, who_asked=True), location, count=False)
        communities = frozenset() if answer == "skip" else frozenset({answer})
        return self._who_step(conv.but(communities=communities), location, groups_done=True)

    def _where(self, location: Location, language: Language) -> dict[str, str]:
        """The place as the person gave it, and its district and police force area ("LS1 4AP" "(Leeds, West
        Yorkshire)"; "Caerdydd (De Cymru, Cymru)"), in the reader's language, so a person sees they were
        understood. A place label ending in brackets takes the area names into them: one pair, not two."""
        place = location.label_in(language.value)
        names: list[str] = []
        for code in (location.lad_code, location.pfa_code):
            name = self._signposter.area_name(code, language.value) if code else None
            # "Swansea (Wales)" already names Swansea: repeat only what the place label does not say.
            if name and name not in names and name.casefold() not in place.casefold():
                names.append(name)
        if not names:
            return {"place": place, "area": ""}
        head, bracket, inner = place.rpartition(" (")
        if bracket and inner.endswith(")") and "(" not in inner:
            return {"place": f"{head} ({', '.join(names)}, {inner}", "area": ""}
        return {"place": place, "area": f"({', '.join(names)})"}

    def _more(self, conv: Conversation, page: int, lat: float, lon: float) -> Turn:
        result = self._signposter.locate_point(lat, lon, 100.0)
        location = getattr(result, "location", None)
        if not isinstance(location, Location):
            return self._located(conv, result)
        conv = conv.but(state=State.RESULTS, lad_code=location.lad_code, pfa_code=location.pfa_code, page=page)
        return Turn(conv, tuple(self._page(conv, self._matches(conv, location), page, location)))

    def _page(self, conv: Conversation, matches: Sequence[Match], page: int, location: Location) -> list[Outgoing]:
        start = page * PAGE_SIZE
        shown = matches[start : start + PAGE_SIZE]
        rows: list[tuple[Button, ...]] = []
        if start + PAGE_SIZE < len(matches):
            # The place rides in the button (rounded to about 100 m), not in the stored conversation.
            rows.append((_b("btn_more", f"more:{page + 1}:{location.lat:.3f},{location.lon:.3f}"),))
        if not conv.who_asked and (_communities_limiting(matches) or _age_bands(matches)):
            # Some services here are only for particular people (e.g. Gypsy, Roma and Traveller people): they rank
            # after the services for everyone unless the person says one is for them (optional, asked once).
            rows.append((_b("btn_who_for", f"who:ask:{location.lat:.4f},{location.lon:.4f}"),))
        rows += [(_b("btn_new_place", "find"), _b("btn_note", "note")), (_b("btn_report", "report"),)]
        rows += [MENU_ROW, SAFETY_ROW]
        cards = tuple(self._card(m.service, conv, m) for m in shown)
        if not cards:
            return [Outgoing("results_end", buttons=tuple(rows))]
        variables = {"services": cards, "from": start + 1, "to": start + len(cards), "total": len(matches)}
        return [Outgoing("results_page", variables, buttons=tuple(rows))]

    # --- the guided note ------------------------------------------------------------------------------------

    def _start_note(self, conv: Conversation) -> Turn:
        self._notes.discard(conv.note_token)
        token = self._notes.open(self._now())
        conv = conv.but(state=State.NOTE_WHEN, note_token=token)
        return Turn(conv, (Outgoing("note_intro"), self._note_prompt(State.NOTE_WHEN)))

    def _note_prompt(self, state: State) -> Outgoing:
        rows: Rows = ((_b("btn_skip", "note:skip"), _b("btn_note_cancel", "note:cancel")), SAFETY_ROW)
        return Outgoing(f"{state.value}_ask", buttons=rows)

    def _note_answer(self, conv: Conversation, text: str, *, before: Sequence[Outgoing] = ()) -> Turn:
        note = self._notes.get(conv.note_token, self._now())
        if note is None:
            # Another worker, a restart or the time limit: the text was never stored, so start again.
            token = self._notes.open(self._now())
            conv = conv.but(state=State.NOTE_WHEN, note_token=token)
            return Turn(conv, (*before, Outgoing("note_lost"), self._note_prompt(State.NOTE_WHEN)))
        out = list(before)
        answer = text.strip()
        if len(answer) > MAX_NOTE_ANSWER:
            answer = answer[:MAX_NOTE_ANSWER] + "…"
            out.append(Outgoing("note_trimmed"))
        note.answers[conv.state] = answer
        position = NOTE_STATES.index(conv.state)
        if position + 1 < len(NOTE_STATES):
            following = NOTE_STATES[position + 1]
            return Turn(conv.but(state=following), (*out, self._note_prompt(following)))
        fields = {state.value.removeprefix("note_"): note.answers.get(state) or None for state in NOTE_STATES}
        self._notes.discard(conv.note_token)
        conv = conv.but(state=State.NOTE_DONE, note_token=None)
        return Turn(conv, (*out, Outgoing("note_result", fields), *self.screen(conv)))

    def _settle_note(self, before: Conversation, turn: Turn) -> Turn:
        """Drop a note from memory as soon as the conversation leaves the note's steps."""
        after = turn.conversation
        if after.note_token and after.state not in NOTE_STATES:
            self._notes.discard(after.note_token)
            return replace(turn, conversation=after.but(note_token=None))
        if before.note_token and before.note_token != after.note_token:
            self._notes.discard(before.note_token)
        return turn

    def _strand_names(self, conv: Conversation) -> StrandNames:
        labels = {ls.key: ls.label_in(conv.language.value) for ls in self._signposter.local_strands(conv.pfa_code)}
        local = tuple(labels.get(key, key.replace("_", " ")) for key in sorted(conv.local_strands))
        return StrandNames(tuple(s for s in STRAND_ORDER if s in conv.strands), local)

    # --- service cards --------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def _cards(self, services: Iterable[ServiceRecord], conv: Conversation) -> tuple[ServiceCard, ...]:
        nation = _nation_for(conv.pfa_code)
        cards = []
        for service in services:
            service_nation = _nation_of(service)
            if nation is not None and service_nation not in (None, Nation.ENGLAND_AND_WALES, nation):
                continue
            cards.append(self._card(service, conv, None))
        return tuple(cards)

    def _card(self, service: ServiceRecord, conv: Conversation, match: Match | None) -> ServiceCard:
        now = self._now()
        local = now.astimezone(UK).replace(tzinfo=None)
        stale = service.verified_on is not None and now.date() - service.verified_on > self._stale_after
        nation = _nation_of(service)
        hours = "" if service.hours.always_open else service.hours.to_text()  # a 24/7 card says so itself
        # Weekly hours say nothing about Christmas Day: on a bank holiday, claim neither open nor closed.
        holiday = not service.hours.always_open and is_bank_holiday(local.date())
        # Hours nobody has confirmed cannot tell a person a service is open now.
        open_now = None if holiday or not service.confirmed else service.hours.is_open(local)
        return ServiceCard(
            id=service.id,
            name=service.name,
            organisation=service.organisation,
            kind=service.kind,
            description=service.description,
            channels=service.channels,
            hours=hours,
            always_open=service.hours.always_open,
            open_now=open_now,
            languages=service.languages,
            caveat=service.caveat,
            checked_on=service.verified_on if stale else None,
            reason=match.reason if match else None,
            distance_km=round(match.distance_m / 1000, 1) if match and match.distance_m is not None else None,
            specialist=bool(match and match.specialist) or bool(service.strands & conv.strands),
            strands=service.strands,
            nation=nation if nation in (Nation.ENGLAND, Nation.WALES) else None,
            eligibility=service.eligibility,
            bank_holidays=service.hours.bank_holidays,
            bank_holiday_today=holiday and not service.hours.unknown,
            hours_note=service.hours.note,
            translations=service.translations,
            unconfirmed=not service.confirmed,
        )


def _outcome(matches: Sequence[Match]) -> str:
    """What a place's answer found, for the analysts' counts."""
    local = [m for m in matches if m.reason is MatchReason.COVERS]
    if local:
        # A shipped example is shown (with its caveat) but is not real local help for the statistics.
        return "matched_local" if any(not m.service.is_example for m in local) else "national_only"
    return "national_only" if matches else "none"


def _communities_limiting(matches: Sequence[Match]) -> tuple[str, ...]:
    """The groups some of ``matches`` are limited to, in the vocabulary's order."""
    found = {c for m in matches for c in m.service.communities}
    return tuple(key for key in COMMUNITIES if key in found)


def _age_bands(matches: Sequence[Match]) -> tuple[tuple[int, int | None], ...]:
    """Age bands that tell apart the age limits of ``matches`` (each band wholly inside or outside each
    service's limits): limits 11-25 and 60+ give under 11, 11 to 25, 26 to 59, 60 or over. At most
    WHO_CHOICES bands (the oldest ones then merge into the last)."""
    limits = [(m.service.min_age, m.service.max_age) for m in matches]
    cuts = {low for low, _ in limits if low} | {high + 1 for _, high in limits if high is not None}
    if not cuts:
        return ()
    edges = [0, *sorted(cuts)]
    bands: list[tuple[int, int | None]] = [(a, b - 1) for a, b in pairwise(edges)]
    bands.append((edges[-1], None))
    if len(bands) > WHO_CHOICES:
        bands = [*bands[: WHO_CHOICES - 1], (bands[WHO_CHOICES - 1][0], None)]
    return tuple(bands)


def _age_button(band: tuple[int, int | None], point: str) -> Button:
    youngest, oldest = band
    action = f"who:age{youngest}-{'' if oldest is None else oldest}:{point}"
    if oldest is None:
        return _b("who_age_over", action, **{"from": str(youngest)})
    if youngest == 0:
        return _b("who_age_under", action, to=str(oldest + 1))
    return _b("who_age_between", action, **{"from": str(youngest), "to": str(oldest)})


def _parse_age_band(text: str) -> tuple[int, int | None] | None:
    """ "11-25" -> (11, 25); "65-" -> (65, None); "" (skipped) or anything else -> None."""
    match = _AGE_ANSWER.match(f"age{text}")
    if not match or match[1] is None:
        return None
    youngest, oldest = int(match[1]), int(match[2]) if match[2] else None
    return (youngest, oldest) if oldest is None or youngest <= oldest else None


def _place_label(place: object, language: Language) -> str:
    """A place to choose from, in the reader's language where the place has one (``mapping.places.Place``)."""
    label_in = getattr(place, "label_in", None)
    if callable(label_in):
        return str(label_in(language.value))
    return str(getattr(place, "label", "") or getattr(place, "name", ""))


def _strand(text: str) -> Strand | None:
    text = text.strip().lower()
    try:
        return Strand(text)
    except ValueError:
        return STRAND_ALIASES.get(text.replace("_", "-"))


def _mark(on: bool) -> str:
    return "✅ " if on else ""


def _nation_of(service: ServiceRecord) -> Nation | None:
    coverage = service.coverage
    return coverage.nation if isinstance(coverage, NationalCoverage) else None


def _nation_for(pfa_code: str | None) -> Nation | None:
    if not pfa_code:
        return None
    return Nation.WALES if pfa_code.startswith("W") else Nation.ENGLAND


def _mostly_other_script(text: str) -> bool:
    letters = _SCRIPT_LETTER.findall(text)
    if not letters:
        return False
    latin = sum(1 for ch in letters if ch.isascii() or "\u00c0" <= ch <= "\u024f" or ch in "ŵŷŴŶ")
    return latin / len(letters) < 0.5
