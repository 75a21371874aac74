"""Benchmark the `il6assay segment` COMMAND against a floor command, per image beyond the first.

What a user runs is timed: each measurement is a fresh subprocess, on the same files:

- engine: ``il6assay segment IMAGES --mode MODE --out DIR`` (read, segment, measure, tables,
  QC overlay written to ``qc/``);
- floor: a script doing the least any segmentation must do per image: ``read_image`` +
  gray (RGB mean) + ``skimage.filters.gaussian(sigma=2)`` + Otsu + ``skimage.measure.label``
  + object areas (``np.bincount``).

The marginal cost per image, ``(t(N images) - t(1 image)) / (N - 1)``, removes imports and
start-up from both; runs alternate (engine N, floor N, engine 1, floor 1; ``--repeats`` rounds)
and medians are printed with the ratio and its target:

- ``spheroid`` (uint16) and ``colony`` (RGB) on nine 2048 x 2048 images: <= 1.5x;
- ``spheroid3d`` on 64 x 512 x 512 uint16 stacks (three by default): <= 2x.

Run: ``.venv/bin/python benchmarks/bench_cmd_segment.py [--repeats 3] [--cases all]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FLOOR_SCRIPT = r"""
import sys
import numpy as np
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import label
from napari_il6assay.io.images import read_image
for p in sys.argv[1:]:
    im = read_image(p)
    a = np.asarray(im.data, dtype=np.float32)
    if im.rgb:
        a = a[..., :3].mean(axis=-1)
    sm = gaussian(a, sigma=2, preserve_range=True)
    lab = label(sm > threshold_otsu(sm))
    np.bincount(lab.ravel())
"""


def make_images(folder: Path, n2d: int, n3d: int, cases: list[str]) -> dict[str, list[Path]]:
    """Synthetic test images with the project's generators (different seeds)."""
    import tifffile

    from napari_il6assay.synthetic.colony import make_colony_well
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d, make_spheroid_3d

    files: dict[str, list[Path]] = {c: [] for c in cases}
    for i in range(n2d):
        if "spheroid" in cases:
            sph = make_spheroid_2d(i + 1, size=2048, pixel_size_um=0.5, diameter_um=450)
            p = folder / f"spheroid_{i}.tif"
            tifffile.imwrite(p, sph.image.astype(np.uint16))
            files["spheroid"].append(p)
        if "colony" in cases:
            col = make_colony_well(i + 1, size=2048, rgb=True, pixel_size_um=5.0,
                                   area_fraction=0.1 + 0.05 * i)  # fmt: skip
            p = folder / f"colony_{i}.tif"
            tifffile.imwrite(p, np.asarray(col.image).astype(np.uint8), photometric="rgb")
            files["colony"].append(p)
    for i in range(n3d if "spheroid3d" in cases else 0):
        st = make_spheroid_3d(i + 1, shape=(64, 512, 512), voxel_size_um=(4.0, 0.75, 0.75))
        p = folder / f"stack_{i}.tif"
        tifffile.imwrite(p, st.image.astype(np.uint16))
        files["spheroid3d"].append(p)
    return files


ARGS = {
    "spheroid": ["--pixel-size", "0.5"],
    "colony": ["--pixel-size", "5"],
    "spheroid3d": ["--voxel-size", "4,0.75,0.75"],
}
TARGET = {"spheroid": 1.5, "colony": 1.5, "spheroid3d": 2.0}


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd[:6])} ...\n{r.stderr}")
    return dt


def engine(mode: str, files: list[Path], out: Path) -> float:
    return timed([sys.executable, "-m", "napari_il6assay", "segment", *map(str, files),
                  "--mode", mode, "--out", str(out), *ARGS[mode]])  # fmt: skip


def floor(files: list[Path]) -> float:
    return timed([sys.executable, "-c", FLOOR_SCRIPT, *map(str, files)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds (median)")
    ap.add_argument("--images", type=int, default=9, help="2D images per mode (default 9)")
    ap.add_argument("--stacks", type=int, default=3, help="stacks for spheroid3d (default 3)")
    ap.add_argument("--cases", default="spheroid,colony,spheroid3d")
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 free cores wanted)")
    ok_all = True
    with tempfile.TemporaryDirectory(prefix="bench_cmd_segment_") as tmp:
        tmp = Path(tmp)
        files = make_images(tmp, args.images, args.stacks, cases)
        print(
            f"{'mode':<11} {'images':>6} {'floor s/img':>11} {'engine s/img':>12} "
            f"{'ratio':>6} {'target':>6}  ok   (marginal per image beyond the first)"
        )
        for mode in cases:
            fs = files[mode]
            n = len(fs)
            engine(mode, fs[:1], tmp / "warm")  # file cache, .pyc
            floor(fs[:1])
            e_m, f_m = [], []
            for r in range(args.repeats):
                en = engine(mode, fs, tmp / f"out_{mode}_{r}")
                fn = floor(fs)
                e1 = engine(mode, fs[:1], tmp / f"out1_{mode}_{r}")
                f1 = floor(fs[:1])
                e_m.append((en - e1) / (n - 1))
                f_m.append((fn - f1) / (n - 1))
            e, f = statistics.median(e_m), statistics.median(f_m)
            ok = e / f <= TARGET[mode]
            ok_all &= ok
            print(
                f"{mode:<11} {n:>6} {f:11.3f} {e:12.3f} {e / f:6.2f} {TARGET[mode]:6.1f}  "
                f"{'yes' if ok else 'NO'}"
            )
            qc = sorted((tmp / f"out_{mode}_0" / "qc").glob("*"))
            if qc:
                kb = np.mean([p.stat().st_size for p in qc]) / 1024
                print(f"{'':<11} qc overlays: {len(qc)} x {qc[0].suffix}, {kb:.0f} kB each")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
