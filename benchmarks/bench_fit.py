"""Benchmark: 10,000 4PL dose-response fits, ours (batched LM) against thunor 1.0.3.

Each curve: 9 doses (3-fold, 1 nM .. 6.6 uM) + vehicle (dose 0), 3 replicates, viability
``bottom + (1 - bottom) / (1 + (x / IC50)^hill)`` + N(0, 0.05) noise with IC50 inside the
dose range (log-uniform), hill 0.7-2.5, bottom 0-0.3. thunor's ``fit_drc`` works on log
dose, so a vehicle at dose 0 ruins its fits (median |dlog10 IC50| ~0.7 when we tried): both
fitters therefore get the same 27 dosed points per curve and fit a 4PL with an F test
against a flat line; ours is also timed on all 30 points (vehicle as dose 0). The script
prints wall times, the speed ratio and the median |log10 IC50 estimate - log10 truth| of
each on the curves both fitted.

thunor is installed only in the benchmark's own venv (see benchmarks/README.md)::

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install thunor==1.0.3
    /work/bench-venv/bin/python benchmarks/bench_fit.py [--n 10000]

Our code is imported from ``src/`` (numpy, scipy and pandas come with thunor).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

if TYPE_CHECKING:
    from napari_il6assay.doseresponse.fit import FitBatch


def make_curves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    doses = 1e-9 * 3.0 ** np.arange(9)
    x = np.r_[0.0, doses].repeat(3)
    log_ic50 = rng.uniform(np.log10(doses[1]), np.log10(doses[-2]), n)
    hill = rng.uniform(0.7, 2.5, n)
    bottom = rng.uniform(0.0, 0.3, n)
    with np.errstate(divide="ignore"):
        u = (x[None, :] / 10 ** log_ic50[:, None]) ** hill[:, None]
    y = bottom[:, None] + (1 - bottom[:, None]) / (1 + u)
    y = y + rng.normal(0, 0.05, y.shape)
    return x, y, log_ic50


def run_ours(x: np.ndarray, y: np.ndarray, ci: str) -> tuple[float, np.ndarray, FitBatch]:
    from napari_il6assay.doseresponse.fit import fit_arrays

    t0 = time.perf_counter()
    r = fit_arrays([(x, yi, None) for yi in y], "4pl", ci_method=ci, min_effect=0.0)
    return time.perf_counter() - t0, np.log10(r.ic50_fit), r


def run_thunor(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    from thunor.curve_fit import HillCurveLL4, fit_drc

    out = np.full(len(y), np.nan)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for i, yi in enumerate(y):
            f = fit_drc(x, yi, fit_cls=HillCurveLL4, null_rejection_threshold=0.05)
            if f is not None and isinstance(f, HillCurveLL4):
                out[i] = np.log10(f.ec50)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument(
        "--no-thunor", action="store_true", help="time only our own engine (thunor not installed)"
    )
    args = ap.parse_args()
    x, y, truth = make_curves(args.n)

    pos = x > 0
    run_ours(x[pos], y[:, pos], "none")  # warm-up: imports, first large allocations
    t_ours, est_ours, r = run_ours(x[pos], y[:, pos], "none")
    t_ours_ci, _, r_ci = run_ours(x[pos], y[:, pos], "profile")
    t_ours_veh, est_veh, _ = run_ours(x, y, "none")
    print(f"curves: {args.n} x {pos.sum()} dosed points (9 doses, 3 replicates; vehicle aside)")
    print(f"ours (no CI):        {t_ours:8.2f} s  ({np.isfinite(est_ours).sum()} fitted)")
    print(f"ours (+profile CI):  {t_ours_ci:8.2f} s")
    print(
        f"ours (+vehicle, 30 points, no CI): {t_ours_veh:6.2f} s, median |dlog10 IC50| "
        f"{np.nanmedian(np.abs(est_veh - truth)):.4f}"
    )
    with np.errstate(divide="ignore"):
        lo, hi = np.log(r_ci.ic50_ci_low), np.log(r_ci.ic50_ci_high)
    cover = np.mean((lo <= truth * np.log(10)) & (truth * np.log(10) <= hi))
    print(
        f"ours: profile 95% CI covers the true IC50 in {cover:.3f} of curves; "
        f"converged {r.converged.mean():.4f}"
    )
    if args.no_thunor:
        return
    import thunor

    t_thunor, est_thunor = run_thunor(x[pos], y[:, pos])
    both = np.isfinite(est_ours) & np.isfinite(est_thunor)
    err_o = np.abs(est_ours[both] - truth[both])
    err_t = np.abs(est_thunor[both] - truth[both])
    print(
        f"thunor {thunor.__version__}: {t_thunor:8.2f} s  ({np.isfinite(est_thunor).sum()} fitted,"
        f" others flat/failed)"
    )
    print(
        f"speed ratio thunor/ours: {t_thunor / t_ours:.1f}x (no CI), "
        f"{t_thunor / t_ours_ci:.1f}x (with profile CI)"
    )
    print(
        f"median |dlog10 IC50| on {both.sum()} curves both fitted: ours {np.median(err_o):.4f}, "
        f"thunor {np.median(err_t):.4f}"
    )


if __name__ == "__main__":
    main()
