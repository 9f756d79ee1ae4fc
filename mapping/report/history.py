"""Coverage over time: the points of a snapshot series and a chart of them for a slide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["SnapshotPoint", "draw_history"]


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


def draw_history(series: Sequence[SnapshotPoint], *, title: str, path: Path) -> Path:
    """A line chart of % population covered over time, with the method named under it."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    days = [p.taken_on for p in series]
    pct = [p.pct if p.pct is not None else float("nan") for p in series]
    ax.plot(days, pct, marker="o", color="#1d70b8")
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of population covered")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    methods = sorted({p.method for p in series})
    fig.text(0.01, 0.01, "Method: " + " | ".join(methods), fontsize=7, color="#505a5f")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path
