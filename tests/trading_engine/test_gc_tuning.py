"""`freeze_startup_heap`: the start-up heap leaves the collector's scans; thresholds as asked."""

import gc
from collections.abc import Iterator

import pytest

from trading_engine.gc_tuning import freeze_startup_heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_freeze_moves_the_live_heap_to_the_permanent_generation(restore_gc: None) -> None:
    survivor = [object() for _ in range(1000)]  # a container that lives on

    frozen = freeze_startup_heap()

    assert frozen == gc.get_freeze_count() >= 1000
    assert not any(survivor is o for o in gc.get_objects())  # no longer scanned


def test_gen0_threshold_is_set_and_the_others_kept(restore_gc: None) -> None:
    _, gen1, gen2 = gc.get_threshold()

    freeze_startup_heap(gen0_threshold=50_000)

    assert gc.get_threshold() == (50_000, gen1, gen2)
    with pytest.raises(ValueError):
        freeze_startup_heap(gen0_threshold=0)
