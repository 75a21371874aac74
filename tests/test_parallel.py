"""Issue 13: one job split over worker processes gives the results of one process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from napari_il6assay.parallel import can_fork, map_parts, parts_for, warm_workers

needs_fork = pytest.mark.skipif(not can_fork(), reason="no fork on this platform")

#: this (the test) process; workers are forked from it and inherit the value
_HERE = os.getpid()
#: set by `_warm` in a worker
_WARMED = False


def _square_where(i: int) -> tuple[int, int]:
    return i * i, os.getpid()


def _flaky(i: int) -> int:
    if i == 1 and os.getpid() != _HERE:
        raise MemoryError("worker only")
    return 10 * i


def _broken(i: int) -> int:
    if i == 2:
        raise ValueError("bad part")
    return i


def _dies_in_worker(i: int) -> int:
    if i == 1 and os.getpid() != _HERE:
        os._exit(3)  # a worker killed by the system: no answer at all
    return 10 * i


def _warm() -> None:
    global _WARMED
    _WARMED = True


def _warmed_where(i: int) -> tuple[bool, int]:
    return _WARMED, os.getpid()


@needs_fork
def test_map_parts_runs_parts_in_workers_in_order() -> None:
    """7 parts over 3 processes: results in part order, every part computed in a worker."""
    out = map_parts(_square_where, [(i,) for i in range(7)], 3)
    assert [v for v, _ in out] == [0, 1, 4, 9, 16, 25, 36]
    pids = {pid for _, pid in out}
    assert _HERE not in pids and 1 <= len(pids) <= 3
    assert map_parts(_square_where, [(i,) for i in range(3)], 1) == [
        (0, _HERE), (1, _HERE), (4, _HERE)
    ]  # fmt: skip


@needs_fork
def test_map_parts_reruns_a_failed_part_here() -> None:
    """A part that fails in a worker is computed again in this process: a worker-only failure
    costs nothing, a real error is raised here with its own exception type, and a worker
    that dies loses no part."""
    assert map_parts(_flaky, [(i,) for i in range(3)], 2) == [0, 10, 20]
    with pytest.raises(ValueError, match="bad part"):
        map_parts(_broken, [(i,) for i in range(3)], 3)
    assert map_parts(_dies_in_worker, [(i,) for i in range(4)], 2) == [0, 10, 20, 30]


@needs_fork
def test_warm_workers_are_started_once_warmed_and_reused() -> None:
    """Inside the block every part runs in the same two warmed workers; they stop after it."""
    with warm_workers(2, warm=_warm):
        first = map_parts(_warmed_where, [(i,) for i in range(4)], 2)
        second = map_parts(_warmed_where, [(i,) for i in range(4)], 2)
    assert all(warmed for warmed, _ in first + second)  # not this process's False
    pids = {pid for _, pid in first + second}
    assert _HERE not in pids and len(pids) <= 2
    for pid in pids:  # shut down: no such process any more (or a zombie of it is gone)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert map_parts(_warmed_where, [(0,)], 2) == [(False, _HERE)]  # one part: here


@needs_fork
def test_warm_workers_freeze_the_heap_only_inside_the_block() -> None:
    """The objects that exist at the fork are out of the collector's sight while the workers
    run, and handed back after (a notebook's garbage is still collected); a freeze made by
    the caller is left as it was."""
    import gc

    assert gc.get_freeze_count() == 0
    with warm_workers(2, warm=_warm):
        assert gc.get_freeze_count() > 0
        assert map_parts(_warmed_where, [(i,) for i in range(2)], 2)[0][0]
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with warm_workers(2, warm=_warm):
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_parts_for_keeps_parts_large_enough() -> None:
    """At most one part per worker, each of at least the minimum size."""
    assert parts_for(10_000, 2, 2_000) == 2
    assert parts_for(3_999, 2, 2_000) == 1
    assert parts_for(10_000, 8, 2_000) == 5
    assert parts_for(10, 1, 1) == 1


def test_fit_arrays_is_the_same_for_any_number_of_processes(monkeypatch) -> None:
    """Parts follow the number of curves only: 1, 2 and 3 processes give the same bits, and
    the fits recover the true IC50s (a real fit, not a copy)."""
    from napari_il6assay.doseresponse import fit as fit_mod

    monkeypatch.setattr(fit_mod, "PART_CURVES", 40)  # 150 curves -> 4 parts
    rng = np.random.default_rng(3)
    x = np.repeat(1e-9 * 3.0 ** np.arange(8), 3)
    log_e = rng.uniform(-8.5, -6.5, 150)
    curves = []
    for le in log_e:
        y = 0.05 + 0.95 / (1 + (x / 10**le) ** 1.2) + rng.normal(0, 0.03, x.size)
        curves.append((x, y, None))
    fits = [fit_mod.fit_arrays(curves, "4pl", workers=w) for w in (1, 2, 3)]
    for other in fits[1:]:
        for name in ("params", "se", "ic50_rel", "ic50_ci_low", "ic50_ci_high", "status"):
            a, b = getattr(fits[0], name), getattr(other, name)
            assert a.tobytes() == b.tobytes() if a.dtype != object else list(a) == list(b), name
    err = np.abs(np.log10(fits[0].ic50_rel.astype(float)) - log_e)
    assert np.median(err) < 0.05 and err.max() < 0.3
    assert np.mean((fits[0].ic50_ci_low < 10**log_e) & (10**log_e < fits[0].ic50_ci_high)) > 0.85


@needs_fork
def test_fit_command_with_early_workers_writes_the_same_file(tmp_path, monkeypatch) -> None:
    """`il6assay fit` on a table large enough to start its workers before reading it: the same
    fits.csv bytes as with one process, and true IC50s recovered."""
    import pandas as pd

    from napari_il6assay import parallel
    from napari_il6assay.cli import main
    from napari_il6assay.commands import fit as fit_cmd
    from napari_il6assay.doseresponse import fit as fit_mod

    monkeypatch.setattr(fit_mod, "PART_CURVES", 40)  # 120 curves -> 3 parts
    monkeypatch.setattr(fit_cmd, "_LARGE_TABLE_BYTES", 1000)
    started = []
    real_start = parallel._start_pool

    def spy(workers, warm):
        started.append(workers)
        return real_start(workers, warm)

    monkeypatch.setattr(parallel, "_start_pool", spy)
    rng = np.random.default_rng(5)
    x = 1e-9 * 3.0 ** np.arange(8)
    rows, truth = [], {}
    for i in range(12):
        rows += [(f"L{i}", "", 0.0, 1 + rng.normal(0, 0.03)) for _ in range(3)]
        for j in range(10):
            le = rng.uniform(-8.5, -6.5)
            truth[(f"L{i}", f"d{j}")] = le
            y = 0.05 + 0.95 / (1 + (x / 10**le) ** 1.3)
            rows += [(f"L{i}", f"d{j}", xi, yi + rng.normal(0, 0.03))
                     for xi, yi in zip(np.repeat(x, 2), np.repeat(y, 2), strict=True)]  # fmt: skip
    table = tmp_path / "in" / "screen.csv"
    table.parent.mkdir()
    pd.DataFrame(rows, columns=["cell_line", "drug", "concentration_M", "viability"]).to_csv(
        table, index=False
    )
    outs = {}
    for w in ("2", "1"):
        outs[w] = tmp_path / f"out{w}"
        assert main(["fit", str(table), "--out", str(outs[w]), "--no-plots", "--workers", w]) == 0
    assert started == [2]  # the early workers of the 2-process run only
    assert (outs["2"] / "fits.csv").read_bytes() == (outs["1"] / "fits.csv").read_bytes()
    fits = pd.read_csv(outs["2"] / "fits.csv")
    assert len(fits) == 120 and (fits["status"] == "ok").all()
    err = [abs(np.log10(r.ic50_rel_M) - truth[(r.cell_line, r.drug)]) for r in fits.itertuples()]
    assert np.median(err) < 0.05 and max(err) < 0.3


_CTRL_C_SCRIPT = """
import sys, time
from napari_il6assay.parallel import map_parts, warm_workers

def slow(i):
    time.sleep(30)
    return i

if __name__ == "__main__":
    try:
        with warm_workers(2):
            print("started", flush=True)
            map_parts(slow, [(0,), (1,)], 2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
"""


@needs_fork
def test_ctrl_c_stops_the_workers_without_their_tracebacks(tmp_path) -> None:
    """A terminal's Ctrl-C reaches every process of the group: the parent stops at once (the
    running parts are stopped, not awaited), the workers print nothing and do not outlive it."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "job.py"
    script.write_text(_CTRL_C_SCRIPT)

    def ctrl_c_default() -> None:  # a background process may start with Ctrl-C ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=ctrl_c_default)  # fmt: skip
    assert p.stdout is not None and p.stdout.readline().strip() == "started"
    time.sleep(1.0)  # the parts are running
    t0 = time.perf_counter()
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert time.perf_counter() - t0 < 10  # not the 30 s a part would still run
    assert p.returncode == 130
    assert err.strip() == "interrupted"  # no worker's traceback
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(p.pid, 0)  # nothing of the group is left
