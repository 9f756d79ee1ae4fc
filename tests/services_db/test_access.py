"""Authorisation as a matrix (role x action x owner): every forbidden combination is refused AND audited.

Also: accounts and tokens (hashed, shown once, revocable, expiring), the force-area check on coverage (codes,
postcodes, and PFA polygons when the real ONS boundaries are present), and the import check for a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mapping.areas import AreaRegistry
from mapping.crs import bng_to_wgs84, wgs84_to_bng
from mapping.types import AreaCoverage, NationalCoverage, PolygonCoverage, RadiusCoverage, ServiceRecord
from services_db import importer
from services_db.access import (
    AccountError,
    Action,
    Decision,
    Principal,
    Role,
    add_account,
    authenticate_token,
    authorise,
    authorise_changes,
    authorise_import,
    hash_token,
    issue_token,
    list_accounts,
    principal_for_telegram,
    revoke_account,
    revoke_token,
)
from services_db.force_area import ForceAreaCheck, default_force_area_check
from services_db.formats import write_services
from services_db.models import ApiToken, AuditEntry
from services_db.repository import create_service, upsert_commissioners
from tests.services_db.factories import PLACES, area_service, make_commissioner, national_service, radius_service

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WEST_YORKSHIRE, GREATER_MANCHESTER = "E23000010", "E23000005"
LEEDS_LAD, MANCHESTER_LAD = PLACES["leeds"][2], PLACES["manchester"][2]
OWN, OTHER, NATIONAL = "pcc-E23000010", "pcc-E23000005", "national"


@pytest.fixture(scope="module")
def force_area() -> ForceAreaCheck:
    """The real check over the shipped tables and postcodes (no boundaries)."""
    return default_force_area_check()


@pytest.fixture
def directory(engine: Engine) -> Iterator[Session]:
    """Three commissioners (own, other, national) with one service each, and one account per role."""
    registry = AreaRegistry.default()
    with Session(engine, expire_on_commit=False) as session:
        upsert_commissioners(
            session=session,
            commissioners=[
                registry.commissioner_for(WEST_YORKSHIRE),
                registry.commissioner_for(GREATER_MANCHESTER),
                make_commissioner(NATIONAL, "National services", kind="national"),
            ],
        )
        for record in _services().values():
            create_service(session=session, record=record, actor="test", now=NOW)
        yield session


def _services() -> dict[str, ServiceRecord]:
    return {
        OWN: area_service(LEEDS_LAD, service_id="leeds-centre", commissioner_code=OWN),
        OTHER: area_service(MANCHESTER_LAD, service_id="manchester-centre", commissioner_code=OTHER),
        NATIONAL: national_service(service_id="national-line", commissioner_code=NATIONAL),
    }


def _principal(session: Session, role: Role, name: str = "someone") -> Principal:
    info = add_account(
        session=session,
        name=name,
        role=role,
        commissioner_code=OWN if role is Role.PCC_EDITOR else None,
        actor="admin-setup",
        now=NOW,
    )
    return Principal(info.id, info.name, info.role, info.commissioner_code, "token")


def _refusals(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == "refused").order_by(col(AuditEntry.id))))


ACTIONS = [
    Action.READ,
    Action.REPORT,
    Action.CREATE,
    Action.UPDATE,
    Action.CLOSE,
    Action.VERIFY,
    Action.RESTORE,
    Action.MANAGE_ACCOUNTS,
]
OWNERS = [OWN, OTHER, NATIONAL]


def _expected(role: Role, action: Action, owner: str) -> bool:
    """The rule, written out independently of access.decide."""
    if role is Role.ADMIN or action is Action.READ:
        return True
    if role is Role.ANALYST:
        return action is Action.REPORT
    return owner == OWN and action in {Action.CREATE, Action.UPDATE, Action.CLOSE, Action.VERIFY, Action.RESTORE}


def _attempt(owner: str, action: Action) -> tuple[str | None, ServiceRecord | None]:
    """The service id and proposed record for ``action`` on a service of ``owner``."""
    stored = _services()[owner]
    if action is Action.CREATE:
        return f"new-{stored.id}", replace(stored, id=f"new-{stored.id}")
    if action in (Action.UPDATE, Action.RESTORE):
        return stored.id, replace(stored, description="changed")
    if action in (Action.CLOSE, Action.VERIFY):
        return stored.id, None
    return None, None


@pytest.mark.parametrize("role", list(Role))
def test_matrix_role_action_owner(directory: Session, force_area: ForceAreaCheck, role: Role) -> None:
    principal = _principal(directory, role)
    wrong: list[str] = []
    for action in ACTIONS:
        for owner in OWNERS:
            service_id, proposed = _attempt(owner, action)
            before = len(_refusals(directory))
            decision = authorise(
                session=directory,
                principal=principal,
                action=action,
                service_id=service_id,
                proposed=proposed,
                force_area=force_area,
                now=NOW,
            )
            refusals = _refusals(directory)
            want = _expected(role, action, owner)
            case = f"{role.value} x {action.value} x {owner}"
            if decision.allowed != want:
                wrong.append(f"{case}: allowed={decision.allowed}, expected {want} ({decision.message})")
            if want:
                if len(refusals) != before:
                    wrong.append(f"{case}: allowed but a refusal was audited")
                continue
            if not decision.reasons:
                wrong.append(f"{case}: refused without a reason")
            if len(refusals) != before + 1:
                wrong.append(f"{case}: refused but not audited")
                continue
            entry = refusals[-1]
            if entry.actor != principal.actor or not entry.detail.startswith(f"{action.value}:"):
                wrong.append(f"{case}: audit entry does not say who and what: {entry.actor!r} {entry.detail!r}")
            if entry.service_id != service_id:
                wrong.append(f"{case}: audit entry names {entry.service_id!r}, not {service_id!r}")
    assert wrong == []


def test_editor_cannot_hand_a_service_to_another_commissioner(directory: Session, force_area: ForceAreaCheck) -> None:
    editor = _principal(directory, Role.PCC_EDITOR)
    stored = _services()[OWN]
    moved = replace(stored, commissioner_code=OTHER)
    decision = authorise(
        session=directory, principal=editor, action=Action.UPDATE, service_id=stored.id, proposed=moved,
        force_area=force_area, now=NOW,
    )  # fmt: skip
    assert not decision.allowed
    assert "set commissioner_code to pcc-E23000010" in decision.message
    assert len(_refusals(directory)) == 1


def test_editor_cannot_create_over_an_existing_id(directory: Session, force_area: ForceAreaCheck) -> None:
    editor = _principal(directory, Role.PCC_EDITOR)
    stolen = replace(_services()[OTHER], commissioner_code=OWN, coverage=AreaCoverage((LEEDS_LAD,)))
    decision = authorise(
        session=directory, principal=editor, action=Action.CREATE, service_id=stolen.id, proposed=stolen,
        force_area=force_area, now=NOW,
    )  # fmt: skip
    assert not decision.allowed and "already exists" in decision.message


@pytest.mark.parametrize(
    ("coverage", "allowed"),
    [
        (AreaCoverage((LEEDS_LAD,)), True),
        (AreaCoverage((WEST_YORKSHIRE,)), True),
        (AreaCoverage(("E08000032",)), True),  # Bradford: West Yorkshire
        (AreaCoverage((LEEDS_LAD, MANCHESTER_LAD)), False),
        (AreaCoverage((GREATER_MANCHESTER,)), False),
        (NationalCoverage(), False),
        (RadiusCoverage(53.7997, -1.5492, 3_000), True),  # central Leeds
        (RadiusCoverage(53.4794, -2.2453, 3_000), False),  # central Manchester
        (RadiusCoverage(53.7997, -1.5492, 60_000), False),  # Leeds, but reaching York and Manchester
        (PolygonCoverage(shapely.geometry.mapping(shapely.box(-1.60, 53.77, -1.50, 53.83))), True),
        (PolygonCoverage(shapely.geometry.mapping(shapely.box(-2.30, 53.45, -1.50, 53.83))), False),
    ],
)
def test_coverage_must_lie_in_the_force_area(
    force_area: ForceAreaCheck, coverage: AreaCoverage | NationalCoverage | RadiusCoverage, allowed: bool
) -> None:
    problems = force_area.problems(coverage, WEST_YORKSHIRE)
    assert (not problems) is allowed, problems
    if not allowed:
        assert "your force area E23000010" in problems[0] or "admins" in problems[0]


def _border_crossing(force_area: ForceAreaCheck) -> tuple[float, float]:
    """BNG point where, walking north from Leeds, the nearest postcode first belongs to another force."""
    e, n = (float(v) for v in wgs84_to_bng(-1.5492, 53.7997))
    for step in range(400):
        y = n + step * 100
        if force_area._pfa_near(e, y) not in (WEST_YORKSHIRE, None):
            return e, y
    raise AssertionError("no border found within 40 km north of Leeds")


def test_tolerance_lets_a_coverage_reach_just_over_the_border(force_area: ForceAreaCheck) -> None:
    e, y = _border_crossing(force_area)
    lon, lat = (float(v) for v in bng_to_wgs84(e, y - 1_500))  # 1.5 km inside West Yorkshire
    assert force_area.allows(RadiusCoverage(lat, lon, 1_000), WEST_YORKSHIRE)  # stays inside
    assert force_area.allows(RadiusCoverage(lat, lon, 2_500), WEST_YORKSHIRE)  # ~1 km over: within tolerance
    over = force_area.problems(RadiusCoverage(lat, lon, 8_000), WEST_YORKSHIRE)  # ~6.5 km over
    assert over and "more than 2 km outside your force area E23000010" in over[0]
    strict = ForceAreaCheck(registry=force_area.registry, postcodes=force_area.postcodes, tolerance_m=0)
    assert not strict.allows(RadiusCoverage(lat, lon, 2_500), WEST_YORKSHIRE)


def test_with_boundaries_the_pfa_polygon_decides(geography_dir: Path, force_area: ForceAreaCheck) -> None:
    data = json.loads((geography_dir / "pfa_dec2023_buc.geojson").read_text(encoding="utf-8"))
    polygons = {}
    for feature in data["features"]:
        props = feature["properties"]
        code = next(v for k, v in props.items() if k.upper().startswith("PFA") and k.upper().endswith("CD"))
        polygons[code] = shape(feature["geometry"])
    check = ForceAreaCheck(registry=force_area.registry, boundaries=polygons.get)
    assert check.allows(RadiusCoverage(53.7997, -1.5492, 3_000), WEST_YORKSHIRE)
    problems = check.problems(RadiusCoverage(53.4794, -2.2453, 3_000), WEST_YORKSHIRE)
    assert problems and "km² beyond 2 km outside your force area E23000010" in problems[0]
    # A circle poking 1 km out of the force's outline passes; 5 km does not.
    outline = polygons[WEST_YORKSHIRE]
    edge = outline.exterior.coords[0] if outline.geom_type == "Polygon" else outline.geoms[0].exterior.coords[0]
    assert check.allows(RadiusCoverage(edge[1], edge[0], 1_000), WEST_YORKSHIRE)
    assert not check.allows(RadiusCoverage(edge[1], edge[0], 5_000), WEST_YORKSHIRE)


def test_without_any_geography_a_drawn_coverage_is_refused(directory: Session) -> None:
    editor = _principal(directory, Role.PCC_EDITOR)
    record = radius_service(53.7997, -1.5492, 3_000, service_id="leeds-radius", commissioner_code=OWN)
    bare = ForceAreaCheck(registry=AreaRegistry.default())
    decision = authorise(
        session=directory, principal=editor, action=Action.CREATE, service_id=record.id, proposed=record,
        force_area=bare, now=NOW,
    )  # fmt: skip
    assert not decision.allowed and "cannot check this coverage" in decision.message


# --- accounts and tokens ------------------------------------------------------------------------------------


def test_tokens_are_hashed_shown_once_and_authenticate(directory: Session) -> None:
    info = add_account(session=directory, name="Kent team", role="pcc_editor", commissioner_code=OWN, actor="a")
    issued = issue_token(session=directory, account_id=info.id, actor="admin", now=NOW)
    assert issued.token.startswith("spt_") and len(issued.token) > 40
    stored = directory.exec(select(ApiToken)).one()
    assert stored.token_hash == hash_token(issued.token) and issued.token not in stored.token_hash
    principal = authenticate_token(session=directory, token=issued.token, now=NOW + timedelta(days=1))
    assert isinstance(principal, Principal)
    assert principal.role is Role.PCC_EDITOR and principal.commissioner_code == OWN and principal.via == "token"
    assert _refusals(directory) == []


@pytest.mark.parametrize("case", ["unknown", "expired", "revoked_token", "revoked_account"])
def test_bad_tokens_are_refused_and_audited(directory: Session, case: str) -> None:
    info = add_account(session=directory, name="Kent team", role="pcc_editor", commissioner_code=OWN, actor="a")
    issued = issue_token(session=directory, account_id=info.id, actor="admin", valid_for=timedelta(days=30), now=NOW)
    token, when = issued.token, NOW + timedelta(days=1)
    if case == "unknown":
        token = "spt_" + "x" * 43
    elif case == "expired":
        when = NOW + timedelta(days=31)
    elif case == "revoked_token":
        revoke_token(session=directory, prefix=issued.info.prefix, actor="admin", now=NOW)
    else:
        revoke_account(session=directory, account_id=info.id, actor="admin", now=NOW)
    result = authenticate_token(session=directory, token=token, now=when)
    assert isinstance(result, Decision) and not result.allowed
    expected = {"unknown": "not known", "expired": "expired", "revoked_token": "revoked", "revoked_account": "revoked"}
    assert expected[case] in result.message
    refusals = _refusals(directory)
    assert len(refusals) == 1 and token not in refusals[0].detail and token not in refusals[0].actor


def test_account_rules(directory: Session) -> None:
    with pytest.raises(AccountError, match="needs --commissioner"):
        add_account(session=directory, name="x", role="pcc_editor", actor="a")
    with pytest.raises(AccountError, match="unknown commissioner 'nope'"):
        add_account(session=directory, name="x", role="pcc_editor", commissioner_code="nope", actor="a")
    with pytest.raises(AccountError, match="no police force area"):
        add_account(session=directory, name="x", role="pcc_editor", commissioner_code=NATIONAL, actor="a")
    with pytest.raises(AccountError, match="unknown role"):
        add_account(session=directory, name="x", role="superuser", actor="a")
    with pytest.raises(AccountError, match="not tied to a commissioner"):
        add_account(session=directory, name="x", role="analyst", commissioner_code=OWN, actor="a")
    first = add_account(
        session=directory, name="Leeds", role="pcc_editor", commissioner_code=OWN, telegram_user_id=5001, actor="a"
    )
    with pytest.raises(AccountError, match="already account"):
        add_account(session=directory, name="Dup", role="analyst", telegram_user_id=5001, actor="a")
    assert [a.id for a in list_accounts(session=directory)] == [first.id]
    actions = set(directory.exec(select(AuditEntry.action)).all())
    assert "account_added" in actions


def test_telegram_identity_only_for_registered_active_staff(directory: Session) -> None:
    info = add_account(
        session=directory, name="Leeds", role="pcc_editor", commissioner_code=OWN, telegram_user_id=777, actor="a"
    )
    principal = principal_for_telegram(session=directory, telegram_user_id=777)
    assert principal is not None and principal.via == "telegram" and principal.account_id == info.id
    assert principal_for_telegram(session=directory, telegram_user_id=778) is None
    revoked = revoke_account(session=directory, account_id=info.id, actor="admin", now=NOW)
    assert revoked.telegram_user_id is None  # the id is forgotten with the account
    assert principal_for_telegram(session=directory, telegram_user_id=777) is None
    assert list_accounts(session=directory) == [] and len(list_accounts(session=directory, include_revoked=True)) == 1


def test_revoke_token_needs_an_unambiguous_prefix(directory: Session) -> None:
    info = add_account(session=directory, name="Analyst", role="analyst", actor="a")
    issue_token(session=directory, account_id=info.id, actor="a", token_factory=lambda: "spt_AAAA1111" + "z" * 30)
    issue_token(session=directory, account_id=info.id, actor="a", token_factory=lambda: "spt_AAAA2222" + "z" * 30)
    with pytest.raises(AccountError, match="2 tokens start with"):
        revoke_token(session=directory, prefix="spt_AAAA", actor="a")
    with pytest.raises(AccountError, match="no token starts with"):
        revoke_token(session=directory, prefix="spt_BBBB", actor="a")
    done = revoke_token(session=directory, prefix="spt_AAAA1", actor="a", now=NOW)
    assert done.revoked_at == NOW


# --- imports ------------------------------------------------------------------------------------------------


def test_import_change_set_names_every_refused_service(directory: Session, force_area: ForceAreaCheck) -> None:
    editor = _principal(directory, Role.PCC_EDITOR)
    services = _services()
    added = [
        area_service(LEEDS_LAD, service_id="leeds-new", commissioner_code=OWN),
        area_service(MANCHESTER_LAD, service_id="leeds-elsewhere", commissioner_code=OWN),
    ]
    changed = [replace(services[OWN], description="new text"), replace(services[OTHER], description="mine now")]
    decision = authorise_changes(
        session=directory, principal=editor, added=added, changed=changed, removed=[services[NATIONAL].id],
        force_area=force_area, now=NOW,
    )  # fmt: skip
    assert not decision.allowed
    text = decision.message
    assert "leeds-elsewhere" in text and "manchester-centre" in text and "national-line" in text
    assert "'leeds-new'" not in text and "'leeds-centre'" not in text
    refusals = _refusals(directory)
    assert len(refusals) == 1 and refusals[0].detail.startswith("import:")
    fine = authorise_changes(
        session=directory, principal=editor, added=added[:1], changed=changed[:1], force_area=force_area, now=NOW
    )
    assert fine.allowed


def test_authorise_import_with_a_token_uses_the_real_plan(directory: Session, force_area: ForceAreaCheck) -> None:
    editor = add_account(session=directory, name="Leeds", role="pcc_editor", commissioner_code=OWN, actor="a")
    analyst = add_account(session=directory, name="Analyst", role="analyst", actor="a")
    editor_token = issue_token(session=directory, account_id=editor.id, actor="a", now=NOW).token
    analyst_token = issue_token(session=directory, account_id=analyst.id, actor="a", now=NOW).token
    inside = area_service(LEEDS_LAD, service_id="leeds-new", commissioner_code=OWN)
    # Wetherby, 6 km: about 40 % in North Yorkshire, which an import accepts with a warning and an editor may not.
    outside = radius_service(53.92, -1.40, 6_000, service_id="leeds-reaching-north-yorkshire", commissioner_code=OWN)
    mine = [_services()[OWN], inside]

    def plan_of(records: list[ServiceRecord]) -> importer.ImportPlan:
        data = write_services(records, "csv").encode("utf-8")
        plan = importer.plan_import(session=directory, data=data, name="leeds.csv")
        assert plan.ok, plan.problems
        return plan

    good = plan_of(mine)
    assert authorise_import(session=directory, token=editor_token, plan=good, force_area=force_area, now=NOW).allowed
    bad = plan_of([*mine, outside])
    refused = authorise_import(session=directory, token=editor_token, plan=bad, force_area=force_area, now=NOW)
    assert not refused.allowed
    row = bad.rows["leeds-reaching-north-yorkshire"]
    assert refused.reasons == (refused.reasons[0],) and refused.reasons[0].startswith(f"row {row}: ")
    by_analyst = authorise_import(session=directory, token=analyst_token, plan=good, force_area=force_area, now=NOW)
    assert not by_analyst.allowed and "analysts" in by_analyst.message
    unknown = authorise_import(session=directory, token="spt_nope", plan=good, force_area=force_area, now=NOW)
    assert not unknown.allowed and "not known" in unknown.message
    assert len(_refusals(directory)) == 3


def test_a_bad_token_is_audited_with_what_was_attempted(directory: Session) -> None:
    result = authenticate_token(session=directory, token="spt_" + "y" * 43, action=Action.IMPORT, now=NOW)
    assert isinstance(result, Decision) and result.action is Action.IMPORT
    assert _refusals(directory)[-1].detail.startswith("import: this token is not known")
    result = authenticate_token(session=directory, token="spt_" + "z" * 43, now=NOW)
    assert isinstance(result, Decision) and _refusals(directory)[-1].detail.startswith("read: ")
