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
    info = (
        json.loads((sample / "acquisition.json").read_text())
        if (sample / "acquisition.json").is_file()
        else {}
    )
    mode = info.get("mode", "colony")
    images = sample / info["images"] if "images" in info else sample / "images"
    folder = images if images.is_dir() else sample
    run_batch(
        folder,
        sample / "layout.csv",
        mode,
        out,
        workers=1,
        save_labels=True,
        quiet=True,
        report=False,
        overwrite=True,
        pixel_size_um=info.get("pixel_size_um"),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gui_screenshot.png", help="PNG to write")
    parser.add_argument("--results", help="batch output folder (default: run the sample)")
    parser.add_argument("--theme", default="dark", choices=["dark", "light"])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args()

    results = (
        Path(args.results)
        if args.results
        else sample_results(Path(tempfile.gettempdir()) / "il6assay_screenshot_results")
    )

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_il6assay._qt.doseresponse_widget import DoseResponseWidget
    from napari_il6assay._qt.layout_widget import LayoutWidget

    viewer = napari.Viewer(show=True)
    viewer.theme = args.theme
    viewer.window.resize(args.width, args.height)
    panel = DoseResponseWidget(viewer)
    panel_dock = viewer.window.add_dock_widget(panel, name="Dose–response", area="right")
    panel.load_results(results)
    run_layout = panel.results.run_info.get("layout", {}).get("path") if panel.results else None
    layout_file = Path(run_layout) if run_layout else REPO / "sample_data" / "layout.csv"
    layout_dock = None
    if layout_file.is_file():
        lw = LayoutWidget(viewer)
        layout_dock = viewer.window.add_dock_widget(
            lw, name="Plate layout", area="right", tabify=True
        )
        lw.load(layout_file)
        lw.color_by.setCurrentIndex(lw.color_by.findData("concentration"))
    # Show one well as a click on a point would: a resistant-line well in the middle of the
    # dose range.
    wells = panel.tables["wells"]
    cand = wells[
        (wells["role"].astype(str) == "sample") & (wells["cell_line"].astype(str).str.endswith("E"))
    ]
    if len(cand):
        r = cand.iloc[len(cand) // 2]
        panel.select_well(str(r["well"]), r.get("plate"))

    def settle() -> None:
        for _ in range(30):
            QApplication.processEvents()
        viewer.window.resize(args.width, args.height)
        for _ in range(30):
            QApplication.processEvents()

    out = Path(args.out)
    shots = [(panel_dock, out)]
    if layout_dock is not None:
        shots.append((layout_dock, out.with_name(out.stem + "_layout" + out.suffix)))
    shots.append((panel_dock, out.with_name(out.stem + "_combination" + out.suffix)))
    for i, (dock, path) in enumerate(shots):
        dock.show()
        dock.raise_()
        if i == len(shots) - 1:
            panel.tabs.setCurrentWidget(panel.combo)
        settle()
        img = viewer.screenshot(str(path), canvas_only=False)
        print(f"wrote {path} ({img.shape[1]}x{img.shape[0]}) from results in {results}")
    # Segment & measure on one sample image opened through the plugin's reader.
    first = sorted((REPO / "sample_data").glob("A0*.png"))
    if first:
        import time

        from napari_il6assay._qt.segment_widget import SegmentWidget

        for layer in viewer.layers:
            layer.visible = False
        viewer.open(first[0], plugin="napari-il6assay")
        sw = SegmentWidget(viewer)
        seg_dock = viewer.window.add_dock_widget(
            sw, name="Segment & measure", area="right", tabify=True
        )
        sw.select_layers([viewer.layers[-1].name])
        sw.mode.setCurrentText("colony")
        sw.run()
        t0 = time.time()
        while sw.worker is not None and time.time() - t0 < 120:
            QApplication.processEvents()
            time.sleep(0.05)
        viewer.reset_view()
        seg_dock.raise_()
        settle()
        path = out.with_name(out.stem + "_segment" + out.suffix)
        img = viewer.screenshot(str(path), canvas_only=False)
        print(f"wrote {path} ({img.shape[1]}x{img.shape[0]})")
    viewer.close()


if __name__ == "__main__":
    main()
