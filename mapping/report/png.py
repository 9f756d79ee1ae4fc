"""Static maps for a slide: % population covered by force area (and small multiples per strand), matplotlib Agg."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on an analyst's server or in CI

import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from shapely.geometry.base import BaseGeometry

from mapping.gaps import ANY
from mapping.report.context import ReportContext, class_colour, legend_items

__all__ = ["write_pngs"]

PNG_OPTIONS = {"compress_level": 2}  # zlib's default (6) costs a second per report for 15% smaller files


def _path(geometry: BaseGeometry) -> MplPath | None:
    vertices: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for polygon in shapely.get_parts(geometry):
        if polygon.geom_type != "Polygon" or polygon.is_empty:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            c = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            vertices.append(xy)
            codes.append(c)
    if not vertices:
        return None
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


AreaPaths = list[tuple[str, MplPath]]


def _area_paths(context: ReportContext, level: str, simplify_m: float, within: BaseGeometry | None = None) -> AreaPaths:
    """The areas of a level as matplotlib paths, simplified once for every map drawn from them."""
    units = [u for u in context.result.geography.level(level) if within is None or u.geometry.intersects(within)]
    simplified = shapely.simplify(np.array([u.geometry for u in units], dtype=object), simplify_m)
    return [(u.code, path) for u, g in zip(units, simplified, strict=True) if (path := _path(g)) is not None]


def _draw(
    ax: Axes,
    context: ReportContext,
    level: str,
    strand: str,
    paths: AreaPaths,
    *,
    gaps: bool,
    bounds: tuple[float, float, float, float] | None = None,
    simplify_m: float = 250.0,
) -> None:
    rows = {r.code: r for r in context.result.rows_for(level, strand)}
    colours = [class_colour(rows[code].pct_population if code in rows else None) for code, _ in paths]
    # Paths straight into one collection: a PathPatch per area would cost an artist each (a quarter second).
    ax.add_collection(
        PathCollection([path for _, path in paths], facecolor=colours, edgecolor="#555555", linewidth=0.3)
    )
    if gaps:
        chosen = [g.bng() for g in context.result.gaps if g.level == level and g.strand == strand]
        if bounds is not None:
            window = shapely.box(*bounds)
            chosen = [g for g in chosen if g.intersects(window)]
        simplified = shapely.simplify(np.array(chosen, dtype=object), simplify_m) if chosen else []
        gap_paths = [path for g in simplified if (path := _path(g)) is not None]
        ax.add_collection(PathCollection(gap_paths, facecolor="none", edgecolor="#b2182b", hatch="////", linewidth=0.4))
    if bounds is None:
        x0, y0, x1, y1 = (
            float(v) for v in shapely.total_bounds([u.geometry for u in context.result.geography.level(level)])
        )
        bounds = (x0 - 5000, y0 - 5000, x1 + 5000, y1 + 5000)
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.set_axis_off()


def _london_inset(fig: plt.Figure, ax: Axes, context: ReportContext, level: str, strand: str) -> None:
    """London, enlarged in the empty North Sea corner of the map, with a box where it sits on the main map."""
    box = context.london_bounds()
    if box is None:
        return
    margin = 2000.0
    bounds = (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)
    inset = ax.inset_axes((0.70, 0.62, 0.30, 0.30))
    paths = _area_paths(context, level, 50.0, within=shapely.box(*bounds))
    _draw(inset, context, level, strand, paths, gaps=True, bounds=bounds, simplify_m=50.0)
    inset.set_axis_on()
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_edgecolor("#12355b")
    inset.set_title("London", fontsize=8, y=1.0)
    ax.indicate_inset_zoom(inset, edgecolor="#12355b")


def _legend(ax: Axes, *, gaps: bool, spare: bool = False) -> None:
    """The class legend: right of the map, or filling a ``spare`` empty panel of the small multiples."""
    handles = [Patch(facecolor=colour, edgecolor="#555555", label=label) for colour, label in legend_items()]
    if gaps:
        handles.append(Patch(facecolor="none", edgecolor="#b2182b", hatch="////", label="not covered (gap)"))
    # Outside the map, right of it: inside, it covers Cornwall or East Anglia.
    ax.legend(
        handles=handles,
        loc="center" if spare else "upper left",
        bbox_to_anchor=(0.5, 0.5) if spare else (1.01, 0.58),
        fontsize=7,
        title="% covered",
        title_fontsize=7,
        frameon=False,
    )


def _footer(fig: plt.Figure, context: ReportContext) -> None:
    notes = []
    if context.is_proxy:
        notes.append("PROXY population: postcode counts, not residents.")
    if context.is_grid:
        notes.append("No boundary files: 5 km grid squares, not official boundaries.")
    text = " ".join(notes) + ("\n" if notes else "") + context.attribution()
    # Wrapped here, not by matplotlib: its wrap=True lays the text out again and again (a second per report).
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(text, 190)), fontsize=6, va="bottom")


def write_pngs(context: ReportContext, out_dir: Path) -> list[Path]:
    """``coverage_{level}.png`` per level (any strand, gaps hatched) and ``coverage_{level}_strands.png``."""
    written: list[Path] = []
    unit = context.unit + (" (PROXY)" if context.is_proxy else "")
    for level in context.result.levels:
        label = "force area" if level == "pfa" else "local authority"
        paths = _area_paths(context, level, 250.0)
        # A fixed layout rather than bbox_inches="tight", which draws every figure twice to measure it.
        fig = plt.figure(figsize=(9.6, 9), dpi=150)
        ax = fig.add_axes((0.01, 0.05, 0.76, 0.86))
        _draw(ax, context, level, ANY, paths, gaps=True)
        _london_inset(fig, ax, context, level, ANY)
        first, second = context.title_lines(ANY, label)
        # A title placed at y=1.0, not left to matplotlib, which measures every axis's ticks to place it.
        ax.set_title(f"{first}\n{second}", fontsize=9, y=1.0)
        _legend(ax, gaps=True)
        _footer(fig, context)
        path = out_dir / f"coverage_{level}.png"
        fig.savefig(path, pil_kwargs=PNG_OPTIONS)
        plt.close(fig)
        written.append(path)

        strands = [s for s in context.result.strands if s != ANY]
        if len(strands) > 1:
            cols = 3
            rows = int(np.ceil(len(strands) / cols))
            fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4.6 * rows), dpi=120)
            fig.subplots_adjust(left=0.01, right=0.99, bottom=0.05, top=0.88, wspace=0.02, hspace=0.1)
            flat = np.atleast_1d(axes).ravel()
            for ax, strand in zip(flat, strands, strict=False):
                _draw(ax, context, level, strand, paths, gaps=False)
                ax.set_title(strand.replace("_", " "), fontsize=10, y=1.0)
            for ax in flat[len(strands) :]:
                ax.set_axis_off()
            first, second = context.title_lines(ANY, label)
            fig.suptitle(f"% of {unit} covered by strand, {context.scope_label}, by {label}\n{second}", fontsize=11)
            if len(strands) < len(flat):
                _legend(flat[len(strands)], gaps=False, spare=True)
            else:
                _legend(flat[-1], gaps=False)
            _footer(fig, context)
            path = out_dir / f"coverage_{level}_strands.png"
            fig.savefig(path, pil_kwargs=PNG_OPTIONS)
            plt.close(fig)
            written.append(path)
    return written
