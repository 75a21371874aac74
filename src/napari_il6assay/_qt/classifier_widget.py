"""Pixel classifier dock: paint scribbles on an image, train, preview, save, use in the batch.

When a mode's automatic foreground step is wrong on a lab's images, the biologist fixes it
where they already are: a Labels layer of scribbles per image (1 = background, 2 = object,
painted with napari's own brush), "Train & preview" trains
`napari_il6assay.segment.classifier.train` on every chosen image that has scribbles and shows
the object mask on the current image as a Labels layer "<image> prediction". "Save" writes the
pickle-free ``.npz``; "Use in batch" hands the saved file to the Batch dock through
`napari_il6assay._qt.settings.SHARED` (the batch passes ``classifier=`` to `run_batch`).

Plain Qt like the other docks. Training and prediction run in a napari worker thread (with a
napari progress bar); the layers are read on the main thread before the worker starts and
changed only in the worker's ``returned`` callback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QComboBox, QFileDialog, QFormLayout, QLabel, QPushButton

from napari_il6assay._qt.dock import ViewerDock, column, row
from napari_il6assay._qt.qt_items import LayerList
from napari_il6assay._qt.workers import WorkerSlot
from napari_il6assay.segment import MODES

if TYPE_CHECKING:
    import napari

#: metadata key of a scribbles layer: the name of the image it belongs to
SCRIBBLES_FOR = "il6assay_scribbles_for"
#: modes the 2D pixel classifier can be trained for (`ModeSpec.trainable`: z-stacks are not
#: 2D images); those whose foreground it replaces (`ModeSpec.accepts_classifier`) come first
TRAINABLE_MODES = sorted(
    (m for m, spec in MODES.items() if spec.trainable),
    key=lambda m: not MODES[m].accepts_classifier,
)
#: label value of the object in scribbles and in the prediction layer (classifier.OBJECT)
OBJECT_LABEL = 2


def _train_and_predict(
    images: list[np.ndarray],
    scribbles: list[np.ndarray],
    sizes: list[float | None],
    mode: str,
    target: np.ndarray,
    target_size: float | None,
) -> tuple[Any, np.ndarray]:
    """Worker body: train on the scribbled images, predict the object mask of ``target``."""
    from napari_il6assay.segment.classifier import train

    clf = train(images, scribbles, mode=mode, pixel_sizes_um=sizes)
    return clf, clf.object_mask(target, target_size)


def _is_2d_image(layer: Any) -> bool:
    """Tell whether a layer is a 2D image (gray or RGB) the classifier can train on."""
    from napari.layers import Image

    return isinstance(layer, Image) and layer.ndim == 2 and not layer.multiscale


class ClassifierWidget(ViewerDock):
    """Dock widget: scribbles -> pixel classifier -> preview mask, save, use in batch."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer)
        self.classifier: Any = None  # the last trained PixelClassifier
        self.saved_path: Path | None = None  # where that classifier was saved

        self.layer_list = LayerList(
            self.viewer, _is_2d_image,
            tooltip="Images to train on (each needs its scribbles layer)", max_height=110,
        )  # fmt: skip
        self.add_scribbles_button = QPushButton("Add scribbles layer")
        self.add_scribbles_button.setToolTip(
            "A Labels layer for the current image: paint 1 = background, 2 = object"
        )
        self.mode = QComboBox()
        self.mode.addItems(TRAINABLE_MODES)
        self.mode.setToolTip("The segmentation mode whose foreground step the classifier replaces")
        self.train_button = QPushButton("Train && preview")
        self.save_button = QPushButton("Save…")
        self.use_button = QPushButton("Use in batch")
        for b in (self.save_button, self.use_button):
            b.setEnabled(False)
        self.hint = QLabel(
            "Paint with label <b>1</b> on background and <b>2</b> on objects "
            "(a few strokes each), then train."
        )
        self.hint.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._slot = WorkerSlot(
            "Pixel classifier", status=self.status.setText, failed="Training failed",
            busy=lambda busy: self.train_button.setEnabled(not busy),
        )  # fmt: skip

        form = QFormLayout()
        form.addRow("Images", self.layer_list)
        form.addRow("Mode", self.mode)
        column(self, form, self.add_scribbles_button, self.hint, self.train_button,
               row(self.save_button, self.use_button), self.status, end_stretch=True)  # fmt: skip

        self.add_scribbles_button.clicked.connect(lambda: self.add_scribbles())
        self.train_button.clicked.connect(lambda: self.train())
        self.save_button.clicked.connect(self._on_save)
        self.use_button.clicked.connect(lambda: self.use_in_batch())

    # -- layers ---------------------------------------------------------------------------------
    def _images(self) -> list[Any]:
        """2D image layers (gray or RGB) of the viewer."""
        return self.layer_list.layers()

    def select_images(self, names: list[str]) -> None:
        """Choose the images to train on by layer name."""
        self.layer_list.select(names)

    def chosen_images(self) -> list[Any]:
        """Return the chosen image layers; when none is chosen, every image that has scribbles."""
        names = set(self.layer_list.chosen())
        images = self._images()
        chosen = [layer for layer in images if layer.name in names]
        return chosen or [layer for layer in images if self.scribbles_of(layer) is not None]

    def scribbles_of(self, image: Any) -> Any:
        """Return the scribbles Labels layer of an image layer, or None."""
        from napari.layers import Labels

        for layer in self.viewer.layers:
            if isinstance(layer, Labels) and layer.metadata.get(SCRIBBLES_FOR) == image.name:
                return layer
        return None

    def current_image(self) -> Any:
        """Return the image to preview on.

        The active image (or the image of the active scribbles), else the first chosen image.
        """
        active = self.viewer.layers.selection.active
        images = self._images()
        if active is not None:
            if active in images:
                return active
            owner = getattr(active, "metadata", {}).get(SCRIBBLES_FOR)
            for layer in images:
                if layer.name == owner:
                    return layer
        chosen = self.chosen_images()
        return chosen[0] if chosen else (images[0] if images else None)

    @staticmethod
    def _pixel_size(layer: Any) -> float | None:
        """Return the layer's calibration (µm/px) from its scale; None when uncalibrated."""
        sx = float(layer.scale[-1])
        return None if sx == 1.0 else sx

    def add_scribbles(self, image: Any = None) -> Any:
        """Add (or select) the scribbles Labels layer of an image, ready to paint object (2).

        Parameters
        ----------
        image : napari Image layer, optional
            Default: `current_image`.

        Returns
        -------
        napari.layers.Labels or None
        """
        from napari.utils.notifications import show_warning

        image = image if image is not None else self.current_image()
        if image is None:
            show_warning("Pixel classifier: open a 2D image first.")
            return None
        layer = self.scribbles_of(image)
        if layer is None:
            shape = image.data.shape[:2]  # YX of a gray or RGB(A) 2D image
            layer = self.viewer.add_labels(
                np.zeros(shape, dtype=np.uint8),
                name=f"{image.name} scribbles",
                scale=tuple(image.scale[-2:]),
                translate=tuple(image.translate[-2:]),
                metadata={SCRIBBLES_FOR: image.name},
                opacity=0.7,
            )
            layer.brush_size = max(3, int(round(max(shape) / 60)))
        layer.selected_label = OBJECT_LABEL
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer
        chosen = self.layer_list.chosen()
        if image.name not in chosen:
            self.layer_list.refresh()
            self.layer_list.select({*chosen, image.name})
        return layer

    # -- training -------------------------------------------------------------------------------
    def train(self) -> Any:
        """Train on the scribbled chosen images and preview on the current image (worker).

        Returns
        -------
        napari worker or None
            None when nothing can be trained (the reason is shown).
        """
        from napari.utils.notifications import show_warning

        if self._slot.running:
            return self._slot.worker
        pairs = [(im, self.scribbles_of(im)) for im in self.chosen_images()]
        pairs = [(im, s) for im, s in pairs if s is not None and np.any(np.asarray(s.data))]
        target = self.current_image()
        if not pairs or target is None:
            show_warning(
                "Pixel classifier: add a scribbles layer and paint background (1) and object (2)."
            )
            return None
        # copies taken on the main thread: the user may go on painting while the worker runs
        images = [np.array(im.data) for im, _ in pairs]
        scribbles = [np.array(s.data) for _, s in pairs]
        sizes = [self._pixel_size(im) for im, _ in pairs]
        name = target.name
        self.status.setText(f"Training on {len(pairs)} image(s)…")
        return self._slot.start(
            _train_and_predict, images, scribbles, sizes, self.mode.currentText(),
            np.array(target.data), self._pixel_size(target), desc="Training pixel classifier",
            returned=lambda result: self._on_trained(name, result),
        )  # fmt: skip

    def _on_trained(self, image_name: str, result: tuple[Any, np.ndarray]) -> None:
        clf, mask = result
        self.classifier = clf
        self.saved_path = None
        self.show_prediction(image_name, mask)
        n = len(clf.y)
        frac = float(mask.mean()) if mask.size else 0.0
        self.status.setText(
            f"Trained on {n} scribbled pixels; {frac:.1%} of '{image_name}' is object. "
            "Save it to use it in a batch."
        )
        self.save_button.setEnabled(True)
        self.use_button.setEnabled(True)

    def show_prediction(self, image_name: str, mask: np.ndarray) -> Any:
        """Add or update the Labels layer ``"<image> prediction"`` (2 = object, 0 = rest).

        The object is label 2, as in the scribbles, so it shows in the colour the user
        painted objects with (label 1 would take the background scribbles' colour).
        """
        name = f"{image_name} prediction"
        data = np.asarray(mask).astype(np.uint8) * OBJECT_LABEL
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            layer.data = data
        else:
            image = self.viewer.layers[image_name] if image_name in self.viewer.layers else None
            kwargs: dict[str, Any] = {"name": name, "opacity": 0.4}
            if image is not None:
                kwargs["scale"] = tuple(image.scale[-2:])
                kwargs["translate"] = tuple(image.translate[-2:])
            layer = self.viewer.add_labels(data, **kwargs)
            # keep the scribbles on top, so painting goes on where the user was
            scr = self.scribbles_of(image) if image is not None else None
            if scr is not None:
                self.viewer.layers.selection.active = scr
        return layer

    @property
    def worker(self) -> Any:
        """The running training's napari worker (None when idle)."""
        return self._slot.worker

    # -- files ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save the trained classifier (pickle-free ``.npz``); returns the path written."""
        if self.classifier is None:
            raise RuntimeError("train a classifier first")
        path = Path(path)
        if path.suffix.lower() != ".npz":
            path = path.with_name(path.name + ".npz")
        self.saved_path = self.classifier.save(path)
        self.status.setText(f"Saved to {self.saved_path}")
        return self.saved_path

    def use_in_batch(self, path: str | Path | None = None) -> Path | None:
        """Hand the classifier to the Batch dock (saving it first when it is not saved).

        Parameters
        ----------
        path : str or Path, optional
            Where to save it when it is not saved yet (default: ask with a file dialog).

        Returns
        -------
        Path or None
            The classifier file the batch will use (None if the user cancelled).
        """
        from napari_il6assay._qt.settings import SHARED

        if path is not None:
            self.save(path)
        elif self.saved_path is None:
            self._on_save()
        if self.saved_path is None:
            return None
        SHARED.classifier_path = self.saved_path
        self.status.setText(f"The Batch dock will use {self.saved_path.name}.")
        return self.saved_path

    def _on_save(self) -> None:
        if self.classifier is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save pixel classifier", "classifier.npz", "Pixel classifier (*.npz)"
        )
        if path:
            self.save(path)
