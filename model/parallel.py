"""The fits of a training run, mapped in parallel: joblib processes, or a Dask cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.early_interrupt import workers_deaf_to_ctrl_c
from model.input_error import InputError


def parallel_map(
    fn: Callable[..., Any],
    shared: tuple[Any, ...],
    tasks: list[tuple[Any, ...]],
    *,
    jobs: int = 1,
    dask_scheduler: str | None = None,
    progress: bool = False,
    desc: str = "",
) -> list[Any]:
    """[fn(*shared, *task) for task in tasks], in task order, computed by `jobs` joblib
    workers, or on the Dask cluster at `dask_scheduler` (the `shared` arrays are scattered to
    the workers once); a tqdm bar on stderr counts finished tasks when `progress`. The order
    of results never depends on which worker finished first, so parallel equals sequential."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    with tqdm(total=len(tasks), desc=desc, disable=not progress, unit="fit", leave=False) as bar:
        if dask_scheduler is not None:
            return _dask_map(fn, shared, tasks, dask_scheduler, bar)
        from joblib import Parallel, delayed  # type: ignore[import-untyped]

        n = max(1, min(jobs, len(tasks)))
        out = []
        with workers_deaf_to_ctrl_c():  # the call starts the workers, the loop waits on them
            gen = Parallel(n_jobs=n, return_as="generator")(delayed(fn)(*shared, *t) for t in tasks)
        for r in gen:
            out.append(r)
            bar.update(1)
        return out


def check_scheduler(address: str) -> None:
    """Fail at once, in one line, when nothing listens at a tcp scheduler address (the Dask
    client would retry for its whole connect timeout)."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(address if "://" in address else f"tcp://{address}")
    if url.scheme != "tcp":
        return  # tls://, inproc://...: left to the client
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise InputError(f"--dask-scheduler {address!r}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=3.0).close()
    except OSError as e:
        raise InputError(f"--dask-scheduler {address}: cannot connect ({e})") from None


def _dask_map(
    fn: Callable[..., Any],
    shared: tuple[Any, ...],
    tasks: list[tuple[Any, ...]],
    address: str,
    bar: Any,
) -> list[Any]:
    from distributed import Client, as_completed  # type: ignore[import-untyped]

    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise InputError(f"--dask-scheduler {address}: cannot connect ({e})") from None
    with client:
        from backtest.robustness import dask_workers_problem

        if problem := dask_workers_problem(client, "model"):
            raise InputError(f"--dask-scheduler {address}: {problem}")
        remote = client.scatter(list(shared), broadcast=True)
        futures = [client.submit(fn, *remote, *t, pure=False) for t in tasks]
        for _ in as_completed(futures, loop=client.loop):
            bar.update(1)
        return list(client.gather(futures))
