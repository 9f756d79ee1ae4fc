"""DirectorySignposter: the engine's port over the real directory (SQLite and PostgreSQL), places and areas."""

from __future__ import annotations

from sqlalchemy import Engine as DatabaseEngine
from sqlmodel import Session

from bot.engine import Route
from bot.signposter import ROUTES, DirectorySignposter
from mapping.locate import Located, Locator
from mapping.types import LocationSource, Nation, ServiceKind, ServiceStatus, Strand
from services_db.repository import close_service, create_service
from services_db.seed import load_national_directory, seed
from tests.bot.support import Clock, shipped_signposter
from tests.services_db.factories import PLACES, area_service, national_service, radius_service

LEEDS = PLACES["leeds"]


def _signposter(engine: DatabaseEngine, clock: Clock) -> DirectorySignposter:
    with Session(engine, expire_on_commit=False) as session:
        seed(session=session)
    return DirectorySignposter.from_database(engine, locator=Locator.offline_default(), clock=clock)


def _located(signposter: DirectorySignposter, text: str) -> Located:
    result = signposter.locate(text)
    assert isinstance(result, Located), result
    return result


def test_every_named_route_entry_is_in_the_shipped_directory() -> None:
    shipped = {s.id for s in load_national_directory().services}
    for route, spec in ROUTES.items():
        assert set(spec.ids) <= shipped, route
        assert set(spec.exclude) <= shipped, route
    sp = shipped_signposter()
    assert [s.id for s in sp.route(Route.ANONYMOUS)] == ["crimestoppers"]
    assert [s.id for s in sp.route(Route.RAILWAY)] == ["british-transport-police"]
    police = [s.id for s in sp.route(Route.POLICE)]
    assert police[:2] == ["police-emergency-999", "police-non-emergency-101"]
    assert "british-transport-police" not in police


def test_national_lists_only_active_national_services_of_the_kinds_asked() -> None:
    sp = shipped_signposter()
    support = sp.national([ServiceKind.EMOTIONAL_SUPPORT, ServiceKind.VICTIM_SUPPORT])
    assert {s.id for s in support} == {"samaritans", "victim-support-supportline", "wales-hate-support-centre"}
    everything = sp.national([])
    assert all(s.coverage.type.value == "national" for s in everything)
    assert not any(s.id.startswith("example-") for s in everything)


def test_local_strands_come_from_the_area_tables() -> None:
    sp = shipped_signposter()
    assert [ls.key for ls in sp.local_strands("E23000005")] == ["alternative_subculture"]
    assert sp.local_strands("E23000010") == ()
    assert "alternative_subculture" in {ls.key for ls in sp.local_strands(None)}


def test_points_are_named_by_their_district_and_typed_places_keep_their_name() -> None:
    sp = shipped_signposter()
    point = sp.locate_point(LEEDS[0], LEEDS[1], 25.0)
    assert isinstance(point, Located)
    assert point.location.label == "Leeds" and point.location.source is LocationSource.GPS
    assert point.location.lad_code == LEEDS[2] and point.location.pfa_code == LEEDS[3]
    assert _located(sp, "LS6 1AA").location.label == "LS6 1AA"


def test_find_ranks_specialists_and_keeps_wales_only_services_in_wales() -> None:
    sp = shipped_signposter()
    leeds = _located(sp, "LS6 1AA").location
    religion = sp.find(leeds, strands=[Strand.RELIGION], kinds=[ServiceKind.SPECIALIST_SUPPORT])
    assert {m.service.id for m in religion} == {"cst", "tell-mama"}
    assert "wales-hate-support-centre" not in {m.service.id for m in sp.find(leeds, strands=[])}
    cardiff = sp.locate_point(*PLACES["cardiff"][:2], 50.0)
    assert isinstance(cardiff, Located) and cardiff.location.nation is Nation.WALES
    assert "wales-hate-support-centre" in {m.service.id for m in sp.find(cardiff.location, strands=[])}


def test_the_signposter_follows_directory_changes(engine: DatabaseEngine) -> None:
    clock = Clock()
    sp = _signposter(engine, clock)
    leeds = _located(sp, "LS6 1AA").location
    before = sp.version
    centre = radius_service(LEEDS[0], LEEDS[1], 8_000, name="Test Leeds hate crime reporting centre")
    with Session(engine, expire_on_commit=False) as session:
        create_service(session=session, record=centre, actor="test")
    # Within the recheck interval the index is not rebuilt (one small query at most every 30 s).
    assert centre.id not in {m.service.id for m in sp.find(leeds, strands=[])}
    clock.advance(seconds=31)
    assert centre.id in {m.service.id for m in sp.find(leeds, strands=[])}
    assert sp.version != before

    with Session(engine, expire_on_commit=False) as session:
        close_service(session=session, service_id="crimestoppers", actor="test")
    clock.advance(seconds=31)
    assert sp.route(Route.ANONYMOUS) == []


def test_services_added_by_a_pcc_team_show_up_in_national_routes(engine: DatabaseEngine) -> None:
    clock = Clock()
    sp = _signposter(engine, clock)
    extra = national_service(kind=ServiceKind.THIRD_PARTY_REPORTING, name="Test national reporting line")
    wales_only = area_service("W06000015", name="Test Cardiff centre")
    with Session(engine, expire_on_commit=False) as session:
        create_service(session=session, record=extra, actor="test")
        create_service(session=session, record=wales_only, actor="test")
    clock.advance(minutes=1)
    third_party = {s.id for s in sp.route(Route.THIRD_PARTY)}
    assert extra.id in third_party and "wales-hate-support-centre" in third_party
    assert wales_only.id not in third_party  # local, not national: found by place instead
    assert all(s.status is ServiceStatus.ACTIVE for s in sp.national([]))


def test_a_fixed_directory_never_reloads() -> None:
    services = load_national_directory().services
    sp = DirectorySignposter.from_services(services, locator=Locator.offline_default())
    assert sp.version == "fixed"
    assert len(sp.national([])) == sum(1 for s in services if s.coverage.type.value == "national")
