"""``--model auto`` against drc's ``mselect``: where they differ, drc's optimum is the worse one.

drc's ``mselect`` ranks the fits drc reached by AIC. Ours ranks the fits we reach by the same
AIC. The two choices can only differ when the fits differ, so the test checks both: the count
of agreements with drc's printed choice, and that mselect's own rule, given for each model the
better of drc's and our optimum, picks exactly what ``--model auto`` picks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.fit import fit_arrays, select_models

REF = Path(__file__).parents[1] / "data" / "drc_reference"
DRC = {"4pl": "LL.4", "3pl": "LL.3", "5pl": "LL.5"}
N_PARAMS = {"3pl": 3, "4pl": 4, "5pl": 5}


def _aic(rss: float, n: int, k: int) -> float:
    """Gaussian AIC as R's ``logLik`` counts it for ``drm``: k curve parameters + the variance."""
    return n * (np.log(2 * np.pi) + 1 + np.log(rss / n)) + 2 * (k + 1)


@pytest.fixture(scope="module")
def choices() -> pd.DataFrame:
    cur = pd.read_csv(REF / "curves.csv")
    gb = cur.groupby("cell_line", sort=False)
    curves = [(g["conc"].to_numpy(float), g["response"].to_numpy(float), None) for _, g in gb]
    names = list(gb.groups)
    drc = pd.read_csv(REF / "drc_fits.csv").set_index("curve").loc[names]
    ours = {m: fit_arrays(curves, m, ci_method="none").rss for m in DRC}
    picked = list(select_models(curves, ci_method="none").model)
    rows = []
    for i, name in enumerate(names):
        n = len(curves[i][0])
        drc_rss = {m: float(drc.loc[name, f"{M}_rss"]) for m, M in DRC.items()}
        drc_aic = {m: _aic(r, n, N_PARAMS[m]) for m, r in drc_rss.items() if np.isfinite(r)}
        best_aic = {
            m: _aic(np.nanmin([drc_rss[m], float(ours[m][i])]), n, N_PARAMS[m]) for m in DRC
        }
        rows.append(
            {
                "curve": name,
                "ours": picked[i],
                "drc": min(drc_aic, key=drc_aic.get) if drc_aic else None,
                "drc_fitted_all": len(drc_aic) == 3,
                "mselect_on_best": min(best_aic, key=best_aic.get),
                "drc_worse": [
                    m
                    for m in DRC
                    if not np.isfinite(drc_rss[m]) or ours[m][i] < drc_rss[m] * (1 - 1e-4)
                ],
            }
        )
    return pd.DataFrame(rows)


def test_auto_agrees_with_mselect(choices: pd.DataFrame) -> None:
    fitted = choices[choices["drc"].notna()]
    full = fitted[fitted["drc_fitted_all"]]
    agree_full = int((full["ours"] == full["drc"]).sum())
    agree_all = int((fitted["ours"] == fitted["drc"]).sum())
    # measured: 66 of the 71 curves where drc fitted all three models, 68 of the 76 it fitted
    # at all (drc fitted nothing on 1 curve)
    assert len(full) == 71 and agree_full / len(full) >= 0.90, (agree_full, len(full))
    assert len(fitted) == 76 and agree_all >= 68, (agree_all, len(fitted))


def test_every_disagreement_is_a_worse_drc_optimum(choices: pd.DataFrame) -> None:
    fitted = choices[choices["drc"].notna()]
    differ = fitted[fitted["ours"] != fitted["drc"]]
    for _, r in differ.iterrows():
        # drc reached a worse optimum (or none) for the model we chose or the one it chose
        assert {r["ours"], r["drc"]} & set(r["drc_worse"]), r.to_dict()
    # mselect's rule on the better optimum per model is exactly --model auto, on every curve
    assert (choices["ours"] == choices["mselect_on_best"]).all()
