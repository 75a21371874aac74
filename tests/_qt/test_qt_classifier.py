"""Pixel classifier dock on a synthetic spheroid with exact truth: scribbles painted in code,
train, preview (Dice against the drawn mask), save, load back, hand to the batch."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _scribbles(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strokes as a user would paint them: lines through the spheroid's centre and near the
    frame, labelled object (2) well inside the outline and background (1) well outside it."""
    from scipy import ndimage as ndi

    inner = ndi.binary_erosion(truth, iterations=6)
    outer = ~ndi.binary_dilation(truth, iterations=10)
    cy, cx = (int(round(v)) for v in ndi.center_of_mass(truth))
    band = np.zeros(truth.shape, bool)
    band[cy - 1 : cy + 2, :] = True
    band[:, cx - 1 : cx + 2] = True
    for k in (30, truth.shape[0] - 30):
        band[k - 1 : k + 2, :] = True
        band[:, k - 1 : k + 2] = True
    return band & outer, band & inner


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def spheroid():
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    return make_spheroid_2d(0)


@pytest.fixture
def trained(make_napari_viewer, qtbot, spheroid):
    """The dock after painting scribbles in code and 'Train & preview'."""
    viewer = make_napari_viewer()
    image = viewer.add_image(spheroid.image, name="spheroid", scale=(spheroid.pixel_size_um,) * 2)
    _, widget = viewer.window.add_plugin_dock_widget("napari-il6assay", "Pixel classifier")
    scribbles = widget.add_scribbles(image)
    assert scribbles.data.shape == spheroid.image.shape[:2]
    assert scribbles.metadata["il6assay_scribbles_for"] == "spheroid"
    assert scribbles.mode == "paint" and scribbles.selected_label == 2
    background, obj = _scribbles(spheroid.labels > 0)
    scribbles.data[background] = 1
    scribbles.data[obj] = 2
    scribbles.refresh()
    widget.mode.setCurrentText("spheroid")
    worker = widget.train()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=240_000)
    assert "spheroid prediction" in viewer.layers, widget.status.text()
    return viewer, widget


def test_train_preview_save_load(trained, spheroid, tmp_path):
    from napari_il6assay.segment import classifier

    viewer, widget = trained
    truth = spheroid.labels > 0
    pred = viewer.layers["spheroid prediction"]
    assert pred.data.shape == truth.shape
    assert tuple(pred.scale) == (spheroid.pixel_size_um,) * 2
    dice = _dice(pred.data > 0, truth)
    assert dice >= 0.9, f"Dice of the preview against the drawn spheroid: {dice:.3f}"
    # the classifier was trained on the painted pixels only, in µm (the layer is calibrated)
    assert widget.classifier.params.mode == "spheroid"
    assert widget.classifier.params.sigma_unit == "um"
    assert len(widget.classifier.y) == int((viewer.layers["spheroid scribbles"].data > 0).sum())

    path = widget.save(tmp_path / "spheroid_clf")
    assert path.name == "spheroid_clf.npz" and path.is_file()
    loaded = classifier.load(path)
    mask = loaded.object_mask(spheroid.image, spheroid.pixel_size_um)
    np.testing.assert_array_equal(mask, pred.data == 2)  # object = 2, as in the scribbles
    assert set(np.unique(pred.data)) <= {0, 2}

    # "Use in batch" hands the saved file to the Batch dock's run_batch keywords
    from napari_il6assay._qt.settings import SHARED

    try:
        assert widget.use_in_batch() == path
        assert SHARED.classifier_path == path
        _, batch = viewer.window.add_plugin_dock_widget("napari-il6assay", "Batch (plate folder)")
        batch.mode.setCurrentText("spheroid")
        assert batch.options()["classifier"] == str(path)
        batch.mode.setCurrentText("livedead")  # two stains: the mode keeps its own foreground
        assert "classifier" not in batch.options()
        assert "not used" in batch.status.text()
    finally:
        SHARED.classifier_path = None


def test_retrain_updates_the_one_prediction_layer(trained, qtbot):
    viewer, widget = trained
    scribbles = viewer.layers["spheroid scribbles"]
    before = np.array(viewer.layers["spheroid prediction"].data)
    # paint the whole left frame strip as background too and train again
    scribbles.data[:, :8] = 1
    scribbles.refresh()
    widget.train()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=240_000)
    names = [layer.name for layer in viewer.layers]
    assert names.count("spheroid prediction") == 1
    assert widget.saved_path is None  # a new classifier, not saved yet
    after = viewer.layers["spheroid prediction"].data
    assert after.shape == before.shape and _dice(after, before) > 0.9


def test_no_scribbles_trains_nothing(make_napari_viewer, spheroid):
    viewer = make_napari_viewer()
    viewer.add_image(spheroid.image, name="spheroid")
    _, widget = viewer.window.add_plugin_dock_widget("napari-il6assay", "Pixel classifier")
    assert widget.train() is None
    widget.add_scribbles()
    assert widget.train() is None  # an empty scribbles layer is no training data
    assert widget.classifier is None and "spheroid prediction" not in viewer.layers


def test_batch_with_classifier_gives_the_preview(request, spheroid):
    """The lead's ``segment_image(..., classifier=)`` gives the labels the GUI previewed."""
    from napari_il6assay.segment import segment_image

    viewer, widget = request.getfixturevalue("trained")
    # the batch's own path: the classifier file the dock saved, through segment_image
    res = segment_image(
        spheroid.image,
        "spheroid",
        pixel_size_um=spheroid.pixel_size_um,
        classifier=widget.classifier,
    )
    preview = viewer.layers["spheroid prediction"].data > 0
    assert _dice(res.labels > 0, preview) >= 0.98
