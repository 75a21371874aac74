"""Dose-response fits: drc reference (ryegrass), synthetic truth, censoring, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.fit import (
    FITS_COLUMNS,
    fit_arrays,
    fit_curve,
    fit_curve_table,
    fit_curves,
)
from napari_il6assay.doseresponse.fold import add_fold_resistance
from napari_il6assay.doseresponse.models import evaluate, get_model

RYEGRASS = Path(__file__).resolve().parents[1] / "data" / "ryegrass.csv"
DOSES = 1e-9 * 3.0 ** np.arange(9)
X = np.r_[0.0, DOSES].repeat(3)


def sig(a: float, b: float, digits: int = 4) -> bool:
    return float(f"{a:.{digits}g}") == float(f"{b:.{digits}g}")


@pytest.fixture(scope="module")
def ryegrass() -> pd.DataFrame:
    return pd.read_csv(RYEGRASS)


def test_ryegrass_ll4_matches_drc(ryegrass: pd.DataFrame) -> None:
    f = fit_curve(ryegrass["conc"], ryegrass["rootl"], "4pl", ci_method="delta")
    # drc LL.4: b 2.98222, c 0.48141, d 7.79296, e 3.05795 (R 4.2.2, drc 3.0-1)
    assert sig(f.hill, 2.98222) and sig(f.bottom, 0.48141)
    assert sig(f.top, 7.79296) and sig(f.ic50_rel, 3.05795)
    assert f.ic50_se == pytest.approx(0.18573, rel=0.03)
    assert np.sqrt(f.rss / f.df) == pytest.approx(0.5196256, rel=1e-5)
    # drc ED(..., interval="delta"): ED50 (2.67053, 3.44538), ED10 1.46371, ED90 6.38864
    assert f.ic50_ci[0] == pytest.approx(2.67053, rel=2e-3)
    assert f.ic50_ci[1] == pytest.approx(3.44538, rel=2e-3)
    assert f.ed(10) == pytest.approx(1.46371, rel=1e-4)
    assert f.ed(90) == pytest.approx(6.38864, rel=1e-4)
    assert f.status == "ok" and f.ic50_censored == ""


def test_ryegrass_ll3_abs_and_profile(ryegrass: pd.DataFrame) -> None:
    f3 = fit_curve(ryegrass["conc"], ryegrass["rootl"], "3pl")
    assert sig(f3.ic50_rel, 3.26336)
    fa = fit_curve(ryegrass["conc"], ryegrass["rootl"], abs_level=3.896)
    assert fa.ic50_abs == pytest.approx(3.19650, rel=1e-4)
    lo, hi = fa.ic50_ci  # profile CI: asymmetric around e, positive, near the delta one
    assert 0 < lo < 3.05795 < hi
    assert (hi - 3.05795) != pytest.approx(3.05795 - lo, rel=1e-3)
    assert lo == pytest.approx(2.67, rel=0.03) and hi == pytest.approx(3.45, rel=0.03)


def test_fit_curves_table_columns(ryegrass: pd.DataFrame) -> None:
    fits = fit_curves(ryegrass, response="rootl", conc="conc")
    assert list(fits.columns[: len(FITS_COLUMNS)]) == FITS_COLUMNS
    assert fits.loc[0, "ic50_rel_M"] == pytest.approx(3.05795, rel=1e-5)


def _sim(rng, log_ic50, hill, bottom=0.0, sd=0.05, x=X):
    y = evaluate(np.array([hill, bottom, 1.0, log_ic50 * np.log(10), 0.0]), x)
    return y + rng.normal(0, sd, x.size)


def test_synthetic_truth_recovered_and_ci_coverage() -> None:
    rng = np.random.default_rng(42)
    n = 200
    truth = rng.uniform(np.log10(DOSES[2]), np.log10(DOSES[6]), n)
    hills = rng.uniform(0.8, 2.0, n)
    curves = [(X, _sim(rng, t, h), None) for t, h in zip(truth, hills, strict=True)]
    r = fit_arrays(curves, "4pl")
    err = np.log10(r.ic50_fit) - truth
    assert np.median(np.abs(err)) < 0.05
    assert np.median(np.abs(r.hill / hills - 1)) < 0.15
    lo, hi = np.log10(r.ic50_ci_low), np.log10(r.ic50_ci_high)
    coverage = np.mean((lo <= truth) & (truth <= hi))
    print(f"profile CI coverage over {n} curves: {coverage:.3f}")
    assert 0.90 <= coverage <= 0.99
    assert (r.status == "ok").all()


@pytest.mark.parametrize("factor", [3.0, 10.0, 100.0])
def test_above_range_is_censored(factor: float) -> None:
    rng = np.random.default_rng(int(factor))
    log_ic = np.log10(DOSES[-1] * factor)
    r = fit_arrays([(X, _sim(rng, log_ic, 1.5), None) for _ in range(40)], "4pl")
    assert (r.ic50_censored == ">").mean() >= 0.95
    assert np.all(r.ic50_rel[r.ic50_censored == ">"] == pytest.approx(DOSES[-1]))


def test_flat_curves_are_no_effect() -> None:
    rng = np.random.default_rng(7)
    r = fit_arrays([(X, 1 + rng.normal(0, 0.05, X.size), None) for _ in range(60)], "4pl")
    assert (r.status == "no_effect").mean() >= 0.95
    assert np.all(r.ic50_censored == ">")  # never an in-range IC50
    assert all("no effect" in n for n in r.note[r.status == "no_effect"])


def test_below_range_is_censored_low() -> None:
    rng = np.random.default_rng(3)
    f = fit_curve(X, _sim(rng, np.log10(DOSES[0] / 30), 1.0, sd=0.03))
    assert f.ic50_censored == "<" and f.ic50_rel == pytest.approx(DOSES[0])


def test_in_range_matches_generator_and_wide_ranges() -> None:
    rng = np.random.default_rng(11)
    x = np.r_[0.0, np.logspace(-12, -5, 15)].repeat(3)
    for log_ic in (-11.0, -8.5, -6.0):
        r = fit_arrays([(x, _sim(rng, log_ic, 1.2, x=x), None) for _ in range(20)], "4pl")
        assert (r.ic50_censored == "").all()
        assert np.median(np.abs(np.log10(r.ic50_rel) - log_ic)) < 0.1
        inside = (r.ic50_ci_low < 10**log_ic) & (10**log_ic < r.ic50_ci_high)
        assert inside.mean() >= 0.8


def test_models_zero_dose_and_3pl_5pl() -> None:
    p = np.array([1.5, 0.1, 0.9, np.log(1e-7), 0.0])
    assert evaluate(p, np.array([0.0]))[0] == 0.9  # dose 0 is the top, not log(0)
    rng = np.random.default_rng(5)
    y = evaluate(np.array([1.2, 0.0, 1.0, np.log(3e-8), np.log(2.0)]), X)
    f5 = fit_curve(X, y + rng.normal(0, 0.005, X.size), "5pl")
    half = 3e-8 * (2 ** (1 / 2.0) - 1) ** (1 / 1.2)
    assert f5.ic50_rel == pytest.approx(half, rel=0.1)
    assert get_model("3pl-top").fixed[2] == 1.0


def test_robust_and_weights() -> None:
    rng = np.random.default_rng(8)
    y = _sim(rng, np.log10(3e-8), 1.3, sd=0.02)
    y[5] += 0.8  # one wild replicate
    f_plain = fit_curve(X, y)
    f_rob = fit_curve(X, y, robust=True)
    assert abs(np.log10(f_rob.ic50_rel / 3e-8)) <= abs(np.log10(f_plain.ic50_rel / 3e-8)) + 1e-9
    w = np.ones_like(y)
    w[5] = 1e-6
    f_w = fit_curve(X, y, weights=w)
    assert abs(np.log10(f_w.ic50_rel / 3e-8)) < 0.05


def test_bad_input_per_curve_others_fitted() -> None:
    rng = np.random.default_rng(9)
    rows = []

    def add(line: str, conc, resp):
        for c, v in zip(conc, resp, strict=True):
            rows.append(
                {
                    "cell_line": line,
                    "drug": "eribulin",
                    "concentration_M": c,
                    "viability": v,
                    "well": f"W{len(rows)}",
                }
            )

    good = _sim(rng, -7.5, 1.2)
    add("good", X, good)
    add("three_doses", np.repeat([1e-9, 1e-8, 1e-7], 3), good[:9])
    add("all_nan", X, np.full(X.size, np.nan))
    add("constant", X, np.full(X.size, 0.7))
    neg = X.copy()
    neg[4] = -1e-8
    add("negative", neg, good)
    miss = X.copy()
    miss[7] = np.nan
    add("missing_conc", miss, good)
    df = pd.DataFrame(rows)
    df["parental"] = ""
    df.loc[df["cell_line"] == "three_doses", "parental"] = "absent_line"
    fits = add_fold_resistance(fit_curve_table(df)).set_index("cell_line")
    assert fits.loc["good", "status"] == "ok"
    assert np.log10(fits.loc["good", "ic50_rel_M"]) == pytest.approx(-7.5, abs=0.1)
    assert "fewer than 4 doses" in fits.loc["three_doses", "note"]
    assert "all responses missing" in fits.loc["all_nan", "note"]
    assert "constant" in fits.loc["constant", "note"]
    assert "negative concentration" in fits.loc["negative", "note"]
    assert "missing concentration" in fits.loc["missing_conc", "note"]
    assert "parental line 'absent_line' not found" in fits.loc["three_doses", "note"]
    for line in ("three_doses", "all_nan", "constant", "negative", "missing_conc"):
        assert np.isnan(fits.loc[line, "ic50_rel_M"])


def test_in_range_estimates_are_the_least_squares_optimum() -> None:
    """drc's LL.4 estimate is the least-squares optimum; check ours is it (multi-start scipy)."""
    from scipy.optimize import least_squares

    rng = np.random.default_rng(21)
    for _ in range(8):
        log_ic, hill = rng.uniform(-8.3, -6.2), rng.uniform(0.7, 2.5)
        y = _sim(rng, log_ic, hill, bottom=rng.uniform(0, 0.3), sd=0.06)
        f = fit_curve(X, y)

        def res(q, y=y):
            return evaluate(np.array([q[0], q[1], q[2], q[3], 0.0]), X) - y

        best = min(
            (least_squares(res, [h0, 0.1, 1.0, np.log(10**t0)], method="lm", xtol=1e-14,
                           ftol=1e-14) for h0 in (0.7, 2.5) for t0 in (-8.0, -7.0, -6.5)),
            key=lambda r: r.cost,
        )  # fmt: skip
        assert f.rss == pytest.approx(2 * best.cost, rel=1e-8)
        assert f.ic50_fit == pytest.approx(np.exp(best.x[3]), rel=1e-4)
        assert f.hill == pytest.approx(best.x[0], rel=1e-3)


def test_partial_effect_in_range_keeps_its_ic50() -> None:
    """A curve levelling at 60 % viability inside the doses has a real (relative) IC50."""
    rng = np.random.default_rng(13)
    log_ic = np.log10(DOSES[3])
    curves = [(X, _sim(rng, log_ic, 1.2, bottom=0.6, sd=0.03), None) for _ in range(40)]
    r = fit_arrays(curves, "4pl")
    assert (r.ic50_censored == "").mean() >= 0.95
    assert np.median(np.abs(np.log10(r.ic50_rel) - log_ic)) < 0.15
    assert (r.ic50_abs_censored == ">").all()  # never reaches viability 0.5


def test_split_curves_rows_per_curve_and_vehicle_only() -> None:
    """Each curve gets its treated rows in table order, then its line's dose-0 rows.

    A table of vehicle rows only has no curve (it crashed the gathered split once).
    """
    from napari_il6assay.doseresponse._table import split_curves

    veh = pd.DataFrame({"cell_line": ["L0"], "drug": [""], "concentration_M": [0.0],
                        "viability": [1.0]})  # fmt: skip
    assert split_curves(veh, "viability", "concentration_M") == []
    df = pd.DataFrame({
        "cell_line": ["y", "x", "x", "y", "x", "x"], "drug": ["a", "b", "a", "", "", "a"],
        "concentration_M": [1e-9, 2e-9, 3e-9, 0.0, 0.0, 4e-9],
        "viability": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    })  # fmt: skip
    curves = split_curves(df, "viability", "concentration_M")
    got = [(c.key["cell_line"], c.key["drug"], c.conc.tolist(), c.response.tolist())
           for c in curves]  # fmt: skip
    assert got == [
        ("x", "a", [3e-9, 4e-9, 0.0], [0.3, 0.6, 0.5]),
        ("x", "b", [2e-9, 0.0], [0.2, 0.5]),
        ("y", "a", [1e-9, 0.0], [0.1, 0.4]),
    ]


def test_split_curves_roles_second_agent_and_messy_text() -> None:
    """Rows with role exclude/blank (any case) are left out; role vehicle is dose 0 whatever
    its drug; a second agent at concentration 0 or missing is no second agent; key text is
    cleaned (spaces, "nan"), and an integer concentration_b stays an integer key."""
    from napari_il6assay.doseresponse._table import split_curves

    df = pd.DataFrame({
        "cell_line": ["x ", "x", "x", "x", "x", "x", "x", "x"],
        "drug": ["a", " a", "a", "a", "DMSO", "a", "a", "a"],
        "concentration_M": [1e-9, 2e-9, 3e-9, 4e-9, 5e-9, 6e-9, 7e-9, 8e-9],
        "viability": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        "role": ["sample", "EXCLUDE", "blank ", "", "Vehicle", None, "sample", "sample"],
        "drug_b": ["t", "t", "t", "nan", "", "t", "t", None],
        "concentration_b": [0, 0, 0, 0, 0, 10, 10, 10],
    })  # fmt: skip
    curves = split_curves(df, "viability", "concentration_M")
    got = [(c.key, c.conc.tolist(), c.response.tolist()) for c in curves]
    assert got == [
        ({"cell_line": "x", "drug": "a", "drug_b": "", "concentration_b": 0},
         [1e-9, 4e-9, 0.0], [0.1, 0.4, 0.5]),
        ({"cell_line": "x", "drug": "a", "drug_b": "", "concentration_b": 10},
         [8e-9], [0.8]),
        ({"cell_line": "x", "drug": "a", "drug_b": "t", "concentration_b": 10},
         [6e-9, 7e-9], [0.6, 0.7]),
    ]  # fmt: skip
    assert all(type(c.key["concentration_b"]) is int for c in curves)


def test_one_column_list_maps_the_fits_to_fits_csv_and_curvefit(tmp_path: Path) -> None:
    """`COLUMNS` is fits.csv's header, and a `CurveFit` from the batch equals its table row."""
    from dataclasses import fields

    from napari_il6assay.doseresponse._clean import check_curves
    from napari_il6assay.doseresponse._result import COLUMNS, CurveFit, FitBatch, fits_table
    from napari_il6assay.doseresponse._table import split_curves
    from napari_il6assay.doseresponse.fit import EXTRA_COLUMNS
    from napari_il6assay.io.csv_out import write_csv

    rng = np.random.default_rng(31)
    rows = [
        {"cell_line": line, "drug": "d", "concentration_M": c, "viability": v}
        for line, y in (("a", _sim(rng, -7.5, 1.2)), ("b", _sim(rng, -4.0, 1.5)),
                        ("c", np.full(X.size, 0.7)), ("d", _sim(rng, -8.0, 0.9)))
        for c, v in zip(X, y, strict=True)
    ]  # fmt: skip
    curves = split_curves(pd.DataFrame(rows), "viability", "concentration_M")
    checked = check_curves([(c.conc, c.response) for c in curves], 4)
    todo = [i for i, c in enumerate(checked) if not c[2]]
    rest = [i for i, c in enumerate(checked) if c[2]]
    assert rest == [2]  # the constant curve is not fitted
    fitted = fit_arrays([(checked[i][0], checked[i][1], None) for i in todo], "4pl")
    unfitted = FitBatch.unfitted(
        [checked[i][2] for i in rest], "4pl", [curves[i].conc for i in rest]
    )
    batch = FitBatch.merge([(todo, fitted), (rest, unfitted)], len(curves))
    fits = fits_table(curves, batch, "profile")

    names = [c.name for c in COLUMNS]
    assert names == FITS_COLUMNS + EXTRA_COLUMNS == list(fits.columns)
    write_csv(fits, tmp_path / "fits.csv")
    assert (tmp_path / "fits.csv").read_text().splitlines()[0] == ",".join(names)
    assert list(pd.read_csv(tmp_path / "fits.csv").columns) == names
    # every column with a field is an attribute of both records
    record = {f.name for f in fields(CurveFit)}
    for c in COLUMNS:
        if c.field is not None:
            assert c.field in record and hasattr(batch, c.field), c
    assert batch.status[2] == "constant" and batch.status[[0, 3]].tolist() == ["ok", "ok"]
    assert batch.ic50_censored[1] == ">"  # IC50 far above the doses
    for i in range(len(curves)):
        cf, row = batch.curve(i), fits.iloc[i]
        for c in COLUMNS:
            if c.field is None:
                continue
            got, want = getattr(cf, c.field), row[c.name]
            if c.name == "df" and i in rest:  # CurveFit.df is an int: 0 for an unfitted curve
                assert got == 0 and np.isnan(want)
            elif isinstance(got, float):
                assert got == want or (np.isnan(got) and np.isnan(want)), (i, c.name)
            else:
                assert got == want, (i, c.name, got, want)
    # the unfitted curve: its reason as note, nothing estimated
    cf = batch.curve(2)
    assert cf.note.startswith("constant") and np.isnan(cf.ic50_rel) and not cf.converged
    assert cf.n_points == X.size and cf.dose_range == (DOSES[0], DOSES[-1])
    # the fitted numbers are those of the batch
    assert batch.curve(0).ic50_ci == (fitted.ic50_ci_low[0], fitted.ic50_ci_high[0])
    assert batch.curve(3).params.tolist() == fitted.params[2].tolist()
    assert np.log10(batch.curve(0).ic50_rel) == pytest.approx(-7.5, abs=0.1)


def test_robust_5pl_reports_the_refit_asymmetry() -> None:
    """After a robust refit every shape number comes from the refit parameters."""
    rng = np.random.default_rng(12)
    y = evaluate(np.array([1.2, 0.0, 1.0, np.log(3e-8), np.log(2.0)]), X)
    y = y + rng.normal(0, 0.01, X.size)
    y[5] += 0.5
    f = fit_curve(X, y, "5pl", robust=True)
    assert f.asymmetry == pytest.approx(np.exp(f.params[4]), rel=1e-15)
    assert (f.hill, f.bottom, f.top) == tuple(f.params[:3])
    assert "robust" in f.note
