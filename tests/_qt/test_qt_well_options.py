"""GUI overrides of the well step (issue 9): the segment form offers them from the engine's
signature, the batch form passes them to `run_batch`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_segment_form_offers_the_well_options():
    from napari_il6assay._qt.segment_widget import mode_specs

    for mode in ("colony", "spheres"):
        specs = {s.name: s for s in mode_specs(mode)}
        assert specs["well"].choices == ["auto", "circle", "none"]
        assert specs["well"].default == "auto"
        assert "well_diameter_um" in specs and specs["well_diameter_um"].unit == "µm"
        assert "roi" in specs


def test_batch_form_passes_the_well_options(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-il6assay", "Batch (plate folder)")
    w.mode.setCurrentText("colony")
    assert w.well.isEnabled()
    assert "well" not in w.options()  # auto is the default
    w.well.setCurrentText("none")
    w.roi.setText("10,20,300,200")
    w.well_diameter.setText("34800")
    opts = w.options()
    assert opts["well"] == "none" and opts["roi"] == "10,20,300,200"
    assert opts["well_diameter_um"] == 34800.0
    w.roi.setText("10,20")
    with pytest.raises(ValueError, match="roi"):
        w.options()
    w.mode.setCurrentText("livedead")
    assert not w.well.isEnabled() and "well" not in w.options()
