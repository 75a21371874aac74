"""Cross-resistance: fold resistance of each resistant line to each drug, as one table.

The numbers are those of ``fits.csv`` (relative IC50 of the line / that of its parental, the
profile-likelihood CI and the extra-sum-of-squares F test of `fold.fold_test`); this module
only gathers the single-agent rows (no second agent) into a lines x drugs table, so that a
line made resistant to one drug can be read against the others (collateral sensitivity shows
as a fold below 1). It is produced when a resistant line was tested with at least 2 drugs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_il6assay.io.cells import cell_text as _text

CROSS_RESISTANCE_COLUMNS = [
    "cell_line", "parental", "drug", "fold_resistance", "fold_ci_low", "fold_ci_high", "p_value",
    "fold_censored",
]  # fmt: skip


def cross_resistance(fits: pd.DataFrame) -> pd.DataFrame:
    """``cross_resistance.csv`` from ``fits.csv``.

    Parameters
    ----------
    fits : DataFrame
        `fit.fit_curves` output (or ``fits.csv`` read back).

    Returns
    -------
    DataFrame
        `CROSS_RESISTANCE_COLUMNS`, one row per resistant line and drug alone; empty (with
        the columns) unless some line has a fold resistance for >= 2 drugs.
    """
    if fits is None or fits.empty or "fold_resistance" not in fits.columns:
        return pd.DataFrame(columns=CROSS_RESISTANCE_COLUMNS)
    f = fits.copy()
    alone = f["drug_b"].map(_text) == "" if "drug_b" in f.columns else np.ones(len(f), bool)
    f = f[alone & (f["parental"].map(_text) != "") & (f["drug"].map(_text) != "")]
    f = f[pd.to_numeric(f["fold_resistance"], errors="coerce").notna()]
    if f.empty:
        return pd.DataFrame(columns=CROSS_RESISTANCE_COLUMNS)
    n_drugs = f.groupby("cell_line")["drug"].nunique()
    f = f[f["cell_line"].isin(n_drugs[n_drugs >= 2].index)]
    if "fold_censored" not in f.columns:
        f = f.assign(fold_censored="")
    f = f.assign(fold_censored=f["fold_censored"].map(_text))
    out = f[CROSS_RESISTANCE_COLUMNS].sort_values(["cell_line", "drug"]).reset_index(drop=True)
    return out
