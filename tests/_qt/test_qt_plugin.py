"""The widgets as napari sees them: manifest contributions, docking by name, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

WIDGETS = {
    "Segment & measure": "SegmentWidget",
    "Plate layout": "LayoutWidget",
    "Dose–response panel": "DoseResponseWidget",
    "Batch (plate folder)": "BatchWidget",
    "IL-6 standard curve (ELISA)": "QuantifyWidget",
    "Pixel classifier": "ClassifierWidget",
}


def test_manifest_contributes_widgets_under_layers_measure():
    from npe2 import PluginManifest

    mf = PluginManifest.from_distribution("napari-il6assay")
    names = {w.display_name for w in mf.contributions.widgets}
    assert names == set(WIDGETS)
    menu = mf.contributions.menus["napari/layers/measure"]
    ids = {item.command for item in menu}
    assert ids == {
        f"napari-il6assay.{n}_widget"
        for n in ("segment", "layout", "doseresponse", "batch", "quantify")
    }
    # reader and sample data are still there
    assert mf.contributions.readers and len(mf.contributions.sample_data) == 6


@pytest.mark.gui
@pytest.mark.parametrize("name", list(WIDGETS))
def test_widget_docks_through_napari(make_napari_viewer, name):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-il6assay", name)
    import numpy as np

    assert type(widget).__name__ == WIDGETS[name]
    # napari hands plugins a proxy of the viewer: it is the same viewer's content
    viewer.add_image(np.zeros((4, 4)), name="probe")
    assert "probe" in widget.viewer.layers


def test_widget_modules_import_nothing_heavy():
    code = (
        "import sys, json\n"
        "import napari_il6assay._qt.segment_widget, napari_il6assay._qt.layout_widget\n"
        "import napari_il6assay._qt.doseresponse_widget, napari_il6assay._qt.batch_widget\n"
        "import napari_il6assay._qt.quantify_widget\n"
        "import napari_il6assay._qt.classifier_widget, napari_il6assay.session.exclusions\n"
        "heavy = ('matplotlib', 'skimage', 'scipy', 'dask', 'distributed', 'openpyxl', 'napari')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
