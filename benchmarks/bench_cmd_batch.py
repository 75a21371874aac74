"""Benchmark the `il6assay batch` COMMAND: 2 workers vs 1, end to end, and where the time goes.

Every run is a fresh ``il6assay batch`` subprocess on 96 RGB colony wells (the plate of
``bench_batch.py``: 12 synthetic dose-series wells copied under all 96 names). Rounds alternate
``--workers 1`` and ``--workers 2`` (``--repeats`` rounds) and the medians are compared:

- end to end (what the user waits for; target >= 1.7x on 2 free cores), and the image phase;
- each phase from ``run.json`` ``timing`` (images, tables, exports, report) for both worker
  counts, so a phase that does not scale (serial table building, exports) shows up;
- a trivially parallel numpy task on 2 processes vs 1 before and after ("machine check"):
  below ~1.8x the machine did not offer two free cores and the speed-up cannot reach 1.7x.

``--part memory`` (or ``all``) adds peak RSS for 384 vs 96 images (target <= 1.2x), measured
as in ``bench_batch.py``.

Run: ``.venv/bin/python benchmarks/bench_cmd_batch.py [--size 1024] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import bench_batch as bb  # the plate, layout and runner of the older script

PHASES = ("images_s", "tables_s", "exports_s", "report_s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="image size (default 1024)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating rounds (median)")
    ap.add_argument("--part", choices=("speed", "memory", "all"), default="speed")
    ap.add_argument("--rss-size", type=int, default=512)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_cmd_batch_"))
    ok = True
    try:
        layout = root / "layout.csv"
        bb.write_layout(layout)
        if args.part in ("speed", "all"):
            plate = root / "plate"
            bb.make_plate_images(plate, args.size)
            before = bb.machine_parallelism()
            runs: dict[int, list[dict]] = {1: [], 2: []}
            for _ in range(args.repeats):
                for w in (1, 2):
                    out = root / f"out_w{w}"
                    shutil.rmtree(out, ignore_errors=True)
                    r = bb.run_batch_cli(plate, layout, out, w, 9000.0 / args.size)
                    r["timing"] = json.loads((out / "run.json").read_text())["timing"]
                    runs[w].append(r)
            after = bb.machine_parallelism()

            def med(w: int, key: str) -> float:
                return statistics.median(r[key] for r in runs[w])

            def med_t(w: int, key: str) -> float:
                return statistics.median(r["timing"].get(key, 0.0) for r in runs[w])

            print(f"96 images of {args.size}^2 px (RGB colony), {args.repeats} alternating "
                  f"rounds, medians; load average now {os.getloadavg()[0]:.1f}")  # fmt: skip
            print(f"  machine check (2 vs 1 processes, plain CPU task): {before:.2f}x before, "
                  f"{after:.2f}x after (2.0 = two free cores)")  # fmt: skip
            print(f"  {'phase':<10} {'1 worker':>9} {'2 workers':>10} {'ratio':>6}")
            for key in PHASES:
                a, b = med_t(1, key), med_t(2, key)
                print(f"  {key[:-2]:<10} {a:9.1f} {b:10.1f} {a / b if b else float('nan'):6.2f}")
            for w in (1, 2):
                for r in runs[w]:
                    r["timing"]["after_images_s"] = r["timing"]["total_s"] - r["timing"]["images_s"]
            # the image phase up to the first result (starting the workers), and all after the
            # images (the serial end: 2 workers help only through the workbook's side process)
            for key, label in (("first_result_s", "(1st img)"), ("after_images_s", "after imgs")):
                a, b = med_t(1, key), med_t(2, key)
                print(f"  {label:<10} {a:9.1f} {b:10.1f} {a / b if b else float('nan'):6.2f}")
            a, b = med(1, "wall_s"), med(2, "wall_s")
            sp = a / b
            ok &= sp >= 1.7
            print(f"  {'end to end':<10} {a:9.1f} {b:10.1f} {sp:6.2f}   (target >= 1.7x) "
                  f"{'yes' if sp >= 1.7 else 'NO'}")  # fmt: skip
            busy = [med(w, "worker_busy_s") / 96 for w in (1, 2)]
            print(f"  s/image inside a worker: {busy[0]:.2f} (1 worker), {busy[1]:.2f} "
                  "(2 workers): equal = the cores were free")  # fmt: skip
        if args.part in ("memory", "all"):
            mem1, mem4 = root / "mem96", root / "mem384"
            bb.make_plate_images(mem1 / "P1", args.rss_size)
            for i in range(1, 5):
                shutil.copytree(mem1 / "P1", mem4 / f"P{i}")
            ok &= bb.memory_test(root, mem1, mem4, layout, args.rss_size)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
