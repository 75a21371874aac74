"""Screenshot of napari with the plugin's panels docked, on the sample experiment's results.

Runs the sample experiment through the batch engine (or uses ``--results DIR``), opens napari
at 1280x800, docks the dose–response panel (and the plate layout), clicks a data point so
the well's image and labels show in the viewer, and saves a PNG of the whole window.

Usage (needs a display; ``xvfb-run`` provides one)::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot_gui.py \\
        --out gui_screenshot.png [--results il6assay-demo] [--theme dark|light]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sample_results(out: Path) -> Path:
    """Run the sample experiment through `run_batch` into ``out`` (reused when present)."""
    import json

    if (out / "wells.csv").is_file():
        return out
    from napari_il6assay.batch.run import run_batch

    sample = REPO / "sample_data"
    info = json.loads((sample / "acquisition.json").read_text()) if (
        sample / "acquisition.json").is_file() else {}
    mode = info.get("mode", "colony")
    images = sample / info["images"] if "images" in info else sample / "images"
    folder = images if images.is_dir() else sample
    run_batch(folder, sample / "layout.csv", mode, out, workers=1, save_labels=True, quiet=True,
              report=False, overwrite=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gui_screenshot.png", help="PNG to write")
    parser.add_argument("--results", help="batch output folder (default: run the sample)")
    parser.add_argument("--theme", default="dark", choices=["dark", "light"])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args()

    results = Path(args.results) if args.results else sample_results(
        Path(tempfile.gettempdir()) / "il6assay_screenshot_results")

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_il6assay._qt.doseresponse_widget import DoseResponseWidget
    from napari_il6assay._qt.layout_widget import LayoutWidget

    viewer = napari.Viewer(show=True)
    viewer.theme = args.theme
    win = viewer.window._qt_window
    win.showNormal()
    win.resize(args.width, args.height)
    panel = DoseResponseWidget(viewer)
    viewer.window.add_dock_widget(panel, name="Dose–response", area="right")
    panel.load_results(results)
    run_layout = panel.results.run_info.get("layout", {}).get("path") if panel.results else None
    layout_file = Path(run_layout) if run_layout else REPO / "sample_data" / "layout.csv"
    if layout_file.is_file():
        lw = LayoutWidget(viewer)
        viewer.window.add_dock_widget(lw, name="Plate layout", area="left")
        lw.load(layout_file)
        lw.plate.set_color_by("concentration")
        lw.color_by.setCurrentIndex(lw.color_by.findData("concentration"))
    # Show one well as a click on a point would: the first resistant-line well with a dose.
    wells = panel.tables["wells"]
    cand = wells[(wells["role"].astype(str) == "sample")]
    if len(cand):
        r = cand.iloc[len(cand) // 2]
        panel.select_well(str(r["well"]), r.get("plate"))
    for _ in range(20):
        QApplication.processEvents()
    win.resize(args.width, args.height)
    for _ in range(20):
        QApplication.processEvents()
    img = win.grab()
    img.save(str(args.out))
    print(f"wrote {args.out} ({img.width()}x{img.height()}) from results in {results}")
    viewer.close()


if __name__ == "__main__":
    main()
