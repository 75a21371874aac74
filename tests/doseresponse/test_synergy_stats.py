"""Replicate statistics of combination scores against simulated plates with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.synergy import _prepare, synergy_scores
from napari_il6assay.doseresponse.synergy_stats import (
    SUMMARY_COLUMNS,
    additive_scores,
    bootstrap_p,
    most_synergistic_area,
    synergy_with_ci,
)

DA = np.logspace(-9, -7, 5)
DB = np.logspace(-8, -6, 5)


def combo_plate(
    rng: np.random.Generator, delta: float, sd: float = 0.05, n: int = 3
) -> pd.DataFrame:
    """A 6 x 6 block (vehicle, 5 doses each, 25 combinations), n wells per cell.

    Every combination's viability is the Bliss expectation minus ``delta``, so the true Bliss
    excess is ``delta`` in every cell (and its block mean is ``delta``).
    """
    a, b = np.meshgrid(np.r_[0.0, DA], np.r_[0.0, DB], indexing="ij")
    a, b = a.ravel(), b.ravel()
    va = 1 / (1 + (a / 1e-8) ** 1.2)
    vb = 0.2 + 0.8 / (1 + (b / 2e-7) ** 1.0)
    v = va * vb - np.where((a > 0) & (b > 0), delta, 0.0)
    a, b, v = np.repeat(a, n), np.repeat(b, n), np.repeat(v, n)
    return pd.DataFrame({
        "cell_line": "L", "drug": np.where(a > 0, "A", ""), "concentration_M": a,
        "drug_b": np.where(b > 0, "B", ""), "concentration_b": b,
        "viability": v + rng.normal(0.0, sd, v.size),
    })  # fmt: skip


def _bliss_rows(delta: float, n_plates: int = 200) -> pd.DataFrame:
    rows = []
    for k in range(n_plates):
        df = combo_plate(np.random.default_rng(500 + k), delta)
        _, summ = synergy_with_ci(df, fitted=False, n_boot=1000, seed=k)
        rows.append(summ.set_index("score").loc["bliss"])
    return pd.DataFrame(rows)


def test_block_mean_ci_covers_known_bliss_excess() -> None:
    delta = 0.06
    r = _bliss_rows(delta)
    coverage = ((r["ci_low"] <= delta) & (delta <= r["ci_high"])).mean()
    assert 0.92 <= coverage <= 0.98, coverage
    # the estimate is unbiased and the test has power at this effect
    assert abs(r["mean"].mean() - delta) < 0.005
    assert (r["p_value"] < 0.05).mean() > 0.9


def test_null_plates_give_nominal_false_positive_rate() -> None:
    r = _bliss_rows(0.0)
    rate = (r["p_value"] < 0.05).mean()
    assert 0.03 <= rate <= 0.07, rate


def test_closed_form_equals_synergy_scores_and_ci_brackets_point() -> None:
    df = combo_plate(np.random.default_rng(3), 0.05)
    full, summ = synergy_with_ci(df, n_boot=500, n_boot_fitted=8, seed=1)
    fast = additive_scores(_prepare(df, "viability", None))
    ref = synergy_scores(df)
    for c in ("bliss", "hsa"):
        np.testing.assert_allclose(fast[c], ref[c], atol=1e-12)
        np.testing.assert_allclose(full[c], ref[c], atol=1e-12)
        assert (full[f"{c}_ci_low"] <= full[c]).all() and (full[c] <= full[f"{c}_ci_high"]).all()
    assert list(summ.columns) == SUMMARY_COLUMNS
    assert list(summ["score"]) == ["bliss", "hsa", "loewe", "zip"]
    z = full[["zip", "zip_ci_low", "zip_ci_high"]]
    assert z.notna().all().all() and (z["zip_ci_low"] < z["zip_ci_high"]).all()
    bl = summ.set_index("score").loc["bliss"]
    assert bl["mean"] == pytest.approx(ref["bliss"].mean())
    assert bl["n_conditions"] == 25 and bl["ci_low"] < bl["mean"] < bl["ci_high"]
    # same seed, same numbers
    again, summ2 = synergy_with_ci(df, n_boot=500, n_boot_fitted=8, seed=1)
    pd.testing.assert_frame_equal(summ, summ2)


def test_msa_is_the_best_3x3_window() -> None:
    da, db = np.arange(1.0, 6.0), np.arange(1.0, 5.0)
    a, b = (m.ravel() for m in np.meshgrid(da, db, indexing="ij"))
    vals = np.zeros(a.size)
    hot = (a >= 2) & (a <= 4) & (b >= 2) & (b <= 4)
    vals[hot] = 0.3
    vals[(a == 5) & (b == 1)] = 1.0  # one hot cell alone does not make the best window
    msa, window = most_synergistic_area(a, b, vals)
    assert msa == pytest.approx(0.3)
    assert window == "2-4 x 2-4"  # plain numbers without units
    # a 1-dose agent: windows of 3 x 1
    msa1, _ = most_synergistic_area(da, np.ones(5), np.array([0, 0.1, 0.2, 0.3, 0.0]))
    assert msa1 == pytest.approx(0.2)


def test_bootstrap_p_two_sided() -> None:
    assert bootstrap_p(np.linspace(0.1, 1.0, 999)) == pytest.approx(2 / 1000)
    assert bootstrap_p(np.linspace(-1.0, 1.0, 1001)) == pytest.approx(1.0)


def test_active_single_agent_is_never_called_inactive() -> None:
    """6 doses, one well each, falling 1.23 -> 0.29: an F test alone may call it flat."""
    from napari_il6assay.doseresponse.fit import fit_arrays

    db = np.logspace(-8, -5.5, 6)
    da = np.logspace(-9, -7, 5)
    n_flat_by_f = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        # a noisy, non-monotone single agent with a >= 30 % overall fall
        vb = np.linspace(1.0, 0.29 / 1.23, 6) + rng.normal(0, 0.18, 6)
        vb[0], vb[-1] = 1.0, 0.29 / 1.23
        drop = 1 - vb[-1] / 1.0
        assert drop >= 0.3
        rows = [{"drug": "", "concentration_M": 0.0, "drug_b": "", "concentration_b": 0.0,
                 "viability": 1.0}]  # fmt: skip
        for b, v in zip(db, vb, strict=True):
            rows.append({"drug": "", "concentration_M": 0.0, "drug_b": "B",
                         "concentration_b": b, "viability": v})  # fmt: skip
        for a in da:
            rows.append({"drug": "A", "concentration_M": a, "drug_b": "", "concentration_b": 0.0,
                         "viability": 1 / (1 + (a / 1e-8))})  # fmt: skip
            for b, v in zip(db, vb, strict=True):
                rows.append({"drug": "A", "concentration_M": a, "drug_b": "B",
                             "concentration_b": b, "viability": v / (1 + (a / 1e-8))})  # fmt: skip
        df = pd.DataFrame(rows).assign(cell_line="L")
        x = np.r_[0.0, db]
        y = np.r_[1.0, vb]
        old = fit_arrays([(x, y, None)], "4pl", ci_method="none", min_effect=0.0)
        n_flat_by_f += old.status[0] == "no_effect"
        s = synergy_scores(df)
        assert not s["note"].str.contains("no effect alone").any(), s["note"].iloc[0]
        assert s["loewe"].notna().sum() > 0
    # the data are hard enough that the F test on its own calls some of them flat
    assert n_flat_by_f >= 1


def test_chou_talalay_ci_not_estimable_when_dx_is_extrapolated() -> None:
    """Drug B barely acts over its doses: the dose of B alone for a 95 % kill is ~200x its top
    dose, so a CI would rest on the median-effect line far outside the data."""
    da, db = np.logspace(-9, -7, 5), np.logspace(-8, -6, 5)
    va = lambda a: 1 / (1 + a / 1e-8)  # noqa: E731
    vb = lambda b: 1 / (1 + b / 1e-5)  # noqa: E731
    rows = []
    for a in np.r_[0.0, da]:
        for b in np.r_[0.0, db]:
            v = 1.0 if a == b == 0 else va(a) if b == 0 else vb(b) if a == 0 else 0.05
            rows.append(
                {
                    "cell_line": "L",
                    "drug": "A" if a else "",
                    "concentration_M": a,
                    "drug_b": "B" if b else "",
                    "concentration_b": b,
                    "viability": v,
                }
            )
    s = synergy_scores(pd.DataFrame(rows))
    assert s["ci_chou"].isna().all()
    assert s["note"].str.contains("Chou-Talalay CI not estimable: dose of B").all()
    # the dose of B for this effect, from B's exact curve, is indeed far above the top dose
    assert 1e-5 * (0.95 / 0.05) > 10 * db.max()
