"""What the tests of parallel runs share: a Dask cluster on a loopback socket, and a record
of what each progress bar had counted when it closed."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def loopback_dask_cluster() -> Iterator[str]:
    """A one-worker Dask cluster in this process, reached over real TCP on 127.0.0.1; yields
    the scheduler address (the test is skipped when `distributed` is not installed)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")  # a real loopback socket
        yield address


def record_closed_bars(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, Any]]:
    """Replace tqdm's bar by one that appends (label, count, total) of every enabled bar when
    it closes (its last redraw depends on timing, its count does not)."""
    import tqdm

    closed: list[tuple[str, int, Any]] = []

    class Recording(tqdm.tqdm):  # type: ignore[misc]
        def close(self) -> None:
            if not self.disable:
                closed.append((self.desc, self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm, "tqdm", Recording)
    return closed
