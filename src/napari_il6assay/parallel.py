"""Split one large in-memory job over forked processes (the fit and its CSV, issue 13).

`il6assay fit` on a screen of 10,000 curves spends its time in numpy calls on arrays of all
curves at once, and in Python's float-to-text for ``fits.csv``; neither releases the GIL long
enough for threads to help (two threads fitting half the curves each took as long as one
thread fitting all). Processes do help, and a forked child inherits the curves already in
memory, so nothing but its result crosses the pipe. `map_forked` shares the parts between
this process and forked children and returns the results in part order, so the output is
the same whatever the number of processes.

Fork is used only where it is safe and cheap: on Linux (macOS's system libraries are not
fork-safe, Windows has no fork). Elsewhere, or with ``workers=1``, everything runs here.
The napari widgets never ask for more than one process (a Qt process must not fork).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def default_workers() -> int:
    """Return the cores this process may use (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Return whether `map_forked` may fork here (Linux with the ``fork`` start method)."""
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


def _child(fn: Callable[[int], Any], parts: list[int], conn: Any) -> None:
    """Run ``parts`` in a forked child; send ``(True, results)``, or ``(False, None)``."""
    try:
        conn.send((True, [fn(i) for i in parts]))
    except BaseException:  # noqa: BLE001 - the parent reruns the parts and raises it there
        conn.send((False, None))
    finally:
        conn.close()


def map_forked(fn: Callable[[int], T], n_parts: int, workers: int) -> list[T]:
    """Return ``[fn(0), ..., fn(n_parts - 1)]``, computed by up to ``workers`` processes.

    This process and up to ``workers - 1`` forked children (no more processes than parts)
    take every ``n``-th part, ``n`` the number of processes.
    ``fn`` reads its input from what it closes over (inherited by the fork, not pickled);
    only its results are pickled back. Parts whose child fails (an exception, a child killed
    by the system) are computed again here, so an error is raised with its traceback in this
    process, and a lost child costs time, not the result.

    Parameters
    ----------
    fn : callable
        ``fn(i)`` computes part ``i``; deterministic (the same result in any process).
    n_parts : int
        Number of parts.
    workers : int
        Most processes, this one included; 1 (or no fork on this platform) runs every part
        here.

    Returns
    -------
    list
        The parts' results in order.
    """
    n_proc = min(workers, n_parts) if can_fork() else 1
    if n_proc <= 1:
        return [fn(i) for i in range(n_parts)]
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    running = []
    for j in range(1, n_proc):
        parts = list(range(j, n_parts, n_proc))
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(fn, parts, send), daemon=True)
        with warnings.catch_warnings():
            # Python >= 3.12 warns on any fork of a process with threads; the only other
            # threads of the command line here are the BLAS library's idle pool, which
            # OpenBLAS and MKL rebuild in the child (pthread_atfork)
            warnings.filterwarnings("ignore", "This process .*multi-threaded", DeprecationWarning)
            proc.start()
        send.close()
        running.append((parts, proc, recv))
    try:
        results: dict[int, Any] = {i: fn(i) for i in range(0, n_parts, n_proc)}
    except BaseException:  # this process's own parts failed: the children's work is moot
        for _, proc, recv in running:
            proc.terminate()
            proc.join()
            recv.close()
        raise
    for parts, proc, recv in running:
        try:
            ok, value = recv.recv()
        except (EOFError, OSError):  # the child died without an answer
            ok, value = False, None
        finally:
            recv.close()
            proc.join()
        results.update(zip(parts, value if ok else [fn(i) for i in parts], strict=True))
    return [results[i] for i in range(n_parts)]
