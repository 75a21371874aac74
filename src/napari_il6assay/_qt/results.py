"""The batch's refit steps as the dose–response panel ran them (no Qt here).

The run's tables and `mark_excluded` live in `napari_il6assay.session.results`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def refit_tables(wells: pd.DataFrame, model: str = "4pl") -> dict[str, pd.DataFrame]:
    """Normalize, summarize and fit again (the batch's own steps), e.g. after an exclusion.

    Parameters
    ----------
    wells : pandas.DataFrame
        ``wells.csv`` with ``readout`` and (possibly changed) ``role``.
    model : str
        Dose–response model.

    Returns
    -------
    dict
        ``wells``, ``conditions``, ``fits`` (+ ``synergy``, ``potentiation`` for
        combinations).
    """
    from napari_il6assay.batch import tables as bt
    from napari_il6assay.doseresponse import normalize as norm

    w = norm.normalize_wells(wells, readout="readout")
    out: dict[str, pd.DataFrame] = {
        "wells": w,
        "conditions": norm.summarize_conditions(w),
        "fits": bt.fit_table(w, model=model),
    }
    if bt.has_combinations(w):
        from napari_il6assay.errors import Il6AssayError

        try:
            out.update(bt.combination_tables(w, model=model))
        except (Il6AssayError, ValueError, KeyError, np.linalg.LinAlgError) as exc:
            # as in the batch: a failing combination stage must not lose the curves
            out["synergy"] = pd.DataFrame()
            out["potentiation"] = pd.DataFrame()
            out["combination_error"] = pd.DataFrame({"error": [f"{type(exc).__name__}: {exc}"]})
    return out
