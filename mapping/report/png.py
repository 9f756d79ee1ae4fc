"""Static maps for a slide: % population covered by force area (and small multiples per strand), matplotlib Agg."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on an analyst's server or in CI

import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import Normalize
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from shapely.geometry.base import BaseGeometry

from mapping.gaps import ANY
from mapping.report.context import ReportContext

__all__ = ["write_pngs"]

CMAP = "YlGnBu"
NO_DATA = "#d9d9d9"


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


def _draw(ax: Axes, context: ReportContext, level: str, strand: str, *, gaps: bool) -> None:
    rows = {r.code: r for r in context.result.rows_for(level, strand)}
    norm = Normalize(0, 100)
    cmap = plt.get_cmap(CMAP)
    patches, colours = [], []
    for unit in context.result.geography.level(level):
        path = _path(unit.geometry.simplify(250))
        if path is None:
            continue
        row = rows.get(unit.code)
        pct = row.pct_population if row is not None else None
        patches.append(PathPatch(path))
        colours.append(NO_DATA if pct is None else cmap(norm(pct)))
    ax.add_collection(PatchCollection(patches, facecolor=colours, edgecolor="#555555", linewidth=0.3))
    if gaps:
        gap_patches = []
        for gap in context.result.gaps:
            if gap.level == level and gap.strand == strand:
                path = _path(gap.bng().simplify(250))
                if path is not None:
                    gap_patches.append(PathPatch(path))
        ax.add_collection(
            PatchCollection(gap_patches, facecolor="none", edgecolor="#b2182b", hatch="////", linewidth=0.4)
        )
    bounds = shapely.total_bounds([u.geometry for u in context.result.geography.level(level)])
    ax.set_xlim(bounds[0] - 5000, bounds[2] + 5000)
    ax.set_ylim(bounds[1] - 5000, bounds[3] + 5000)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _footer(fig: plt.Figure, context: ReportContext) -> None:
    notes = []
    if context.is_proxy:
        notes.append("PROXY population: postcode counts, not residents.")
    if context.is_grid:
        notes.append("No boundary files: 5 km grid squares, not official boundaries.")
    text = " ".join(notes) + ("\n" if notes else "") + context.attribution()
    fig.text(0.01, 0.01, text, fontsize=6, wrap=True, va="bottom")


def write_pngs(context: ReportContext, out_dir: Path) -> list[Path]:
    """``coverage_{level}.png`` per level (any strand, gaps hatched) and ``coverage_{level}_strands.png``."""
    written: list[Path] = []
    unit = context.unit + (" (PROXY)" if context.is_proxy else "")
    for level in context.result.levels:
        label = "force area" if level == "pfa" else "local authority"
        fig, ax = plt.subplots(figsize=(8, 9), dpi=150)
        _draw(ax, context, level, ANY, gaps=True)
        ax.set_title(f"% of {unit} covered by {context.kinds_label}, by {label}\n(hatched: not covered)", fontsize=10)
        mappable = plt.cm.ScalarMappable(norm=Normalize(0, 100), cmap=CMAP)
        fig.colorbar(mappable, ax=ax, fraction=0.03, pad=0.01, label="% covered")
        _footer(fig, context)
        path = out_dir / f"coverage_{level}.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

        strands = [s for s in context.result.strands if s != ANY]
        if len(strands) > 1:
            cols = 3
            rows = int(np.ceil(len(strands) / cols))
            fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4.6 * rows), dpi=120)
            flat = np.atleast_1d(axes).ravel()
            for ax, strand in zip(flat, strands, strict=False):
                _draw(ax, context, level, strand, gaps=False)
                ax.set_title(strand.replace("_", " "), fontsize=10)
            for ax in flat[len(strands) :]:
                ax.set_axis_off()
            fig.suptitle(f"% of {unit} covered, by strand and {label}", fontsize=11)
            mappable = plt.cm.ScalarMappable(norm=Normalize(0, 100), cmap=CMAP)
            fig.colorbar(mappable, ax=list(flat), fraction=0.02, pad=0.01, label="% covered")
            _footer(fig, context)
            path = out_dir / f"coverage_{level}_strands.png"
            fig.savefig(path, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
    return written
