"""Fits against R drc 3.2-0 on the 77 drcData curves of tests/data/drc_reference (issue 11).

drc_fits.csv holds drc's LL.4 / LL.3 / LL.5 fits of each curve (parameters, SEs, RSS, ED50
with its delta CI); the RSS column is drc's own ``sum(residuals(m)^2)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.fit import fit_arrays, fit_curves, select_models

REF = Path(__file__).resolve().parents[1] / "data" / "drc_reference"
MODELS = {"4pl": "LL.4", "3pl": "LL.3", "5pl": "LL.5"}


def sig(a: float, b: float, digits: int = 4) -> bool:
    return float(f"{a:.{digits}g}") == float(f"{b:.{digits}g}")


@pytest.fixture(scope="module")
def ref() -> tuple[list, list, pd.DataFrame]:
    cur = pd.read_csv(REF / "curves.csv")
    gb = cur.groupby("cell_line", sort=False)
    curves = [(g["conc"].to_numpy(float), g["response"].to_numpy(float), None) for _, g in gb]
    names = list(gb.groups)
    drc = pd.read_csv(REF / "drc_fits.csv").set_index("curve").loc[names]
    assert len(names) == 77
    return names, curves, drc


@pytest.fixture(scope="module")
def fits(ref) -> dict[str, dict]:
    _, curves, _ = ref
    return {m: fit_arrays(curves, m, ci_method="delta") for m in MODELS}


def _worse(model: str, ref, fits) -> tuple[list[str], int]:
    names, _, drc = ref
    M = MODELS[model]
    worse, n = [], 0
    for i, name in enumerate(names):
        d = drc.loc[name]
        if not np.isfinite(d[f"{M}_rss"]):  # drc: "Convergence failed"
            continue
        n += 1
        if fits[model].rss[i] > d[f"{M}_rss"] * (1 + 1e-4):
            worse.append(name)
    return worse, n


def test_4pl_rss_never_above_drc(ref, fits) -> None:
    # before issue 11: 13 curves above drc (metals 1.02-2.1x, mdra:21 1.06x): a hill bounded
    # to [1e-3, 50], one logit start that assumes a falling monotone curve, and a stopping
    # rule that took tiny heavily damped steps for a minimum
    worse, n = _worse("4pl", ref, fits)
    assert n == 74 and worse == []


def test_3pl_rss_at_most_drc_on_95_percent(ref, fits) -> None:
    worse, n = _worse("3pl", ref, fits)
    # no exception today (before: 15, up to 8.8x on mdra:20). The one curve allowed is
    # metals:Cd (bell-shaped, flagged non_monotone), where a neighbouring basin of a step-like
    # LL.3 (b -9.4 vs drc -12.0) ends 1.0001x above drc with other grid settings
    assert set(worse) <= {"metals:Cd"}
    assert 1 - len(worse) / n >= 0.95


def test_5pl_rss_at_most_drc_on_95_percent(ref, fits) -> None:
    worse, n = _worse("5pl", ref, fits)
    # no exception today; before: 23 (asymmetry bounded to [0.05, 20], one sign of hill)
    assert n == 75 and 1 - len(worse) / n >= 0.95
    names, _, drc = ref
    i = names.index("lettuce:all")  # drc f = 0.021 outside the old bounds: ED50 41.9
    assert fits["5pl"].rss[i] <= drc.loc["lettuce:all", "LL.5_rss"] * (1 + 1e-4)


def test_delta_se_and_ci_equal_drc(ref, fits) -> None:
    """SE and delta CI of the ED50 to 4 significant digits where the optima agree."""
    names, _, drc = ref
    r = fits["4pl"]
    checked = negative = 0
    for i, name in enumerate(names):
        d = drc.loc[name]
        if not np.isfinite(d["LL.4_ed50_se"]):
            continue
        # optima agree: same RSS and the same ED50 to 1e-5 (drc's optim stops at reltol 1e-7,
        # so on flat valleys its ED50 can be off in the 4th digit at the same RSS)
        if (
            abs(r.rss[i] / d["LL.4_rss"] - 1) > 1e-6
            or abs(r.ic50_fit[i] / d["LL.4_ed50"] - 1) > 1e-5
        ):
            continue
        checked += 1
        assert sig(r.ic50_fit[i], d["LL.4_ed50"]), name
        assert (
            sig(r.ic50_se[i], d["LL.4_ed50_se"])
            or abs(r.ic50_se[i] / d["LL.4_ed50_se"] - 1) < 1.2e-4
        ), name
        assert sig(r.ic50_ci_high[i], d["LL.4_ed50_hi"]), name
        # the lower end e - t se cancels: drc's numerical Hessian (SE error ~1e-5, checked
        # against independent finite differences of the RSS) moves its 4th digit when it is
        # near 0 (GiantKelp 2.1735 vs 2.1742); compare on the scale of the interval
        width = d["LL.4_ed50_hi"] - d["LL.4_ed50_lo"]
        assert abs(r.ic50_ci_low[i] - d["LL.4_ed50_lo"]) <= 2e-4 * width, name
        negative += d["LL.4_ed50_lo"] < 0
        if d["LL.4_ed50_lo"] < 0:  # reported as drc does, not clipped to 0
            assert r.ic50_ci_low[i] < 0
    assert checked >= 18 and negative >= 1


def test_delta_ci_negative_lower_bound_reported_with_note() -> None:
    cur = pd.read_csv(REF / "curves.csv")
    one = cur[cur["cell_line"] == "vinclozolin:10904"]
    fits = fit_curves(one, response="response", conc="conc", ci_method="delta")
    row = fits.iloc[0]
    drc = pd.read_csv(REF / "drc_fits.csv").set_index("curve").loc["vinclozolin:10904"]
    assert row["ic50_ci_low_M"] < 0 and drc["LL.4_ed50_lo"] < 0
    assert "below 0" in row["note"]


def test_auto_picks_drc_mselect_choice(ref) -> None:
    names, curves, drc = ref
    chosen = select_models(curves, ci_method="none")
    agree = total = 0
    for i, name in enumerate(names):
        d = drc.loc[name]
        aic = {}
        for m, M in MODELS.items():
            n, k = d["n"], {"3pl": 3, "4pl": 4, "5pl": 5}[m]
            if np.isfinite(d[f"{M}_rss"]):
                aic[m] = n * (np.log(2 * np.pi) + 1 + np.log(d[f"{M}_rss"] / n)) + 2 * (k + 1)
        # drc could not fit every candidate on 6 curves (metals:Ag/Cu/CuAg/ZnHg, mdra:9/22)
        if len(aic) < 3:
            continue
        total += 1
        agree += min(aic, key=aic.get) == chosen.model[i]
        assert "by AIC" in chosen.model_note[i]
    # 66 of 71 today. The 5 others all sit where drc's fit of the competing model is worse
    # than ours: mdra:1, mdra:2, mdra:4 (drc's LL.3 RSS far above our 3PL's), mdra:10 and
    # vinclozolin:11023 (our 5PL below drc's LL.5); with drc's optima equal to ours drc would
    # choose as we do. Over all 76 curves drc fitted at all: 68 of 76.
    assert total == 71 and agree / total >= 0.9


def test_metals_flagged_non_monotone(ref, fits) -> None:
    names, _, _ = ref
    flagged = {n for n, v in zip(names, fits["4pl"].non_monotone, strict=True) if v}
    metals = {n for n in names if n.startswith("metals:")}
    assert metals <= flagged  # every bell-shaped metal curve
    # smooth monotone data sets are never flagged
    assert not flagged & {n for n in names if n.split(":")[0] in ("ryegrass", "S.alba", "lettuce",
                                                                  "spinach", "Cyp17")}  # fmt: skip
