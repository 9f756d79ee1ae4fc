"""The force-area rule against adversarial coverage: every part and every ring counts, in both modes.

Shapes are built in British National Grid metres around central Leeds (deep inside West Yorkshire) and central
Manchester (deep inside Greater Manchester), then handed to the check as the WGS84 GeoJSON an editor would upload.
Without boundaries the real postcodes decide; with boundaries a force polygon does (a synthetic square, so the
truth is plain geometry, and the real ONS polygons when ../shared/data/geography is present).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from sqlalchemy import Engine
from sqlmodel import Session

from mapping.areas import AreaRegistry
from mapping.crs import geometry_to_wgs84, wgs84_to_bng
from mapping.types import PolygonCoverage
from services_db.access import Principal, Role, authorise_changes
from services_db.force_area import ForceAreaCheck, default_force_area_check
from services_db.repository import upsert_commissioners
from tests.services_db.factories import make_service

WEST_YORKSHIRE = "E23000010"
LEEDS = tuple(float(v) for v in wgs84_to_bng(-1.5492, 53.7997))
MANCHESTER = tuple(float(v) for v in wgs84_to_bng(-2.2453, 53.4794))
EDINBURGH = tuple(float(v) for v in wgs84_to_bng(-3.1883, 55.9533))
PROFILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def by_postcodes() -> ForceAreaCheck:
    return default_force_area_check()


def _synthetic_force() -> Polygon:
    """A 30 km square around central Leeds standing in for the force polygon (WGS84, as boundaries are stored)."""
    return geometry_to_wgs84(box(LEEDS[0] - 15_000, LEEDS[1] - 15_000, LEEDS[0] + 15_000, LEEDS[1] + 15_000))


@pytest.fixture(scope="module")
def by_polygon(by_postcodes: ForceAreaCheck) -> ForceAreaCheck:
    force = _synthetic_force()
    return ForceAreaCheck(registry=by_postcodes.registry, boundaries={WEST_YORKSHIRE: force}.get)


def _coverage(*parts: Polygon) -> PolygonCoverage:
    """One GeoJSON MultiPolygon listing the parts in the given order (not made valid: as uploaded)."""
    wgs = [geometry_to_wgs84(p) for p in parts]
    rings = [mapping(p)["coordinates"] for p in wgs]
    return PolygonCoverage({"type": "MultiPolygon", "coordinates": rings})


def _comb(x: float, y: float, teeth: int, width: float, length: float, gap: float) -> Polygon:
    """A spine with ``teeth`` thin teeth (one ring, many vertices): a long outline enclosing little area."""
    coords = [(x, y)]
    for k in range(teeth):
        left = x + k * (width + gap)
        coords += [(left, y + length), (left + width, y + length), (left + width, y + 50), (left + width + gap, y + 50)]
    right = x + teeth * (width + gap)
    coords += [(right, y), (x, y)]
    return Polygon(coords)


def _square(centre: tuple[float, float], side: float, dx: float = 0, dy: float = 0) -> Polygon:
    cx, cy = centre[0] + dx, centre[1] + dy
    return box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


# --- the issue's example ------------------------------------------------------------------------------------


def _issue_shape() -> PolygonCoverage:
    comb = _comb(LEEDS[0] - 4_000, LEEDS[1] - 3_000, teeth=60, width=20, length=6_000, gap=110)
    return _coverage(comb, _square(MANCHESTER, 10_000))


def test_the_issues_comb_and_manchester_square_is_refused_in_both_modes(
    by_postcodes: ForceAreaCheck, by_polygon: ForceAreaCheck
) -> None:
    comb_only = _coverage(_comb(LEEDS[0] - 4_000, LEEDS[1] - 3_000, teeth=60, width=20, length=6_000, gap=110))
    assert by_postcodes.allows(comb_only, WEST_YORKSHIRE)
    assert by_polygon.allows(comb_only, WEST_YORKSHIRE)
    refused = by_postcodes.problems(_issue_shape(), WEST_YORKSHIRE)
    assert refused and "(part 2 of 2)" in refused[0] and "outside your force area E23000010" in refused[0]
    refused = by_polygon.problems(_issue_shape(), WEST_YORKSHIRE)
    assert refused and "part 2 of 2" in refused[0] and "km²" in refused[0]


def test_the_issues_shape_with_the_real_pfa_polygons(geography_dir: Path, by_postcodes: ForceAreaCheck) -> None:
    data = json.loads((geography_dir / "pfa_dec2023_buc.geojson").read_text(encoding="utf-8"))
    polygons = {}
    for feature in data["features"]:
        props = feature["properties"]
        code = next(v for k, v in props.items() if k.upper().startswith("PFA") and k.upper().endswith("CD"))
        polygons[code] = shape(feature["geometry"])
    real = ForceAreaCheck(registry=by_postcodes.registry, boundaries=polygons.get)
    problems = real.problems(_issue_shape(), WEST_YORKSHIRE)
    assert problems and "part 2 of 2" in problems[0]
    # The square's 100 km² all lie beyond the 2 km band around West Yorkshire.
    assert "100 km²" in problems[0]


def test_an_editor_import_with_the_issues_shape_is_refused(engine: Engine, by_postcodes: ForceAreaCheck) -> None:
    registry = AreaRegistry.default()
    with Session(engine, expire_on_commit=False) as session:
        upsert_commissioners(session=session, commissioners=[registry.commissioner_for(WEST_YORKSHIRE)])
        editor = Principal(1, "Leeds team", Role.PCC_EDITOR, "pcc-E23000010", "web")
        record = make_service("wy-comb", commissioner_code="pcc-E23000010", coverage=_issue_shape())
        decision = authorise_changes(session=session, principal=editor, added=[record], force_area=by_postcodes)
    assert not decision.allowed and "wy-comb" in decision.message and "part 2 of 2" in decision.message


# --- properties ---------------------------------------------------------------------------------------------

inside_offsets = st.tuples(st.floats(-5_000, 5_000), st.floats(-5_000, 5_000))


@st.composite
def inside_parts(draw: st.DrawFn) -> list[Polygon]:
    """1 to 30 parts within 6 km of central Leeds: combs, tiny squares, squares with holes, self-touching rings."""
    parts: list[Polygon] = []
    for _ in range(draw(st.integers(1, 30))):
        dx, dy = draw(inside_offsets)
        kind = draw(st.sampled_from(["comb", "tiny", "holed", "touching"]))
        if kind == "comb":
            teeth = draw(st.integers(2, 25))
            parts.append(_comb(LEEDS[0] + dx / 2, LEEDS[1] + dy / 2, teeth, draw(st.floats(5, 200)), 2_500, 60))
        elif kind == "tiny":
            parts.append(_square(LEEDS, draw(st.floats(1, 80)), dx, dy))
        elif kind == "holed":
            outer = _square(LEEDS, 1_500, dx, dy)
            parts.append(Polygon(outer.exterior.coords, [_square(LEEDS, 600, dx, dy).exterior.coords]))
        else:  # two squares whose single ring touches itself at a corner
            a, b = _square(LEEDS, 400, dx, dy), _square(LEEDS, 400, dx + 400, dy + 400)
            ax0, ay0, ax1, ay1 = a.bounds
            _, _, bx1, by1 = b.bounds
            parts.append(
                Polygon(
                    [(ax0, ay0), (ax1, ay0), (ax1, ay1), (bx1, ay1), (bx1, by1), (ax1, by1), (ax1, ay1), (ax0, ay1)]
                )
            )
    return parts


@st.composite
def far_part(draw: st.DrawFn) -> Polygon:
    """One part deep in another force (or outside England and Wales): a tiny square, a comb, a holed square."""
    centre = draw(st.sampled_from([MANCHESTER, EDINBURGH]))
    dx, dy = draw(st.floats(-3_000, 3_000)), draw(st.floats(-3_000, 3_000))
    kind = draw(st.sampled_from(["tiny", "comb", "holed", "big"]))
    if kind == "tiny":
        return _square(centre, draw(st.floats(1, 50)), dx, dy)
    if kind == "comb":
        return _comb(centre[0] + dx, centre[1] + dy, draw(st.integers(2, 10)), draw(st.floats(5, 50)), 1_000, 80)
    if kind == "holed":  # the part's own area is only a thin frame round a large hole
        outer = _square(centre, 3_000, dx, dy)
        return Polygon(outer.exterior.coords, [_square(centre, 2_960, dx, dy).exterior.coords])
    return _square(centre, 10_000, dx, dy)


@PROFILE
@given(parts=inside_parts())
def test_any_shape_inside_is_allowed(
    parts: list[Polygon], by_postcodes: ForceAreaCheck, by_polygon: ForceAreaCheck
) -> None:
    coverage = _coverage(*parts)
    assert by_postcodes.problems(coverage, WEST_YORKSHIRE) == ()
    assert by_polygon.problems(coverage, WEST_YORKSHIRE) == ()


@PROFILE
@given(parts=inside_parts(), far=far_part(), where=st.floats(0, 1))
def test_one_far_part_anywhere_in_the_list_is_refused(
    parts: list[Polygon], far: Polygon, where: float, by_postcodes: ForceAreaCheck, by_polygon: ForceAreaCheck
) -> None:
    at = round(where * len(parts))  # first, last or anywhere between
    listed = [*parts[:at], far, *parts[at:]]
    coverage = _coverage(*listed)
    assert by_postcodes.problems(coverage, WEST_YORKSHIRE), f"far part {at + 1} of {len(listed)} unseen"
    assert by_polygon.problems(coverage, WEST_YORKSHIRE), f"far part {at + 1} of {len(listed)} unseen"


@PROFILE
@given(
    distance=st.floats(2_050, 40_000),
    side=st.floats(1, 2_000),
    along=st.floats(-14_000, 14_000),
    edge=st.sampled_from("NSEW"),
)
def test_with_boundaries_any_area_beyond_the_tolerance_is_refused(
    distance: float, side: float, along: float, edge: str, by_polygon: ForceAreaCheck
) -> None:
    """A square whose nearest side lies ``distance`` beyond the force square: refused however small it is."""
    offset = 15_000 + distance + side / 2
    dx, dy = {"N": (along, offset), "S": (along, -offset), "E": (offset, along), "W": (-offset, along)}[edge]
    outside = _square(LEEDS, side, dx, dy)
    inside = _comb(LEEDS[0] - 3_000, LEEDS[1] - 3_000, teeth=10, width=30, length=5_000, gap=100)
    assert by_polygon.problems(_coverage(inside, outside), WEST_YORKSHIRE)
    # Within the tolerance band it passes (a generalised boundary, a centre on the border).
    near = _square(LEEDS, min(side, 1_900), dx * 0, 15_000 + min(side, 1_900) / 2 + 1)
    assert by_polygon.allows(_coverage(inside, near), WEST_YORKSHIRE)


def test_a_self_touching_ring_reaching_manchester_is_refused(
    by_postcodes: ForceAreaCheck, by_polygon: ForceAreaCheck
) -> None:
    """One ring: a square in Leeds, out along a zero-width spike to a square in Manchester and back."""
    lx0, ly0, lx1, ly1 = _square(LEEDS, 1_000).bounds
    mx0, my0, mx1, my1 = _square(MANCHESTER, 300).bounds
    ring = [(lx0, ly0), (lx1, ly0), (lx1, ly1), (lx0, ly1), (lx0, ly0)]
    ring += [(mx0, my0), (mx1, my0), (mx1, my1), (mx0, my1), (mx0, my0), (lx0, ly0)]
    coverage = PolygonCoverage(mapping(geometry_to_wgs84(Polygon(ring))))
    assert not shapely.is_valid(Polygon(ring))
    assert by_postcodes.problems(coverage, WEST_YORKSHIRE)
    assert by_polygon.problems(coverage, WEST_YORKSHIRE)


def test_a_hole_does_not_hide_the_outer_ring(by_postcodes: ForceAreaCheck, by_polygon: ForceAreaCheck) -> None:
    """A Manchester square with a hole over most of it: its thin frame is still in Greater Manchester."""
    outer, hole = _square(MANCHESTER, 8_000), _square(MANCHESTER, 7_900)
    coverage = _coverage(Polygon(outer.exterior.coords, [hole.exterior.coords]))
    assert by_postcodes.problems(coverage, WEST_YORKSHIRE)
    assert by_polygon.problems(coverage, WEST_YORKSHIRE)


def test_many_tiny_parts_with_one_in_manchester(by_postcodes: ForceAreaCheck, by_polygon: ForceAreaCheck) -> None:
    tiny = [_square(LEEDS, 10, (k % 40) * 100 - 2_000, (k // 40) * 100 - 2_000) for k in range(1_600)]
    assert by_postcodes.allows(_coverage(*tiny), WEST_YORKSHIRE)
    with_far = _coverage(*tiny[:800], _square(MANCHESTER, 5), *tiny[800:])
    problems = by_postcodes.problems(with_far, WEST_YORKSHIRE)
    assert problems and "(part 801 of 1601)" in problems[0]
    assert by_polygon.problems(with_far, WEST_YORKSHIRE)


def test_a_multipolygon_geojson_is_checked_as_given(by_postcodes: ForceAreaCheck) -> None:
    """The same parts as a shapely MultiPolygon (valid, so not rebuilt) are refused too."""
    parts = MultiPolygon([_comb(LEEDS[0], LEEDS[1], 30, 20, 3_000, 100), _square(MANCHESTER, 10_000)])
    assert by_postcodes.problems(PolygonCoverage(mapping(geometry_to_wgs84(parts))), WEST_YORKSHIRE)
