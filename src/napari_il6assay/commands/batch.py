"""``il6assay batch FOLDER --layout FILE --mode MODE --out DIR``: a plate folder end to end."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from napari_il6assay.cli import check_out_dir, worker_count
from napari_il6assay.commands.segment import add_mode_arguments, mode_params
from napari_il6assay.errors import InputError
from napari_il6assay.io.images import pixel_limit
from napari_il6assay.io.plate import PLATE_FORMATS
from napari_il6assay.segment import MODES


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``il6assay batch``."""
    p.add_argument("folder", metavar="FOLDER", help="plate folder (sub-folders = plates)")
    p.add_argument("--layout", required=True, metavar="FILE", help="plate layout CSV/TSV/XLSX")
    p.add_argument("--mode", required=True, choices=MODES, help="assay / segmentation mode")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    p.add_argument(
        "--workers",
        type=worker_count,
        default=None,
        metavar="N",
        help="local worker processes (default: all cores)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="running dask.distributed scheduler, e.g. tcp://host:8786 (workers must see "
        "the input paths)",
    )
    p.add_argument("--resume", action="store_true", help="continue a run in --out")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the results of a previous run in --out"
    )
    p.add_argument("--save-labels", action="store_true", help="write label images (labels/)")
    p.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="csv",
        help="table format; parquet writes parquet files besides the CSVs",
    )
    p.add_argument(
        "--plate-format",
        type=int,
        default=96,
        choices=tuple(PLATE_FORMATS),
        help="wells per plate: layout check, and the grid of colony photos of whole plates "
        "(images whose names hold no well id)",
    )
    p.add_argument("--model", default="4pl", choices=("4pl", "3pl", "5pl"), help="curve model")
    p.add_argument(
        "--include-flagged",
        default="",
        metavar="FLAGS",
        help="comma-separated qc flags whose wells are fitted all the same, or 'all' (by "
        "default wells flagged e.g. mode_mismatch, plate_outlier, touches_border keep their "
        "row but are left out of viability and fits; see README)",
    )
    p.add_argument(
        "--exclude",
        default=None,
        metavar="FILE",
        help="exclusions CSV (well, reason[, plate, time]): those wells stay in the tables "
        "but leave the fits; written back to OUT/exclusions.csv",
    )
    add_mode_arguments(p)
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def batch_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """`run_batch` keyword arguments from parsed options."""
    from napari_il6assay.qc_flags import parse_include

    voxel, seg = mode_params(args)
    try:
        include = parse_include(getattr(args, "include_flagged", ""))
    except ValueError as exc:
        raise InputError(f"--include-flagged: {exc}") from exc
    return dict(
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        overwrite=args.overwrite,
        save_labels=args.save_labels,
        pixel_size_um=args.pixel_size,
        voxel_size_um=voxel,
        plate_format=args.plate_format,
        formats=("csv", "parquet") if args.format == "parquet" else ("csv",),
        report=not args.no_report,
        quiet=args.quiet,
        model=args.model,
        include_flagged=tuple(sorted(include)),
        exclude=getattr(args, "exclude", None),
        **seg,
    )


def summary_lines(res: Any) -> list[str]:
    """Short human summary of a batch result (for the terminal)."""
    lines = [
        f"{res.n_ok} of {res.n_images} images measured"
        + (f", {res.n_skipped} reused from the previous run" if res.n_skipped else "")
        + (f", {res.n_failed} failed (see {res.out / 'errors.csv'})" if res.n_failed else "")
    ]
    fits = res.tables.get("fits")
    wells = res.tables.get("wells")
    units: dict[str, str] = {}
    if wells is not None and "unit_b" in wells.columns:
        for d, u in zip(wells["drug_b"], wells["unit_b"], strict=True):
            if isinstance(d, str) and d and isinstance(u, str) and u:
                units.setdefault(d, u)
    if fits is not None and len(fits):
        from napari_il6assay.io.cells import cell_text, is_blank
        from napari_il6assay.io.units import format_molar

        for _, r in fits.iterrows():
            combo = ""
            if not is_blank(r.get("drug_b")) and r.get("concentration_b") not in (None, 0, 0.0):
                cb = r["concentration_b"]
                cb = f"{cb:g}" if isinstance(cb, float) else str(cb)
                combo = f" + {r['drug_b']} {cb} {units.get(str(r['drug_b']), '')}".rstrip()
            cens = cell_text(r.get("ic50_censored"))
            line = (
                f"  {r['cell_line']:<14} {r['drug']}{combo}: IC50 {cens}"
                f"{format_molar(r['ic50_rel_M'])} "
                f"(95% CI {format_molar(r.get('ic50_ci_low_M'))} - "
                f"{format_molar(r.get('ic50_ci_high_M'))})"
            )
            fr = r.get("fold_resistance")
            try:
                frf = float(fr)
            except (TypeError, ValueError):
                frf = float("nan")
            if frf == frf:
                line += (
                    f"; {frf:.3g}-fold vs {r.get('parental')} "
                    f"(95% CI {float(r.get('fold_ci_low')):.3g} - "
                    f"{float(r.get('fold_ci_high')):.3g})"
                )
            lines.append(line)
    return lines


def run(args: argparse.Namespace) -> int:
    """Run ``il6assay batch``; exit code 0, or 1 when some images failed."""
    from napari_il6assay.batch.run import run_batch

    kwargs = batch_kwargs(args)
    check_out_dir(args.out)
    with pixel_limit(getattr(args, "max_pixels", None)):
        res = run_batch(args.folder, args.layout, args.mode, args.out, **kwargs)
    errs = res.errors if res.errors is not None else None
    if errs is not None and len(errs) and "stage" in errs.columns:
        # a corrections file that cannot be used: the well keeps its automatic labels
        for _, e in errs[errs["stage"] == "correction"].iterrows():
            print(f"warning: {e['path']}: {e['error']}", file=sys.stderr)
    if not args.quiet:
        for line in summary_lines(res):
            print(line)
        print(f"results in {res.out}")
    elif res.n_failed:
        print(f"{res.n_failed} input(s) failed, see {res.out / 'errors.csv'}", file=sys.stderr)
    return res.exit_code
