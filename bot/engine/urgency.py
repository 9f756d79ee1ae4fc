"""Is someone in danger now? Data (``bot/content/urgent_{en,cy}.toml``) read by a small scorer.

The text is read clause by clause. In each clause the scorer finds danger signals (a call for help, danger in
itself, a violent act, someone being there, fear), drops those denied ("not in danger") or meaning something else
("knife crime"), and reads each remaining signal's tense: an explicit time word first ("now", "last week"), then
the nearest verb ("is", "was"), then the signal's own ending ("following", "followed"), then what the other clauses
say. A call for help or danger in itself with nothing to say when is taken as now: a false alarm costs one tap back.

English and Welsh are both read whatever the conversation's language (people mix them), and the more urgent
reading wins. Nothing here keeps the text: it is read and let go.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

__all__ = ["CatalogueSyntaxError", "Urgency", "assess", "load_catalogues", "looks_urgent", "mutations"]

LANGUAGES = ("en", "cy")
KINDS = ("call", "danger", "act", "presence", "fear")
NEGATION_WINDOW = 4  # words before a signal in which "not", "no one", "ddim", "if" deny it
GAP_WORDS = 3  # what ".." in a pattern stands for
FUZZY_MIN = 5  # words shorter than this are too easy to confuse to correct

_COMBINING = re.compile(r"[\u0300-\u036f]")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_CLAUSE = re.compile(r"[.!?;,:\n]+")
_TOKEN = re.compile(r"[a-z0-9]+")
_ENDINGS = re.compile(r"^(.*)\[([^\]]*)\]$")


class Urgency(StrEnum):
    """How urgent a text reads."""

    NOW = "now"  # danger now: show the danger screen with 999 at once
    PAST = "past"  # danger mentioned, in the past: one line "if you are in danger now, call 999"
    NONE = "none"


class CatalogueSyntaxError(ValueError):
    """An urgent_*.toml pattern the scorer cannot read (names the file, section and pattern)."""


def looks_urgent(text: str) -> bool:
    """True when ``text`` reads like someone in danger now ("help", "he is outside", "mae ganddo gyllell")."""
    return assess(text) is Urgency.NOW


def load_catalogues() -> None:
    """Read and compile both catalogues now (at start-up), so a broken one fails at once, not at someone's first
    message, and the first danger message does not wait for the compiling."""
    for language in LANGUAGES:
        _own_common(language)


def assess(text: str, *, during_note: bool = False) -> Urgency:
    """How urgent ``text`` reads, in English or Welsh.

    Parameters
    ----------
    text
        What the person typed.
    during_note
        The text answers a question of the guided note, which asks about something that happened: a danger word
        with nothing to say when (a bare "knife") is then read as that past event; calls for help stay urgent.
    """
    readers = [_reader(language) for language in LANGUAGES]
    counts = [reader.common_words(text, _own_common(reader.language)) for reader in readers]
    result = Urgency.NONE
    for reader, count in zip(readers, counts, strict=True):
        if count < max(counts):
            continue  # clearly the other language
        found = reader.assess(text, during_note=during_note)
        if found is Urgency.NOW:
            return found
        if found is Urgency.PAST:
            result = found
    return result


# --- Welsh mutations -----------------------------------------------------------------------------------------

_SOFT = {"ll": "l", "rh": "r", "p": "b", "t": "d", "c": "g", "b": "f", "d": "dd", "g": "", "m": "f"}
_NASAL = {"p": "mh", "t": "nh", "c": "ngh", "b": "m", "d": "n", "g": "ng"}
_ASPIRATE = {"p": "ph", "t": "th", "c": "ch"}
_UNMUTATED = ("ch", "ph", "th", "dd", "ff", "ng")


def mutations(word: str) -> frozenset[str]:
    """A Welsh word and its soft, nasal and aspirate mutations (and h- before a vowel): ``cyllell`` -> gyllell,
    nghyllell, chyllell."""
    forms = {word}
    if word[:1] in "aeiouwy":
        forms.add("h" + word)
        return frozenset(forms)
    if word.startswith(_UNMUTATED):
        return frozenset(forms)
    for table in (_SOFT, _NASAL, _ASPIRATE):
        for radical in sorted(table, key=len, reverse=True):
            if word.startswith(radical):
                forms.add(table[radical] + word[len(radical) :])
                break
    return frozenset(f for f in forms if f)


# --- the catalogue, compiled ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    kind: str
    start: int  # token index
    tokens: tuple[str, ...]


class _Reader:
    """One language's catalogue, compiled to regular expressions over normalised, space-separated words."""

    def __init__(self, data: Mapping[str, object], source: str) -> None:
        self.source = source
        self.language = str(data["language"])
        self.common = frozenset(_strings(data.get("common", []), "common", source))
        self.contractions = {k: tuple(str(v).split()) for k, v in _table(data, "contractions").items()}
        self.words = {name: _strings(values, f"words.{name}", source) for name, values in _table(data, "words").items()}
        signals, tense, ignore = _table(data, "signals"), _table(data, "tense"), _table(data, "ignore")
        self.lexicon: set[str] = set()
        self.signals: dict[str, re.Pattern[str]] = {}
        feelings: set[str] = set()
        for kind in KINDS:
            before = set(self.lexicon)
            self.signals[kind] = self._compile(
                _strings(signals.get(kind, []), f"signals.{kind}", source), f"signals.{kind}", True
            )
            if kind in ("call", "fear"):
                feelings |= self.lexicon - before
        # Words whose ending dates them ("attacked", "surrounded"); not "scared", which is a feeling, not an act.
        self.verbs = frozenset(self.lexicon - feelings)
        self.now = self._compile(_strings(tense["now"], "tense.now", source), "tense.now")
        self.past_frame = self._compile(_strings(tense["past_frame"], "tense.past_frame", source), "tense.past_frame")
        self.present = self._compile(_strings(tense["present"], "tense.present", source), "tense.present")
        self.past = self._compile(_strings(tense["past"], "tense.past", source), "tense.past")
        self.now_endings = tuple(_strings(tense.get("now_endings", []), "tense.now_endings", source))
        self.past_endings = tuple(_strings(tense.get("past_endings", []), "tense.past_endings", source))
        self.past_words = frozenset(_strings(tense.get("past_words", []), "tense.past_words", source))
        self.breaks = frozenset(_strings(tense.get("clause_breaks", []), "tense.clause_breaks", source))
        self.negation = frozenset(
            w for phrase in _strings(ignore["negation"], "ignore.negation", source) for w in phrase.split()[:1]
        )
        self.suppress = self._compile(_strings(ignore["suppress"], "ignore.suppress", source), "ignore.suppress")
        self.other_suppress: re.Pattern[str] | None = None
        self._deletes = _deletion_index(w for w in self.lexicon if len(w) >= FUZZY_MIN)
        self._undoubled = {_undouble(w): w for w in sorted(self.lexicon, key=len)}
        # Words the catalogue knows as something else are not typos of a danger word ("there" is not "here").
        self._known = frozenset(w for text in _texts(data) for w in _TOKEN.findall(text.lower()))

    # --- compiling patterns ---

    def _compile(self, patterns: Sequence[str], where: str, lexicon: bool = False) -> re.Pattern[str]:
        parts = [self._pattern(p, where, lexicon) for p in patterns]
        return re.compile("|".join(f"(?:{p})" for p in parts) if parts else r"(?!x)x")

    def _pattern(self, pattern: str, where: str, lexicon: bool = False) -> str:
        """A pattern as a regex over " word word " text: every alternative of a slot ends with its space."""
        out = "(?<= )"
        for slot in pattern.split():
            if slot == "..":
                out += rf"(?:\S+ ){{0,{GAP_WORDS}}}"
                continue
            optional = slot.endswith("?") and len(slot) > 1
            body = slot[:-1] if optional else slot
            alternatives = [self._alternative(a, pattern, where, lexicon) for a in body.split("|")]
            out += "(?:" + "|".join(alternatives) + ")" + ("?" if optional else "")
        return out

    def _alternative(self, alt: str, pattern: str, where: str, lexicon: bool) -> str:
        if not alt:
            raise CatalogueSyntaxError(f"{self.source} [{where}] {pattern!r}: an empty word (check the | signs)")
        if alt.startswith("{") and alt.endswith("}"):
            name = alt[1:-1]
            if name not in self.words:
                raise CatalogueSyntaxError(f"{self.source} [{where}] {pattern!r}: no [words] list named {name}")
            inner = [self._pattern(p, f"words.{name}", lexicon).removeprefix("(?<= )") for p in self.words[name]]
            return "(?:" + "|".join(inner) + ")"
        if alt == "<year>":
            return r"(?:19|20)\d\d "
        forms = self._forms(alt, pattern, where)
        if lexicon:
            self.lexicon.update(forms)
        return "(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + ") "

    def _forms(self, alt: str, pattern: str, where: str) -> set[str]:
        mutate = alt.startswith("~")
        word = alt[1:] if mutate else alt
        forms = {word}
        if match := _ENDINGS.match(word):
            base, endings = match[1], [e.strip() for e in match[2].split(",")]
            forms = {base, *(base + e for e in endings if e)}
        bad = [f for f in forms if not re.fullmatch(r"[a-z0-9]+", f)]
        if bad:
            raise CatalogueSyntaxError(
                f"{self.source} [{where}] {pattern!r}: {bad[0]!r} is not a normalised word "
                "(lowercase letters and digits only: no apostrophes or accents)"
            )
        if mutate:
            forms = {m for f in forms for m in mutations(f)}
        return forms

    # --- reading text ---

    def assess(self, text: str, *, during_note: bool) -> Urgency:
        clauses = self.clauses(text)
        frames = [self._frames(" " + " ".join(c) + " ") for c in clauses]
        text_now = any(now for now, _ in frames)
        text_past = any(past for _, past in frames)
        result = Urgency.NONE
        for clause, (now, past) in zip(clauses, frames, strict=True):
            for hit in self.hits(clause):
                reading = self._tense(hit, clause, now, past, text_now, text_past, during_note)
                if reading is Urgency.NOW:
                    return reading
                if reading is Urgency.PAST:
                    result = reading
        return result

    def common_words(self, text: str, common: frozenset[str]) -> int:
        """How many of the text's words are in ``common`` (this language's everyday words)."""
        return sum(1 for clause in self.clauses(text) for word in clause if word in common)

    def clauses(self, text: str) -> list[list[str]]:
        """Normalised words, split into clauses at punctuation and at words such as "and" and "but"."""
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.lower()))
        text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
        text = _REPEATS.sub(r"\1", text)
        text = text.replace("'", "" if self.language == "en" else " ")
        clauses: list[list[str]] = []
        for part in _CLAUSE.split(text):
            words: list[str] = []
            for token in _TOKEN.findall(part):
                words.extend(self.contractions.get(token) or (self._correct(token),))
            current: list[str] = []
            for word in words:
                if word in self.breaks and current:
                    clauses.append(current)
                    current = []
                else:
                    current.append(word)
            if current:
                clauses.append(current)
        return clauses

    def hits(self, clause: Sequence[str]) -> Iterator[_Hit]:
        """The danger signals in one clause that are neither denied nor part of a phrase meaning something else."""
        text = " " + " ".join(clause) + " "
        for suppress in (self.suppress, self.other_suppress):
            if suppress is not None:
                text = suppress.sub(lambda m: " ".join("_" for _ in m.group().split()) + " ", text)
        for kind in KINDS:
            for match in self.signals[kind].finditer(text):
                start = text.count(" ", 0, match.start()) - 1
                if any(w in self.negation for w in clause[max(0, start - NEGATION_WINDOW) : start]):
                    continue
                yield _Hit(kind, start, tuple(match.group().split()))

    def _frames(self, text: str) -> tuple[bool, bool]:
        return bool(self.now.search(text)), bool(self.past_frame.search(text))

    def _tense(
        self,
        hit: _Hit,
        clause: Sequence[str],
        now: bool,
        past: bool,
        text_now: bool,
        text_past: bool,
        during_note: bool,
    ) -> Urgency:
        if now:
            return Urgency.NOW
        if past:
            return Urgency.PAST
        verb = self._nearest_verb(hit, clause)
        if verb is not None:
            return verb
        if text_now and not text_past:
            return Urgency.NOW  # "he pushed me and he's still shouting"
        if any(w.endswith(self.now_endings) for w in hit.tokens if self.now_endings):
            return Urgency.NOW
        if hit.kind != "fear" and any(self._past_form(w) for w in hit.tokens):
            return Urgency.PAST
        if hit.kind != "call" and text_past:
            return Urgency.PAST
        if hit.kind == "presence":
            return Urgency.NONE
        if during_note and hit.kind != "call":
            return Urgency.PAST
        return Urgency.NOW

    def _nearest_verb(self, hit: _Hit, clause: Sequence[str]) -> Urgency | None:
        """The tense of the verb nearest before the signal (or, failing that, the first one after it)."""
        text = " " + " ".join(clause) + " "
        found: list[tuple[int, Urgency]] = []
        for pattern, reading in ((self.present, Urgency.NOW), (self.past, Urgency.PAST)):
            for match in _overlapping(pattern, text):
                found.append((text.count(" ", 0, match) - 1, reading))
        # A danger verb in the past ("threw", "attacked") dates the danger words after it ("threw acid").
        found += [(i, Urgency.PAST) for i, word in enumerate(clause) if self._past_form(word)]
        found = [f for f in found if not hit.start <= f[0] < hit.start + len(hit.tokens) or f[1] is Urgency.NOW]
        before = [f for f in found if f[0] < hit.start]
        if before:
            return max(before, key=lambda f: f[0])[1]
        after = [f for f in found if f[0] >= hit.start]
        return min(after, key=lambda f: f[0])[1] if after else None

    def _past_form(self, word: str) -> bool:
        """A danger verb's past form: "threw", or a signal word with a past ending ("attacked", "ymosododd")."""
        if word in self.past_words:
            return True
        return bool(self.past_endings) and word in self.verbs and word.endswith(self.past_endings)

    def _correct(self, token: str) -> str:
        """A word one letter out (missing, extra or swapped) from a signal word is read as that word."""
        if token in self.lexicon or token in self._known or token.isdigit():
            return token
        if (undoubled := self._undoubled.get(_undouble(token))) is not None:
            return undoubled  # "helpp", "kil", "stabed"
        if len(token) < FUZZY_MIN - 1:
            return token
        candidates = set(self._deletes.get(token, ()))  # a letter missing from the token
        for variant in _edits(token):
            if len(variant) >= FUZZY_MIN and variant in self.lexicon:
                candidates.add(variant)
        candidates = {c for c in candidates if not c.startswith(token) and not token.startswith(c)}
        return min(candidates) if len(candidates) == 1 else token


def _undouble(word: str) -> str:
    return re.sub(r"([a-z])\1+", r"\1", word)


def _overlapping(pattern: re.Pattern[str], text: str) -> Iterator[int]:
    position = 0
    while (match := pattern.search(text, position)) is not None:
        yield match.start()
        position = match.start() + 1


def _edits(word: str) -> Iterator[str]:
    """The word with one letter removed, or two neighbours swapped (not substituted: "willing" is not "killing")."""
    for i in range(len(word)):
        yield word[:i] + word[i + 1 :]
    for i in range(len(word) - 1):
        yield word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _deletion_index(words: Iterable[str]) -> dict[str, set[str]]:
    index: dict[str, set[str]] = {}
    for word in words:
        for i in range(len(word)):
            index.setdefault(word[:i] + word[i + 1 :], set()).add(word)
    return index


def _texts(value: object) -> Iterator[str]:
    """Every key and text in a catalogue, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield str(key)
            yield from _texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _texts(inner)


def _table(data: Mapping[str, object], name: str) -> Mapping[str, object]:
    value = data.get(name, {})
    return value if isinstance(value, Mapping) else {}


def _strings(values: object, where: str, source: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CatalogueSyntaxError(f"{source} [{where}] must be a list of quoted phrases")
    return [_COMBINING.sub("", unicodedata.normalize("NFKD", v)) for v in values]


@cache
def _reader(language: str) -> _Reader:
    name = f"urgent_{language}.toml"
    source = f"bot/content/{name}"
    raw = resources.files("bot.content").joinpath(name).read_text(encoding="utf-8")
    reader = _Reader(tomllib.loads(raw), source)
    # Each language also drops the other's "means something else" phrases ("help gyda" in an English reading).
    others = [p for other in LANGUAGES if other != language for p in _raw_suppress(other)]
    reader.other_suppress = reader._compile(others, "ignore.suppress (other language)")
    return reader


@cache
def _own_common(language: str) -> frozenset[str]:
    """This language's everyday words that are not also the other's ("i", "a" and "am" are both)."""
    others = frozenset().union(*(_reader(other).common for other in LANGUAGES if other != language))
    return _reader(language).common - others


def _raw_suppress(language: str) -> list[str]:
    name = f"urgent_{language}.toml"
    data = tomllib.loads(resources.files("bot.content").joinpath(name).read_text(encoding="utf-8"))
    patterns = _strings(_table(data, "ignore").get("suppress", []), "ignore.suppress", f"bot/content/{name}")
    return [p for p in patterns if "~" not in p and "{" not in p]
