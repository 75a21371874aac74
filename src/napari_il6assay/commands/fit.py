"""``il6assay fit TABLE --out DIR``: dose-response fits from any tidy table.

Fits the ``--response`` column as given (no rescaling), one curve per combination of whichever
of ``cell_line``, ``drug``, ``drug_b``, ``concentration_b`` exist. The dose comes from
``--dose COL``, else ``concentration_M``, else ``concentration`` + ``unit`` (converted to M),
else a ``conc`` or ``dose`` column. A dose column without a unit (no ``unit`` column, no unit
in its name such as ``conc_nM``) needs ``--unit``; ``--unit none`` fits the doses as given.
Writes ``fits.csv`` and ``plots/*.png``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, cast

from napari_il6assay.cli import worker_count
from napari_il6assay.errors import InputError
from napari_il6assay.io.units import MOLAR_FACTORS, unit_key


def read_table(path: str | Path) -> Any:
    """Read a CSV, TSV or XLSX table; `InputError` naming the file when it cannot be read."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", path=p)
    try:
        if p.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            return pd.read_excel(p)
        sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
        return pd.read_csv(p, sep=sep)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the table: {exc}", path=p) from exc


#: unit suffix of a dose column's name, e.g. ``conc_nM`` (case matters: mM is not MM)
_NAME_UNIT = re.compile(r"[_ (\[](M|mM|uM|µM|μM|nM|pM)\)?\]?$")


def dose_column(
    df: Any,
    path: str | Path,
    dose: str | None = None,
    *,
    unit: str | None = None,
    response: str | None = None,
) -> tuple[Any, str]:
    """Return ``(df, column)`` with the dose in a numeric column, molar when a unit is known.

    The unit comes from, in this order: a ``unit`` column beside ``concentration``; the
    column's name (``concentration_M``, ``conc_nM``, ``dose (uM)``); ``unit`` (``--unit``).
    A dose column without any of these is refused, since numbers meant as nM written into
    ``_M`` columns are wrong by 1e9; ``unit="none"`` fits the doses as given (the IC50
    columns are then in the dose's own unit). ``df.attrs["dose_unit"]`` says which was used.

    Raises `InputError` (file, row, column) for text that is not a number, an unknown unit,
    a missing unit, or a dose column that is the response column; empty cells stay NaN and
    are reported per curve by the fit.
    """
    df = df.copy()
    if unit is not None and unit_key(unit) not in (*MOLAR_FACTORS, "none"):
        raise InputError(f"unknown --unit {unit!r} (expected M, mM, uM, nM, pM or none)",
                         path=path, column="--unit")  # fmt: skip
    col = _find_dose_column(df, path, dose)
    if response is not None and col == response:
        raise InputError("the dose column is the response column: give --dose and --response "
                         "different columns", path=path, column=col)  # fmt: skip
    if list(df.columns).count(col) > 1:
        raise InputError("the table has two columns of this name", path=path, column=col)
    _numeric(df, col, path)
    named = _NAME_UNIT.search(str(col))
    if col == "concentration" and "unit" in df.columns and unit is None:
        df["concentration_M"] = df[col].to_numpy(float) * _unit_column_factors(df, col, path)
        df.attrs["dose_unit"] = f"'{col}' in the units of the 'unit' column, converted to M"
        return df, "concentration_M"
    if named is not None:
        name_unit = named.group(1)
        if unit is not None and unit.strip().lower() != name_unit.lower():
            raise InputError(f"--unit {unit} contradicts the column name (unit {name_unit})",
                             path=path, column=col)  # fmt: skip
        if name_unit == "M":
            df.attrs["dose_unit"] = f"'{col}' in M"
            return df, col
        factor = MOLAR_FACTORS[unit_key(name_unit)]
    elif unit is None:
        hint = "; it has a 'unit' column: use --dose concentration" if "unit" in df.columns else ""
        raise InputError(
            f"the dose column has no unit: give --unit (M, mM, uM, nM, pM), or --unit none to "
            f"fit the doses as given (IC50 columns then in the dose's own unit){hint}",
            path=path,
            column=col,
        )
    elif unit_key(unit) == "none":
        df.attrs["dose_unit"] = f"'{col}' as given (--unit none: no conversion to M)"
        return df, col
    else:
        name_unit, factor = unit.strip(), MOLAR_FACTORS[unit_key(unit)]
    out_col = "concentration_M" if col != "concentration_M" else col
    df[out_col] = df[col].to_numpy(float) * factor
    df.attrs["dose_unit"] = f"'{col}' in {name_unit}, converted to M"
    return df, out_col


def _numeric(df: Any, col: str, path: str | Path) -> None:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
        return  # already numbers: the text check below costs seconds on a 270,000-row screen
    vals = pd.to_numeric(df[col], errors="coerce")
    bad = df[col].notna() & vals.isna() & (df[col].astype(str).str.strip() != "")
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"not a number: {df[col].iloc[i]!r}", path=path, row=i + 2, column=col)
    df[col] = vals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``fit`` command's arguments."""
    parser.add_argument("table", metavar="TABLE", help="tidy table (.csv, .tsv, .xlsx)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--response", default="viability", help="column to fit (as given)")
    parser.add_argument(
        "--model",
        default="4pl",
        choices=["4pl", "3pl", "5pl", "auto"],
        help="4pl; 3pl = drc LL.3 (lower limit fixed at 0: a falling curve ends at 0, a "
        "rising one starts at 0); 5pl; auto = 3pl/4pl/5pl per curve by AIC (drc mselect), "
        "with F tests, reason in model_note",
    )
    parser.add_argument(
        "--fix",
        default=None,
        metavar="top=V|bottom=V",
        help="fix one plateau: top = the response at dose 0, bottom = the response at "
        "infinite dose (e.g. --fix top=1 for normalized viability); with 4pl or 3pl",
    )
    parser.add_argument(
        "--ci",
        default="profile",
        choices=["profile", "delta"],
        help="IC50 CI: profile likelihood (default) or delta method (drc)",
    )
    parser.add_argument("--dose", default=None, help="dose column (default: concentration_M, "
                        "concentration + unit, conc or dose)")  # fmt: skip
    parser.add_argument(
        "--alpha-flat",
        type=float,
        default=0.05,
        help="F test vs a constant: p >= this is 'no effect' (default 0.05)",
    )
    parser.add_argument(
        "--min-effect",
        type=float,
        default=0.1,
        help="'no effect' when the fitted change over the doses is below this "
        "fraction of the top (default 0.1; 0 disables)",
    )
    parser.add_argument(
        "--min-span",
        type=float,
        default=0.5,
        help="no relative IC50 when |top - bottom| is below this fraction of "
        "the top (default 0.5; 0 disables, e.g. for readouts with a large "
        "background)",
    )
    parser.add_argument("--unit", default=None, metavar="UNIT",
                        help="unit of a dose column whose name and table say none: M, mM, uM, "
                             "nM, pM, or 'none' to fit the doses as given (no conversion "
                             "to M)")  # fmt: skip
    parser.add_argument(
        "--exclude",
        default=None,
        metavar="FILE",
        help="exclusions CSV (well, reason[, plate, time]): those rows are "
        "left out of the fits; needs a 'well' column in TABLE",
    )
    parser.add_argument(
        "--include-flagged",
        default="",
        metavar="FLAGS",
        help="rows whose qc_flag holds a flag that means the readout may be "
        "wrong (e.g. mode_mismatch, plate_outlier) are left out; list "
        "flags to fit them all the same, or 'all'",
    )
    parser.add_argument("--no-plots", action="store_true", help="write fits.csv only")
    # 12 figures: a figure costs about a second of matplotlib, and 40 of them took a
    # 10,000-curve fit past a minute on a busy 2-core machine (issue 13: < 60 s)
    parser.add_argument("--max-plots", type=int, default=12, metavar="N",
                        help="at most N dose-response figures (8 cell lines each; default 12, "
                        "0 = all); larger tables also get plots/ic50_summary.png")  # fmt: skip
    parser.add_argument("--workers", type=worker_count, default=None, metavar="N",
                        help="processes for large tables (default: all cores; the results are "
                        "the same for any number)")  # fmt: skip


def _find_dose_column(df: Any, path: str | Path, dose: str | None) -> str:
    """Return the dose column: ``dose`` if given, else the first known name (`dose_column`)."""
    if dose is not None:
        if dose not in df.columns:
            raise InputError(f"dose column not found (columns: {', '.join(map(str, df.columns))})",
                             path=path, column=dose)  # fmt: skip
        return dose
    for known in ("concentration_M", "concentration", "conc", "dose"):
        if known in df.columns:
            return known
    # a dose column named with its unit: conc_nM, dose (uM)
    col = next((c for c in map(str, df.columns)
                if re.match(r"(concentration|conc|dose)(?![a-z])", c, re.I)
                and _NAME_UNIT.search(c)), None)  # fmt: skip
    if col is None:
        raise InputError("no dose column: expected concentration_M, concentration (+ unit), "
                         "conc_nM (any unit), conc or dose, or give --dose COL",
                         path=path)  # fmt: skip
    return col


def _unit_column_factors(df: Any, col: str, path: str | Path) -> Any:
    """Return the molar factor of each row from the ``unit`` column beside ``col``.

    A blank unit is allowed only where the dose is 0 or empty (a vehicle row).
    """
    import numpy as np
    import pandas as pd

    factors = []
    for i, u in enumerate(df["unit"]):
        key = unit_key(u) if isinstance(u, str) else ""
        if key == "" and (pd.isna(df[col].iloc[i]) or df[col].iloc[i] == 0):
            factors.append(1.0)
            continue
        if key not in MOLAR_FACTORS:
            what = f"unknown unit {u!r}" if key else "missing unit for a non-zero dose"
            raise InputError(f"{what} (expected M, mM, uM, nM or pM)", path=path,
                             row=i + 2, column="unit")  # fmt: skip
        factors.append(MOLAR_FACTORS[key])
    return np.asarray(factors)


def _parse_fix(text: str, model: str) -> tuple[str, dict[str, float]]:
    """``--fix top=1`` -> ``("3pl-top", {"fixed_top": 1.0})``; `InputError` for bad text."""
    from napari_il6assay.doseresponse.models import get_model

    key, sep, val = text.partition("=")
    key = key.strip().lower()
    try:
        value = float(val)
    except ValueError:
        value = None
    if not sep or key not in ("top", "bottom") or value is None:
        raise InputError(f"--fix expects top=VALUE or bottom=VALUE, got {text!r}")
    try:
        spec = get_model(model, fix={key: value})
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return spec.name, {f"fixed_{key}": value}


def _safe(name: str) -> str:
    """Make a safe, visible file-name stem (`batch.exports.safe_name`); ``curve`` when empty."""
    from napari_il6assay.batch.exports import safe_name

    stem = safe_name(name)
    return "curve" if stem == "none" and name.strip().lower() != "none" else stem


def save_figure(make: Any, path: Path) -> bool:
    """Draw a figure and save it as PNG; a figure that cannot be drawn is skipped with a warning.

    One bad plot (e.g. a log axis without a positive dose) must not lose the tables, which
    are written before; a failing disk (`OSError`) still stops the command.

    Parameters
    ----------
    make : callable
        Returns a matplotlib Figure.
    path : Path
        Where the PNG goes.

    Returns
    -------
    bool
        Whether the figure was written.
    """
    import sys

    try:
        fig = make()
        fig.savefig(path, dpi=110)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - the plot is optional, the tables are not
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"warning: plot {path.name} not drawn: {type(exc).__name__}: {reason}", file=sys.stderr
        )
        return False
    return True


#: a table file larger than this may hold more than one part of the fit (`fit.PART_CURVES`
#: curves of at least 4 rows of at least 8 bytes): its worker processes start at once
_LARGE_TABLE_BYTES = 128 * 1024


def run(args: argparse.Namespace) -> int:
    """Fit every curve of the table; write ``fits.csv`` and ``plots/*.png``."""
    # numpy and the fit's modules: imported before the workers are forked, so they share them
    import napari_il6assay.doseresponse.fit  # noqa: F401
    from napari_il6assay.doseresponse._dist import preload
    from napari_il6assay.parallel import default_workers, warm_workers

    workers = getattr(args, "workers", None) or default_workers()
    p = Path(args.table)
    large = p.is_file() and p.stat().st_size > _LARGE_TABLE_BYTES
    # the workers of a large table start before pandas is imported and the table read:
    # forked from a small process, they import scipy's special functions (0.2 s) on the
    # other core while this one reads and splits the table
    with warm_workers(workers if large else 1, warm=preload):
        df, dose, fits, out = _fit_and_write(read_table(args.table), args, workers)
    if not args.no_plots:
        plot_df = df
        if dose != "concentration_M":
            plot_df = df.drop(columns=["concentration_M"], errors="ignore").rename(
                columns={dose: "concentration_M"}
            )
        unit = "M" if dose == "concentration_M" else ""
        write_plots(plot_df, fits, out / "plots", args.response, unit=unit,
                    max_plots=args.max_plots)  # fmt: skip
    return 0


def _fit_and_write(df: Any, args: argparse.Namespace, workers: int) -> tuple[Any, str, Any, Path]:
    """Check the table, fit it, write ``fits.csv`` and print the summary (`run`).

    Returns
    -------
    df : DataFrame
        The table as fitted (dose column numeric).
    dose : str
        Its dose column.
    fits : DataFrame
        ``fits.csv``'s table.
    out : Path
        The output folder.
    """
    from napari_il6assay.cli import check_out_dir
    from napari_il6assay.doseresponse.fit import fit_curve_table
    from napari_il6assay.doseresponse.fold import add_fold_resistance
    from napari_il6assay.io.csv_out import write_csv

    if args.response not in df.columns:
        raise InputError(f"response column not found (columns: {', '.join(map(str, df.columns))})",
                         path=args.table, column=args.response)  # fmt: skip
    df = _leave_out(df, args)
    df, dose = dose_column(df, args.table, args.dose, unit=args.unit, response=args.response)
    _numeric(df, args.response, args.table)
    if "concentration_b" in df.columns:
        _numeric(df, "concentration_b", args.table)
    out = Path(args.out)
    if out.resolve() == Path(args.table).resolve().parent:
        raise InputError("--out must not be the input's folder", path=out)
    check_out_dir(out, create=True)
    model, fixed = args.model, dict[str, Any]()
    if getattr(args, "fix", None):
        model, fixed = _parse_fix(args.fix, args.model)
    fits = add_fold_resistance(fit_curve_table(
        df, response=args.response, model=model, conc=dose, ci_method=args.ci,
        alpha_flat=args.alpha_flat, min_effect=args.min_effect, min_span=args.min_span,
        workers=workers, **fixed,
    ))  # fmt: skip
    write_csv(fits, out / "fits.csv", workers=workers)  # to_csv's text, faster
    n_ok = int((fits["status"] == "ok").sum())
    print(f"{len(fits)} curve(s): {n_ok} fitted, "
          f"{int((fits['status'] == 'no_effect').sum())} no effect, "
          f"{int(fits['status'].isin(['bad_input', 'constant']).sum())} not fittable -> "
          f"{out / 'fits.csv'}")  # fmt: skip
    print(f"doses: {df.attrs.get('dose_unit', dose)}")
    for line in fit_summary_lines(fits, molar=dose == "concentration_M"):
        print(line)
    return df, dose, fits, out


def _leave_out(df: Any, args: argparse.Namespace) -> Any:
    """Rows excluded (``--exclude``) or untrusted (``qc_flag``) become role ``exclude``."""
    from napari_il6assay.qc_flags import parse_include, untrusted_flags

    try:
        include = parse_include(getattr(args, "include_flagged", ""))
    except ValueError as exc:
        raise InputError(str(exc), column="--include-flagged") from exc
    if getattr(args, "exclude", None):
        from napari_il6assay.io.exclusions import apply_exclusions, read_exclusions

        if "well" not in df.columns:
            raise InputError("--exclude needs a 'well' column in the table", path=args.table,
                             column="well")  # fmt: skip
        ex = read_exclusions(args.exclude)
        df = apply_exclusions(df, ex)
        n = int((df["exclusion_reason"] != "").sum())
        print(f"excluded {n} row(s) listed in {args.exclude}")
    if "qc_flag" in df.columns:
        bad = df["qc_flag"].map(lambda f: bool(untrusted_flags(f, include)))
        if bad.any():
            df = df.copy()
            if "role" not in df.columns:
                df["role"] = ""
            df.loc[bad, "role"] = "exclude"
            print(f"left out {int(bad.sum())} row(s) whose qc_flag says the readout may be wrong "
                  "(--include-flagged to keep them)")  # fmt: skip
    return df


def fit_summary_lines(fits: Any, molar: bool = True, limit: int = 40) -> list[str]:
    """One line per curve, as the demo prints: IC50 (95% CI), fold vs parental (95% CI, p).

    Parameters
    ----------
    fits : DataFrame
        `fit.fit_curves` output.
    molar : bool
        Doses are molar (shown with SI prefixes); else shown as given.
    limit : int
        At most this many curves (a note says how many more are in fits.csv).

    Returns
    -------
    list of str
    """
    import math

    from napari_il6assay.io.cells import cell_text
    from napari_il6assay.io.units import format_molar

    def dose(v: Any) -> str:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        return format_molar(x) if molar else f"{x:.3g}"

    lines = []
    for _, r in fits.head(limit).iterrows():
        name = " ".join(t for t in (cell_text(r.get("cell_line")), cell_text(r.get("drug"))) if t)
        name = name or "curve"
        if cell_text(r.get("drug_b")):
            name += f" + {r['drug_b']} {cell_text(r.get('concentration_b'))}"
        status = str(r.get("status", ""))
        if status in ("bad_input", "constant"):
            lines.append(f"  {name}: not fitted ({cell_text(r.get('note'))})")
            continue
        cens = cell_text(r.get("ic50_censored"))
        line = f"  {name}: IC50 {cens}{dose(r['ic50_rel_M'])}"
        if not cens and math.isfinite(float(r.get("ic50_ci_low_M", math.nan))):
            line += f" (95% CI {dose(r['ic50_ci_low_M'])} - {dose(r['ic50_ci_high_M'])})"
        if status == "no_effect":
            line += " [no effect]"
        fr = float(r.get("fold_resistance", math.nan))
        if math.isfinite(fr):
            line += (f"; {fr:.3g}-fold vs {r.get('parental')} (95% CI "
                     f"{float(r['fold_ci_low']):.3g} - {float(r['fold_ci_high']):.3g}, "
                     f"p = {float(r['p_value']):.2g})")  # fmt: skip
        lines.append(line)
    if len(fits) > limit:
        lines.append(f"  ... {len(fits) - limit} more curve(s) in fits.csv")
    return lines


#: cell lines per dose-response figure (one colour each; more lines make a second page)
LINES_PER_PLOT = 8
#: curves above which the IC50 summary page (heat map + waterfall) is written too
SUMMARY_FROM = 50


def write_plots(df: Any, fits: Any, folder: Path, response: str, unit: str = "M",
                max_plots: int = 12, say: Any = print) -> list[Path]:  # fmt: skip
    """Draw the dose-response figures per (drug, second agent) family.

    At most `LINES_PER_PLOT` cell lines each (``<name>_p2.png`` ... for more), capped at
    ``max_plots`` figures.

    A screen of 10,000 curves would otherwise be 100 figures of 100 lines that took minutes
    to draw and cannot be read; beyond the cap, and whenever there are `SUMMARY_FROM` curves
    or more, ``ic50_summary.png`` shows every curve (IC50 heat map and waterfall). ``say``
    gets one line telling what was drawn and how to get the rest.

    Parameters
    ----------
    df, fits : DataFrame
        The table that was fitted (dose in ``concentration_M``) and `fit_curves` output.
    folder : Path
        ``plots/`` folder (created).
    response : str
        Response column (y axis).
    unit : str
        Dose unit label.
    max_plots : int
        Largest number of dose-response figures; 0 draws all.
    say : callable
        Receives the summary line (default `print`).

    Returns
    -------
    list of Path
        The files written.
    """
    import numpy as np
    import pandas as pd

    from napari_il6assay.doseresponse.figures import dose_response_figure, ic50_summary_figure
    from napari_il6assay.io.cells import text_column

    folder.mkdir(parents=True, exist_ok=True)

    # the data is indexed once (rows per drug, vehicle rows, cell line): every figure takes
    # its own few rows instead of filtering the whole table again
    d_drug = text_column(df["drug"]) if "drug" in df.columns else pd.Series("", index=df.index)
    d_line = (
        text_column(df["cell_line"]) if "cell_line" in df.columns else pd.Series("", index=df.index)
    )
    by_drug = dict(d_drug.groupby(d_drug.to_numpy(), sort=False).indices)
    vehicle = by_drug.get("", np.empty(0, int))
    f = fits.reset_index(drop=True)
    fam = pd.DataFrame({"drug": text_column(f["drug"]), "drug_b": text_column(f["drug_b"]),
                        "cb": pd.to_numeric(f["concentration_b"], errors="coerce").fillna(0.0),
                        "line": text_column(f["cell_line"])})  # fmt: skip
    from napari_il6assay.batch.exports import unique_name

    used: set[str] = set()
    pages = []  # (file, drug, drug_b, cb, cell lines of the page, its fits rows, page, pages)
    for (drug, drug_b, cb), g in fam.groupby(["drug", "drug_b", "cb"], sort=False):
        cbf = float(cast("float", cb))  # the "cb" key is numeric (pandas types keys Hashable)
        name = _safe("_".join(s for s in (str(drug), str(drug_b), f"{cbf:g}" if cbf else "") if s))
        lines = list(dict.fromkeys(g["line"]))
        chunks = [lines[i : i + LINES_PER_PLOT] for i in range(0, len(lines), LINES_PER_PLOT)]
        for k, chunk in enumerate(chunks):
            stem = unique_name(name if len(chunks) == 1 else f"{name}_p{k + 1}", used)
            fit_rows = g.index[g["line"].isin(chunk)]
            pages.append((stem, drug, drug_b, cbf, chunk, fit_rows, k + 1, len(chunks)))
    todo = pages if max_plots <= 0 else pages[:max_plots]
    written = []
    n_drawn = 0
    for stem, drug, drug_b, cb, chunk, fit_rows, k, n in todo:
        rows = np.concatenate([by_drug.get(drug, np.empty(0, int)), vehicle]) if drug else \
            np.arange(len(df))  # fmt: skip
        rows = np.sort(rows[np.isin(d_line.to_numpy(object)[rows], chunk)])
        sel = f.loc[fit_rows]
        title = None
        if n > 1:
            title = f"{drug}{f' + {drug_b} {cb:g}' if drug_b else ''} ({k}/{n})"
        path = folder / f"{stem}.png"
        if save_figure(lambda rows=rows, sel=sel, chunk=chunk, drug=drug, drug_b=drug_b, cb=cb,
                       title=title: dose_response_figure(
                           df.iloc[rows], sel, cell_lines=chunk, drug=drug or None,
                           drug_b=drug_b or None, concentration_b=cb, response=response,
                           unit=unit, title=title), path):  # fmt: skip
            written.append(path)
            n_drawn += len(sel)
    msg = f"plots: {len(written)} dose-response figure(s) with {n_drawn} of {len(f)} curves"
    if len(f) >= SUMMARY_FROM or len(todo) < len(pages):
        path = folder / "ic50_summary.png"
        if save_figure(lambda: ic50_summary_figure(f, unit=unit), path):
            written.append(path)
        msg += f" + {path.name} (IC50 heat map and waterfall of all {len(f)} curves)"
    msg += f" -> {folder}"
    if len(todo) < len(pages):
        msg += (f"; {len(pages) - len(todo)} more figure(s) not drawn (--max-plots 0 draws all "
                f"{len(pages)}, or fit a subset of the table)")  # fmt: skip
    say(msg)
    return written
