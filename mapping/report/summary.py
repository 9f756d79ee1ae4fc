"""``summary.md``: the headline figures in words, for an analyst's e-mail or briefing note."""

from __future__ import annotations

from pathlib import Path

from mapping.gaps import ANY, CoverageRow
from mapping.report.context import ReportContext, some_names

__all__ = ["fmt_pct", "summary_lines", "write_summary"]


def fmt_pct(value: float | None) -> str:
    """One decimal, but never "100.0%" for a share short of all, nor "0.0%" for a share above none."""
    if value is None:
        return "n/a"
    if 99.95 <= value < 100:
        return ">99.9%"
    if 0 < value < 0.05:
        return "<0.1%"
    return f"{value:.1f}%"


def _strand_label(strand: str) -> str:
    return "any strand" if strand == ANY else strand.replace("_", " ")


def _headline_lines(context: ReportContext) -> list[str]:
    """People covered, by confirmed services alone, by strand, and the areas with no coverage at all."""
    result = context.result
    unit = context.unit
    population, covered = result.totals(ANY)
    pct = 100.0 * covered / population if population else None
    where = "at least one counted service" if context.include_national else "at least one local service"
    lines = [
        "",
        "## Headline",
        "",
        f"- {covered:,.0f} of {population:,.0f} {unit} ({fmt_pct(pct)}) are where {where} covers them.",
    ]
    if result.has_unconfirmed:
        _, confirmed = result.totals_confirmed(ANY)
        lines.append(
            f"- Confirmed services alone cover {confirmed:,.0f} {unit} "
            f"({fmt_pct(100.0 * confirmed / population if population else None)}); the other "
            f"{covered - confirmed:,.0f} are covered only by unconfirmed entries (from public pages, not yet "
            "checked with the organisation)."
        )
    national = context.national_line()
    if national:
        lines.append(f"- {national[0].upper()}{national[1:]}.")
    for strand in result.strands:
        if strand == ANY:
            continue
        pop, cov = result.totals(strand)
        share = 100.0 * cov / pop if pop else None
        lines.append(f"- {_strand_label(strand)}: {fmt_pct(share)} of {unit} covered ({pop - cov:,.0f} not covered).")
    for level in result.levels:
        label = "force areas" if level == "pfa" else "local authorities"
        rows = result.rows_for(level, ANY)
        none = _by_people_uncovered([r for r in rows if r.no_coverage])
        listed = f", most people first: {some_names(none)}." if none else "."
        lines.append(f"- {len(none)} of {len(rows)} {label} have no coverage at all{listed}")
        for strand in result.strands:
            if strand != ANY and result.uncovered_areas(level, strand):
                names = _by_people_uncovered([r for r in result.rows_for(level, strand) if r.no_coverage])
                lines.append(f"  - no {_strand_label(strand)} coverage in {len(names)} {label}: {some_names(names)}.")
    return lines


def summary_lines(context: ReportContext) -> list[str]:
    """The summary as Markdown lines (the CLI prints the same text)."""
    result = context.result
    unit = context.unit
    lines = [
        "# Third-party reporting coverage: summary",
        "",
        f"Generated {context.generated_on.isoformat()}. Services counted: {context.kinds_label}, "
        f"{context.scope_label} ({len(result.services)} services).",
        "",
    ]
    thin = context.directory_is_thin()
    if thin:
        lines += ["## Read this first: the directory is thin", ""]
        lines += [f"- {line}" for line in context.directory_lines()]
        lines += ["", *_provision_table(context), ""]
    lines += [f"- {line}" for line in context.basis_lines()]
    lines += _headline_lines(context)
    if "pfa" in result.levels:
        # Lowest share first; among equal shares (many 0% ties) the most people not covered first.
        ranked = sorted(
            (r for r in result.rows_for("pfa", ANY) if r.population > 0),
            key=lambda r: (round(r.pct_population or 0.0, 6), -(r.population - r.population_covered), r.name),
        )
        lines += ["", "## Lowest coverage (force areas, any strand)", ""]
        lines += [
            f"{i + 1}. {r.name}: {fmt_pct(r.pct_population)} of {unit} covered, "
            f"{r.population - r.population_covered:,.0f} not covered, {r.services} services."
            for i, r in enumerate(ranked[:5])
        ]
    gaps = sorted((g for g in result.gaps if g.strand == ANY and g.level == "lad"), key=lambda g: -g.population)
    if gaps:
        lines += ["", "## Largest uncovered places (parts of local authorities, any strand)", ""]
        lines += [
            f"- {g.name}"
            + (f" (part {g.part} of {g.parts})" if g.parts > 1 else "")
            + f": {g.population:,.0f} {unit} in {g.area_km2:,.0f} km2 not covered."
            for g in gaps[:5]
        ]
    if context.priorities:
        lines += ["", "## Priority: high recorded hate crime, low coverage", "", context.crime_note, ""]
        for p in context.priorities[:10]:
            rate = "n/a" if p.rate_per_100k is None else f"{p.rate_per_100k:.1f} per 100,000"
            lines.append(f"{p.rank}. {p.name}: {p.recorded:,} recorded ({rate}), {fmt_pct(p.pct_covered)} covered.")
    siting = context.siting
    if siting is not None:
        lines += [
            "",
            f"## Siting: {len(siting.sites)} new centres of {siting.radius_m / 1000:g} km radius",
            "",
            f"Coverage ({_strand_label(siting.strand)}) would go from "
            f"{fmt_pct(_share(siting.covered_before, siting.population))} "
            f"to {fmt_pct(_share(siting.covered_after, siting.population))} "
            f"(+{siting.covered_after - siting.covered_before:,.0f} {unit}). Greedy maximal covering over "
            f"{siting.candidates:,} candidate sites; no choice of sites among them reaches more than "
            f"{fmt_pct(_share(siting.upper_bound, siting.population))} (optimality gap at most "
            f"{100 * siting.optimality_gap:.1f}% of the gain).",
            "",
        ]
        lines += [
            f"{s.rank}. near {s.lat:.4f}, {s.lon:.4f} ({s.lad_name}, {s.pfa_name}): +{s.newly_covered:,.0f} {unit}."
            for s in siting.sites
        ]
    for extra in context.extras:
        if extra.note:
            lines += ["", f"## {extra.title}", "", extra.note]
    lines += ["", "---", "", context.attribution()]
    return lines


def _by_people_uncovered(rows: list[CoverageRow]) -> list[str]:
    return [r.name for r in sorted(rows, key=lambda r: (-(r.population - r.population_covered), r.name))]


def _provision_table(context: ReportContext) -> list[str]:
    """Per force area: local services, confirmed and unconfirmed, and when one of them was last checked."""
    if "pfa" not in context.result.levels:
        return []
    lines = [
        "| Force area | Local services | Confirmed | Unconfirmed | Last checked |",
        "|---|---:|---:|---:|---|",
    ]
    for f in sorted(context.provision_by_force(), key=lambda f: (f.services, f.name)):
        checked = f.last_checked.isoformat() if f.last_checked else "-"
        lines.append(f"| {f.name} | {f.services} | {f.confirmed} | {f.unconfirmed} | {checked} |")
    return lines


def _share(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def write_summary(context: ReportContext, path: Path) -> Path:
    path.write_text("\n".join(summary_lines(context)) + "\n", encoding="utf-8")
    return path
