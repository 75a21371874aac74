"""Split one large in-memory job over worker processes (the fit and its CSV, issue 13).

`il6assay fit` on a screen of 10,000 curves spends its time in numpy calls on arrays of all
curves at once, and in Python's float-to-text for ``fits.csv``; neither releases the GIL long
enough for threads to help (two threads fitting half the curves each took as long as one
thread fitting all). Processes do help. `map_parts` sends each part's inputs to a worker
process and returns the results in part order, so the output is the same whatever the
number of processes.

A command that knows early that its job is large starts the workers at once with
`warm_workers`, before it reads its input: the workers are then forked from a small
process (a child forked later shares the parent's whole heap, and every page either of them
writes afterwards is copied: 20,000 page faults per process on a 10,000-curve fit), and they
import what a part needs (``warm``: scipy's special functions, 0.2 s) while this process
still splits the table. Without it, `map_parts` forks its workers for the one call.

Fork is used only where it is safe and cheap: on Linux (macOS's system libraries are not
fork-safe, Windows has no fork). Elsewhere, or with ``workers=1``, everything runs here.
The napari widgets never ask for more than one process (a Qt process must not fork).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

#: the workers started by `warm_workers` (None outside its block)
_warm_pool: Any = None


def default_workers() -> int:
    """Return the cores this process may use (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Return whether worker processes may be forked here (Linux with the ``fork`` method)."""
    import multiprocessing as mp

    return sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()


def parts_for(n_items: int, workers: int, min_per_part: int) -> int:
    """Return how many parts ``n_items`` are split into: at most ``workers``, none tiny.

    Each part has at least ``min_per_part`` items, below which starting a process and
    sending its result back cost more than they save.

    Examples
    --------
    >>> parts_for(10_000, 2, 2_000), parts_for(3_000, 2, 2_000), parts_for(10_000, 8, 2_000)
    (2, 1, 5)
    """
    return max(1, min(workers, n_items // max(1, min_per_part)))


def worker_start(warm: Callable[[], object] | None) -> None:
    """Start a pool's worker process: Ctrl-C is the parent's to handle, then ``warm``.

    The initializer of every worker pool of the package (the fit's and the batch's).
    """
    import signal

    # a terminal's Ctrl-C reaches the whole process group: the parent stops the command
    # and says so; a worker would print its own traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if warm is not None:
        warm()


def _start_pool(workers: int, warm: Callable[[], object] | None) -> Any:
    """Fork ``workers`` processes now (each runs ``warm`` first) and return their executor."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"),
                               initializer=worker_start, initargs=(warm,))  # fmt: skip
    with warnings.catch_warnings():
        # Python >= 3.12 warns on any fork of a process with threads; the only other
        # threads of the command line here are the BLAS library's idle pool, which
        # OpenBLAS and MKL rebuild in the child (pthread_atfork)
        warnings.filterwarnings("ignore", "This process .*multi-threaded", DeprecationWarning)
        pool.submit(int)  # the executor forks all its workers at the first task
    return pool


@contextmanager
def warm_workers(workers: int, warm: Callable[[], object] | None = None) -> Iterator[None]:
    """Start ``workers`` processes now for the `map_parts` calls inside the block.

    Parameters
    ----------
    workers : int
        Processes to start; with 1 (or no fork on this platform) none are started and
        `map_parts` runs everything here.
    warm : callable, optional
        Run first in each worker (imports a part will need), while this process goes on.
    """
    global _warm_pool
    if workers <= 1 or not can_fork() or _warm_pool is not None:
        yield
        return
    with _frozen_heap():
        pool = _warm_pool = _start_pool(workers, warm)
        try:
            yield
        except BaseException:  # an error or Ctrl-C: no waiting for the parts still running
            stop_pool(pool)
            raise
        finally:
            _warm_pool = None
        pool.shutdown(wait=True)


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects that exist now out of the garbage collector's sight inside the block.

    Before a fork (Python's ``gc.freeze`` docs): neither this process's collections nor a
    child's go through them again, and a child does not copy the memory pages they sit on
    by touching them. 3 % of the CPU time of a 10,000-curve `il6assay fit` (issue 13). They
    are handed back at the end, so a long session (a notebook) collects them as before;
    a process that froze objects itself keeps its own arrangement.
    """
    import gc

    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def stop_pool(pool: Any) -> None:
    """Stop the workers of a `ProcessPoolExecutor` now, with the work they are running."""
    if hasattr(pool, "terminate_workers"):  # Python >= 3.14
        pool.terminate_workers()
        return
    # before 3.14 the executor has no public way to stop a running part
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def map_parts(fn: Callable[..., T], args: Sequence[tuple[Any, ...]], workers: int) -> list[T]:
    """Return ``[fn(*a) for a in args]``, computed by up to ``workers`` processes.

    The parts run in the workers of `warm_workers` when its block is active, else in
    processes forked for this call. ``fn`` and its arguments are pickled (``fn`` a
    module-level function), and so are the results. A part that fails in a worker (an
    exception, a worker killed by the system) is computed again here, so an error is raised
    with its traceback in this process, and a lost worker costs time, not the result.

    Parameters
    ----------
    fn : callable
        ``fn(*args[i])`` computes part ``i``; deterministic (the same result in any process).
    args : sequence of tuple
        Each part's arguments.
    workers : int
        Most processes; 1 (or no fork on this platform) runs every part here.

    Returns
    -------
    list
        The parts' results in order.
    """
    n_proc = min(workers, len(args)) if can_fork() else 1
    if n_proc <= 1:
        return [fn(*a) for a in args]
    if _warm_pool is None:  # no workers started: some for this call only
        with warm_workers(n_proc):
            return _in_workers(_warm_pool, fn, args)
    return _in_workers(_warm_pool, fn, args)


def _in_workers(pool: Any, fn: Callable[..., T], args: Sequence[tuple[Any, ...]]) -> list[T]:
    """`map_parts` by the workers of ``pool``; a part that fails there is computed here."""
    futures = [pool.submit(fn, *a) for a in args]
    results = []
    for future, a in zip(futures, args, strict=True):
        try:
            results.append(future.result())
        except Exception:  # noqa: BLE001 - computed again here: a real error is raised here
            results.append(fn(*a))
    return results
