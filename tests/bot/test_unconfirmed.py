"""Unconfirmed entries in front of a victim: after confirmed local services, with the "contact them first"
caveat in every language, never "open now"; and "without going to the police" lists the routes for the place."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.content import catalogue
from bot.engine import Choice, Conversation, Engine, Language, Outgoing, State, Text
from bot.render import render
from bot.signposter import DirectorySignposter
from mapping.locate import Locator
from mapping.types import AreaCoverage, Confirmation, ServiceKind, ServiceRecord, Strand
from services_db.seed import load_shipped_directory
from tests.bot.support import make_engine
from tests.services_db.factories import hours, make_service

SHIPPED = load_shipped_directory().services


def _centre(**overrides: object) -> ServiceRecord:
    values: dict[str, object] = {
        "kind": ServiceKind.THIRD_PARTY_REPORTING,
        "coverage": AreaCoverage(("E08000035",)),
        "hours": hours("mon-sun 00:00-00:00"),
        "confirmation": Confirmation.UNCONFIRMED,
        "verified_on": None,
    }
    values.update(overrides)
    return make_service("test-leeds-centre", **values)


@pytest.mark.parametrize("language", list(Language))
def test_an_unconfirmed_card_says_so_and_never_says_open_now(language: Language) -> None:
    engine = make_engine()
    card = engine._card(_centre(), Conversation(State.RESULTS, language=language), None)
    assert card.unconfirmed and card.open_now is None
    text = render(Outgoing("route_police", {"services": (card,)}), language, markup="plain").text
    cat = catalogue(language)
    assert cat["card_unconfirmed"] in text and cat["card_open_now"] not in text
    confirmed = engine._card(
        replace(_centre(), confirmation=Confirmation.CONFIRMED, verified_on=SHIPPED[0].verified_on),
        Conversation(State.RESULTS, language=language),
        None,
    )
    assert confirmed.open_now is True and not confirmed.unconfirmed


def test_every_shipped_local_entry_is_shown_as_unconfirmed() -> None:
    engine = make_engine()
    turn = engine.handle(Conversation(State.ASK_LOCATION), Text("LS6 1AA"))
    cards = [c for m in turn.messages for c in (m.vars.get("services") or ())]
    local = [c for c in cards if c.reason is not None and c.reason.value == "covers"]
    assert local and all(c.unconfirmed and c.open_now is None for c in local)


def _third_party(engine: Engine, conv: Conversation) -> list[str]:
    turn = engine.handle(conv, Choice("report:third_party"))
    assert turn.messages[0].key == "route_third_party"
    return [c.id for c in turn.messages[0].vars["services"]]


def test_without_the_police_lists_specialists_and_the_local_routes_for_the_place() -> None:
    engine = make_engine()
    anywhere = _third_party(engine, Conversation(State.REPORTING))
    assert {"cst", "tell-mama", "galop", "report-racism-grt"} <= set(anywhere)
    assert anywhere[-1] == "report-racism-grt"  # for one community: after the routes for everyone
    leeds = _third_party(engine, Conversation(State.REPORTING, lad_code="E08000035", pfa_code="E23000010"))
    assert "wyorks-stop-hate-uk-leeds" in leeds and leeds.index("wyorks-stop-hate-uk-leeds") < leeds.index("cst")
    religion = _third_party(
        engine, Conversation(State.REPORTING, strands=frozenset({Strand.RELIGION}), lad_code="E08000035")
    )
    assert {"cst", "tell-mama"} <= set(religion) and "galop" not in religion


def test_without_the_police_puts_a_confirmed_local_centre_first() -> None:
    confirmed = replace(
        _centre(), id="test-confirmed", confirmation=Confirmation.CONFIRMED, verified_on=SHIPPED[0].verified_on
    )
    signposter = DirectorySignposter.from_services([*SHIPPED, _centre(), confirmed], locator=Locator.offline_default())
    ids = _third_party(Engine(signposter), Conversation(State.REPORTING, lad_code="E08000035"))
    assert ids[0] == "test-confirmed" and ids.index("test-leeds-centre") > ids.index("test-confirmed")
