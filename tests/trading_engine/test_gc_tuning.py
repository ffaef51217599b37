"""`freeze_startup_heap`: the start-up heap leaves the collector's scans; thresholds as asked.
`collect_between_items`: collections run by the event loop, CPython's thresholds kept."""

import asyncio
import contextlib
import gc
from collections.abc import Iterator

import pytest

from trading_engine.gc_tuning import collect_between_items, collect_due, freeze_startup_heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.enable()


def test_freeze_moves_the_live_heap_to_the_permanent_generation(restore_gc: None) -> None:
    survivor = [object() for _ in range(1000)]  # a container that lives on

    frozen = freeze_startup_heap()

    # frozen objects can still be freed by reference counting (another thread's, say), so
    # the count read later may be lower than the one returned, never higher
    assert frozen >= gc.get_freeze_count() >= 1000
    assert not any(survivor is o for o in gc.get_objects())  # no longer scanned


def test_gen0_threshold_is_set_and_the_others_kept(restore_gc: None) -> None:
    _, gen1, gen2 = gc.get_threshold()

    freeze_startup_heap(gen0_threshold=50_000)

    assert gc.get_threshold() == (50_000, gen1, gen2)
    with pytest.raises(ValueError):
        freeze_startup_heap(gen0_threshold=0)


def test_collect_due_runs_the_generation_cpythons_thresholds_call_for(restore_gc: None) -> None:
    gc.disable()  # as collect_between_items runs it
    gc.collect()
    gc.set_threshold(100, 1, 1)
    assert collect_due() is None  # nothing allocated yet
    passes = []
    kept = []
    for _ in range(9):
        kept.append([[] for _ in range(150)])  # 150 net container allocations: over threshold0
        passes.append(collect_due())
    # a generation-1 pass once more than 1 generation-0 pass ran, a generation-2 pass once
    # more than 1 generation-1 pass ran
    assert passes == [0, 0, 1, 0, 0, 1, 0, 0, 2]


def test_collect_between_items_turns_automatic_collection_off_while_it_runs(
    restore_gc: None,
) -> None:
    gc.set_threshold(100, 10, 10)
    seen: list[tuple[bool, int]] = []

    async def scenario() -> None:
        task = asyncio.create_task(collect_between_items(interval_s=0.001))
        await asyncio.sleep(0)
        keep = [[] for _ in range(500)]  # over threshold0: no automatic pass meanwhile
        seen.append((gc.isenabled(), gc.get_count()[0]))
        await asyncio.sleep(0.02)  # the task ran its pass between "items"
        seen.append((gc.isenabled(), gc.get_count()[0]))
        del keep
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())

    (enabled_during, young_before), (_, young_after) = seen
    assert not enabled_during and young_before > 400  # no automatic pass at 100
    assert young_after < 100
    assert gc.isenabled()  # on again once the task ended
