"""Ranking that knows who a service is for: unconfirmed entries after confirmed local ones, a service limited to
one community after the services for everyone (unless the person said they belong to it), examples never."""

from __future__ import annotations

from datetime import date

from mapping.signposting import SignpostIndex
from mapping.types import (
    AreaCoverage,
    Confirmation,
    Location,
    LocationSource,
    MatchReason,
    Nation,
    NationalCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    Strand,
)
from tests.services_db.factories import make_service

LEEDS = Location(53.7997, -1.5492, LocationSource.POSTCODE, 100, lad_code="E08000035", pfa_code="E23000010")


def _local(service_id: str, **overrides: object) -> ServiceRecord:
    values: dict[str, object] = {"kind": ServiceKind.THIRD_PARTY_REPORTING, "coverage": AreaCoverage(("E08000035",))}
    values.update(overrides)
    return make_service(service_id, **values)


def _unconfirmed(service_id: str, **overrides: object) -> ServiceRecord:
    return _local(service_id, confirmation=Confirmation.UNCONFIRMED, verified_on=None, **overrides)


GRT = make_service(
    "test-grt",
    kind=ServiceKind.SPECIALIST_SUPPORT,
    coverage=NationalCoverage(Nation.ENGLAND_AND_WALES),
    strands={Strand.RACE},
    communities=("gypsy_roma_traveller",),
)


def _ids(index: SignpostIndex, **options: object) -> list[str]:
    return [m.service.id for m in index.find(LEEDS, **options)]  # type: ignore[arg-type]


def test_unconfirmed_local_entries_come_after_confirmed_local_and_before_national() -> None:
    services = [_unconfirmed("test-a-unconfirmed"), _local("test-z-confirmed"), make_service("test-national")]
    ids = _ids(SignpostIndex.build(services))
    assert ids == ["test-z-confirmed", "test-a-unconfirmed", "test-national"]


def test_a_community_specialist_does_not_outrank_a_local_centre_for_everyone() -> None:
    index = SignpostIndex.build([GRT, _unconfirmed("test-centre"), make_service("test-national")])
    for strands in ((), (Strand.RACE,)):
        ids = _ids(index, strands=strands)
        assert ids.index("test-centre") < ids.index("test-grt"), strands
        assert ids[-1] == "test-grt"  # not for this person as far as we know: after everything for everyone
    chosen = index.find(LEEDS, strands=(Strand.RACE,), communities=("gypsy_roma_traveller",))
    assert chosen[0].service.id == "test-grt" and chosen[0].specialist  # offered first to the people it serves


def test_a_specialist_for_the_strand_still_comes_first_when_it_serves_everyone_in_it() -> None:
    cst = make_service("test-cst", kind=ServiceKind.SPECIALIST_SUPPORT, strands={Strand.RELIGION})
    ids = _ids(SignpostIndex.build([cst, _local("test-centre")]), strands=(Strand.RELIGION,))
    assert ids == ["test-cst", "test-centre"]


def test_a_residents_only_centre_is_never_offered_as_nearest_outside() -> None:
    york = Location(53.959, -1.0815, LocationSource.POSTCODE, 100, lad_code="E06000014", pfa_code="E23000011")
    only = _local("test-residents", residents_only=True)
    anyone = _local("test-anyone")
    outside = [m for m in SignpostIndex.build([only, anyone]).find(york) if m.reason is MatchReason.NEAREST_OUTSIDE]
    assert [m.service.id for m in outside] == []  # area-coded without boundaries: no geometry to measure
    near = make_service(
        "test-walk-in",
        kind=ServiceKind.THIRD_PARTY_REPORTING,
        coverage=_radius(),
        residents_only=True,
    )
    assert not [m for m in SignpostIndex.build([near]).find(york) if m.reason is MatchReason.NEAREST_OUTSIDE]
    open_to_all = make_service("test-walk-in-all", kind=ServiceKind.THIRD_PARTY_REPORTING, coverage=_radius())
    assert [m.service.id for m in SignpostIndex.build([open_to_all]).find(york)] == ["test-walk-in-all"]


def _radius() -> RadiusCoverage:
    return RadiusCoverage(53.7997, -1.5492, 5_000)


def test_examples_are_never_indexed() -> None:
    example = _local("example-leeds-centre")
    named = _local("test-named", name="Example: a centre")
    described = _local("test-described", description="A centre. It is not a real service.")
    caveated = _local("test-caveated", caveat="Example only: do not contact.")
    index = SignpostIndex.build([example, named, described, caveated, _local("test-real")])
    assert _ids(index) == ["test-real"]
    assert [s.id for s in index.services] == ["test-real"]


def test_unconfirmed_record_keeps_its_page_date() -> None:
    record = _unconfirmed("test-dated", page_date=date(2024, 5, 1))
    assert record.page_date == date(2024, 5, 1) and not record.confirmed


def test_an_age_limited_service_comes_first_only_for_someone_whose_age_band_is_inside_its_limits() -> None:
    youth = _local("test-a-youth", min_age=11, max_age=25)
    older = _local("test-b-older", min_age=60)
    index = SignpostIndex.build([youth, older, _local("test-z-centre")])
    assert _ids(index) == ["test-z-centre", "test-a-youth", "test-b-older"]  # no age given: for everyone first
    assert _ids(index, age=(11, 25))[0] == "test-a-youth"
    assert _ids(index, age=(60, None))[0] == "test-b-older"
    assert _ids(index, age=(26, 59)) == ["test-z-centre", "test-a-youth", "test-b-older"]
    assert _ids(index, age=(0, 10))[-2:] == ["test-a-youth", "test-b-older"]  # a band only partly inside: after
    both = _local("test-c-grt-youth", min_age=16, max_age=25, communities=("gypsy_roma_traveller",))
    index = SignpostIndex.build([both, _local("test-z-centre")])
    assert _ids(index, age=(16, 25))[0] == "test-z-centre"  # both limits must fit
    assert _ids(index, age=(16, 25), communities=("gypsy_roma_traveller",))[0] == "test-c-grt-youth"
