"""Screenshot of the dose–response panel with a well corrected by hand (issue 16).

Opens a batch results folder, shows a well, erases one object from its Labels layer (as the
eraser would), clicks "Re-measure", and saves the whole window (Curves tab) and the Wells tab.
The results folder gets ``corrections/<plate>_<well>_labels.tif``: use a copy.

Usage (needs a display; ``xvfb-run`` provides one)::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot_correction.py \\
        --results RESULTS --well A05 --out /tmp/correction.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="batch output folder (a copy)")
    parser.add_argument("--well", default="A05")
    parser.add_argument("--plate", default=None)
    parser.add_argument("--out", default="correction.png")
    parser.add_argument("--theme", default="dark", choices=["dark", "light"])
    args = parser.parse_args()

    import napari
    import numpy as np
    from qtpy.QtWidgets import QApplication

    from napari_il6assay._qt.doseresponse_widget import DoseResponseWidget

    viewer = napari.Viewer(show=True)
    viewer.theme = args.theme
    viewer.window.resize(1280, 800)
    panel = DoseResponseWidget(viewer)
    viewer.window.add_dock_widget(panel, name="Dose–response", area="right")

    def wait(cond, timeout: float = 300.0) -> None:
        t0 = time.time()
        while not cond() and time.time() - t0 < timeout:
            QApplication.processEvents()
            time.sleep(0.05)

    panel.load_results(args.results)
    wait(lambda: not panel.busy)
    wells = panel.tables["wells"]
    plate = args.plate
    if plate is None and "plate" in wells.columns:
        plate = str(wells["plate"].iloc[0])
    panel.select_well(args.well, plate)
    wait(lambda: panel.labels_layer(plate or "", args.well) is not None)
    layer = panel.labels_layer(plate or "", args.well)
    data = np.asarray(layer.data).copy()
    areas = np.bincount(data.ravel())
    if len(areas) > 1:  # erase the largest object
        data[data == int(np.argmax(areas[1:])) + 1] = 0
    layer.data = data
    panel.remeasure_selected()
    wait(lambda: not panel.busy)
    out = Path(args.out)
    wells_png = out.with_name(out.stem + "_wells.png")
    for tab, path in ((panel.curves, out), (panel.wells_table, wells_png)):
        panel.tabs.setCurrentWidget(tab)
        for _ in range(40):
            QApplication.processEvents()
        img = viewer.screenshot(str(path), canvas_only=False)
        print(f"wrote {path} ({img.shape[1]}x{img.shape[0]})")
    viewer.close()


if __name__ == "__main__":
    main()
