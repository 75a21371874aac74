"""Combination scores against their definitions, the synergy package's ZIP, Loewe's closed form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.synergy import potentiation, synergy_scores, synergy_summary

DATA = Path(__file__).parents[1] / "data"


def grid_table(va_fn, vb_fn, comb_fn, da, db) -> pd.DataFrame:
    rows = []
    for a in np.r_[0.0, da]:
        for b in np.r_[0.0, db]:
            if a == 0 and b == 0:
                v = 1.0
            elif b == 0:
                v = va_fn(a)
            elif a == 0:
                v = vb_fn(b)
            else:
                v = comb_fn(a, b)
            rows.append(
                {
                    "cell_line": "L",
                    "drug": "A" if a > 0 else "",
                    "concentration_M": a,
                    "drug_b": "B" if b > 0 else "",
                    "concentration_b": b,
                    "viability": v,
                }
            )
    return pd.DataFrame(rows)


def test_bliss_hsa_equal_definitions() -> None:
    rng = np.random.default_rng(1)
    da, db = np.logspace(-9, -6, 5), np.logspace(-8, -5, 4)
    mono_a = dict(zip(da, rng.uniform(0.2, 1.0, da.size), strict=True))
    mono_b = dict(zip(db, rng.uniform(0.2, 1.0, db.size), strict=True))
    comb = {(a, b): rng.uniform(0.0, 1.0) for a in da for b in db}
    df = grid_table(mono_a.get, mono_b.get, lambda a, b: comb[(a, b)], da, db)
    s = synergy_scores(df)
    assert len(s) == da.size * db.size
    for _, r in s.iterrows():
        ea, eb = 1 - mono_a[r["concentration_M"]], 1 - mono_b[r["concentration_b"]]
        e = 1 - comb[(r["concentration_M"], r["concentration_b"])]
        assert r["bliss"] == pytest.approx(e - (ea + eb - ea * eb), abs=1e-9)
        assert r["hsa"] == pytest.approx(e - max(ea, eb), abs=1e-9)


def test_zip_matches_synergy_package() -> None:
    ref = pd.read_csv(DATA / "zip_reference.csv")
    df = pd.DataFrame({
        "cell_line": "X", "drug": np.where(ref["drug_a_M"] > 0, "A", ""),
        "concentration_M": ref["drug_a_M"], "drug_b": np.where(ref["drug_b_M"] > 0, "B", ""),
        "concentration_b": ref["drug_b_M"], "viability": ref["viability"],
    })  # fmt: skip
    s = synergy_scores(df)
    m = s.merge(ref, left_on=["concentration_M", "concentration_b"],
                right_on=["drug_a_M", "drug_b_M"])  # fmt: skip
    assert len(m) == 36
    assert np.abs(m["zip"] - m["zip_synergy_pkg"]).max() < 1e-3


def test_loewe_closed_form_two_hill_drugs() -> None:
    # same slope h, bottom 0, top 1: Loewe additivity gives fa/(1-fa) = (a/Ca + b/Cb)^h
    h, ca, cb = 1.3, 2e-8, 5e-7
    da, db = np.logspace(-9, -6.5, 7), np.logspace(-8, -5.5, 6)
    va = lambda a: 1 / (1 + (a / ca) ** h)  # noqa: E731
    vb = lambda b: 1 / (1 + (b / cb) ** h)  # noqa: E731
    comb = lambda a, b: 0.5 * va(a) * vb(b) + 0.1  # noqa: E731 - any observed surface
    s = synergy_scores(grid_table(va, vb, comb, da, db))
    u = s["concentration_M"] / ca + s["concentration_b"] / cb
    v_loewe = 1 / (1 + u**h)
    expected = (1 - s["viability"]) - (1 - v_loewe)
    assert np.abs(s["loewe"] - expected).max() < 1e-4
    # Chou-Talalay CI at the observed effect: a/Dx_a + b/Dx_b with the exact median-effect fits
    ok = s["ci_chou"].notna()
    fa = 1 - s.loc[ok, "viability"]
    r = (fa / (1 - fa)) ** (1 / h)
    ci = s.loc[ok, "concentration_M"] / (ca * r) + s.loc[ok, "concentration_b"] / (cb * r)
    assert np.abs(s.loc[ok, "ci_chou"] - ci).max() < 1e-3


def test_fixed_tocilizumab_design_undefined_loewe_no_crash() -> None:
    rng = np.random.default_rng(4)
    x = np.r_[0.0, 1e-10 * 3.0 ** np.arange(9)]
    rows = []
    for toc, shift in ((0.0, 1.0), (10.0, 3.0), (100.0, 8.0)):
        for c in x:
            for _ in range(3):
                v = 1 / (1 + (c * shift / 2e-8) ** 1.2) + rng.normal(0, 0.03)
                rows.append(
                    {
                        "cell_line": "231",
                        "drug": "eribulin" if c > 0 else "",
                        "concentration_M": c,
                        "drug_b": "tocilizumab" if toc else "",
                        "concentration_b": toc,
                        "viability": v,
                    }
                )
    df = pd.DataFrame(rows)
    s = synergy_scores(df)
    assert len(s) == 18 and s["loewe"].isna().all() and s["ci_chou"].isna().all()
    assert s["note"].str.contains("Loewe/CI undefined").all()
    assert s["bliss"].notna().all() and s["zip"].notna().all()
    assert s["bliss"].mean() > 0.05  # tocilizumab alone does nothing, so excess = synergy
    summ = synergy_summary(s)
    assert len(summ) == 1 and summ.loc[0, "bliss_mean"] > 0
    pot = potentiation(df).set_index("concentration_b")
    for toc, shift in ((10.0, 3.0), (100.0, 8.0)):
        assert pot.loc[toc, "shift"] == pytest.approx(shift, rel=0.35)
        assert pot.loc[toc, "shift_ci_low"] < shift < pot.loc[toc, "shift_ci_high"]
        assert pot.loc[toc, "p_value"] < 0.01
