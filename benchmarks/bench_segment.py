"""Segmentation speed against a plain floor pipeline, measured side by side in one run.

For each case the same TIFF file is processed by

- the floor: ``read_image`` + ``skimage.filters.gaussian(sigma=2)`` + Otsu threshold +
  ``skimage.measure.label`` + object areas (``np.bincount``), and
- the engine: ``segment_file`` (read + segment + measure + QC overlay),

best of N runs each (interleaved, so machine load hits both alike), and the ratio
engine / floor is printed with its target:

- ``spheroid`` and ``colony`` on a 2048 x 2048 uint16 image: within 1.5x,
- ``spheroid3d`` on a 64 x 512 x 512 uint16 stack: within 2x.

Run: ``python benchmarks/bench_segment.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _floor(path: Path) -> int:
    from skimage.filters import gaussian, threshold_otsu
    from skimage.measure import label

    from napari_il6assay.io.images import read_image

    img = np.asarray(read_image(path).data)
    sm = gaussian(img, sigma=2, preserve_range=True)
    t = threshold_otsu(sm)
    lab = label(sm > t)
    areas = np.bincount(lab.ravel())
    return int(areas.size)


def _engine(path: Path, mode: str, **kw) -> float:
    from napari_il6assay.segment import segment_file

    res = segment_file(path, mode, **kw)
    return float(res.measures["readout"])


def _best(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cases(tmp: Path) -> list[tuple[str, Path, dict, float]]:
    import tifffile

    from napari_il6assay.synthetic.colony import make_colony_well
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d, make_spheroid_3d

    sph = make_spheroid_2d(1, size=2048, pixel_size_um=0.5, diameter_um=450)
    p1 = tmp / "spheroid_2048.tif"
    tifffile.imwrite(p1, sph.image.astype(np.uint16))
    col = make_colony_well(1, size=2048, rgb=False, pixel_size_um=5.0, area_fraction=0.3)
    p2 = tmp / "colony_2048.tif"
    tifffile.imwrite(p2, (col.image.astype(np.uint16) * 257))
    st = make_spheroid_3d(1, shape=(64, 512, 512), voxel_size_um=(4.0, 0.75, 0.75))
    p3 = tmp / "spheroid3d_64x512x512.tif"
    tifffile.imwrite(p3, st.image.astype(np.uint16))
    return [
        ("spheroid", p1, {"pixel_size_um": 0.5}, 1.5),
        ("colony", p2, {"pixel_size_um": 5.0}, 1.5),
        ("spheroid3d", p3, {"voxel_size_um": (4.0, 0.75, 0.75)}, 2.0),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs per timing (best is kept)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cases = _cases(tmp)
        print(f"{'mode':<11} {'shape':<16} {'floor s':>8} {'engine s':>9} {'ratio':>6} "
              f"{'target':>6}  ok")
        all_ok = True
        for mode, path, kw, target in cases:
            _floor(path)
            _engine(path, mode, **kw)  # warm caches and imports for both
            tf = np.inf
            te = np.inf
            for _ in range(args.repeats):
                tf = min(tf, _best(lambda p=path: _floor(p), 1))
                te = min(te, _best(lambda p=path, m=mode, k=kw: _engine(p, m, **k), 1))
            import tifffile

            shape = "x".join(str(s) for s in tifffile.TiffFile(path).series[0].shape)
            ratio = te / tf
            ok = ratio <= target
            all_ok &= ok
            print(f"{mode:<11} {shape:<16} {tf:8.3f} {te:9.3f} {ratio:6.2f} {target:6.1f}  "
                  f"{'yes' if ok else 'NO'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
