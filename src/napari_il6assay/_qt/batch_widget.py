"""Batch dock: run a whole plate folder and open the results in the dose–response panel.

The engine is `napari_il6assay.batch.run.run_batch`, run in a worker thread with a progress
bar and cancel.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSpinBox,
)

from napari_il6assay._qt.dock import PathField, RunCancel, ViewerDock, column, row
from napari_il6assay._qt.workers import WorkerSlot
from napari_il6assay.segment import MODES, get_mode

if TYPE_CHECKING:
    import napari


class _ProgressRelay(QObject):
    """Carries progress from the worker thread to the main thread (queued signal)."""

    progressed = Signal(int, int)


def _positive(field: QLineEdit, what: str) -> float | None:
    """Return the positive number typed in a field (None when empty).

    Raises
    ------
    ValueError
        Not a number, or not above 0.
    """
    text = field.text().strip()
    if not text:
        return None
    value = float(text)
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {text}")
    return value


def _run(
    folder: str,
    layout: str,
    mode: str,
    out: str,
    options: dict[str, Any],
    relay: _ProgressRelay,
    cancel: threading.Event,
) -> Any:
    """Worker body: the engine's `run_batch`, reporting progress through the relay."""
    from napari_il6assay.batch.run import run_batch

    return run_batch(
        folder,
        layout,
        mode,
        out,
        quiet=True,
        cancel=cancel,
        progress=lambda done, total: relay.progressed.emit(int(done), int(total)),
        **options,
    )


class BatchWidget(ViewerDock):
    """Dock widget: plate folder + layout + output folder -> tables, fits and the panel."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer)
        self.result: Any = None
        self.panel: Any = None
        self._cancel = threading.Event()
        self._relay = _ProgressRelay()
        self._relay.progressed.connect(self._on_progress)

        self.folder = PathField("plate folder with images", folder=True)
        self.layout_file = PathField("layout.csv / .xlsx", filters="Layouts (*.csv *.tsv *.xlsx)")
        self.out = PathField("output folder (empty or new)", folder=True)
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.plate_format = QComboBox()
        for n in (96, 384, 48, 24, 12, 6):
            self.plate_format.addItem(str(n), n)
        self.workers = QSpinBox()
        self.workers.setRange(1, 256)
        import os

        self.workers.setValue(max(1, (os.cpu_count() or 2)))
        self.pixel_size = QLineEdit()
        self.pixel_size.setPlaceholderText("from file metadata")
        # spheroid mode: dark (brightfield) or bright (fluorescence) spheroid; auto decides
        # from its contrast against its surround (CLI --object)
        self.object_polarity = QComboBox()
        self.object_polarity.addItems(["auto", "dark", "bright"])
        self.object_polarity.setToolTip(
            "spheroid mode: the spheroid is dark (brightfield) or bright (fluorescence)"
        )
        # colony / spheres: how the well is found (see `il6assay segment --well`)
        self.well = QComboBox()
        self.well.addItems(["auto", "circle", "none"])
        self.well.setToolTip(
            "auto: find the round well, flag well_implausible when unsure; "
            "circle: always the circle found; none: the whole image or ROI"
        )
        self.well_diameter = QLineEdit()
        self.well_diameter.setPlaceholderText("not checked")
        self.roi = QLineEdit()
        self.roi.setPlaceholderText("X,Y,W,H with well 'none'")
        self.save_labels = QCheckBox("save label images (for clicking points)")
        self.save_labels.setChecked(True)
        # overrides of the automatic choices (issue 9), used by their mode only
        self.keep_haze = QCheckBox("livedead: count out-of-focus blobs as cells")
        self.no_split = QCheckBox("spheres: do not split touching spheres")
        self.resume = QCheckBox("resume")
        self.overwrite = QCheckBox("overwrite")
        self.buttons = RunCancel("Run batch")
        self.run_button, self.cancel_button = self.buttons.run_button, self.buttons.cancel_button
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m images")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._slot = WorkerSlot(
            "Batch failed", status=self.status.setText, busy=self.buttons.set_busy
        )

        form = QFormLayout()
        form.addRow("Folder", self.folder)
        form.addRow("Layout", self.layout_file)
        form.addRow("Output", self.out)
        form.addRow("Mode", self.mode)
        form.addRow("Plate format", self.plate_format)
        form.addRow("Workers", self.workers)
        form.addRow("Pixel size (µm)", self.pixel_size)
        form.addRow("Spheroid", self.object_polarity)
        form.addRow("Well", self.well)
        form.addRow("Well diameter (µm)", self.well_diameter)
        form.addRow("ROI", self.roi)
        self.mode.currentTextChanged.connect(self._on_mode)
        self._on_mode(self.mode.currentText())
        column(self, form, self.save_labels, self.keep_haze, self.no_split,
               row(self.resume, self.overwrite), self.buttons, self.bar, self.status,
               end_stretch=True)  # fmt: skip
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

    def options(self) -> dict[str, Any]:
        """Keyword arguments of `run_batch` from the form (raises ValueError on a bad number)."""
        opts: dict[str, Any] = {
            "workers": self.workers.value(),
            "plate_format": self.plate_format.currentData(),
            "save_labels": self.save_labels.isChecked(),
            "resume": self.resume.isChecked(),
            "overwrite": self.overwrite.isChecked(),
        }
        mode = get_mode(self.mode.currentText())
        if mode.takes("haze") and self.keep_haze.isChecked():
            opts["haze"] = "keep"
        if mode.takes("split") and self.no_split.isChecked():
            opts["split"] = False
        value = _positive(self.pixel_size, "pixel size")
        if value is not None:
            opts["pixel_size_um"] = value
        if mode.object_choice and self.object_polarity.currentText() != "auto":
            opts["polarity"] = self.object_polarity.currentText()
        if mode.takes("well"):
            if self.well.currentText() != "auto":
                opts["well"] = self.well.currentText()
            value = _positive(self.well_diameter, "well diameter")
            if value is not None:
                opts["well_diameter_um"] = value
            text = self.roi.text().strip()
            if text:
                if self.well.currentText() != "none":
                    raise ValueError("an ROI needs well 'none'")
                from napari_il6assay.errors import SegmentationError
                from napari_il6assay.segment.well import parse_roi

                try:  # the format here; the image bounds when each image is measured
                    parse_roi(text, (1 << 30, 1 << 30))
                except SegmentationError as exc:
                    raise ValueError(str(exc)) from None
                opts["roi"] = text
        self._add_classifier(opts)
        return opts

    def _on_mode(self, mode: str) -> None:
        """Enable the well options for the modes that find a well (colony and spheres)."""
        on = get_mode(mode).takes("well")
        for w in (self.well, self.well_diameter, self.roi):
            w.setEnabled(on)

    def _add_classifier(self, opts: dict[str, Any]) -> None:
        """Pass the classifier the Pixel classifier dock chose ("Use in batch") to the run."""
        from napari_il6assay._qt.settings import SHARED

        path = SHARED.classifier_path
        if path is None:
            return
        if get_mode(self.mode.currentText()).accepts_classifier:
            opts["classifier"] = str(path)  # segment_image's foreground step (--classifier)
            self.status.setText(f"Foreground from the pixel classifier {Path(path).name}.")
        else:  # say so rather than silently ignore it
            self.status.setText(
                f"The pixel classifier {Path(path).name} is not used: mode "
                f"{self.mode.currentText()} keeps its own foreground step."
            )

    @property
    def worker(self) -> Any:
        """The running batch's napari worker (None when idle)."""
        return self._slot.worker

    def run(self) -> Any:
        """Start the batch in a worker thread; returns the worker (None if inputs are bad)."""
        from napari.utils.notifications import show_error

        if self._slot.running:
            return self._slot.worker
        folder, layout, out = self.folder.text(), self.layout_file.text(), self.out.text()
        missing = [n for n, v in (("folder", folder), ("layout", layout), ("output", out)) if not v]
        if missing:
            show_error(f"Batch: choose the {', '.join(missing)} first.")
            return None
        try:
            options = self.options()
        except ValueError as exc:
            show_error(f"Batch: {exc}")
            return None
        self._cancel = threading.Event()
        self.result = None
        self.bar.setRange(0, 0)
        self.status.setText("Running…")
        return self._slot.start(
            _run, folder, layout, self.mode.currentText(), out, options, self._relay,
            self._cancel, desc="Batch", returned=self._on_done, finished=self._on_finished,
        )  # fmt: skip

    def cancel(self) -> None:
        """Ask the batch to stop after the images in progress (they are kept for resume)."""
        self._cancel.set()
        self.status.setText("Cancelling…")

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        pbar = self._slot.pbar
        if pbar is not None:
            pbar.total = total
            pbar.n = done
            pbar.refresh()

    def _on_done(self, result: Any) -> None:
        from napari.utils.notifications import show_info, show_warning

        self.result = result
        if result.cancelled:
            self.status.setText(f"Cancelled after {result.n_ok} image(s); tick 'resume' to go on.")
            return
        msg = f"Done: {result.n_ok} image(s) measured, {result.n_failed} failed -> {result.out}"
        self.status.setText(msg)
        if result.n_failed:
            show_warning(
                f"Batch: {result.n_failed} image(s) failed, see errors.csv in {result.out}"
            )
        else:
            show_info(msg)
        self.open_in_panel(result)

    def open_in_panel(self, result: Any) -> Any:
        """Show a batch result in the dose–response panel (docking one if needed)."""
        from napari_il6assay._qt.doseresponse_widget import DoseResponseWidget

        if self.panel is None:
            # reuse a panel the user already opened from the menu
            docked = getattr(self.viewer.window, "dock_widgets", {}) or {}
            self.panel = next(
                (w for w in docked.values() if isinstance(w, DoseResponseWidget)), None
            )
        if self.panel is None:
            self.panel = DoseResponseWidget(self.viewer)
            self.viewer.window.add_dock_widget(self.panel, name="Dose–response", area="right")
        self.panel.load_results(result.out, tables=result.tables)
        return self.panel

    def _on_finished(self) -> None:
        self.bar.setRange(0, max(self.bar.maximum(), 1))
