"""Pixel classifier on the shared hard cases: scribble one image, segment the others.

For each mode folder of ``../shared/data/hard-cases`` that a classifier can serve (colony,
spheroid, spheres), a scribble of 250 object and 250 background pixels is drawn from the
truth mask of the FIRST image as a user of "Train & preview" paints it
(`classifier.scribble_from_truth`: half the background on the preview's false objects; with
``--uniform`` all at random); the classifier trained on it segments every OTHER image
through its mode (``segment_image(..., classifier=...)``) and the Dice of ``labels > 0``
against the truth is printed, beside the automatic mode's.

Run: ``python scripts/classifier_hard_cases.py [--uniform] [HARD_CASES_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2 * (a & b).sum() / s) if s else 1.0


def main() -> None:
    """Print one line per image and a summary per mode."""
    import tifffile

    from napari_il6assay.io.images import read_image
    from napari_il6assay.segment import classifier as C
    from napari_il6assay.segment import segment_image

    args = [a for a in sys.argv[1:] if a != "--uniform"]
    uniform = "--uniform" in sys.argv[1:]
    root = Path(args[0]) if args else (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "hard-cases")  # fmt: skip
    rng = np.random.default_rng(0)
    for mode in ("colony", "spheroid", "spheres"):
        images = sorted((root / mode / "images").glob("*.tif"))
        if not images:
            continue

        def truth_of(p: Path, mode: str = mode) -> np.ndarray:
            return tifffile.imread(root / mode / "truth" / f"{p.stem}_mask.tif") > 0

        first = read_image(images[0])
        t0 = truth_of(images[0])
        scr = np.zeros(t0.shape, np.uint8)
        if uniform:
            for cls, m in ((C.OBJECT, t0), (C.BACKGROUND, ~t0)):
                yy, xx = np.nonzero(m)
                k = rng.choice(len(yy), 250, replace=False)
                scr[yy[k], xx[k]] = cls
        else:
            scr = C.scribble_from_truth(np.asarray(first.data), t0, mode=mode,
                                        pixel_size_um=first.pixel_size_um)  # fmt: skip
        clf = C.train([np.asarray(first.data)], [scr], mode=mode,
                      pixel_sizes_um=[first.pixel_size_um])  # fmt: skip
        with_clf, auto = [], []
        for p in images[1:]:
            img = read_image(p)
            data, truth = np.asarray(img.data), truth_of(p)
            kw = dict(pixel_size_um=img.pixel_size_um, rgb=img.rgb, axes=img.axes)
            a = segment_image(data, mode, **kw)
            c = segment_image(data, mode, classifier=clf, **kw)
            with_clf.append(_dice(c.labels > 0, truth))
            auto.append(_dice(a.labels > 0, truth))
            print(
                f"{mode:9s} {p.name:18s} Dice classifier {with_clf[-1]:.3f}  "
                f"automatic {auto[-1]:.3f}  (auto flag '{a.qc_flag}')"
            )
        print(
            f"{mode}: classifier trained on {images[0].name} (500 px): mean Dice "
            f"{np.mean(with_clf):.3f}, min {np.min(with_clf):.3f}; automatic mean "
            f"{np.mean(auto):.3f}, min {np.min(auto):.3f}"
        )


if __name__ == "__main__":
    main()
