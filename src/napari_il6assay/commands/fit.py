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
from typing import Any

from napari_il6assay.errors import InputError

UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "nm": 1e-9, "pm": 1e-12}


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
    df: Any, path: str | Path, dose: str | None = None, *, unit: str | None = None,
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
    import numpy as np
    import pandas as pd

    df = df.copy()
    if unit is not None and unit.strip().lower() not in (*UNITS, "none"):
        raise InputError(f"unknown --unit {unit!r} (expected M, mM, uM, nM, pM or none)",
                         path=path, column="--unit")  # fmt: skip
    if dose is not None:
        if dose not in df.columns:
            raise InputError(f"dose column not found (columns: {', '.join(map(str, df.columns))})",
                             path=path, column=dose)  # fmt: skip
        col = dose
    elif "concentration_M" in df.columns:
        col = "concentration_M"
    elif "concentration" in df.columns:
        col = "concentration"
    else:
        col = next((c for c in ("conc", "dose") if c in df.columns), None)
        if col is None:  # a dose column named with its unit: conc_nM, dose (uM)
            col = next((c for c in map(str, df.columns)
                        if re.match(r"(concentration|conc|dose)(?![a-z])", c, re.I)
                        and _NAME_UNIT.search(c)), None)  # fmt: skip
        if col is None:
            raise InputError("no dose column: expected concentration_M, concentration (+ unit), "
                             "conc_nM (any unit), conc or dose, or give --dose COL",
                             path=path)  # fmt: skip
    if response is not None and col == response:
        raise InputError("the dose column is the response column: give --dose and --response "
                         "different columns", path=path, column=col)  # fmt: skip
    if list(df.columns).count(col) > 1:
        raise InputError("the table has two columns of this name", path=path, column=col)
    _numeric(df, col, path)
    named = _NAME_UNIT.search(str(col))
    if col == "concentration" and "unit" in df.columns and unit is None:
        factors = []
        for i, u in enumerate(df["unit"]):
            key = str(u).strip().lower() if isinstance(u, str) else ""
            if key == "" and (pd.isna(df[col].iloc[i]) or df[col].iloc[i] == 0):
                factors.append(1.0)
                continue
            if key not in UNITS:
                what = f"unknown unit {u!r}" if key else "missing unit for a non-zero dose"
                raise InputError(f"{what} (expected M, mM, uM, nM or pM)", path=path,
                                 row=i + 2, column="unit")  # fmt: skip
            factors.append(UNITS[key])
        df["concentration_M"] = df[col].to_numpy(float) * np.asarray(factors)
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
        factor = UNITS[name_unit.lower()]
    elif unit is None:
        hint = "; it has a 'unit' column: use --dose concentration" if "unit" in df.columns else ""
        raise InputError(
            f"the dose column has no unit: give --unit (M, mM, uM, nM, pM), or --unit none to "
            f"fit the doses as given (IC50 columns then in the dose's own unit){hint}",
            path=path, column=col,
        )
    elif unit.strip().lower() == "none":
        df.attrs["dose_unit"] = f"'{col}' as given (--unit none: no conversion to M)"
        return df, col
    else:
        name_unit, factor = unit.strip(), UNITS[unit.strip().lower()]
    out_col = "concentration_M" if col != "concentration_M" else col
    df[out_col] = df[col].to_numpy(float) * factor
    df.attrs["dose_unit"] = f"'{col}' in {name_unit}, converted to M"
    return df, out_col


def _numeric(df: Any, col: str, path: str | Path) -> None:
    import pandas as pd

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
    parser.add_argument("--model", default="4pl", choices=["4pl", "3pl", "5pl"])
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
    parser.add_argument("--no-plots", action="store_true", help="write fits.csv only")


def _safe(name: str) -> str:
    """A safe, visible file-name stem (see `batch.exports.safe_name`); ``curve`` when empty."""
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
        print(f"warning: plot {path.name} not drawn: {type(exc).__name__}: {reason}",
              file=sys.stderr)
        return False
    return True


def run(args: argparse.Namespace) -> int:
    """Fit every curve of the table; write ``fits.csv`` and ``plots/*.png``."""
    from napari_il6assay.doseresponse.fit import fit_curves

    df = read_table(args.table)
    if args.response not in df.columns:
        raise InputError(f"response column not found (columns: {', '.join(map(str, df.columns))})",
                         path=args.table, column=args.response)  # fmt: skip
    df, dose = dose_column(df, args.table, args.dose, unit=args.unit, response=args.response)
    _numeric(df, args.response, args.table)
    if "concentration_b" in df.columns:
        _numeric(df, "concentration_b", args.table)
    out = Path(args.out)
    if out.resolve() == Path(args.table).resolve().parent:
        raise InputError("--out must not be the input's folder", path=out)
    from napari_il6assay.cli import check_out_dir

    check_out_dir(out, create=True)
    fits = fit_curves(df, response=args.response, model=args.model, conc=dose, ci_method=args.ci,
                      alpha_flat=args.alpha_flat, min_effect=args.min_effect,
                      min_span=args.min_span)  # fmt: skip
    fits.to_csv(out / "fits.csv", index=False)
    n_ok = int((fits["status"] == "ok").sum())
    print(f"{len(fits)} curve(s): {n_ok} fitted, "
          f"{int((fits['status'] == 'no_effect').sum())} no effect, "
          f"{int(fits['status'].isin(['bad_input', 'constant']).sum())} not fittable -> "
          f"{out / 'fits.csv'}")  # fmt: skip
    print(f"doses: {df.attrs.get('dose_unit', dose)}")
    if not args.no_plots:
        plot_df = df
        if dose != "concentration_M":
            plot_df = df.drop(columns=["concentration_M"], errors="ignore").rename(
                columns={dose: "concentration_M"})
        unit = "M" if dose == "concentration_M" else ""
        write_plots(plot_df, fits, out / "plots", args.response, unit=unit)
    return 0


def write_plots(df: Any, fits: Any, folder: Path, response: str, unit: str = "M") -> list[Path]:
    """One PNG per (drug, second agent) curve family, all cell lines on one axis."""
    from napari_il6assay.doseresponse.figures import dose_response_figure

    folder.mkdir(parents=True, exist_ok=True)
    from napari_il6assay.batch.exports import unique_name

    written = []
    used: set[str] = set()
    keys = fits[["drug", "drug_b", "concentration_b"]].drop_duplicates()
    for _, k in keys.iterrows():
        cb = k["concentration_b"]
        cb = float(cb) if cb == cb else 0.0
        name = _safe("_".join(s for s in (k["drug"], k["drug_b"], f"{cb:g}" if cb else "") if s))
        path = folder / f"{unique_name(name, used)}.png"
        if save_figure(lambda k=k, cb=cb: dose_response_figure(
                df, fits, drug=k["drug"] or None, drug_b=k["drug_b"] or None,
                concentration_b=cb, response=response, unit=unit), path):  # fmt: skip
            written.append(path)
    return written
