"""Pixel classifier speed, side by side with the automatic spheroid mode, in one run.

Three 2048 x 2048 brightfield spheroid images (the package's generator, tiled from 512 px
wells so the content stays realistic) with a 500-pixel scribble each:

- train: `classifier.train` on the three images (features + forest); target < 30 s;
- predict: ``segment_image(image, "spheroid", classifier=...)`` on one image (features,
  forest, upsampling, the mode's own object choice and measurement); target < 3 s;
- auto: ``segment_image(image, "spheroid")`` on the same image, for scale.

Best of N runs (interleaved). Run: ``python benchmarks/bench_classifier.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def _images(n: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    images, scribbles = [], []
    rng = np.random.default_rng(0)
    for i in range(n):
        tiles = [make_spheroid_2d(10 * i + k, size=512) for k in range(4)]
        img = np.block([[tiles[0].image, tiles[1].image], [tiles[2].image, tiles[3].image]])
        img = np.tile(img, (2, 2))  # 2048 x 2048
        truth = np.block([[tiles[0].labels, tiles[1].labels],
                          [tiles[2].labels, tiles[3].labels]]) > 0  # fmt: skip
        truth = np.tile(truth, (2, 2))
        s = np.zeros(truth.shape, np.uint8)
        for cls, m in ((2, truth), (1, ~truth)):
            yy, xx = np.nonzero(m)
            k = rng.choice(len(yy), 250, replace=False)
            s[yy[k], xx[k]] = cls
        images.append(img)
        scribbles.append(s)
    return images, scribbles


def _train(C: Any, images: list[np.ndarray], scribbles: list[np.ndarray]) -> Any:
    """Train on the three images, the forest included (it is otherwise fitted on first use)."""
    clf = C.train(images, scribbles, mode="spheroid", pixel_sizes_um=[2.0] * 3)
    clf.forest()
    return clf


def main() -> None:
    """Print the timings, the ratios and the targets."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from napari_il6assay.segment import classifier as C
    from napari_il6assay.segment import segment_image

    images, scribbles = _images()
    # wall time is what a user waits; CPU time (all threads of the process) is what the
    # run costs, and the steadier figure on a shared machine
    best = {k: [np.inf, np.inf] for k in ("train", "predict", "auto")}

    def timed(key: str, fn: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        best[key][0] = min(best[key][0], time.perf_counter() - t)
        best[key][1] = min(best[key][1], time.process_time() - c)
        return out

    for _ in range(args.repeats):
        clf = timed("train", lambda: _train(C, images, scribbles))
        timed("predict", lambda c=clf: segment_image(images[0], "spheroid", pixel_size_um=2.0,
                                                     classifier=c))  # fmt: skip
        timed("auto", lambda: segment_image(images[0], "spheroid", pixel_size_um=2.0))
    (tw, tc), (pw, pc), (aw, ac) = best["train"], best["predict"], best["auto"]
    print(f"train 3 x 2048^2:   {tw:6.2f} s wall {tc:6.2f} s CPU   (target < 30 s)")
    print(f"predict 2048^2:     {pw:6.2f} s wall {pc:6.2f} s CPU   (target < 3 s)")
    print(f"automatic spheroid: {aw:6.2f} s wall {ac:6.2f} s CPU   "
          f"(classifier / automatic = {pw / aw:.2f} wall, {pc / ac:.2f} CPU)")  # fmt: skip


if __name__ == "__main__":
    main()
