"""Batch scaling: speed-up with 2 workers vs 1, and peak memory for 384 vs 96 images.

Prints, in one run:

1. ``il6assay batch`` on 96 colony well photos (RGB, ``--size`` pixels, default 1024) with
   ``--workers 1`` and ``--workers 2``: wall time end to end and of the image phase
   (``run.json`` ``timing.images_s``), and the speed-ups (target >= 1.7x on 2 cores).
2. The same command on 96 and on 384 images (four plates of 96, ``--rss-size`` pixels,
   default 512) with 2 workers: the peak resident memory of the whole process tree (the
   command, its fork server, workers and workbook process), sampled every 0.1 s with
   psutil, and the largest single process (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a
   wrapper that waits for the tree); ratio 384/96 (target <= 1.2x).

Every run is a fresh subprocess, so imports, the workers' start and the tables/exports/report
stages are all included. The images are 12 distinct synthetic wells (a dose series of
stained area) copied under every well name of the plate, so generating them stays cheap
while each image still costs a full read + segmentation.

Usage::

    .venv/bin/python benchmarks/bench_batch.py [--size 1024] [--rss-size 512] [--keep DIR]
        [--part all|speed|memory]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROWS = "ABCDEFGH"
CONC_NM = [0, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000]


def make_plate_images(folder: Path, size: int, seed: int = 0) -> None:
    """12 distinct colony wells (one per column), copied down the 8 rows of a 96-well plate."""
    from PIL import Image

    from napari_il6assay.synthetic import make_colony_well

    folder.mkdir(parents=True, exist_ok=True)
    px = 9000.0 / size  # a ~9 mm field whatever the pixel count
    for col, c in enumerate(CONC_NM, start=1):
        frac = 0.45 / (1 + (c / 30.0)) if c else 0.45
        s = make_colony_well(
            seed + col,
            area_fraction=max(frac, 0.005),
            size=size,
            pixel_size_um=px,
            colony_radius_um=90.0,
        )
        first = folder / f"A{col:02d}.png"
        Image.fromarray(s.image).save(first)
        for r in ROWS[1:]:
            shutil.copyfile(first, folder / f"{r}{col:02d}.png")


def write_layout(path: Path) -> None:
    """Rows A-D parental, E-H resistant; column 1 vehicle, 2-12 eribulin doses."""
    lines = ["well,cell_line,drug,concentration,unit,role,replicate,parental"]
    for ri, r in enumerate(ROWS):
        line, parental = ("MDA-MB-231", "") if ri < 4 else ("MDA-MB-231E", "MDA-MB-231")
        for col, c in enumerate(CONC_NM, start=1):
            role = "vehicle" if c == 0 else "sample"
            lines.append(f"{r}{col:02d},{line},eribulin,{c},nM,{role},{ri % 4 + 1},{parental}")
    path.write_text("\n".join(lines) + "\n")


def _cpu_task(_: int) -> float:
    """A fixed amount of single-threaded numpy + Python work; returns its duration."""
    t = time.perf_counter()
    a = np.random.default_rng(0).random((400, 400))
    for _ in range(40):
        np.sort(a, axis=None)
        a @ a.T
    s = 0
    for i in range(2_000_000):
        s += i
    return time.perf_counter() - t


def machine_parallelism(n_tasks: int = 4) -> float:
    """Speed-up of a trivially parallel CPU task with 2 processes vs 1, measured now.

    On idle cores this is ~2.0; when other programs occupy a core it drops towards 1.0, and
    no batch engine can beat it. Printed beside the batch speed-up as the machine's ceiling.
    """
    import multiprocessing as mp

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    walls = {}
    for n in (1, 2):
        with mp.get_context("spawn").Pool(n) as pool:
            pool.map(_cpu_task, range(n))  # warm up the workers
            t = time.perf_counter()
            pool.map(_cpu_task, range(n_tasks))
            walls[n] = time.perf_counter() - t
    return walls[1] / walls[2]


_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "print(json.dumps({'rc': rc, 'maxrss_kb': "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


def run_batch_cli(folder: Path, layout: Path, out: Path, workers: int, px: float) -> dict:
    """One ``il6assay batch`` in a fresh process tree; wall time and memory."""
    import psutil

    cmd = [
        sys.executable,
        "-m",
        "napari_il6assay",
        "batch",
        str(folder),
        "--layout",
        str(layout),
        "--mode",
        "colony",
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--pixel-size",
        f"{px:.6g}",
        "--quiet",
    ]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-c", _WRAPPER, *cmd], stdout=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            total = 0
            try:
                procs = [proc, *proc.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, total)
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    res = json.loads(stdout.strip().splitlines()[-1])
    info = json.loads((out / "run.json").read_text())
    busy = sum(
        json.loads(p.read_text())["seconds"]
        for p in (out / "_parts").glob("*.json")
        if not p.name.endswith(".error.json")
    )
    return {
        "load_before": load_before,
        "worker_busy_s": busy,
        "rc": res["rc"],
        "wall_s": wall,
        "images_s": info["timing"]["images_s"],
        "after_images_s": info["timing"]["total_s"] - info["timing"]["images_s"],
        "tree_peak_mb": peak / 2**20,
        "max_process_mb": res["maxrss_kb"] / 1024,
        "n_images": info["n_images"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1024, help="image size of the speed test")
    ap.add_argument("--rss-size", type=int, default=512, help="image size of the memory test")
    ap.add_argument("--keep", type=Path, default=None, help="keep the data and outputs here")
    ap.add_argument(
        "--part",
        choices=("all", "speed", "memory"),
        default="all",
        help="run only one of the two measurements",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="speed runs per worker count, alternating 1, 2, 1, 2, ...; the "
        "fastest of each is compared (less noise on a shared machine)",
    )
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"cores available: {len(os.sched_getaffinity(0))}; data in {root}")
    layout = root / "layout.csv"
    write_layout(layout)

    t = time.perf_counter()
    speed = root / "speed" / "plate"
    mem1 = root / "mem96"
    mem4 = root / "mem384"
    if args.part in ("all", "speed") and not speed.is_dir():
        make_plate_images(speed, args.size)
    if args.part in ("all", "memory") and not mem4.is_dir():
        make_plate_images(mem1 / "P1", args.rss_size)
        for i in range(1, 5):  # four plates of 96: the same files, so only the count changes
            shutil.copytree(mem1 / "P1", mem4 / f"P{i}")
    print(f"images ready in {time.perf_counter() - t:.1f} s")
    ok = True
    if args.part in ("all", "speed"):
        ok &= speed_test(root, speed, layout, args.size, args.repeat)
    if args.part in ("all", "memory"):
        ok &= memory_test(root, mem1, mem4, layout, args.rss_size)
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    print("\nresult:", "targets met" if ok else "target missed (see above)")
    return 0


def speed_test(root: Path, speed: Path, layout: Path, size: int, repeat: int = 1) -> bool:
    """96 images, 1 then 2 workers (``repeat`` times, alternating); prints the speed-ups."""
    print(f"\n1) speed: 96 images of {size}x{size} px, RGB colony wells")
    ceiling = machine_parallelism()
    print(
        f"   machine check now: a trivially parallel CPU task runs {ceiling:.2f}x faster on 2 "
        f"processes than on 1 (2.0 = both cores free)"
    )
    runs: dict[int, dict] = {}
    for _ in range(max(1, repeat)):
        for w in (1, 2):
            shutil.rmtree(root / f"out_speed_w{w}", ignore_errors=True)
            r = run_batch_cli(speed, layout, root / f"out_speed_w{w}", w, 9000.0 / size)
            if w not in runs or r["images_s"] < runs[w]["images_s"]:
                runs[w] = r
            busy = r["worker_busy_s"] / r["images_s"]
            print(
                f"   workers={w}: {r['wall_s']:7.1f} s end to end, {r['images_s']:7.1f} s "
                f"images, {r['after_images_s']:5.1f} s tables+exports+report (rc {r['rc']}); "
                f"worker busy {r['worker_busy_s']:.1f} s = {busy:.2f} workers kept busy; "
                f"load average before {r['load_before']:.1f}"
            )
    if repeat > 1:
        print(
            f"   fastest of {repeat}: workers=1 {runs[1]['images_s']:.1f} s, workers=2 "
            f"{runs[2]['images_s']:.1f} s (image phase)"
        )
    sp_img = runs[1]["images_s"] / runs[2]["images_s"]
    sp_all = runs[1]["wall_s"] / runs[2]["wall_s"]
    print(
        f"   speed-up 2 vs 1 workers: images {sp_img:.2f}x, end to end {sp_all:.2f}x "
        f"(target >= 1.7x)"
    )
    after = machine_parallelism()
    print(
        f"   machine check after: {after:.2f}x; batch image-phase speed-up / machine ceiling "
        f"= {sp_img / max(ceiling, after):.2f}"
    )
    per_img = [runs[w]["worker_busy_s"] / runs[w]["n_images"] for w in (1, 2)]
    print(
        f"   seconds per image inside a worker: {per_img[0]:.2f} (1 worker), {per_img[1]:.2f} "
        f"(2 workers); equal values mean the 2 cores were free, a ratio near 2 that other "
        f"processes took one"
    )
    return sp_img >= 1.7


def memory_test(root: Path, mem1: Path, mem4: Path, layout: Path, size: int) -> bool:
    """96 vs 384 images with 2 workers; prints the peak-memory ratios."""
    for old in ("out_mem96", "out_mem384"):
        shutil.rmtree(root / old, ignore_errors=True)
    print(f"\n2) memory: 96 vs 384 images of {size}x{size} px, 2 workers")
    mems = {}
    for name, folder in (("96", mem1), ("384", mem4)):
        r = run_batch_cli(folder, layout, root / f"out_mem{name}", 2, 9000.0 / size)
        mems[name] = r
        print(
            f"   {r['n_images']:4d} images: process tree peak {r['tree_peak_mb']:7.1f} MB, "
            f"largest process {r['max_process_mb']:6.1f} MB, {r['wall_s']:6.1f} s "
            f"(rc {r['rc']})"
        )
    ratio_tree = mems["384"]["tree_peak_mb"] / mems["96"]["tree_peak_mb"]
    ratio_max = mems["384"]["max_process_mb"] / mems["96"]["max_process_mb"]
    print(
        f"   peak RSS 384/96: tree {ratio_tree:.2f}x, largest process {ratio_max:.2f}x "
        f"(target <= 1.2x)"
    )
    return ratio_tree <= 1.2


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
