"""Greedy maximal covering: picks the best sites, keeps existing coverage, and its bound holds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.gaps import compute_coverage
from mapping.population import PopulationBasis, PopulationPoints
from mapping.siting import propose_sites
from mapping.types import ServiceKind, Strand
from tests.mapping.test_gaps import KM, P1, X0, Y0, radius_cov, toy_geography
from tests.services_db.factories import make_service


def people(points: list[tuple[float, float, float]]) -> PopulationPoints:
    return PopulationPoints(
        codes=np.array([str(i) for i in range(len(points))]),
        easting=np.array([X0 + p[0] * KM for p in points]),
        northing=np.array([Y0 + p[1] * KM for p in points]),
        population=np.array([float(p[2]) for p in points]),
        basis=PopulationBasis("toy", "residents", "toy", False),
    )


def test_one_site_goes_to_the_biggest_uncovered_cluster() -> None:
    # Clusters at x=2 (300 people, already covered), x=15 (500) and x=25 (200).
    pts = [(2, 5, 100), (2.2, 5, 200), (15, 5, 250), (15.3, 5.2, 250), (25, 5, 200)]
    covered_now = [make_service("old", kind=ServiceKind.THIRD_PARTY_REPORTING, coverage=radius_cov(2, 5, 1))]
    result = compute_coverage(covered_now, people(pts), toy_geography())
    siting = propose_sites(result, 1, radius_m=2_000)
    (site,) = siting.sites
    assert site.newly_covered == 500
    assert abs(site.easting - (X0 + 15.15 * KM)) < 500
    assert site.lad_code == "E06000002" and site.pfa_code == P1
    assert (siting.covered_before, siting.covered_after, siting.population) == (300, 800, 1000)
    assert siting.pfa_before[P1] == pytest.approx(100 * 300 / 800)
    assert siting.pfa_after[P1] == pytest.approx(100)
    two = propose_sites(result, 2, radius_m=2_000)
    assert [s.newly_covered for s in two.sites] == [500, 200]
    assert two.covered_after == 1000 and two.optimality_gap == 0.0


def test_nothing_left_to_cover_proposes_nothing() -> None:
    everyone = [make_service("all", kind=ServiceKind.THIRD_PARTY_REPORTING, coverage=radius_cov(15, 5, 40))]
    result = compute_coverage(everyone, people([(2, 5, 10), (25, 5, 10)]), toy_geography())
    siting = propose_sites(result, 3)
    assert siting.sites == () and siting.covered_after == siting.covered_before == 20


def test_siting_for_one_strand_uses_that_strands_gaps() -> None:
    race_only = [
        make_service("r", kind=ServiceKind.THIRD_PARTY_REPORTING, strands={Strand.RACE}, coverage=radius_cov(2, 5, 1))
    ]
    result = compute_coverage(race_only, people([(2, 5, 100), (25, 5, 10)]), toy_geography())
    assert propose_sites(result, 1, strand="race").sites[0].newly_covered == 10
    assert propose_sites(result, 1, strand="religion").sites[0].newly_covered == 100


def test_bad_arguments() -> None:
    result = compute_coverage([], people([(2, 5, 1)]), toy_geography())
    with pytest.raises(ValueError, match="at least 1"):
        propose_sites(result, 0)
    with pytest.raises(ValueError, match="radius"):
        propose_sites(result, 1, radius_m=0)


@settings(max_examples=30, deadline=None)
@given(
    pts=st.lists(st.tuples(st.floats(0, 29.9), st.floats(0, 9.9), st.integers(1, 100)), min_size=2, max_size=14),
    k=st.integers(1, 3),
)
def test_greedy_is_within_its_bound_and_the_bound_holds_against_brute_force(pts, k) -> None:
    result = compute_coverage([], people(pts), toy_geography())
    siting = propose_sites(result, k, radius_m=3_000, cell_m=1.0)  # 1 m cells: every point is a candidate
    e = result.population.easting
    n = result.population.northing
    w = result.population.population
    within = np.hypot(e[:, None] - e[None, :], n[:, None] - n[None, :]) <= 3_000
    best = max(
        float(w[within[list(combo)].any(axis=0)].sum())
        for combo in itertools.combinations(range(len(pts)), min(k, len(pts)))
    )
    assert siting.covered_after <= best + 1e-6
    assert best <= siting.upper_bound + 1e-6
    assert siting.covered_after >= (1 - 1 / np.e) * best - 1e-6
