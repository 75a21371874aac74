"""`WorkerSlot`: one worker at a time, its busy state, one rerun on request, and errors shown
in the dock's status line and a notification."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.gui


def _square(x: int) -> int:
    return x * x


def _count(n: int):
    yield from range(n)


def _fail() -> None:
    from napari_il6assay.errors import InputError

    raise InputError("no wells.csv here")


def _crash() -> None:
    raise ZeroDivisionError("division by zero")


def test_returned_and_busy(qtbot):
    from napari_il6assay._qt.workers import WorkerSlot

    busy, got = [], []
    slot = WorkerSlot("Square failed", busy=busy.append)
    worker = slot.start(_square, 7, desc="Squaring", returned=got.append)
    assert slot.running and slot.worker is worker
    qtbot.waitUntil(lambda: not slot.running, timeout=30_000)
    assert got == [49] and busy == [True, False] and slot.pbar is None


def test_yielded_items_in_order(qtbot):
    from napari_il6assay._qt.workers import WorkerSlot

    got: list[int] = []
    slot = WorkerSlot("Count failed")
    slot.start(_count, 5, desc="Counting", total=5, yielded=got.append)
    qtbot.waitUntil(lambda: not slot.running, timeout=30_000)
    assert got == [0, 1, 2, 3, 4]


def test_request_again_runs_once_more(qtbot):
    from napari_il6assay._qt.workers import WorkerSlot

    gate = threading.Event()
    runs: list[int] = []

    def wait_then(x: int) -> int:
        gate.wait(10)
        return x

    def again() -> None:
        slot.start(_square, 3, desc="again", returned=runs.append)

    slot = WorkerSlot("Run failed", again=again)
    slot.start(wait_then, 1, desc="first", returned=runs.append)
    assert slot.request_again() is slot.worker
    slot.request_again()  # several requests make one rerun
    gate.set()
    qtbot.waitUntil(lambda: runs == [1, 9] and not slot.running, timeout=30_000)
    assert not slot.pending


def test_errors_go_to_status_and_notification(qtbot, monkeypatch):
    from napari_il6assay._qt.workers import WorkerSlot

    shown: list[str] = []
    status: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    slot = WorkerSlot("Batch failed", status=status.append)
    slot.start(_fail, desc="failing")
    qtbot.waitUntil(lambda: not slot.running, timeout=30_000)
    slot.start(_crash, desc="crashing")
    qtbot.waitUntil(lambda: not slot.running, timeout=30_000)
    # the package's errors say what is wrong; anything else keeps its type
    assert status == ["Failed: no wells.csv here", "Failed: ZeroDivisionError: division by zero"]
    assert shown == [
        "Batch failed: no wells.csv here",
        "Batch failed: ZeroDivisionError: division by zero",
    ]
