"""Garbage-collector settings for the tick path (issue 7: tick-to-order latency).

The daemon's start-up leaves a large heap that lives for the whole session (instruments, the
python-binance client, warm-up bars, the restored journal, imported modules). Every
generation-2 collection walks all of it, and such a pass lands on whatever tick happens to
allocate at that moment, often an ordering one. `freeze_startup_heap()` collects once and moves
the survivors into the permanent generation (`gc.freeze()`), so later passes only walk what
the session itself allocated. Reference counting still frees everything as before; frozen
objects are simply never scanned for cycles again (a cycle among them would be kept, which
is harmless for objects that live until exit anyway).
"""

import asyncio
import gc
from collections.abc import Awaitable, Callable


def freeze_startup_heap(*, gen0_threshold: int | None = None) -> int:
    """Call once after start-up, before the first market item; returns the objects frozen.

    `gen0_threshold`: if given, collections of the youngest generation run after that many
    net allocations instead of CPython's 700 (fewer, slightly larger passes on the tick path);
    the older generations' thresholds are kept.
    """
    gc.collect()
    gc.freeze()
    if gen0_threshold is not None:
        if gen0_threshold <= 0:
            raise ValueError(f"gen0_threshold must be positive, got {gen0_threshold}")
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
    return gc.get_freeze_count()


COLLECT_INTERVAL_S = 0.005  # how often the loop looks whether a collection is due


def collect_due() -> int | None:
    """Run the collection CPython's own thresholds call for now, if any; the generation run.

    As CPython's `collect_generations`: generation 0 once more than `threshold0` net
    allocations of container objects were made, generation 1 once more than `threshold1`
    generation-0 passes ran, generation 2 once more than `threshold2` generation-1 passes ran
    (its extra "25 % of the long-lived heap" rule for generation 2 is left out: the start-up
    heap is frozen, so the long-lived heap is what the session made)."""
    t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    if c0 <= t0:
        return None
    generation = 0
    if c1 > t1:
        generation = 2 if c2 > t2 else 1
    gc.collect(generation)
    return generation


async def collect_between_items(
    interval_s: float = COLLECT_INTERVAL_S,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """The cyclic garbage collector, run by the event loop between market-data items instead of
    by an allocation inside one (an ordering tick allocates a few hundred objects: about one
    in five landed on a pass, +10 us at p50 and +100 us at p99 tick-to-order; see
    bench/bench_tick_to_order.py). Automatic collection is off while this task runs (on again
    when it ends); every `interval_s` it runs what CPython's thresholds call for
    (`collect_due`). Reference counting frees everything else at once, as always."""
    gc.disable()
    try:
        while True:
            await sleep(interval_s)
            collect_due()
    finally:
        gc.enable()
