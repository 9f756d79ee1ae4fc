"""``report.html``: one self-contained page (inline SVG, CSS and JS; no network) an analyst can open and send.

A choropleth of % population covered by force area and local authority with a strand toggle, the gaps drawn
over it, sortable tables, the method, data vintages and ONS/OS attribution.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from mapping.gaps import ANY
from mapping.report.context import (
    CLASS_BOUNDS,
    CLASS_COLOURS,
    NO_DATA_COLOUR,
    NONE_COLOUR,
    ReportContext,
    legend_items,
)
from mapping.report.summary import fmt_pct

__all__ = ["write_html"]

UNIT_M = 100.0  # SVG user unit: 100 m, so coordinates are short integers
SIMPLIFY_M = 300.0
MIN_GAP_PART_M2 = 250_000.0  # gap parts under a quarter of a km2 vanish at national scale
LEVEL_LABEL = {"pfa": "Police force areas", "lad": "Local authorities"}

METHOD = """
<ul>
<li><b>Who is counted.</b> People at LSOA 2021 population-weighted centroids with Census 2021 usual residents
(or, without population files, the labelled postcode proxy). A point counts as covered for a strand when a
counted service serving that strand covers it. Radius and polygon coverage are tested geometrically in British
National Grid metres (a point on the edge is inside); area-coded coverage by codes (the point's local authority,
or its force area, is listed); national coverage by nation.</li>
<li><b>Which services count.</b> Active services of the selected kinds (by default third-party reporting),
serving at least one selected strand. A service that lists no strand serves every strand. "Any" means covered
for at least one selected strand. The figures are local provision (services with a local coverage: areas, a
radius or a polygon); national services of a counted kind cover every area of their nation and so would hide
where local provision is missing: they are listed beside the figures, and <code>--include-national</code>
merges them in. National routes of other kinds (999, 101, True Vision online reporting, helplines) are
available to everyone and are not what this exercise measures.</li>
<li><b>Areas.</b> Each LSOA belongs to exactly one local authority by the ONS nesting: the district its LSOA 2021
name gives ("Hart 001A" is in Hart), through an authored table of the districts merged since 2021 (Cumberland,
Westmorland and Furness, North Yorkshire, Somerset), or an ONS LSOA -&gt; LAD lookup given with
<code>--lsoa-lookup</code>; never by proximity. Proxy points without a district take the polygon covering them,
otherwise the nearest. Its force area
is that local authority's force area, so force-area figures are sums of their local authorities. Areas (km2) are
measured in British National Grid; area covered is the area inside the union of the counted services' coverage;
the rest is the gap, with the population whose points fall in it.</li>
<li><b>Services covering any part</b> of an area: coverage that overlaps the area (touching its edge is not
enough), or lists it, its force area or one of its local authorities, or its nation.</li>
<li><b>Recorded crime and priority.</b> Police-recorded hate crime per force area (CSV: force code or name,
year, strand, count; the Home Office open data table's column names are accepted). Rate per 100,000 residents;
priority score = rate &times; share of residents not covered, highest first.</li>
<li><b>Siting.</b> Greedy maximal covering: new centres of a fixed radius placed where they reach the most people
not covered, existing services kept; the optimality gap comes from the submodularity bound.</li>
</ul>
"""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#12355b;color:#fff;padding:14px 22px}header h1{margin:0;font-size:22px}
main{padding:12px 22px;max-width:1400px}
.warn{background:#fff3cd;border-left:5px solid #d08c00;padding:8px 12px;margin:8px 0}
.note{color:#444;font-size:13px}
.row{display:flex;gap:18px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:8px 0}
.big{font-size:28px;font-weight:600}
#controls button{margin:2px;padding:4px 10px;border:1px solid #12355b;background:#fff;border-radius:4px;cursor:pointer}
#controls button.on,#zoom button.on{background:#12355b;color:#fff}
#zoom button{margin:2px;padding:4px 10px;border:1px solid #12355b;background:#fff;border-radius:4px;cursor:pointer}
svg.map{width:760px;max-width:100%;height:auto;background:#eef4f8;border:1px solid #ccd}
svg.map path.area{stroke:#555;stroke-width:3;vector-effect:non-scaling-stroke}
svg.map path.area:hover{stroke:#000;stroke-width:2}
svg.map .gap{stroke:#b2182b;stroke-width:1;vector-effect:non-scaling-stroke;pointer-events:none}
svg.map .sites circle{fill:rgba(255,255,255,0.35);stroke:#000;stroke-width:2;stroke-dasharray:6 4;
vector-effect:non-scaling-stroke}
svg.map .sites text{font-size:70px;font-weight:700;text-anchor:middle;fill:#000;paint-order:stroke;stroke:#fff;
stroke-width:12px}
.legend span{display:inline-block;width:34px;height:12px;margin-right:2px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#e8eef5;cursor:pointer;position:sticky;top:0}
td:first-child,th:first-child{text-align:left}
.tablewrap{max-height:520px;overflow:auto;margin-bottom:14px}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;padding:4px 8px;font-size:12px;
display:none}
"""

JS = """
const D = JSON.parse(document.getElementById('data').textContent);
const BINS = D.classes.bounds, COLOURS = D.classes.colours, NONE = D.classes.none;  // 0%: a class of its own
let level = D.levels[0], strand = 'any', zoom = 'full';
// A link such as report.html#lad/race (or #lad/race/london) opens on that level, strand and view.
const [hashLevel, hashStrand, hashZoom] = decodeURIComponent(location.hash.slice(1)).split('/');
if (D.levels.includes(hashLevel)) level = hashLevel;
if (hashStrand in D.strandLabels) strand = hashStrand;
function colour(p) { if (p === null || p === undefined) return D.classes.noData; if (p === 0) return NONE;
  for (let i = 0; i < BINS.length; i++) if (p < BINS[i]) return COLOURS[i]; return COLOURS[COLOURS.length - 1]; }
function fmt(p) { return p === null || p === undefined ? 'n/a' : p.toFixed(1) + '%'; }
function paint() {
  for (const lv of D.levels) document.getElementById('map-' + lv).style.display = lv === level ? '' : 'none';
  const vals = D.pct[level];
  document.querySelectorAll('#map-' + level + ' path.area').forEach(p => {
    p.style.fill = colour((vals[p.dataset.code] || {})[strand]); });
  const show = document.getElementById('showgaps').checked;
  document.querySelectorAll('g.gaps').forEach(g => {
    g.style.display = (show && g.dataset.level === level && g.dataset.strand === strand) ? '' : 'none'; });
  document.querySelectorAll('#controls button').forEach(b => {
    b.classList.toggle('on', b.dataset.strand === strand || b.dataset.level === level); });
  document.getElementById('current').textContent = D.strandLabels[strand] + ', ' + D.levelLabels[level];
  history.replaceState(null, '', '#' + level + '/' + strand + (zoom === 'full' ? '' : '/' + zoom));
}
document.querySelectorAll('#controls button').forEach(b => b.addEventListener('click', () => {
  if (b.dataset.strand) strand = b.dataset.strand; if (b.dataset.level) level = b.dataset.level; paint(); }));
document.getElementById('showgaps').addEventListener('change', paint);
function setZoom(z) {
  zoom = z;
  document.querySelectorAll('svg.map').forEach(m => { m.setAttribute('viewBox', m.dataset[zoom] || m.dataset.full); });
  document.querySelectorAll('#zoom button').forEach(x => x.classList.toggle('on', x.dataset.zoom === zoom));
}
document.querySelectorAll('#zoom button').forEach(b => b.addEventListener('click', () => { setZoom(b.dataset.zoom);
  paint(); }));
if (hashZoom === 'london' && document.querySelector('#zoom')) setZoom('london');
const tip = document.getElementById('tip');
document.querySelectorAll('path.area').forEach(p => {
  p.addEventListener('mousemove', e => {
    const lv = p.closest('svg').dataset.level, v = (D.pct[lv][p.dataset.code] || {});
    tip.style.display = 'block'; tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
    tip.textContent = p.dataset.name + ': ' + fmt(v[strand]) + ' of ' + D.unit +
      ' covered (' + D.strandLabels[strand] + ')';
  });
  p.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
});
document.querySelectorAll('table.sortable').forEach(t => {
  t.querySelectorAll('th').forEach((th, i) => th.addEventListener('click', () => {
    const body = t.tBodies[0], rows = Array.from(body.rows), asc = th.dataset.dir !== 'asc';
    t.querySelectorAll('th').forEach(h => { h.dataset.dir = ''; h.textContent = h.textContent.replace(/ [▲▼]$/, ''); });
    th.dataset.dir = asc ? 'asc' : 'desc'; th.textContent += asc ? ' ▲' : ' ▼';
    const key = r => { const c = r.cells[i], v = c.dataset.v;
      return v !== undefined ? parseFloat(v) : c.textContent.toLowerCase(); };
    rows.sort((a, b) => { const x = key(a), y = key(b);
      if (typeof x === 'number' && typeof y === 'number') {
        if (isNaN(x)) return 1; if (isNaN(y)) return -1; return asc ? x - y : y - x; }
      return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x)); });
    rows.forEach(r => body.appendChild(r));
  }));
});
paint();
"""


def _ring(coords: np.ndarray, x0: float, y1: float) -> str:
    xs = np.round((coords[:, 0] - x0) / UNIT_M).astype(np.int64)
    ys = np.round((y1 - coords[:, 1]) / UNIT_M).astype(np.int64)
    keep = np.ones(len(xs), dtype=bool)
    keep[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])
    xs, ys = xs[keep], ys[keep]
    if len(xs) < 4:
        return ""
    return "M" + " ".join(f"{x},{y}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True)) + "Z"


def _svg_path(geometry: BaseGeometry, x0: float, y1: float, min_area: float = 0.0) -> str:
    parts = []
    for polygon in shapely.get_parts(geometry):
        if polygon.geom_type != "Polygon" or polygon.is_empty or polygon.area < min_area:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            parts.append(_ring(np.asarray(ring.coords), x0, y1))
    return "".join(parts)


def _num_cell(value: float | None, text: str) -> str:
    v = "NaN" if value is None else f"{value:.6g}"
    return f'<td data-v="{v}">{escape(text)}</td>'


def _strand_label(strand: str) -> str:
    return "Any strand" if strand == ANY else strand.replace("_", " ").capitalize()


def _maps(context: ReportContext) -> str:
    result = context.result
    geoms = [u.geometry for lv in result.levels for u in result.geography.level(lv) if not u.geometry.is_empty]
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geoms))
    width, height = int((x1 - x0) / UNIT_M) + 1, int((y1 - y0) / UNIT_M) + 1
    london = ""
    box = context.london_bounds()
    if box is not None:
        margin = 3000.0
        left, top = (box[0] - margin - x0) / UNIT_M, (y1 - box[3] - margin) / UNIT_M
        wide, tall = (box[2] - box[0] + 2 * margin) / UNIT_M, (box[3] - box[1] + 2 * margin) / UNIT_M
        london = f"{left:.0f} {top:.0f} {wide:.0f} {tall:.0f}"
    out = []
    # Simplified in one call per kind of shape, not one per shape (the same GEOS operation, less overhead).
    simple_gaps = shapely.simplify(np.array([g.bng() for g in result.gaps], dtype=object), SIMPLIFY_M).tolist()
    for level in result.levels:
        paths = []
        units = result.geography.level(level)
        simple_units = shapely.simplify(np.array([u.geometry for u in units], dtype=object), SIMPLIFY_M).tolist()
        for unit, simple in zip(units, simple_units, strict=True):
            d = _svg_path(simple, x0, y1)
            if d:
                paths.append(
                    f'<path class="area" data-code="{escape(unit.code)}" data-name="{escape(unit.name)}" d="{d}"/>'
                )
        gap_groups = []
        for strand in result.strands:
            gap_paths = []
            for gap, bng in zip(result.gaps, simple_gaps, strict=True):
                if gap.level == level and gap.strand == strand:
                    d = _svg_path(bng, x0, y1, MIN_GAP_PART_M2)
                    if d:
                        gap_paths.append(f'<path class="gap" fill="url(#hatch-{level})" d="{d}"/>')
            gap_groups.append(
                f'<g class="gaps" data-level="{level}" data-strand="{escape(strand)}" style="display:none">'
                + "".join(gap_paths)
                + "</g>"
            )
        sites = ""
        if context.siting is not None:
            sites = (
                '<g class="sites">'
                + "".join(
                    f'<circle cx="{(s.easting - x0) / UNIT_M:.0f}" cy="{(y1 - s.northing) / UNIT_M:.0f}" '
                    f'r="{context.siting.radius_m / UNIT_M:.0f}"/><text x="{(s.easting - x0) / UNIT_M:.0f}" '
                    f'y="{(y1 - s.northing) / UNIT_M + 25:.0f}">{s.rank}</text>'
                    for s in context.siting.sites
                )
                + "</g>"
            )
        out.append(
            f'<svg class="map" id="map-{level}" data-level="{level}" viewBox="0 0 {width} {height}" '
            f'data-full="0 0 {width} {height}" data-london="{london}" '
            f'role="img" aria-label="{LEVEL_LABEL[level]}: % covered">'
            # One pattern id per map: two maps defining id="hatch" left the hidden one's pattern in use.
            f'<defs><pattern id="hatch-{level}" width="40" height="40" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="40" height="40" fill="rgba(178,24,43,0.10)"/>'
            '<line x1="0" y1="0" x2="0" y2="40" stroke="#b2182b" stroke-width="8"/></pattern></defs>'
            + "".join(paths)
            + "".join(gap_groups)
            + sites
            + "</svg>"
        )
    return "".join(out)


def _area_table(context: ReportContext, level: str) -> str:
    result = context.result
    by_code = context.area_rows(level)
    strands = result.strands
    extra_cols = context.extra_columns(level)
    head = ["Area", "Code", f"Population ({context.unit})"]
    head += [f"% covered: {_strand_label(s).lower()}" for s in strands]
    head += ["% area covered (any)", "Services (any)", f"Not covered (any, {context.unit})", "Gap km2 (any)"]
    head += [c.replace("_", " ") for c in extra_cols]
    rows = []
    for code, per in by_code.items():
        anyrow = per[ANY]
        cells = [f"<td>{escape(anyrow.name)}</td>", f"<td>{escape(code)}</td>"]
        cells.append(_num_cell(anyrow.population, f"{anyrow.population:,.0f}"))
        for s in strands:
            pct = per[s].pct_population
            cells.append(_num_cell(pct, fmt_pct(pct)))
        cells.append(_num_cell(anyrow.pct_area, fmt_pct(anyrow.pct_area)))
        cells.append(_num_cell(anyrow.services, str(anyrow.services)))
        uncovered = anyrow.population - anyrow.population_covered
        cells.append(_num_cell(uncovered, f"{uncovered:,.0f}"))
        gap_km2 = anyrow.area_km2 - anyrow.area_covered_km2
        cells.append(_num_cell(gap_km2, f"{gap_km2:,.1f}"))
        extra = context.extra_for(level, code)
        for c in extra_cols:
            value = extra.get(c)
            if isinstance(value, int | float):
                cells.append(_num_cell(float(value), f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"))
            else:
                cells.append(f"<td>{escape('' if value is None else str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<h3>{LEVEL_LABEL[level]}</h3><div class="tablewrap"><table class="sortable"><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _siting(context: ReportContext) -> str:
    siting = context.siting
    if siting is None:
        return ""
    pop = siting.population or 1.0
    head = ["Rank", "Latitude", "Longitude", "Local authority", "Force area", f"Newly covered ({context.unit})"]
    rows = "".join(
        "<tr>"
        + _num_cell(s.rank, str(s.rank))
        + _num_cell(s.lat, f"{s.lat:.4f}")
        + _num_cell(s.lon, f"{s.lon:.4f}")
        + f"<td>{escape(s.lad_name)}</td><td>{escape(s.pfa_name)}</td>"
        + _num_cell(s.newly_covered, f"{s.newly_covered:,.0f}")
        + "</tr>"
        for s in siting.sites
    )
    changed = "".join(
        f"<tr><td>{escape(u.name)}</td>"
        + _num_cell(siting.pfa_before[u.code], fmt_pct(siting.pfa_before[u.code]))
        + _num_cell(siting.pfa_after[u.code], fmt_pct(siting.pfa_after[u.code]))
        + "</tr>"
        for u in context.result.geography.pfas
        if siting.pfa_after[u.code] - siting.pfa_before[u.code] > 1e-9
    )
    return (
        f"<h2>Siting: {len(siting.sites)} new centres ({siting.radius_m / 1000:g} km radius)</h2>"
        f"<p>Coverage ({escape(_strand_label(siting.strand).lower())}) before: "
        f"<b>{fmt_pct(100 * siting.covered_before / pop)}</b>, "
        f"after: <b>{fmt_pct(100 * siting.covered_after / pop)}</b>. "
        f"Greedy over {siting.candidates:,} candidate sites; no choice of {len(siting.sites)} of them reaches more "
        f"than {fmt_pct(100 * siting.upper_bound / pop)} (optimality gap at most "
        f"{100 * siting.optimality_gap:.1f}% of the gain).</p>"
        '<div class="tablewrap"><table class="sortable"><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + f"</tr></thead><tbody>{rows}</tbody></table></div>"
        + '<h3>Force areas that gain</h3><div class="tablewrap"><table class="sortable"><thead><tr>'
        "<th>Force area</th><th>% covered before</th><th>% covered after</th></tr></thead>"
        f"<tbody>{changed}</tbody></table></div>"
    )


def _priorities(context: ReportContext) -> str:
    if not context.priorities:
        return ""
    head = ["Rank", "Force area", "Year", "Recorded", "Rate per 100,000", "% covered", "Score"]
    rows = "".join(
        "<tr>"
        + _num_cell(p.rank, str(p.rank))
        + f"<td>{escape(p.name)}</td><td>{escape(p.year)}</td>"
        + _num_cell(p.recorded, f"{p.recorded:,}")
        + _num_cell(p.rate_per_100k, "n/a" if p.rate_per_100k is None else f"{p.rate_per_100k:.1f}")
        + _num_cell(p.pct_covered, fmt_pct(p.pct_covered))
        + _num_cell(p.score, f"{p.score:.1f}")
        + "</tr>"
        for p in context.priorities
    )
    return (
        "<h2>Priority: high recorded hate crime, low coverage</h2>"
        f'<p class="note">{escape(context.crime_note)}</p><div class="tablewrap"><table class="sortable"><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _directory(context: ReportContext) -> str:
    """The directory's local provision per force area; opens the page when the directory is thin."""
    if "pfa" not in context.result.levels:
        return ""
    thin = context.directory_is_thin()
    rows = "".join(
        f"<tr><td>{escape(f.name)}</td>"
        + _num_cell(f.services, str(f.services))
        + _num_cell(f.confirmed, str(f.confirmed))
        + _num_cell(f.unconfirmed, str(f.unconfirmed))
        + f"<td>{f.last_checked.isoformat() if f.last_checked else '-'}</td></tr>"
        for f in sorted(context.provision_by_force(), key=lambda f: (f.services, f.name))
    )
    lines = "".join(f"<p>{escape(line)}</p>" for line in context.directory_lines())
    table = (
        '<details><summary>Local services per force area</summary><div class="tablewrap"><table class="sortable">'
        "<thead><tr><th>Force area</th><th>Local services</th><th>Confirmed</th><th>Unconfirmed</th>"
        f"<th>Last checked</th></tr></thead><tbody>{rows}</tbody></table></div></details>"
    )
    if thin:
        return f'<div class="warn" id="directory"><b>Read this first: the directory is thin.</b>{lines}{table}</div>'
    return f'<div id="directory">{lines}{table}</div>'


def write_html(context: ReportContext, path: Path) -> Path:
    """Write the page; everything it needs is inline, so it opens offline and can be e-mailed as one file."""
    result = context.result
    unit = context.unit + (" (PROXY)" if context.is_proxy else "")
    uncovered = "".join(
        f"<details><summary><b>{LEVEL_LABEL[lv]} with no coverage at all</b> ({len(names)})</summary>"
        f"<p>{escape(', '.join(names))}</p></details>"
        for lv in result.levels
        if (names := result.uncovered_areas(lv, ANY))
    )
    vintages = "".join(f"<li>{escape(what)}: {escape(which)}</li>" for what, which in context.vintages)
    directory = f" &middot; directory: {escape(context.directory_version)}" if context.directory_version else ""
    extras = "".join(
        f"<h2>{escape(e.title)}</h2><p class='note'>{escape(e.note)}</p>" for e in context.extras if e.note
    )
    basis = "".join(f"<li>{escape(line)}</li>" for line in context.basis_lines())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Third-party reporting coverage, England and Wales ({context.generated_on.isoformat()})</title>
<style>{CSS}</style></head>
<body>
<header><h1>Third-party reporting coverage, England and Wales</h1>
<div>Generated {context.generated_on.isoformat()} &middot; services counted: {escape(context.kinds_label)},
{escape(context.scope_label)} ({len(result.services)}) &middot; population:
{escape(result.population.basis.label)}{directory}</div></header>
<main>
{_directory(context) if context.directory_is_thin() else ""}
{"".join(f'<div class="warn">{w}</div>' for w in _warnings(context))}
{_headline_cards(context, unit)}
{_map_section(context, unit)}
{uncovered}
{"" if context.directory_is_thin() else _directory(context)}
<h2>Tables (click a heading to sort)</h2>
{"".join(_area_table(context, lv) for lv in result.levels)}
{_priorities(context)}
{_siting(context)}
{extras}
<h2>Method</h2>
<ul>{basis}</ul>
{METHOD}
<h2>Data vintages</h2><ul>{vintages}</ul>
<h2>Attribution</h2><p class="note">{escape(context.attribution())}</p>
</main>
<script type="application/json" id="data">{_page_data(context, unit)}</script>
<script>{JS}</script>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def _page_data(context: ReportContext, unit: str) -> str:
    """What the page's script draws from, as JSON safe inside a <script> element: % covered per area and strand."""
    result = context.result
    pct: dict[str, dict[str, dict[str, float | None]]] = {}
    for r in result.rows:
        pct.setdefault(r.level, {}).setdefault(r.code, {})[r.strand] = (
            None if r.pct_population is None else round(r.pct_population, 2)
        )
    data = {
        "levels": list(result.levels),
        "pct": pct,
        "unit": unit,
        "strandLabels": {s: _strand_label(s) for s in result.strands},
        "levelLabels": {lv: LEVEL_LABEL[lv].lower() for lv in result.levels},
        "classes": {
            "bounds": list(CLASS_BOUNDS),
            "colours": list(CLASS_COLOURS),
            "none": NONE_COLOUR,
            "noData": NO_DATA_COLOUR,
        },
    }
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def _warnings(context: ReportContext) -> list[str]:
    """What the figures are not: a proxy population, grid squares instead of boundaries."""
    warnings = []
    if context.is_proxy:
        warnings.append(
            "<b>Proxy population.</b> No population files were given: postcode counts stand in for residents, so "
            "percentages are of postcodes, not people. Run with <code>--population</code> for Census 2021 figures."
        )
    if context.is_grid:
        warnings.append(
            "<b>No boundary files.</b> Maps, areas and gaps use 5 km British National Grid squares assigned to local "
            "authorities by their postcodes, not official boundaries. Run <code>signpost geography load</code>."
        )
    return warnings


def _headline_cards(context: ReportContext, unit: str) -> str:
    """The row of cards: % covered (any strand), by confirmed services alone, per strand, national services."""
    result = context.result
    population, covered = result.totals(ANY)
    strand_cards = "".join(
        f'<div class="card"><div class="note">{escape(_strand_label(s))}</div>'
        f'<div class="big">{fmt_pct(100 * result.totals(s)[1] / result.totals(s)[0] if result.totals(s)[0] else None)}'
        "</div></div>"
        for s in result.strands
        if s != ANY
    )
    confirmed_card = ""
    if result.has_unconfirmed:
        _, confirmed = result.totals_confirmed(ANY)
        confirmed_card = (
            f'<div class="card"><div class="note">by confirmed services alone</div>'
            f'<div class="big">{fmt_pct(100 * confirmed / population if population else None)}</div>'
            f'<div class="note">the rest rests on unconfirmed entries</div></div>'
        )
    national = context.national_line()
    national_card = (
        f'<div class="card" style="max-width:420px"><div class="note">National services</div>'
        f"<div>{escape(national[0].upper() + national[1:])}.</div></div>"
        if national
        else ""
    )
    return f"""<div class="row">
<div class="card"><div class="note">{escape(unit)} covered (any strand, {escape(context.scope_label)})</div>
<div class="big">{fmt_pct(100 * covered / population if population else None)}</div>
<div class="note">{covered:,.0f} of {population:,.0f}</div></div>
{confirmed_card}
{strand_cards}
{national_card}
</div>"""


def _map_section(context: ReportContext, unit: str) -> str:
    """The maps with their level and strand buttons, zoom, legend and hover tip."""
    result = context.result
    strand_buttons = "".join(
        f'<button data-strand="{escape(s)}">{escape(_strand_label(s))}</button>' for s in result.strands
    )
    level_buttons = "".join(f'<button data-level="{lv}">{LEVEL_LABEL[lv]}</button>' for lv in result.levels)
    legend = "".join(f'<span style="background:{c}"></span>{label} ' for c, label in legend_items())
    sites_legend = (
        " &nbsp; dashed circles: proposed new centres (numbered by rank)" if context.siting is not None else ""
    )
    zoom = (
        '<div id="zoom"><button data-zoom="full" class="on">England and Wales</button>'
        '<button data-zoom="london">London</button></div>'
        if context.london_bounds() is not None
        else ""
    )
    return f"""<h2>Map: % of {escape(unit)} covered &mdash; <span id="current"></span></h2>
<div id="controls">{level_buttons} &nbsp; {strand_buttons} &nbsp;
<label><input type="checkbox" id="showgaps" checked> show gaps (hatched)</label></div>
{zoom}
<div class="legend note">{legend}{sites_legend}</div>
<div>{_maps(context)}</div>
<div id="tip"></div>"""
