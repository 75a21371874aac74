"""Segment & measure widget: runs the engine in a worker, adds labels with features."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    # docked the way napari does it (through the manifest; the widget gets a viewer proxy)
    _, widget = viewer.window.add_plugin_dock_widget("napari-il6assay", "Segment & measure")
    return viewer, widget


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)


def test_segment_spheroid_adds_labels_with_features(viewer_and_widget, qtbot):
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    viewer, widget = viewer_and_widget
    sample = make_spheroid_2d(3, size=256, pixel_size_um=4.0, diameter_um=400.0)
    viewer.add_image(sample.image, name="spheroid", scale=(4.0, 4.0))
    widget.select_layers(["spheroid"])
    widget.mode.setCurrentText("spheroid")
    # Parameters come from the engine with its defaults and units.
    names = widget.params.values()
    assert "polarity" in names and names["polarity"] == "auto"

    worker = widget.run()
    assert worker is not None
    _wait(qtbot, widget)

    labels = viewer.layers["spheroid labels"]
    assert labels.scale.tolist() == [4.0, 4.0]
    assert labels.data.shape == sample.image.shape[:2]
    feats = labels.features
    n = int(labels.data.max())
    assert n >= 1 and len(feats) == n
    assert feats["index"].tolist() == list(range(1, n + 1))
    # Calibrated from the layer scale: the area in um^2 is the pixel count x 16.
    main = feats.sort_values("area_px").iloc[-1]
    assert main["area_um2"] == pytest.approx(main["area_px"] * 16.0)
    truth_area = float(sample.labels.astype(bool).sum()) * 16.0
    assert main["area_um2"] == pytest.approx(truth_area, rel=0.08)
    outline = viewer.layers["spheroid outlines"]
    assert outline.contour > 0
    np.testing.assert_array_equal(outline.data, labels.data)
    # The objects table shows the same rows, sorts, and exports.
    model = widget.table.model
    assert model.rowCount() == n
    assert "area_um2" in model.frame.columns


def test_objects_table_sorts_and_exports(viewer_and_widget, qtbot, tmp_path):
    import pandas as pd
    from qtpy.QtCore import Qt

    from napari_il6assay.synthetic.spheres import make_sphere_well

    viewer, widget = viewer_and_widget
    sample = make_sphere_well(1)
    img = sample.image
    if img.ndim == 2 and max(img.shape) > 512:
        step = int(np.ceil(max(img.shape) / 512))
        img, px = img[::step, ::step], sample.pixel_size_um * step
    else:
        px = sample.pixel_size_um
    viewer.add_image(img, name="spheres", scale=(px, px))
    widget.select_layers(["spheres"])
    widget.mode.setCurrentText("spheres")
    widget.run()
    _wait(qtbot, widget)
    model = widget.table.model
    assert model.rowCount() >= 3
    col = list(model.frame.columns).index("area_um2")
    model.sort(col, Qt.SortOrder.DescendingOrder)
    areas = model.frame["area_um2"].to_numpy()
    assert np.all(np.diff(areas) <= 0)
    out = widget.table.export(tmp_path / "objects.csv")
    back = pd.read_csv(out)
    assert len(back) == model.rowCount()
    assert back["area_um2"].iloc[0] == pytest.approx(areas.max())


def test_failure_shows_a_notification(viewer_and_widget, qtbot, monkeypatch):
    from napari_il6assay._qt import segment_widget as sw

    viewer, widget = viewer_and_widget
    # A 2D plane given to the 3D mode: the engine refuses it with a SegmentationError.
    viewer.add_image(np.random.default_rng(0).random((64, 64)), name="plane")
    widget.select_layers(["plane"])
    widget.mode.setCurrentText("spheroid3d")
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    widget.run()
    _wait(qtbot, widget)
    assert len(shown) == 1
    assert shown[0].startswith("Segmentation failed:") and "spheroid3d" in shown[0]
    assert "plane labels" not in viewer.layers
    assert widget.status.text().startswith("Failed:")
    assert sw  # module imported


def test_parameter_change_reruns_when_auto(viewer_and_widget, qtbot):
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    viewer, widget = viewer_and_widget
    sample = make_spheroid_2d(5, size=192, pixel_size_um=4.0, diameter_um=300.0)
    viewer.add_image(sample.image, name="s", scale=(4.0, 4.0))
    widget.select_layers(["s"])
    widget.mode.setCurrentText("spheroid")
    widget._debounce.setInterval(50)
    widget.auto.setChecked(True)
    widget.params.set_value("polarity", "dark")
    qtbot.waitUntil(lambda: "s labels" in viewer.layers, timeout=60_000)
    _wait(qtbot, widget)
    assert int(viewer.layers["s labels"].data.max()) >= 1


def test_parameter_form_passes_typed_values(viewer_and_widget):
    _, widget = viewer_and_widget
    widget.mode.setCurrentText("colony")
    values = widget.params.values()
    # "auto" choices are None (the engine decides), picked choices keep the engine's type
    assert values["plate_format"] is None
    widget.params.set_value("plate_format", 96)
    assert widget.params.values()["plate_format"] == 96
    assert widget.params.widget("colony_radius_um").native.suffix() == " µm"
    widget.mode.setCurrentText("spheres")
    assert widget.params.values()["min_diameter_um"] == pytest.approx(50.0)


def test_cancel_drops_the_remaining_images(viewer_and_widget, qtbot):
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    viewer, widget = viewer_and_widget
    for i in range(3):
        img = make_spheroid_2d(10 + i, size=160, pixel_size_um=4.0, diameter_um=250.0).image
        viewer.add_image(img, name=f"s{i}", scale=(4.0, 4.0))
    widget.select_layers(["s0", "s1", "s2"])
    widget.mode.setCurrentText("spheroid")
    shown = widget._on_result

    def show_then_cancel(item):  # cancel as soon as the first image is shown (main thread)
        shown(item)
        widget.cancel()

    widget._on_result = show_then_cancel
    widget.run()
    assert widget.cancel_button.isEnabled()
    _wait(qtbot, widget)
    done = [n for n in ("s0", "s1", "s2") if f"{n} labels" in viewer.layers]
    assert done == ["s0"]
    assert widget.status.text() == "Cancelled."
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_colony_well_of_the_sample_data(viewer_and_widget, qtbot, repo_root):
    """A sample-data well opened through the plugin's reader: the widget's readout is the
    engine's, calibrated from the file (30 um/px), and close to the drawn truth."""
    import pandas as pd

    from napari_il6assay.segment import segment_file

    viewer, widget = viewer_and_widget
    path = repo_root / "sample_data" / "B03.png"
    if not path.is_file():
        pytest.fail("sample_data/B03.png is missing")
    viewer.open(path, plugin="napari-il6assay")
    layer = viewer.layers[-1]
    assert layer.scale[-1] == pytest.approx(30.0)
    widget.select_layers([layer.name])
    widget.mode.setCurrentText("colony")
    widget.run()
    _wait(qtbot, widget)
    labels = viewer.layers[f"{layer.name} labels"]
    measures = labels.metadata["il6assay"]["measures"]
    direct = segment_file(path, "colony")
    assert measures["readout"] == pytest.approx(direct.readout, abs=1e-9)
    np.testing.assert_array_equal(labels.data, direct.labels)
    truth = pd.read_csv(repo_root / "sample_data" / "truth.csv").set_index("well")
    assert measures["readout"] == pytest.approx(truth.loc["B03", "readout"], abs=0.03)
    feats = labels.features
    assert feats["area_um2"].to_numpy() == pytest.approx(feats["area_px"].to_numpy() * 900.0)


def test_pixel_size_comes_from_the_layer(viewer_and_widget):
    viewer, widget = viewer_and_widget
    viewer.add_image(np.zeros((32, 32)), name="cal", scale=(0.65, 0.65))
    viewer.add_image(np.zeros((32, 32)), name="raw")
    widget.select_layers(["cal"])
    assert widget.pixel_size.specialValueText() == "layer: 0.65 µm/px"
    assert widget.jobs()[0].pixel_size_um == pytest.approx(0.65)
    widget.select_layers(["raw"])
    assert "uncalibrated" in widget.pixel_size.specialValueText()
    assert widget.jobs()[0].pixel_size_um is None
    widget.pixel_size.setValue(2.5)  # an explicit value wins over the layer
    assert widget.jobs()[0].pixel_size_um == pytest.approx(2.5)
