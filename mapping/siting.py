"""Where K new third-party reporting centres would reach the most people not covered today.

A maximal covering location problem (Church and ReVelle, 1974): existing services stay as they are; each new
centre covers everyone within ``radius_m`` of it; choose K sites to maximise newly covered population. Solved
greedily on plain arrays, with the optimality gap bounded: coverage is submodular, so for any step i with value
V_i and marginal gains g, OPT <= V_i + (sum of the K largest g) (Nemhauser, Wolsey and Fisher 1978; the
"online bound" of Leskovec et al. 2007). The tightest such bound over the steps is reported. The bound is
relative to the candidate sites, which are the mean positions of uncovered people in ``cell_m`` squares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mapping.crs import bng_to_wgs84
from mapping.defaults import ANY, DEFAULT_RADIUS_M
from mapping.gaps import CoverageResult

if TYPE_CHECKING:
    from scipy import sparse
    from scipy.spatial import cKDTree

__all__ = ["ProposedSite", "SitingResult", "propose_sites"]

CANDIDATE_CELL_M = 2_000.0


@dataclass(frozen=True, slots=True)
class ProposedSite:
    rank: int
    lat: float
    lon: float
    easting: float
    northing: float
    lad_code: str
    lad_name: str
    pfa_code: str
    pfa_name: str
    newly_covered: float


@dataclass(frozen=True)
class SitingResult:
    """K proposed sites with before/after coverage, in total and per force area."""

    strand: str
    radius_m: float
    sites: tuple[ProposedSite, ...]
    population: float
    covered_before: float
    covered_after: float
    upper_bound: float  # no choice of K candidate sites covers more than this (existing + new)
    candidates: int
    pfa_before: dict[str, float]  # PFA code -> % covered
    pfa_after: dict[str, float]

    @property
    def optimality_gap(self) -> float:
        """Relative gap between the greedy answer and the bound (0 = proven optimal among the candidates)."""
        gain_bound = self.upper_bound - self.covered_before
        gain = self.covered_after - self.covered_before
        return 0.0 if gain_bound <= 0 else max(0.0, (gain_bound - gain) / gain_bound)


def propose_sites(
    result: CoverageResult,
    k: int,
    *,
    radius_m: float = DEFAULT_RADIUS_M,
    strand: str = ANY,
    cell_m: float = CANDIDATE_CELL_M,
) -> SitingResult:
    """Greedy maximal covering: ``k`` sites of ``radius_m`` covering the most people not covered for ``strand``.

    Parameters
    ----------
    result
        The coverage computation (its points, their coverage and their areas).
    k
        Number of new centres (>= 1).
    radius_m
        Service radius of a new centre, metres.
    strand
        Whose coverage to improve: a strand value or ``"any"``.
    cell_m
        Candidate sites are the mean positions of uncovered people in squares of this size.
    """
    if k < 1:
        raise ValueError("--siting needs at least 1 site")
    if radius_m <= 0:
        raise ValueError("the service radius must be positive")
    pop = result.population
    weights = pop.population.astype(float)
    covered = result.covered_points(strand)
    demand = np.flatnonzero(~covered & (weights > 0))
    total = float(weights.sum())
    before = float(weights[covered].sum())
    pfa_total = np.bincount(result.point_pfa, weights=weights, minlength=len(result.geography.pfas))
    pfa_before = np.bincount(result.point_pfa, weights=weights * covered, minlength=len(result.geography.pfas))
    if len(demand) == 0:
        pct = _pct_by_pfa(result, pfa_before, pfa_total)
        return SitingResult(strand, radius_m, (), total, before, before, before, 0, pct, pct)

    de, dn, dw = pop.easting[demand], pop.northing[demand], weights[demand]
    cand_e, cand_n = _candidates(de, dn, dw, cell_m)
    from scipy.spatial import cKDTree  # here, not at the top: a report without --siting does not pay for scipy

    tree = cKDTree(np.column_stack([de, dn]))
    cover = _cover_matrix(tree, cand_e, cand_n, radius_m, len(demand))
    greedy = _greedy(cover, dw, k)

    newly = np.zeros(len(weights), dtype=bool)
    newly[demand[greedy.remaining == 0]] = True
    pfa_after = pfa_before + np.bincount(result.point_pfa, weights=weights * newly, minlength=len(pfa_total))
    return SitingResult(
        strand=strand,
        radius_m=radius_m,
        sites=_sites(result, demand, tree, cand_e, cand_n, greedy),
        population=total,
        covered_before=before,
        covered_after=before + greedy.value,
        upper_bound=before + greedy.bound,
        candidates=int(cover.shape[0]),
        pfa_before=_pct_by_pfa(result, pfa_before, pfa_total),
        pfa_after=_pct_by_pfa(result, pfa_after, pfa_total),
    )


def _candidates(de: np.ndarray, dn: np.ndarray, dw: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sites: the population-weighted mean position of the uncovered people in each cell."""
    cx = np.floor(de / cell_m).astype(np.int64)
    cy = np.floor(dn / cell_m).astype(np.int64)
    _, cell_of = np.unique(cx * 10_000_000 + cy, return_inverse=True)
    cell_w = np.bincount(cell_of, weights=dw)
    safe = np.where(cell_w > 0, cell_w, 1.0)
    return np.bincount(cell_of, weights=de * dw) / safe, np.bincount(cell_of, weights=dn * dw) / safe


def _cover_matrix(
    tree: cKDTree, cand_e: np.ndarray, cand_n: np.ndarray, radius_m: float, demand: int
) -> sparse.csr_matrix:
    """Which uncovered points (columns) each candidate (row) reaches within ``radius_m``."""
    from scipy import sparse

    reach = tree.query_ball_point(np.column_stack([cand_e, cand_n]), r=radius_m)
    rows = np.repeat(np.arange(len(reach)), [len(r) for r in reach])
    cols = np.concatenate([np.asarray(r, dtype=np.int64) for r in reach]) if len(reach) else np.array([], int)
    return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(reach), demand))


@dataclass(frozen=True)
class _Greedy:
    chosen: list[int]  # candidate rows, best first
    gains: list[float]  # the people each newly covers
    value: float  # all of them
    bound: float  # no choice of k candidates newly covers more
    remaining: np.ndarray  # the uncovered points' weights, 0 where a chosen site covers them


def _greedy(cover: sparse.csr_matrix, dw: np.ndarray, k: int) -> _Greedy:
    """Up to ``k`` candidates, each the one newly covering the most people, with the online bound."""
    remaining = dw.copy()
    chosen: list[int] = []
    gains_taken: list[float] = []
    value = 0.0
    bound = np.inf
    for _ in range(min(k, cover.shape[0])):
        gains = cover @ remaining
        top = np.sort(gains)[::-1][:k]
        bound = min(bound, value + float(top.sum()))
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        gains_taken.append(float(gains[best]))
        value += float(gains[best])
        remaining[cover.indices[cover.indptr[best] : cover.indptr[best + 1]]] = 0.0
    gains = cover @ remaining
    bound = min(bound, value + float(np.sort(gains)[::-1][:k].sum()))
    return _Greedy(chosen, gains_taken, value, bound, remaining)


def _sites(
    result: CoverageResult,
    demand: np.ndarray,
    tree: cKDTree,
    cand_e: np.ndarray,
    cand_n: np.ndarray,
    greedy: _Greedy,
) -> tuple[ProposedSite, ...]:
    """The chosen sites, in WGS84 and named by the areas of the uncovered point nearest each."""
    chosen = greedy.chosen
    lads, pfas = result.geography.lads, result.geography.pfas
    _, nearest = tree.query(np.column_stack([cand_e[chosen], cand_n[chosen]]), k=1) if chosen else (None, [])
    lon, lat = bng_to_wgs84(cand_e[chosen], cand_n[chosen])
    sites = []
    for rank, (c, gain) in enumerate(zip(chosen, greedy.gains, strict=True)):
        point = demand[int(np.atleast_1d(nearest)[rank])]
        lad = lads[int(result.point_lad[point])]
        pfa = pfas[int(result.point_pfa[point])]
        sites.append(
            ProposedSite(
                rank=rank + 1,
                lat=float(np.atleast_1d(lat)[rank]),
                lon=float(np.atleast_1d(lon)[rank]),
                easting=float(cand_e[c]),
                northing=float(cand_n[c]),
                lad_code=lad.code,
                lad_name=lad.name,
                pfa_code=pfa.code,
                pfa_name=pfa.name,
                newly_covered=gain,
            )
        )
    return tuple(sites)


def _pct_by_pfa(result: CoverageResult, covered: np.ndarray, total: np.ndarray) -> dict[str, float]:
    return {
        u.code: (100.0 * float(covered[i]) / float(total[i]) if total[i] > 0 else 0.0)
        for i, u in enumerate(result.geography.pfas)
    }
