"""``il6assay demo [--out DIR]``: the whole pipeline on the example experiment in sample_data/.

The example is the colony experiment of the repository's ``sample_data/`` folder (parental
MDA-MB-231 vs eribulin-resistant MDA-MB-231E, and an eribulin x tocilizumab block); its
``acquisition.json`` gives the mode and pixel size, ``truth.json`` the values it was made
with, which the demo prints beside the measured ones.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from napari_il6assay.cli import check_out_dir, worker_count
from napari_il6assay.errors import InputError

DEFAULT_OUT = "il6assay-demo"


def sample_data_dir() -> Path:
    """Return the repository's ``sample_data/`` folder (a source checkout / editable install)."""
    return Path(__file__).resolve().parents[3] / "sample_data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``il6assay demo``."""
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"default ./{DEFAULT_OUT}")
    p.add_argument(
        "--workers", type=worker_count, default=None, metavar="N", help="worker processes"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _find(sample: Path, acq: dict[str, Any]) -> tuple[Path, Path]:
    layout = sample / str(acq.get("layout", "layout.csv"))
    folder = None
    for name in (acq.get("images"), acq.get("folder"), "images", "plate"):
        if name and (sample / str(name)).is_dir():
            folder = sample / str(name)
            break
    if folder is None:
        folder = sample
    if not layout.is_file():
        raise InputError("the sample experiment has no layout file", path=layout)
    return folder, layout


def _previous_demo(out: Path) -> bool:
    """Whether ``out`` holds the results of an earlier run (so the demo may replace them)."""
    try:
        info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("tool") == "napari-il6assay"


def truth_fold(truth: dict[str, Any]) -> float | None:
    """Return the fold resistance the sample experiment was made with (None if not stated)."""
    for key in ("fold_resistance", "fold"):
        v = truth.get(key)
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, dict):
            for vv in v.values():
                if isinstance(vv, (int, float)):
                    return float(vv)
    return None


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where the results are and the key numbers."""
    from napari_il6assay.batch.run import run_batch
    from napari_il6assay.commands.batch import summary_lines

    sample = sample_data_dir()
    acq_path = sample / "acquisition.json"
    if not acq_path.is_file():
        raise InputError(
            "sample_data/ with acquisition.json not found: the demo needs a source checkout "
            "of napari-il6assay (git clone, then pip install -e .)",
            path=acq_path,
        )
    acq = json.loads(acq_path.read_text(encoding="utf-8"))
    folder, layout = _find(sample, acq)
    out = check_out_dir(args.out)
    overwrite = out.is_dir() and any(out.iterdir()) and _previous_demo(out)
    mode = str(acq.get("mode", "colony"))
    px = acq.get("pixel_size_um")
    res = run_batch(
        folder,
        layout,
        mode,
        out,
        workers=args.workers,
        overwrite=bool(overwrite),
        pixel_size_um=float(px) if px else None,
        plate_format=int(acq.get("plate_format", 96)),
        quiet=args.quiet,
    )
    print(f"il6assay demo: {mode} experiment from {sample}")
    for line in summary_lines(res):
        print(line)
    truth_path = sample / "truth.json"
    if truth_path.is_file():
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        tf = truth_fold(truth)
        fits = res.tables.get("fits")
        if tf is not None and fits is not None:
            import pandas as pd

            fr = pd.to_numeric(fits["fold_resistance"], errors="coerce").dropna()
            if len(fr):
                err = abs(math.log10(float(fr.iloc[0]) / tf))
                print(
                    f"  truth: {tf:.4g}-fold (sample_data/truth.json); measured "
                    f"{float(fr.iloc[0]):.4g}-fold, off by {err:.3f} log10"
                )
    print(f"results: {res.out.resolve()}")
    print(f"  report: {(res.out / 'report.html').resolve()}")
    print("  tables: wells.csv conditions.csv fits.csv synergy.csv results.xlsx; plots/ qc/ prism/")
    return res.exit_code
