"""The local worker pool of a batch run: every item once, a killed worker, early stop, threads.

The calls run in real worker processes (forkserver), which import this module by name to
find the functions below.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from napari_il6assay.batch import local_pool


def square(item: dict) -> dict:
    """A deterministic result that names the process that computed it."""
    return {"value": item["n"] ** 2, "pid": os.getpid()}


def fail_on_seven(item: dict) -> int:
    if item["n"] == 7:
        raise ValueError(f"bad item {item['n']}")
    return item["n"] ** 2


def die_on_five(item: dict) -> int:
    """Kill the worker on item 5, as the system's out-of-memory killer would."""
    if item["n"] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.02)  # let several items be in flight when the worker dies
    return item["n"] ** 2


def slow(item: dict) -> int:
    time.sleep(0.5)
    return os.getpid()


def thread_settings(item: dict) -> dict:
    from threadpoolctl import threadpool_info

    return {
        "threads": sorted({lib["num_threads"] for lib in threadpool_info()}),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }


def _items(n: int) -> list[dict]:
    return [{"id": f"i{k}", "n": k} for k in range(n)]


def test_every_item_once_with_its_result_from_two_workers() -> None:
    got = list(local_pool.results(_items(20), square, workers=2, modules=("numpy",)))
    assert sorted(it["n"] for it, _ in got) == list(range(20))
    assert all(out["value"] == it["n"] ** 2 for it, out in got)
    pids = {out["pid"] for _, out in got}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_an_exception_is_the_outcome_of_its_item_only() -> None:
    got = dict((it["n"], out) for it, out in local_pool.results(_items(12), fail_on_seven, 2))
    assert isinstance(got[7], ValueError) and "bad item 7" in str(got[7])
    assert all(got[n] == n**2 for n in got if n != 7)


def test_a_killed_worker_costs_only_its_item() -> None:
    got = dict((it["n"], out) for it, out in local_pool.results(_items(16), die_on_five, 2))
    assert sorted(got) == list(range(16))
    assert isinstance(got[5], local_pool.WorkerLost)
    assert "killed by the system" in str(got[5])
    # the items in flight beside it ran again, alone, and kept their results
    assert {n: got[n] for n in got if n != 5} == {n: n**2 for n in range(16) if n != 5}


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (Linux: not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_closing_early_stops_the_workers() -> None:
    gen = local_pool.results(_items(10), slow, workers=2, modules=())
    _item, pid = next(gen)
    assert _running(pid)
    t0 = time.perf_counter()
    gen.close()  # what a cancelled run does: no waiting for the items in flight
    assert time.perf_counter() - t0 < 0.4
    deadline = time.time() + 5
    while time.time() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid)


def test_workers_run_one_math_thread_each() -> None:
    (_, out), *_ = local_pool.results(_items(1), thread_settings, 1)
    assert out["threads"] == [1]  # numpy's OpenBLAS, loaded with the default modules
    assert out["env"] == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@pytest.mark.parametrize("workers", [0, -3])
def test_fewer_than_one_worker_means_one(workers: int) -> None:
    got = list(local_pool.results(_items(3), square, workers))
    assert sorted(out["value"] for _, out in got) == [0, 1, 4]


_NO_GUARD = """
from napari_il6assay.batch import local_pool
print(list(local_pool.results([{"n": 1}], str, 2, modules=())))
"""


def test_a_script_without_the_main_guard_gets_a_clear_error(tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(_NO_GUARD)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    head = "napari_il6assay.batch.local_pool.WorkersDidNotStart:"
    error = [i for i, line in enumerate(lines) if line.startswith(head)]
    assert len(error) == 1, r.stderr
    assert "if __name__ ==" in lines[error[0]]
    # the script's own last words; only multiprocessing's resource tracker (another process
    # writing to the same stderr) may print after them
    assert all("resource_tracker" in line for line in lines[error[0] + 1 :]), r.stderr
