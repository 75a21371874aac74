"""Run, cancel, progress and error report of the docks' napari thread workers.

The segment, batch and pixel classifier docks and the dose–response panel's re-measure and
refit each run one kind of work at a time in a napari worker thread. `WorkerSlot` is that
one place: it creates the worker with napari's progress bar (``napari.utils.progress``),
connects the dock's callbacks, keeps the running worker (so a second click does not start
a second run), starts the work again once when it was asked for while running, and turns an
error into the dock's status line and a napari notification.

Layers change only in the callbacks given to `WorkerSlot.start` (``yielded``, ``returned``,
``finished``): napari calls them on the main thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: a worker's ``yielded``/``returned`` callback
Callback = Callable[[Any], None]


def error_text(exc: BaseException) -> str:
    """Return the user's text of a worker's error.

    The package's own errors say what is wrong in their message; anything else is a bug, so
    its type is kept in front.

    Parameters
    ----------
    exc : BaseException
        The error the worker raised.

    Returns
    -------
    str
        ``str(exc)`` for an `Il6AssayError`, ``"<type>: <message>"`` otherwise.
    """
    from napari_il6assay.errors import Il6AssayError

    return str(exc) if isinstance(exc, Il6AssayError) else f"{type(exc).__name__}: {exc}"


class WorkerSlot:
    """At most one napari thread worker of one kind, with its progress and its errors.

    Parameters
    ----------
    notice : str
        Start of the notification of an error, e.g. ``"Segmentation failed"`` (the error's
        `error_text` follows after a colon).
    status : callable, optional
        Shows a line in the dock (e.g. ``QLabel.setText``); an error shows as
        ``"<failed>: <reason>"``.
    failed : str
        Start of the status line of an error.
    busy : callable, optional
        Called with True when a worker starts and False when it has finished (enable or
        disable the dock's buttons here).
    again : callable, optional
        Starts the work again; called once after the running worker finished when
        `request_again` was called meanwhile.
    """

    def __init__(
        self,
        notice: str,
        *,
        status: Callable[[str], None] | None = None,
        failed: str = "Failed",
        busy: Callable[[bool], None] | None = None,
        again: Callable[[], Any] | None = None,
    ) -> None:
        self.notice = notice
        self.failed = failed
        self._status = status
        self._busy = busy
        self._again = again
        self.worker: Any = None
        self.pending = False

    @property
    def running(self) -> bool:
        """A worker of this slot is running."""
        return self.worker is not None

    def start(
        self,
        func: Callable[..., Any],
        *args: Any,
        desc: str,
        total: int = 0,
        yielded: Callback | None = None,
        returned: Callback | None = None,
        finished: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``func(*args, **kwargs)`` in a worker thread with a napari progress bar.

        Parameters
        ----------
        func : callable
            A function (its result goes to ``returned``) or a generator function (each
            yielded item goes to ``yielded``; with ``total`` the bar counts them).
        *args, **kwargs
            Its arguments.
        desc : str
            Text of the progress bar.
        total : int
            Number of items a generator yields (0: an indeterminate bar).
        yielded, returned : callable, optional
            Main-thread callbacks of the worker's results.
        finished : callable, optional
            Main-thread callback after the worker ended (result, error or cancel), before a
            requested rerun starts.

        Returns
        -------
        napari worker
            The started worker (also `worker` until it finishes).
        """
        from napari.qt.threading import create_worker

        worker = create_worker(
            func, *args, _ignore_errors=True, _progress={"desc": desc, "total": total}, **kwargs
        )
        if yielded is not None:
            worker.yielded.connect(yielded)
        if returned is not None:
            worker.returned.connect(returned)
        worker.errored.connect(self.report)
        worker.finished.connect(lambda: self._finished(finished))
        self.worker = worker
        if self._busy is not None:
            self._busy(True)
        worker.start()
        return worker

    def request_again(self) -> Any:
        """Ask for one more run after the running one (several requests make one run).

        Returns
        -------
        napari worker or None
            The running worker.
        """
        self.pending = True
        return self.worker

    def quit(self) -> None:
        """Ask the running worker to stop (a generator stops at its next item)."""
        if self.worker is not None:
            self.worker.quit()

    @property
    def abort_requested(self) -> bool:
        """The running worker was asked to stop: drop what it still yields."""
        return self.worker is not None and bool(self.worker.abort_requested)

    @property
    def pbar(self) -> Any:
        """The running worker's napari progress bar (None when nothing runs)."""
        return getattr(self.worker, "pbar", None)

    def report(self, exc: BaseException) -> None:
        """Show an error: the dock's status line and a napari notification."""
        from napari.utils.notifications import show_error

        reason = error_text(exc)
        if self._status is not None:
            self._status(f"{self.failed}: {reason}")
        show_error(f"{self.notice}: {reason}")

    def _finished(self, finished: Callable[[], None] | None) -> None:
        self.worker = None
        if self._busy is not None:
            self._busy(False)
        if finished is not None:
            finished()
        if self.pending:
            self.pending = False
            if self._again is not None:
                self._again()
