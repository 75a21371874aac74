"""Segment & measure dock: segment image layers and show labels, outlines and objects.

The science is `napari_il6assay.segment.segment_image`; this widget gathers the inputs on the
main thread, runs the engine in a napari worker thread, and changes layers only in the
worker's ``yielded``/``finished`` callbacks (main thread).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from napari_il6assay._qt.dock import RunCancel, ViewerDock, column
from napari_il6assay._qt.param_form import ParamForm, ParamSpec, specs_from_parameters
from napari_il6assay._qt.qt_items import LayerList
from napari_il6assay._qt.table_model import TableWidget
from napari_il6assay._qt.workers import WorkerSlot
from napari_il6assay.segment import MODES, get_mode

if TYPE_CHECKING:
    import napari
    import numpy as np

    from napari_il6assay.segment.result import SegmentationResult


@dataclass
class SegmentJob:
    """One segmentation to run: the pixels and their calibration (gathered on the main thread).

    Parameters
    ----------
    name : str
        Name of the source layer(s), used for the new layers.
    data : array-like
        Pixels in the engine's axis order (YX, YXC, ZYX or ZYXC).
    scale, translate : tuple of float
        World transform of the YX(Z) axes, copied to the labels layer.
    pixel_size_um : float or None
    voxel_size_um : tuple of float or None
    rgb : bool
    """

    name: str
    data: Any
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    pixel_size_um: float | None
    voxel_size_um: tuple[float, float, float] | None
    rgb: bool
    units: tuple[str, ...] | None = None


def _units(layer: Any, keep: int) -> tuple[str, ...] | None:
    """Return the layer's world units of its last ``keep`` axes (napari >= 0.6)."""
    units = getattr(layer, "units", None)
    return None if units is None else tuple(str(u) for u in units[-keep:])


def run_jobs(
    jobs: Sequence[SegmentJob], mode: str, params: dict[str, Any]
) -> Iterator[tuple[SegmentJob, SegmentationResult]]:
    """Segment each job in turn (a plain generator: the worker thread iterates it).

    Parameters
    ----------
    jobs : sequence of SegmentJob
    mode : str
        One of the engine's modes.
    params : dict
        Extra keyword arguments of `segment_image` (``None`` values are left out).

    Yields
    ------
    (SegmentJob, SegmentationResult)
    """
    import numpy as np

    from napari_il6assay.segment import segment_image

    kwargs = {k: v for k, v in params.items() if v is not None}
    for job in jobs:
        image = np.asarray(job.data)
        result = segment_image(
            image,
            mode,
            pixel_size_um=job.pixel_size_um,
            voxel_size_um=job.voxel_size_um,
            rgb=job.rgb,
            **kwargs,
        )
        yield job, result


def mode_specs(mode: str) -> list[ParamSpec]:
    """Return the parameters of one segmentation mode for the form.

    The registry's `ModeSpec.parameters` (the keyword parameters of the segment function,
    and for spheroid of the detector it passes its ``**params`` to, without the ones the
    widget fills in itself), described by those functions' numpydoc.
    """
    spec = get_mode(mode)
    return specs_from_parameters(spec.parameters(), spec.form_callables())


def features_table(result: SegmentationResult) -> Any:
    """Return the objects table as napari ``features`` (one row per label, ``index`` column)."""
    import pandas as pd

    obj = result.objects.reset_index(drop=True).copy()
    if "label" in obj.columns:
        obj.insert(0, "index", pd.to_numeric(obj["label"]).astype("int64"))
    else:
        obj.insert(0, "index", range(1, len(obj) + 1))
    return obj


class SegmentWidget(ViewerDock):
    """Dock widget: choose image layers and a mode, segment, inspect and export objects."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        from napari.layers import Image

        super().__init__(napari_viewer)
        self.results: dict[str, SegmentationResult] = {}

        self.layer_list = LayerList(
            self.viewer,
            lambda layer: isinstance(layer, Image),
            tooltip="Image layers to segment (each on its own; for live/dead, select the live "
            "then the dead channel, or one layer with channels last)",
            max_height=90,
            default_active=True,
        )
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.pixel_size = QDoubleSpinBox()
        self.pixel_size.setDecimals(4)
        self.pixel_size.setRange(0.0, 1e4)
        self.pixel_size.setSpecialValueText("from layer scale")
        self.pixel_size.setSuffix(" µm/px")
        self.pixel_size.setToolTip(
            "Pixel size; 'from layer scale' uses the layer's scale (uncalibrated when it is 1)"
        )
        self.params = ParamForm()
        self.auto = QCheckBox("auto re-run on parameter change")
        self.buttons = RunCancel("Run")
        self.run_button, self.cancel_button = self.buttons.run_button, self.buttons.cancel_button
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = TableWidget("Objects", default_name="objects.csv")
        self._slot = WorkerSlot(
            "Segmentation failed", status=self.status.setText, busy=self.buttons.set_busy,
            again=self.run,
        )  # fmt: skip

        form = QFormLayout()
        form.addRow("Images", self.layer_list)
        form.addRow("Mode", self.mode)
        form.addRow("Pixel size", self.pixel_size)
        box = QGroupBox("Parameters")
        QVBoxLayout(box).addWidget(self.params)
        top = QWidget()
        column(top, form, box, self.auto, self.buttons, self.status).setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.table)
        column(self, split)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self.run)
        self.mode.currentTextChanged.connect(self._on_mode)
        self.params.changed.connect(self._on_param_changed)
        self.pixel_size.valueChanged.connect(self._on_param_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.viewer.layers.selection.events.active.connect(self._on_active_layer)
        self.layer_list.itemSelectionChanged.connect(self._show_layer_calibration)
        self._on_mode(self.mode.currentText())
        self._show_layer_calibration()

    # -- inputs ---------------------------------------------------------------------------------
    def _show_layer_calibration(self) -> None:
        """Say which pixel size "from layer scale" means for the chosen layer."""
        names = self.layer_list.chosen()
        text = "from layer scale"
        if names and names[0] in self.viewer.layers:
            sx = float(self.viewer.layers[names[0]].scale[-1])
            text = "layer: uncalibrated (px)" if sx == 1.0 else f"layer: {sx:g} µm/px"
        self.pixel_size.setSpecialValueText(text)
        self.pixel_size.update()

    def select_layers(self, names: Sequence[str]) -> None:
        """Choose the image layers to segment by name."""
        self.layer_list.select(names)

    def _on_mode(self, mode: str) -> None:
        self.params.set_specs(mode_specs(mode))
        self._on_param_changed()

    def _on_param_changed(self) -> None:
        if self.auto.isChecked():
            self._debounce.start()

    def jobs(self) -> list[SegmentJob]:
        """Return the segmentations the current choice asks for (main thread: reads layers)."""
        names = self.layer_list.chosen()
        layers = [self.viewer.layers[n] for n in names if n in self.viewer.layers]
        mode = self.mode.currentText()
        if not layers:
            return []
        if get_mode(mode).multichannel and len(layers) >= 2:
            # the channels of one image as separate layers (live, then dead)
            return [self._stacked_job(layers[:2])]
        return [self._job(layer, mode) for layer in layers]

    def _calibration(self, layer: Any) -> float | None:
        if self.pixel_size.value() > 0:
            return float(self.pixel_size.value())
        sx = float(layer.scale[-1])
        return None if sx == 1.0 else sx

    def _plane(self, layer: Any, keep: int) -> Any:
        """Return the layer's data with leading axes beyond ``keep`` spatial ones fixed.

        They are fixed at the viewer's current position (e.g. a time point).
        """
        data = layer.data[0] if layer.multiscale else layer.data
        n_spatial = layer.ndim
        extra = n_spatial - keep
        if extra <= 0:
            return data
        point = self.viewer.dims.point
        world_to_data = layer.world_to_data(point[-layer.ndim :])
        index = tuple(
            int(min(max(round(v), 0), data.shape[i] - 1))
            for i, v in enumerate(world_to_data[:extra])
        )
        return data[index]

    def _job(self, layer: Any, mode: str) -> SegmentJob:
        rgb = bool(layer.rgb)
        is_3d = get_mode(mode).is_3d
        keep = 3 if is_3d else 2
        data = self._plane(layer, keep)
        px = self._calibration(layer)
        voxel = None
        if is_3d and layer.ndim >= 3:
            z = float(layer.scale[-3])
            voxel = (z, px, px) if px is not None else None
        return SegmentJob(
            name=layer.name,
            data=data,
            scale=tuple(float(s) for s in layer.scale[-keep:]),
            translate=tuple(float(t) for t in layer.translate[-keep:]),
            pixel_size_um=px,
            voxel_size_um=voxel,
            rgb=rgb,
            units=_units(layer, keep),
        )

    def _stacked_job(self, layers: Sequence[Any]) -> SegmentJob:
        import numpy as np

        planes = [np.asarray(self._plane(layer, 2)) for layer in layers]
        return SegmentJob(
            name=" + ".join(layer.name for layer in layers),
            data=np.stack(planes, axis=-1),
            scale=tuple(float(s) for s in layers[0].scale[-2:]),
            translate=tuple(float(t) for t in layers[0].translate[-2:]),
            pixel_size_um=self._calibration(layers[0]),
            voxel_size_um=None,
            rgb=False,
            units=_units(layers[0], 2),
        )

    # -- running --------------------------------------------------------------------------------
    @property
    def worker(self) -> Any:
        """The running segmentation's napari worker (None when idle)."""
        return self._slot.worker

    def run(self) -> Any:
        """Start segmenting the chosen layers in a worker thread; returns the worker."""
        from napari.utils.notifications import show_info

        if self._slot.running:
            # A parameter changed while running: stop the old run, start again when it ends.
            self._slot.quit()
            return self._slot.request_again()
        jobs = self.jobs()
        if not jobs:
            show_info("Segment & measure: open or choose an image layer first.")
            return None
        mode = self.mode.currentText()
        self.status.setText(f"Segmenting {len(jobs)} image(s) in {mode} mode…")
        return self._slot.start(
            run_jobs, jobs, mode, self.params.values(),
            desc=f"Segmenting ({mode})", total=len(jobs), yielded=self._on_result,
        )  # fmt: skip

    def cancel(self) -> None:
        """Stop the running segmentation (the image in progress is finished, then dropped)."""
        if self._slot.running:
            self._slot.pending = False
            self._slot.quit()
            self.status.setText("Cancelled.")

    def _on_result(self, item: tuple[SegmentJob, SegmentationResult]) -> None:
        from napari.utils.notifications import show_warning

        if self._slot.abort_requested:
            return
        job, result = item
        try:
            layer = self._show(job, result)
        except Exception as exc:  # noqa: BLE001 - shown to the user, not lost in the loop
            self._slot.report(exc)
            return
        self.results[layer.name] = result
        n = len(result.objects)
        msg = f"{job.name}: {n} object(s), readout {result.readout:.4g}"
        if result.qc_flag:
            msg += f" — QC: {result.qc_flag}"
            show_warning(f"Segmentation of '{job.name}' flagged: {result.qc_flag}")
        self.status.setText(msg)

    def _show(self, job: SegmentJob, result: SegmentationResult) -> Any:
        """Add or update the labels and outline layers of one result (main thread)."""
        features = features_table(result)
        labels: np.ndarray = result.labels
        name = f"{job.name} labels"
        outline = f"{job.name} outlines"
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            layer.data = labels
            layer.features = features
        else:
            units = {"units": job.units} if job.units else {}
            layer = self.viewer.add_labels(
                labels,
                name=name,
                scale=job.scale,
                translate=job.translate,
                features=features,
                opacity=0.45,
                **units,
            )
        if outline in self.viewer.layers:
            self.viewer.layers[outline].data = labels
        else:
            edge = self.viewer.add_labels(
                labels,
                name=outline,
                scale=job.scale,
                translate=job.translate,
                opacity=1.0,
                blending="translucent_no_depth",
                **units,
            )
            edge.contour = 2
        layer.metadata["il6assay"] = {"measures": dict(result.measures), "qc_flag": result.qc_flag}
        self.table.set_frame(features.drop(columns=["index"]))
        self.viewer.layers.selection.active = layer
        return layer

    def _on_active_layer(self, event: Any = None) -> None:
        layer = self.viewer.layers.selection.active
        if layer is not None and layer.name in self.results:
            self.table.set_frame(layer.features.drop(columns=["index"], errors="ignore"))
