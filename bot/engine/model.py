"""The conversation's persisted state: only enumerated values (language, step, strands, area codes).

Nothing a person types, no coordinates and no names ever go in here: adapters persist ``to_dict()`` as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from mapping.types import COMMUNITIES, Strand

__all__ = ["NOTE_STATES", "Conversation", "Language", "State"]


class State(StrEnum):
    """Where a conversation is. Values are persisted: never rename one, only add."""

    WELCOME = "welcome"
    DANGER = "danger"
    WHAT_HAPPENED = "what_happened"
    STRANDS = "strands"
    SOMETHING_ELSE = "something_else"
    EXPLAIN = "explain"
    ONLINE_HATE = "online_hate"
    REPORTING = "reporting"
    REPORT_POLICE = "report_police"
    REPORT_THIRD_PARTY = "report_third_party"
    REPORT_ANONYMOUS = "report_anonymous"
    REPORT_SPECIALIST = "report_specialist"
    REPORT_RAILWAY = "report_railway"
    ASK_LOCATION = "ask_location"
    CHOOSE_PLACE = "choose_place"
    RESULTS = "results"
    NOTE_WHEN = "note_when"
    NOTE_WHERE = "note_where"
    NOTE_WHAT = "note_what"
    NOTE_WITNESSES = "note_witnesses"
    NOTE_EVIDENCE = "note_evidence"
    NOTE_DONE = "note_done"
    AFTERCARE = "aftercare"
    LANGUAGE = "language"
    HELP = "help"
    MORE = "more"  # the menu's second page
    REPORTING_MORE = "reporting_more"  # "Ways to report", second page
    WITNESS = "witness"  # I saw it / it happened to someone else
    AFTER_REPORT = "after_report"  # what happens after I report
    FRIEND_FAMILY = "friend_family"
    SAFETY = "safety"  # keeping safe now, who to tell, keeping evidence
    ADVOCACY = "advocacy"  # someone on your side
    WHO_FOR = "who_for"  # some services for the place are for particular people: is one of them you? (skippable)


NOTE_STATES: tuple[State, ...] = (
    State.NOTE_WHEN,
    State.NOTE_WHERE,
    State.NOTE_WHAT,
    State.NOTE_WITNESSES,
    State.NOTE_EVIDENCE,
)


class Language(StrEnum):
    EN = "en"
    CY = "cy"
    EASY = "easy"


_LOCAL_KEY = re.compile(r"^[a-z0-9_]{1,40}$")
_AREA_CODE = re.compile(r"^[EW][0-9]{8}$")
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Conversation:
    """One person's place in the conversation.

    ``note_token`` is an opaque random id naming a guided note held in the engine's process memory while it is
    being written; the note's text itself is never part of the conversation.

    ``communities``: the groups (keys of ``mapping.types.COMMUNITIES``) the person said they belong to, and
    ``age_band`` the ages they said they are in, when asked because services for their place are limited to
    some (``who_asked``: asked once, answered or skipped). Used only to rank services; never counted, logged
    or kept beyond the conversation.
    """

    state: State
    language: Language = Language.EN
    strands: frozenset[Strand] = frozenset()
    local_strands: frozenset[str] = frozenset()
    lad_code: str | None = None
    pfa_code: str | None = None
    page: int = 0
    note_token: str | None = field(default=None, compare=True)
    communities: frozenset[str] = frozenset()
    age_band: tuple[int, int | None] | None = None  # (youngest, oldest) inclusive; oldest None: no upper end
    who_asked: bool = False

    @classmethod
    def new(cls, language: Language = Language.EN) -> Conversation:
        """A fresh conversation at the welcome step."""
        return cls(state=State.WELCOME, language=language)

    def but(self, **changes: object) -> Conversation:
        """A copy with ``changes`` applied (a short name for ``dataclasses.replace``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """Enumerated values only, JSON-ready."""
        out: dict[str, object] = {
            "state": self.state.value,
            "language": self.language.value,
            "strands": sorted(s.value for s in self.strands),
            "local_strands": sorted(self.local_strands),
            "page": self.page,
        }
        if self.lad_code:
            out["lad_code"] = self.lad_code
        if self.pfa_code:
            out["pfa_code"] = self.pfa_code
        if self.note_token:
            out["note_token"] = self.note_token
        if self.communities:
            out["communities"] = sorted(self.communities)
        if self.age_band is not None:
            out["age_band"] = list(self.age_band)
        if self.who_asked:
            out["who_asked"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Conversation:
        """Inverse of :meth:`to_dict`, tolerant of unknown or stale values (they fall back to the welcome step).

        Values that are not one of the enumerated forms are dropped, so nothing free-form can slip back in.
        """
        try:
            state = State(str(data.get("state", State.WELCOME.value)))
        except ValueError:
            state = State.WELCOME
        try:
            language = Language(str(data.get("language", Language.EN.value)))
        except ValueError:
            language = Language.EN
        strands = frozenset(Strand(s) for s in _as_list(data.get("strands")) if s in {m.value for m in Strand})
        local = frozenset(s for s in _as_list(data.get("local_strands")) if _LOCAL_KEY.match(s))
        lad = data.get("lad_code")
        pfa = data.get("pfa_code")
        token = data.get("note_token")
        page = data.get("page", 0)
        return cls(
            state=state,
            language=language,
            strands=strands,
            local_strands=local,
            lad_code=lad if isinstance(lad, str) and _AREA_CODE.match(lad) else None,
            pfa_code=pfa if isinstance(pfa, str) and _AREA_CODE.match(pfa) else None,
            page=page if isinstance(page, int) and 0 <= page < 1000 else 0,
            note_token=token if isinstance(token, str) and _TOKEN.match(token) else None,
            communities=frozenset(c for c in _as_list(data.get("communities")) if c in COMMUNITIES),
            age_band=_age_band(data.get("age_band")),
            who_asked=data.get("who_asked") is True,
        )


def _as_list(value: object) -> list[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value]
    return []


def _age_band(value: object) -> tuple[int, int | None] | None:
    """A stored age band, if it is one: two whole ages (the second may be None), youngest first."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    youngest, oldest = value
    if not isinstance(youngest, int) or isinstance(youngest, bool) or not 0 <= youngest <= 130:
        return None
    if oldest is None:
        return (youngest, None)
    if not isinstance(oldest, int) or isinstance(oldest, bool) or not youngest <= oldest <= 130:
        return None
    return (youngest, oldest)
