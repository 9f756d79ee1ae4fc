"""Coverage over time: the points of a snapshot series and a chart of them for a slide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["SnapshotPoint", "draw_history", "runs_by_method"]


@dataclass(frozen=True, slots=True)
class SnapshotPoint:
    """One day's coverage for an area (or England and Wales) and a strand."""

    taken_on: date
    population: float
    population_covered: float
    method: str

    @property
    def pct(self) -> float | None:
        return 100.0 * self.population_covered / self.population if self.population > 0 else None


COLOURS = ("#1d70b8", "#d4351c", "#00703c", "#6f72af", "#b58840")


def runs_by_method(series: Sequence[SnapshotPoint]) -> list[list[SnapshotPoint]]:
    """The series cut wherever the method changes (postcode proxy -> Census, grid -> boundaries): points
    measured differently are not joined by one line."""
    runs: list[list[SnapshotPoint]] = []
    for point in series:
        if runs and runs[-1][-1].method == point.method:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def draw_history(series: Sequence[SnapshotPoint], *, title: str, path: Path) -> Path:
    """A line chart of % population covered over time: one line per run of the same method, each labelled."""
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    methods = list(dict.fromkeys(p.method for p in series))
    labelled: set[str] = set()
    for run in runs_by_method(series):
        method = run[0].method
        ax.plot(
            [p.taken_on for p in run],  # type: ignore[arg-type]  # dates: matplotlib converts them
            [p.pct if p.pct is not None else float("nan") for p in run],
            marker="o",
            color=COLOURS[methods.index(method) % len(COLOURS)],
            label=None if method in labelled else _short(method),
        )
        labelled.add(method)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of population covered")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(methods) > 1:
        ax.legend(fontsize=7, loc="upper left", title="Measured with (lines are not joined across methods)",
                  title_fontsize=7)  # fmt: skip
    fig.autofmt_xdate()
    fig.text(0.01, 0.01, "Method: " + " | ".join(methods), fontsize=7, color="#505a5f", wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def _short(method: str, width: int = 70) -> str:
    return method if len(method) <= width else method[: width - 1] + "…"
