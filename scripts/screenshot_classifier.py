"""Screenshot of the Pixel classifier dock after scribbles, training and preview.

Opens napari at 1280x800 with a synthetic brightfield spheroid, docks the classifier, paints
scribbles in code (lines through the spheroid and near the frame), trains and previews, and
saves a PNG of the whole window.

Usage (needs a display; ``xvfb-run`` provides one)::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot_classifier.py \\
        --out classifier_dock.png [--theme dark|light]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="classifier_dock.png", help="PNG to write")
    parser.add_argument("--theme", default="dark", choices=["dark", "light"])
    args = parser.parse_args()

    import napari
    import numpy as np
    from qtpy.QtWidgets import QApplication
    from scipy import ndimage as ndi

    from napari_il6assay._qt.classifier_widget import ClassifierWidget
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    s = make_spheroid_2d(0)
    truth = s.labels > 0
    viewer = napari.Viewer(show=True)
    viewer.theme = args.theme
    viewer.window.resize(1280, 800)
    image = viewer.add_image(s.image, name="spheroid", scale=(s.pixel_size_um,) * 2)
    widget = ClassifierWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Pixel classifier", area="right")
    scribbles = widget.add_scribbles(image)
    inner = ndi.binary_erosion(truth, iterations=6)
    outer = ~ndi.binary_dilation(truth, iterations=10)
    cy, cx = (int(round(v)) for v in ndi.center_of_mass(truth))
    band = np.zeros(truth.shape, bool)
    band[cy - 1 : cy + 2, :] = True
    band[:, cx - 1 : cx + 2] = True
    scribbles.data[band & outer] = 1
    scribbles.data[band & inner] = 2
    scribbles.refresh()
    widget.train()
    t0 = time.time()
    while widget.worker is not None and time.time() - t0 < 300:
        QApplication.processEvents()
        time.sleep(0.05)
    for _ in range(30):
        QApplication.processEvents()
    out = Path(args.out)
    img = viewer.screenshot(str(out), canvas_only=False)
    print(f"wrote {out} ({img.shape[1]}x{img.shape[0]}); status: {widget.status.text()}")
    viewer.close()


if __name__ == "__main__":
    main()
