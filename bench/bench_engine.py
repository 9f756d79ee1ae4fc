"""Benchmark: updates per second through the conversation engine (and the renderer), in one run.

Scripted conversations (menu taps, strands, reporting routes, a typed postcode or a shared location, "more",
the guided note) run through :class:`bot.engine.Engine` with the real :class:`bot.signposter.DirectorySignposter`
over the shipped national directory plus ``--services`` synthetic local services, and the offline locator.

Baseline, measured in the same run: the same scripts with a signposter that rebuilds its signposting index for
every query (what the engine would cost if the directory snapshot were not cached). Prints updates/s for both,
the ratio, p50/p99 per update by kind of event, and the rendering cost. Run::

    python bench/bench_engine.py [--services 2000] [--conversations 300] [--baseline-conversations 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.engine import Choice, Command, Conversation, Engine, Event, SharedLocation, Text
from bot.render import render
from bot.signposter import DirectorySignposter
from mapping.locate import Locator
from mapping.signposting import SignpostIndex
from mapping.types import Location, Match, ServiceKind, ServiceRecord, Strand
from services_db.seed import load_national_directory
from tests.services_db.factories import mixed_directory

POSTCODES = ("LS6 1AA", "M1 1AE", "CF10 1EP", "B1 1AA", "BS1 4DJ", "NR2 1NH", "PL1 2AA", "SW1A 1AA", "EX1 1AA")
POINTS = ((53.8008, -1.5491), (53.4794, -2.2453), (51.4816, -3.1791), (52.4797, -1.9027), (50.3755, -4.1427))


class RebuildingSignposter(DirectorySignposter):
    """The baseline: rebuilds the signposting index on every query instead of once per directory snapshot."""

    def find(
        self,
        location: Location,
        *,
        strands: Collection[Strand],
        kinds: Collection[ServiceKind] = (),
        limit: int | None = None,
    ) -> list[Match]:
        index = SignpostIndex.build(self.snapshot().services)
        return index.find(location, strands=strands, kinds=kinds, limit=limit)


def script(rng: random.Random) -> list[Event]:
    """One plausible conversation."""
    events: list[Event] = [Command("start", rng.choice(["", "cy", "strand-race", "easy"])), Choice("happened")]
    events.append(Choice("happened:yes"))
    for strand in rng.sample([s.value for s in Strand], rng.randint(1, 2)):
        events.append(Choice(f"strand:{strand}"))
    events += [Choice("strand:done"), Choice("report"), Choice(rng.choice(["report:police", "report:specialist"]))]
    events.append(Choice("find"))
    if rng.random() < 0.5:
        events.append(Text(rng.choice(POSTCODES)))
    else:
        lat, lon = rng.choice(POINTS)
        events.append(SharedLocation(lat + rng.uniform(-0.02, 0.02), lon + rng.uniform(-0.02, 0.02), 20.0))
    events.append(Choice("more"))  # replaced by the offered "more:..." action when there is one
    if rng.random() < 0.3:
        events += [Choice("note"), Text("last night"), Text("the bus"), Text("shouting"), Text("none"), Text("video")]
    events += [Choice("after"), Text("he is outside"), Command("forget")]
    return events


def run(engine: Engine, scripts: Sequence[list[Event]], *, label: str) -> tuple[float, dict[str, list[float]]]:
    """Run every script; returns total seconds and per-event-kind latencies."""
    latencies: dict[str, list[float]] = defaultdict(list)
    total = 0.0
    for events in track(scripts, description=label, transient=True):
        conv = Conversation.new()
        offered: list[str] = []
        for event in events:
            if isinstance(event, Choice) and event.action == "more":
                more = [a for a in offered if a.startswith("more:")]
                if not more:
                    continue
                event = Choice(more[0])
            started = time.perf_counter()
            turn = engine.handle(conv, event)
            elapsed = time.perf_counter() - started
            total += elapsed
            latencies[type(event).__name__].append(elapsed)
            conv = turn.conversation
            offered = [b.action for m in turn.messages for row in m.buttons for b in row if b.action]
    return total, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=2000, help="synthetic local services added to the directory")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--baseline-conversations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    console = Console()

    directory: list[ServiceRecord] = [*load_national_directory().services, *mixed_directory(args.services)]
    clock = lambda: datetime(2026, 11, 26, 14, 30, tzinfo=UTC)  # noqa: E731
    locator = Locator.offline_default()
    started = time.perf_counter()
    signposter = DirectorySignposter.from_services(directory, locator=locator)
    build_s = time.perf_counter() - started
    baseline_signposter = RebuildingSignposter.from_services(directory, locator=locator)
    engine = Engine(signposter, clock=clock)
    baseline = Engine(baseline_signposter, clock=clock)

    rng = random.Random(args.seed)
    scripts = [script(rng) for _ in range(args.conversations)]
    run(engine, scripts[:5], label="warm-up")  # postcode files and gazetteer load lazily

    fast_s, fast_lat = run(engine, scripts, label="engine (cached index)")
    base_scripts = scripts[: args.baseline_conversations]
    base_s, base_lat = run(baseline, base_scripts, label="baseline (index rebuilt per query)")
    fast_n = sum(len(v) for v in fast_lat.values())
    base_n = sum(len(v) for v in base_lat.values())
    fast_rate, base_rate = fast_n / fast_s, base_n / base_s

    messages = []
    conv = Conversation.new()
    for event in scripts[0]:
        if isinstance(event, Choice) and event.action == "more":
            continue
        turn = engine.handle(conv, event)
        conv = turn.conversation
        messages.extend((m, conv.language) for m in turn.messages)
    started = time.perf_counter()
    repeats = 50
    for _ in range(repeats):
        for message, language in messages:
            render(message, language, markup="html")
    render_us = (time.perf_counter() - started) / (repeats * len(messages)) * 1e6

    table = Table(title=f"Conversation engine: {len(directory)} services, {args.conversations} conversations")
    table.add_column("event")
    table.add_column("count", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for kind, values in sorted(fast_lat.items()):
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        table.add_row(kind, str(len(values)), f"{statistics.median(values) * 1e3:.3f}", f"{p99 * 1e3:.3f}")
    console.print(table)
    console.print(f"signposter build (index over {len(directory)} services): {build_s * 1e3:.0f} ms")
    console.print(f"engine: {fast_n} updates in {fast_s:.2f} s = [bold]{fast_rate:,.0f} updates/s[/bold]")
    console.print(
        f"baseline (index rebuilt per query): {base_n} updates in {base_s:.2f} s = {base_rate:,.0f} updates/s"
    )
    console.print(f"ratio engine/baseline: [bold]{fast_rate / base_rate:.1f}x[/bold]")
    console.print(f"render (html) per message: {render_us:.1f} µs")


if __name__ == "__main__":
    main()
