"""Issue 11: shallow curves get no "<" IC50; 3PL limits and --fix; --model auto; local optima."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.fit import fit_arrays, fit_curve
from napari_il6assay.doseresponse.models import evaluate, get_model

DOSES = 1e-9 * 3.0 ** np.arange(9)


def _low_mean(x: np.ndarray, y: np.ndarray) -> float:
    return float(y[x == x[x > 0].min()].mean())


def test_no_less_than_claim_without_data_past_half_effect() -> None:
    """Linear declines and shallow 4PLs far below the doses: never '<' unless the data show it."""
    rng = np.random.default_rng(7)
    curves, kinds = [], []
    for with_vehicle in (False, True):
        x = (np.r_[0.0, DOSES] if with_vehicle else DOSES).repeat(3)
        lx = np.log10(np.where(x > 0, x, DOSES[0]))
        for end in (0.9, 0.8, 0.6, 0.4):  # almost linear declines in log dose, from 1
            for _ in range(8):
                y = 1 - (1 - end) * (lx + 9) / np.log10(3**8)
                y = np.where(x > 0, y, 1.0) + rng.normal(0, 0.03, x.size)
                curves.append((x, y, None))
                kinds.append("linear")
        for hill in (0.03, 0.1, 0.2, 0.28):  # shallow curves, IC50 decades below the doses
            p = np.array([hill, -2.0, 3.0, np.log(1e-14), 0.0])
            for _ in range(4):
                curves.append((x, evaluate(p, x) + rng.normal(0, 0.03, x.size), None))
                kinds.append("shallow")
    r = fit_arrays(curves, "4pl")
    for i, (x, y, _) in enumerate(curves):
        if r.ic50_censored[i] == "<":
            # a "<" claim: the lowest dose's data past half of the effect seen
            lo, hi = y.min(), y.max()
            half = 0.5 * (np.clip(r.top[i], lo, hi) + np.clip(r.bottom[i], lo, hi))
            assert _low_mean(x, y) < half
    linear = np.array(kinds) == "linear"
    # none of the linear declines, whose lowest dose reads ~1, is reported "<"
    assert not (r.ic50_censored[linear] == "<").any()
    shallow = r.status == "shallow"
    assert shallow.sum() >= 3  # such curves exist among these and are said to be shallow
    assert np.isnan(r.ic50_rel[shallow]).all()
    assert all("not estimable" in n for n in r.note[shallow])


def test_genuine_less_than_is_kept() -> None:
    rng = np.random.default_rng(3)
    x = np.r_[0.0, DOSES].repeat(3)
    p = np.array([1.0, 0.0, 1.0, np.log(DOSES[0] / 30), 0.0])
    f = fit_curve(x, evaluate(p, x) + rng.normal(0, 0.03, x.size))
    assert f.ic50_censored == "<" and f.status == "ok" and f.ic50_rel == pytest.approx(DOSES[0])


def test_3pl_is_drc_ll3_rising_from_zero_and_fix_choices() -> None:
    rng = np.random.default_rng(4)
    x = np.r_[0.0, DOSES].repeat(3)
    # rising from 0 to 2 (induction): drc LL.3 with b < 0, lower limit c = 0 at dose 0
    with np.errstate(divide="ignore"):  # 0 ** -1.3 = inf at dose 0: the response is 0 there
        y = 2.0 / (1 + (x / 3e-8) ** -1.3) + rng.normal(0, 0.03, x.size)
    f3 = fit_curve(x, y, "3pl")
    assert f3.hill == pytest.approx(-1.3, rel=0.15) and f3.bottom == 0.0
    assert f3.top == pytest.approx(2.0, rel=0.05)
    assert abs(np.log10(f3.ic50_rel / 3e-8)) < 0.1 and f3.status == "ok"
    # the same curve with the dose-0 response fixed at 0 (--fix top=0): hill >= 0, top = 0
    ft = fit_curve(x, y, "3pl-top", fixed_top=0.0)
    assert ft.top == 0.0 and ft.hill > 0 and ft.bottom == pytest.approx(2.0, rel=0.05)
    assert abs(np.log10(ft.ic50_rel / 3e-8)) < 0.1
    # --fix bottom=0 fixes the response at infinite dose: a falling viability curve
    yv = 1.0 / (1 + (x / 1e-7) ** 1.1) + rng.normal(0, 0.03, x.size)
    fb = fit_curve(yv * 0 + x, yv, "3pl-bottom", fixed_bottom=0.0)
    assert fb.bottom == 0.0 and abs(np.log10(fb.ic50_rel / 1e-7)) < 0.1
    assert get_model("4pl", fix={"bottom": 0.2}).name == "3pl-bottom"
    with pytest.raises(ValueError):
        get_model("5pl", fix={"top": 1.0})


def test_local_optimum_of_a_rising_step_is_escaped() -> None:
    """A sharp rise between two doses: the global 4PL optimum, checked by brute force."""
    rng = np.random.default_rng(5)
    x = DOSES.repeat(4)
    y = np.where(x > 2e-8, 50.0, 2.0) + rng.normal(0, 2.0, x.size)
    r = fit_arrays([(x, y, None)], "4pl", ci_method="none")
    # brute force over (hill, log e) with the plateaus by least squares
    best = np.inf
    for b in np.r_[np.linspace(0.2, 60, 150)]:
        for t in np.linspace(np.log(1e-10), np.log(1e-4), 300):
            g = 1 / (1 + np.exp(b * (np.log(x) - t)))
            A = np.c_[1 - g, g]
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            best = min(best, float(((A @ coef - y) ** 2).sum()))
    assert r.rss[0] <= best * (1 + 1e-6)


def test_cli_model_auto_and_fix(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    x = np.r_[0.0, DOSES].repeat(3)
    rows = []
    for line, hill, asym in (("A", 1.0, 1.0), ("B", 2.5, 0.15)):
        p = np.array([hill, 0.05, 1.0, np.log(5e-8), np.log(asym)])
        y = evaluate(p, x) + rng.normal(0, 0.01, x.size)
        rows += [{"cell_line": line, "drug": "d", "concentration_M": xi, "viability": yi}
                 for xi, yi in zip(x, y, strict=True)]  # fmt: skip
    table = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    cmd = [sys.executable, "-m", "napari_il6assay", "fit", str(table), "--no-plots"]
    out = subprocess.run([*cmd, "--out", str(tmp_path / "auto"), "--model", "auto"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    fits = pd.read_csv(tmp_path / "auto" / "fits.csv")
    assert list(fits.columns[-5:]) == ["aic", "bic", "model_note", "lack_of_fit_p",
                                       "non_monotone"]  # fmt: skip
    chosen = dict(zip(fits["cell_line"], fits["model"], strict=True))
    assert chosen["B"] == "5pl"  # strongly asymmetric: the 5PL wins by AIC
    assert all("by AIC" in n for n in fits["model_note"])
    out = subprocess.run([*cmd, "--out", str(tmp_path / "fix"), "--fix", "top=1"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    fits = pd.read_csv(tmp_path / "fix" / "fits.csv")
    assert (fits["model"] == "3pl-top").all() and (fits["top"] == 1.0).all()
    bad = subprocess.run([*cmd, "--out", str(tmp_path / "bad"), "--fix", "middle=2"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
    assert "Traceback" not in bad.stderr
