"""``il6assay quantify TABLE --out DIR``: standard curve and back-interpolation (ELISA).

TABLE is a tidy table (``well, role, concentration, unit, sample, dilution, response``), or a
plate reader's grid export (CSV/TSV/XLSX, header block allowed) together with ``--layout``
(``well, role, concentration, unit, sample, dilution``). Writes ``concentrations.csv``,
``standards.csv``, ``readings.csv`` (every well with its back-calculated concentration),
``results.xlsx``, ``plots/standard_curve.png``, ``report.html`` and ``run.json`` (curve
parameters, ``lloq``, ``uloq``, ``lod``). The science is in `doseresponse.quantify`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from napari_il6assay.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``quantify`` command's arguments."""
    parser.add_argument(
        "table", metavar="TABLE", help="tidy table, or a plate reader's grid export with --layout"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--layout", default=None,
                        help="layout (well, role, concentration, unit, sample, dilution) for a "
                        "grid export")  # fmt: skip
    parser.add_argument("--model", default="4pl", choices=["4pl", "5pl"])
    parser.add_argument(
        "--weights",
        default="1/y2",
        choices=["1/y2", "1/y", "none"],
        help="fit weights (default 1/y2, the ELISA convention)",
    )
    parser.add_argument(
        "--loq-cv",
        type=float,
        default=None,
        metavar="PCT",
        help="largest precision-profile CV (%%) of a sample result inside [LLOQ, ULOQ] "
        "(default 6.08: 90 %% of results within +-10 %% of the truth)",
    )
    parser.add_argument(
        "--grid",
        type=int,
        default=0,
        help="which grid of the export (0 = first; e.g. a second wavelength)",
    )
    parser.add_argument("--sheet", default=None, help="XLSX sheet of the grid export")
    parser.add_argument("--no-plots", action="store_true", help="tables only")


def load_input(
    table: str | Path, layout: str | Path | None = None, *, grid: int = 0, sheet: str | None = None
) -> tuple[Any, Path]:
    """Read the tidy quantify table from a tidy file, or from a grid export plus a layout.

    Returns
    -------
    (DataFrame, Path)
        The table and the file its row numbers refer to (for messages).
    """
    from napari_il6assay.commands.fit import read_table
    from napari_il6assay.io.plate_reader import is_grid_file, join_layout, read_plate_grid

    path = Path(table)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if layout is not None or is_grid_file(path):
        if layout is None:
            raise InputError("this is not a tidy table with 'role' and 'response' columns; "
                             "for a plate reader's grid give --layout", path=path)  # fmt: skip
        readings = read_plate_grid(path, grid=grid, sheet=sheet)
        lay = read_table(layout)
        return join_layout(readings, lay, layout), Path(layout)
    return read_table(path), path


def run(args: argparse.Namespace) -> int:
    """Fit the standards, back-interpolate the samples, write the tables, plot and report."""
    from napari_il6assay.batch.exports import now
    from napari_il6assay.doseresponse.quantify import LOQ_CV_PCT, quantify

    started = now()
    df, where = load_input(args.table, args.layout, grid=args.grid, sheet=args.sheet)
    out = Path(args.out)
    inputs = [Path(args.table)] + ([Path(args.layout)] if args.layout else [])
    if any(out.resolve() == p.resolve().parent for p in inputs):
        raise InputError("--out must not be the input's folder", path=out)
    loq_cv = LOQ_CV_PCT if args.loq_cv is None else float(args.loq_cv)
    if not 0 < loq_cv <= 100:
        raise InputError(f"--loq-cv must be in (0, 100], not {loq_cv:g}")
    res = quantify(df, model=args.model, weights=args.weights, loq_cv_pct=loq_cv, path=where)
    params = {"model": args.model, "weights": args.weights, "loq_cv_pct": loq_cv,
              "grid": args.grid, "sheet": args.sheet}  # fmt: skip
    write_outputs(res, out, inputs, params, plots=not args.no_plots, started=started)
    _print_summary(res, out)
    return 0


def write_outputs(
    res: Any,
    out: str | Path,
    inputs: list[Path],
    params: dict[str, Any],
    *,
    plots: bool = True,
    started: str | None = None,
) -> dict[str, Any]:
    """Write every output of a quantify run into ``out`` (the CLI and the GUI use this).

    Parameters
    ----------
    res : doseresponse.quantify.QuantifyResult
    out : str or Path
        Output folder (created).
    inputs : list of Path
        Input files (their sha256 go into ``run.json``).
    params : dict
        Parameters for ``run.json``.
    plots : bool
        Write ``plots/standard_curve.png``.
    started : str, optional
        Start time (ISO 8601).

    Returns
    -------
    dict
        The ``run.json`` content.
    """
    from napari_il6assay import __version__
    from napari_il6assay.batch.exports import (
        now,
        package_versions,
        sha256_file,
        write_csv,
        write_xlsx,
    )
    from napari_il6assay.batch.parts import atomic_json
    from napari_il6assay.batch.quantify_report import write_quantify_report
    from napari_il6assay.doseresponse.quantify import curve_parameters

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    readings = res.wells.drop(columns=[c for c in res.wells.columns if c.startswith("_")])
    write_csv(out / "concentrations.csv", res.concentrations)
    write_csv(out / "standards.csv", res.standards)
    write_csv(out / "readings.csv", readings)
    curve = curve_parameters(res)
    write_xlsx(out / "results.xlsx", {
        "concentrations": res.concentrations, "standards": res.standards,
        "readings": readings, "curve": _curve_frame(curve),
    })  # fmt: skip
    figs = []
    if plots:
        from napari_il6assay.doseresponse.figures import standard_curve_figure

        (out / "plots").mkdir(exist_ok=True)
        standard_curve_figure(res).savefig(out / "plots" / "standard_curve.png", dpi=110)
        figs.append("standard_curve")
    info = {
        "tool": "napari-il6assay", "version": __version__, "command": " ".join(sys.argv),
        "started": started or now(), "finished": now(), "out": str(out.resolve()),
        "parameters": params, "curve": curve, "lloq": curve["lloq"], "uloq": curve["uloq"],
        "lod": curve["lod"], "unit": res.unit, "notes": res.notes,
        "inputs_sha256": {str(p.resolve()): sha256_file(p) for p in inputs if p.is_file()},
        "packages": package_versions(),
    }  # fmt: skip
    atomic_json(out / "run.json", info)
    write_quantify_report(out, res, info, figs)
    return info


def _curve_frame(curve: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "parameter": list(curve),
            "value": [
                str(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else v
                for v in curve.values()
            ],
        }
    )


def _print_summary(res: Any, out: Path) -> None:
    c = res.curve
    u = f" {res.unit}" if res.unit else ""
    rule = f"precision profile <= {res.loq_cv_pct:g} % for {res.loq_replicates} replicate(s)"
    lim = f"LLOQ {res.lloq:.4g}{u}, ULOQ {res.uloq:.4g}{u}, LOD {res.lod:.3g}{u}"
    print(f"standard curve: {c.model.upper()} ({c.weights} weights), R² {c.r2:.4f}; {lim} ({rule})")
    for line in res.summary_lines():
        print(f"  {line}")
    for note in res.notes:
        print(f"  note: {note}")
    print(f"-> {out}")
