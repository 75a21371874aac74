"""Run a batch's images on worker processes of this machine (`run_batch` without a scheduler).

Until issue 13 a local run started a dask `LocalCluster`. On 96 colony wells that cost
about 2 s before the first result (a scheduler, nannies, and workers that each import
distributed), CPU in this process all along (heartbeats, polling), and kernel time in the
workers (the nanny's ``MALLOC_TRIM_THRESHOLD_`` made every large array a fresh ``mmap``):
the image phase was 1.82-1.84x faster with 2 workers than with 1, where the same items on a
plain process pool were 1.97x faster, and a run took 21-23 % longer. A local run now uses a
`concurrent.futures.ProcessPoolExecutor`; dask remains for a running scheduler
(``--scheduler``), whose workers may be on other machines.

- Start method ``forkserver`` (``spawn`` where there is none): the command may run in a
  process with threads (the napari dock runs it from a worker thread, and a Qt process
  must not fork). The server imports the worker's modules once; workers fork from it.
- Each worker's math libraries run one thread. Two workers on two cores with a BLAS pool of
  two threads each took 24.4 s for 96 images instead of 19.5 s.
- At most two items per worker are in flight; the rest wait here. A worker killed by the
  system (out of memory) then costs only the items it may have been running: those run
  again, one at a time, in a new pool. An item that kills its worker when it runs alone is
  the one to blame, and it alone is reported, as `WorkerLost`.

Like dask's workers, these re-import the ``__main__`` script of the process that starts
them, so a script that calls `run_batch` needs an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

#: items in flight per worker: one running, one queued so the worker never waits for us
IN_FLIGHT_PER_WORKER = 2

#: thread-count variables of the math libraries (OpenMP, OpenBLAS, MKL), set to 1 in workers
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: modules every worker needs (`modules_for` adds the mode's own)
WORKER_MODULES = ("numpy", "napari_il6assay.batch.worker", "napari_il6assay.segment")

Item = dict[str, Any]


def modules_for(mode: str) -> tuple[str, ...]:
    """Return the modules a worker of ``mode`` imports before its first image."""
    from napari_il6assay.segment import MODES

    spec = MODES.get(mode)
    return WORKER_MODULES if spec is None else (*WORKER_MODULES, spec.module)


LOST_MESSAGE = (
    "the worker process stopped while it read or segmented this image "
    "(killed by the system; out of memory?)"
)


NOT_STARTED_MESSAGE = (
    "the worker processes stopped before they could start (see the messages above). The "
    "usual cause: each worker imports the script that started it again, so a script that "
    "calls run_batch must do so under 'if __name__ == \"__main__\":'"
)


class WorkerLost(RuntimeError):
    """The worker process stopped (killed by the system) while it ran this item alone."""


class WorkersDidNotStart(RuntimeError):
    """No worker process of the pool got as far as its first task (nothing to blame)."""


def start_method() -> str:
    """Return ``forkserver`` where this platform has it, else ``spawn``."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def _prepare_worker(modules: tuple[str, ...]) -> None:
    """Make a worker ready: one thread per math library, ``modules`` imported now."""
    import importlib

    for name in _THREAD_VARIABLES:  # for libraries loaded later (read when they load)
        os.environ[name] = "1"
    for name in modules:
        importlib.import_module(name)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # the libraries loaded by now


def start_server(modules: tuple[str, ...] = WORKER_MODULES) -> Any:
    """Start the fork server now (once per process), importing ``modules``; return the context.

    A run calls it before it reads its layout and plans the folder, so the server's imports
    (0.5 s) go on beside that. Where there is no fork server, this does nothing.
    """
    method = start_method()
    ctx = mp.get_context(method)
    if method == "forkserver":
        from multiprocessing import forkserver

        # the preload counts only when this process's server starts (its first run); a
        # later run's workers import what is missing in their initializer
        ctx.set_forkserver_preload(list(modules))
        forkserver.ensure_running()
    return ctx


def _start_pool(workers: int, modules: tuple[str, ...]) -> tuple[Any, Any]:
    """Return an executor of ``workers`` processes that import ``modules`` first.

    Also return a future that is done once one of them has started, before any item runs.
    """
    import functools
    from concurrent.futures import ProcessPoolExecutor

    from napari_il6assay.parallel import worker_start

    pool = ProcessPoolExecutor(workers, mp_context=start_server(modules),
                               initializer=worker_start,
                               initargs=(functools.partial(_prepare_worker, modules),))  # fmt: skip
    return pool, pool.submit(os.getpid)


def results(
    items: list[Item],
    call: Callable[[Item], Any],
    workers: int,
    modules: tuple[str, ...] = WORKER_MODULES,
) -> Generator[tuple[Item, Any], None, None]:
    """Yield ``(item, call(item))`` for every item, in the order they finish.

    Parameters
    ----------
    items : list of dict
        Work items (pickled to the workers).
    call : callable
        Picklable (a module-level function or a `functools.partial` of one).
    workers : int
        Worker processes (at least 1).
    modules : tuple of str
        Modules each worker imports before its first item.

    Yields
    ------
    item : dict
    outcome : object or Exception
        ``call(item)``, or the exception it raised (the call failed or could not be sent or
        received), or `WorkerLost`.

    Raises
    ------
    WorkersDidNotStart
        The workers stopped before any of them took a task (the usual cause: a script
        without the ``__main__`` guard).

    Notes
    -----
    Closing the generator early (a cancelled run, Ctrl-C) stops the workers at once.
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from napari_il6assay.parallel import stop_pool

    waiting: deque[Item] = deque(items)
    suspects: deque[Item] = deque()  # in flight when a worker died: rerun one at a time
    workers = max(1, int(workers))
    pool, started = _start_pool(workers, modules)
    running: dict[Any, Item] = {}
    try:
        while waiting or suspects or running:
            source, limit = (suspects, 1) if suspects else (waiting, workers * IN_FLIGHT_PER_WORKER)
            while source and len(running) < limit:
                it = source.popleft()
                running[pool.submit(call, it)] = it
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            lost = []
            for fut in done:
                it = running.pop(fut)
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    lost.append(it)
                    continue
                except Exception as exc:  # noqa: BLE001 - reported for this item only
                    outcome = exc
                yield it, outcome
            if not lost:
                continue
            # every future of a broken pool fails: the items still running go with it
            lost.extend(running.values())
            running.clear()
            pool.shutdown(wait=False, cancel_futures=True)
            if started.exception() is not None:  # no worker ever started: no image to blame
                raise WorkersDidNotStart(NOT_STARTED_MESSAGE)
            if len(lost) == 1:  # it ran alone: it is the one that killed its worker
                yield lost[0], WorkerLost(LOST_MESSAGE)
            else:
                suspects.extend(lost)
            pool, started = _start_pool(workers, modules)
    except BaseException:  # Ctrl-C, or the caller stopped early: no waiting for the images
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)
