"""Replicate statistics for combination scores: bootstrap CIs, block p-values and MSA.

Method (chosen because it needs no model of the dose-response surface and matches how a
reviewer thinks about replicates):

- **Resampling unit: the replicate well.** Every dose cell of a block (vehicle, each drug-A
  dose alone, each drug-B dose alone, each combination) is resampled on its own, with
  replacement, B times. The draws are the cell mean plus resampled residuals scaled by
  ``sqrt(n / (n - 1))``: a plain resample of n = 3 wells has only 2/3 of the variance of the
  mean and gives ~88 % intervals; the scaling restores the unbiased variance (Davison &
  Hinkley 1997, eq. 3.8). A cell with a single well draws from the block's pooled scaled
  residuals (its variance would otherwise count as zero).
- **Scores per draw.** Bliss and HSA are closed forms of the cell means, so they are computed
  for all draws at once (``n_boot`` draws, default 2000). ZIP and Loewe need single-agent
  and slice fits; they are recomputed on ``n_boot_fitted`` resampled well tables (default
  200) with the same code as the point scores (`synergy._score_pair`), so a draw uses the
  same definitions. Point estimates are always those of `synergy.synergy_scores`.
- **Intervals** are percentile intervals of the draws. The **p-value** for "block mean != 0"
  is the two-sided normal test with the bootstrap standard error, ``2 Phi(-|mean| / SE*)``:
  the block mean averages many conditions and is close to normal, and unlike a tail count
  (`bootstrap_p`, whose floor is ``2 / (B + 1)``: 0.02 with 100 refits) it can say how small
  a small p is.
- **MSA** (SynergyFinder's most synergistic area): the largest mean score over all
  contiguous 3 x 3 windows of the combination dose matrix (smaller when the block has fewer
  than 3 doses of an agent; the window used is in ``msa_window``).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

#: scores with a bootstrap CI in synergy.csv and a row in synergy_summary.csv
SCORES = ("bliss", "hsa", "loewe", "zip")
#: synergy_summary.csv columns (docs/interface.md)
SUMMARY_COLUMNS = [
    "cell_line", "drug", "drug_b", "score", "mean", "ci_low", "ci_high", "p_value", "msa",
    "n_conditions", "msa_window", "n_boot", "note",
]  # fmt: skip


def _cell_draws(
    cells: list[np.ndarray], n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray], bool]:
    """Bootstrap draws of every dose cell.

    Parameters
    ----------
    cells : list of ndarray
        Finite responses of each cell's wells.
    n_boot : int
    rng : Generator

    Returns
    -------
    means : ndarray, shape (n_boot, n_cells)
        Resampled cell means.
    residuals : list of ndarray
        Each cell's scaled residuals (the pooled ones for single-well cells), for drawing
        whole wells.
    ok : bool
        False when no cell has two wells (no replicate information: no interval).
    """
    scaled = []
    for v in cells:
        n = v.size
        scaled.append((v - v.mean()) * np.sqrt(n / (n - 1)) if n >= 2 else np.empty(0))
    pooled = np.concatenate([r for r in scaled if r.size] or [np.empty(0)])
    ok = pooled.size > 0
    means = np.empty((n_boot, len(cells)))
    res_out = []
    for j, (v, r) in enumerate(zip(cells, scaled, strict=True)):
        src = r if r.size else pooled
        res_out.append(src)
        if not ok or v.size == 0:
            means[:, j] = v.mean() if v.size else np.nan
            continue
        idx = rng.integers(0, src.size, size=(n_boot, max(v.size, 1)))
        means[:, j] = v.mean() + src[idx].mean(axis=1)
    return means, res_out, ok


def _percentile(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column, NaN where fewer than half the draws are finite."""
    a = (1.0 - level) / 2.0
    if np.isfinite(draws).all():
        return np.quantile(draws, a, axis=0), np.quantile(draws, 1.0 - a, axis=0)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanquantile(draws, a, axis=0)
            hi = np.nanquantile(draws, 1.0 - a, axis=0)
    enough = np.isfinite(draws).mean(axis=0) >= 0.5
    return np.where(enough, lo, np.nan), np.where(enough, hi, np.nan)


def bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the statistic is 0" from its draws.

    Parameters
    ----------
    draws : ndarray
        Bootstrap draws of the statistic (NaN ignored).

    Returns
    -------
    float
        ``min(1, 2 * min(#(<= 0) + 1, #(>= 0) + 1) / (B + 1))``; NaN without finite draws.
    """
    d = draws[np.isfinite(draws)]
    if d.size == 0:
        return np.nan
    lo = (np.sum(d <= 0) + 1) / (d.size + 1)
    hi = (np.sum(d >= 0) + 1) / (d.size + 1)
    return float(min(1.0, 2.0 * min(lo, hi)))


def _normal_p(est: float, draws: np.ndarray) -> float:
    """Two-sided p of ``est = 0`` with the bootstrap SE of ``draws`` (NaN-safe)."""
    from napari_il6assay.doseresponse._dist import norm_sf

    d = draws[np.isfinite(draws)]
    if d.size < 2 or not np.isfinite(est):
        return np.nan
    se = float(d.std(ddof=1))
    if se == 0:
        return 0.0 if est != 0 else 1.0
    return float(2.0 * norm_sf(abs(est) / se))


def most_synergistic_area(
    a: np.ndarray,
    b: np.ndarray,
    values: np.ndarray,
    size: int = 3,
    unit_a: str = "",
    unit_b: str = "",
) -> tuple[float, str]:
    """SynergyFinder's MSA: the largest mean over contiguous ``size x size`` dose windows.

    Parameters
    ----------
    a, b : ndarray
        Doses of drug A and drug B of each combination condition.
    values : ndarray
        The score of each condition.
    size : int
        Window edge (3 in SynergyFinder); shrunk to the number of doses of an agent.
    unit_a, unit_b : str
        Dose units for the window text (``"M"`` gets SI prefixes); "" = plain numbers.

    Returns
    -------
    msa : float
        NaN when no window has a finite score.
    window : str
        ``"<A from>-<A to> x <B from>-<B to>"`` (doses of the window), or "".
    """
    da, db = np.unique(a), np.unique(b)
    if da.size == 0 or db.size == 0:
        return np.nan, ""
    grid = np.full((db.size, da.size), np.nan)
    grid[np.searchsorted(db, b), np.searchsorted(da, a)] = values
    wa, wb = min(size, da.size), min(size, db.size)
    best = np.nan
    where: tuple[int, int, int, int] | None = None
    for j in range(db.size - wb + 1):
        for i in range(da.size - wa + 1):
            w = grid[j : j + wb, i : i + wa]
            if not np.isfinite(w).any():
                continue
            m = float(np.nanmean(w))
            if not np.isfinite(best) or m > best:
                best, where = m, (i, i + wa - 1, j, j + wb - 1)
    if where is None:
        return best, ""
    i0, i1, j0, j1 = where

    def span(d: np.ndarray, lo: int, hi: int, unit: str) -> str:
        return _dose(d[lo], unit) if lo == hi else f"{_dose(d[lo], unit)}-{_dose(d[hi], unit)}"

    return best, f"{span(da, i0, i1, unit_a)} x {span(db, j0, j1, unit_b)}"


def _dose(v: float, unit: str) -> str:
    if not unit:
        return f"{v:.3g}"
    from napari_il6assay.doseresponse.figures import si_dose

    return si_dose(float(v), unit).replace(" ", "")


def additive_scores(d: pd.DataFrame) -> pd.DataFrame:
    """Bliss and HSA per combination condition from cell means, without any fit.

    The same definitions as `synergy.synergy_scores` (which also fits Loewe and ZIP);
    Loewe, ZIP and Chou-Talalay are NaN here.

    Parameters
    ----------
    d : DataFrame
        `synergy._prepare` output (columns ``cell_line, drug, drug_b, a, b, v``).

    Returns
    -------
    DataFrame
        `synergy.SYNERGY_COLUMNS` + ``ci_chou, n``.
    """
    from napari_il6assay.doseresponse.synergy import SYNERGY_COLUMNS

    rows = []
    for cl, g in d.groupby("cell_line", sort=True):
        combos = g[(g["a"] > 0) & (g["b"] > 0)]
        pairs = combos[["drug", "drug_b"]].drop_duplicates().sort_values(["drug", "drug_b"])
        for drug, drug_b in pairs.itertuples(index=False):
            ma = g[(g["drug"] == drug) & (g["b"] == 0) & (g["a"] > 0)].groupby("a")["v"].mean()
            mb = g[(g["drug_b"] == drug_b) & (g["a"] == 0) & (g["b"] > 0)].groupby("b")["v"].mean()
            c = g[(g["drug"] == drug) & (g["drug_b"] == drug_b) & (g["a"] > 0) & (g["b"] > 0)]
            for (a, b), v in c.groupby(["a", "b"], sort=True)["v"]:
                ea, eb, e = 1 - ma.get(a, np.nan), 1 - mb.get(b, np.nan), 1 - v.mean()
                rows.append({
                    "cell_line": cl, "drug": drug, "concentration_M": a, "drug_b": drug_b,
                    "concentration_b": b, "viability": v.mean(),
                    "bliss": e - (ea + eb - ea * eb), "hsa": e - max(ea, eb), "loewe": np.nan,
                    "zip": np.nan, "note": "", "ci_chou": np.nan, "n": int(v.size),
                })  # fmt: skip
    return pd.DataFrame(rows, columns=[*SYNERGY_COLUMNS, "ci_chou", "n"])


def _block(
    g: pd.DataFrame,
    cl: str,
    drug: str,
    drug_b: str,
    point: pd.DataFrame,
    *,
    n_boot: int,
    n_boot_fitted: int,
    level: float,
    rng: np.random.Generator,
    molar: bool = True,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[dict[str, Any]]]:
    """Per-condition CIs and summary rows of one block (see the module docstring)."""
    from napari_il6assay.doseresponse.synergy import _score_pair

    veh = g[(g["a"] == 0) & (g["b"] == 0)]
    mono_a = g[(g["drug"] == drug) & (g["b"] == 0) & (g["a"] > 0)]
    mono_b = g[(g["drug_b"] == drug_b) & (g["a"] == 0) & (g["b"] > 0)]
    comb = g[(g["drug"] == drug) & (g["drug_b"] == drug_b) & (g["a"] > 0) & (g["b"] > 0)]
    block = pd.concat([veh, mono_a, mono_b, comb])
    # a fresh index: resampled wells are written back by position (input indexes may repeat)
    block = block[np.isfinite(block["v"].to_numpy(float))].reset_index(drop=True)
    # one pass of numpy over the wells (this runs for thousands of simulated plates)
    ab = block[["a", "b"]].to_numpy(float)
    uniq, inv = np.unique(ab, axis=0, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
    vals = block["v"].to_numpy(float)[order]
    keys = [(float(ka), float(kb)) for ka, kb in uniq]
    cells = [vals[bounds[j] : bounds[j + 1]] for j in range(len(uniq))]
    col = {k: j for j, k in enumerate(keys)}
    means, residuals, has_reps = _cell_draws(cells, n_boot, rng)
    ca = point["concentration_M"].to_numpy(float)
    cb = point["concentration_b"].to_numpy(float)
    nc = len(point)
    draws: dict[str, np.ndarray] = {s: np.full((n_boot, nc), np.nan) for s in SCORES}

    def column(key: tuple[float, float]) -> np.ndarray:
        j = col.get(key)
        return means[:, j] if j is not None else np.full(n_boot, np.nan)

    for i in range(nc):
        e = 1.0 - column((ca[i], cb[i]))
        ea = 1.0 - column((ca[i], 0.0))
        eb = 1.0 - column((0.0, cb[i]))
        draws["bliss"][:, i] = e - (ea + eb - ea * eb)
        draws["hsa"][:, i] = e - np.maximum(ea, eb)
    fitted = [s for s in ("loewe", "zip") if point[s].notna().any()]
    nf = min(n_boot_fitted, n_boot) if fitted and has_reps else 0
    if nf:
        rows_of = block.index.to_numpy()[order]
        wells_of = [rows_of[bounds[j] : bounds[j + 1]] for j in range(len(uniq))]
        fdraws = {s: np.full((nf, nc), np.nan) for s in fitted}
        for k in range(nf):
            gs = block.copy()
            for j, idx in enumerate(wells_of):
                src = residuals[j]
                gs.loc[idx, "v"] = cells[j].mean() + src[rng.integers(0, src.size, idx.size)]
            res = pd.DataFrame(_score_pair(gs, cl, drug, drug_b))
            if len(res) != nc:
                continue
            for s in fitted:
                fdraws[s][k] = res[s].to_numpy(float)
        for s in fitted:
            draws[s] = fdraws[s]
    ci: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for s in SCORES:
        est = point[s].to_numpy(float)
        d = draws[s]
        finite = np.isfinite(est)
        notes = []
        if not has_reps:
            lo = hi = np.full(nc, np.nan)
            notes.append("no replicate wells: no interval")
        elif s in ("loewe", "zip") and s not in fitted:
            lo = hi = np.full(nc, np.nan)
        else:
            lo, hi = _percentile(d, level)
        lo, hi = np.where(finite, lo, np.nan), np.where(finite, hi, np.nan)
        ci[s] = (lo, hi)
        mean = float(est[finite].mean()) if finite.any() else np.nan
        msa, window = most_synergistic_area(ca[finite], cb[finite], est[finite],
                                            unit_a="M" if molar else "")  # fmt: skip
        blo = bhi = p = np.nan
        if finite.any() and has_reps and d.shape[0]:
            # block mean per draw over the conditions with a point estimate; a draw where a
            # fitted score failed for some condition is left out rather than biased
            bm = d[:, finite].mean(axis=1)
            if np.isfinite(bm).mean() >= 0.5:
                (blo,), (bhi,) = _percentile(bm[:, None], level)
                p = _normal_p(mean, bm)
        if not finite.any():
            # the block's own reasons (synergy.csv notes), not a pointer to look elsewhere
            key = "Loewe" if s == "loewe" else "ZIP" if s == "zip" else s
            why = sorted({n for v in point["note"].astype(str) for n in v.split("; ")
                          if key in n and ("undefined" in n or "skipped" in n)})  # fmt: skip
            notes.append(f"{s} undefined: " + ("; ".join(why) if why else "no condition scored"))
        rows.append({
            "cell_line": cl, "drug": drug, "drug_b": drug_b, "score": s, "mean": mean,
            "ci_low": blo, "ci_high": bhi, "p_value": p, "msa": msa,
            "n_conditions": int(finite.sum()), "msa_window": window,
            "n_boot": int(d.shape[0]) if has_reps else 0, "note": "; ".join(notes),
        })  # fmt: skip
    return ci, rows


def synergy_with_ci(
    df: pd.DataFrame,
    *,
    response: str = "viability",
    conc: str | None = None,
    n_boot: int = 2000,
    n_boot_fitted: int = 100,
    level: float = 0.95,
    seed: int = 0,
    fitted: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score combinations with bootstrap CIs per condition and a summary per block.

    Parameters
    ----------
    df : DataFrame
        Tidy wells (one row per well; replicate wells are what is resampled), as for
        `synergy.synergy_scores`.
    response : str
        Viability-like column (1 = untreated).
    conc : str, optional
        Dose column of drug A.
    n_boot : int
        Draws for Bliss and HSA.
    n_boot_fitted : int
        Draws for Loewe and ZIP (each refits the single agents and slices).
    level : float
        Confidence level.
    seed : int
        Seed of the resampling (results are reproducible).
    fitted : bool
        False: Bliss and HSA only (closed forms of the cell means, no curve fits; Loewe and
        ZIP are NaN). Fast enough for thousands of simulated plates.

    Returns
    -------
    scores : DataFrame
        `synergy.synergy_scores` output plus ``<score>_ci_low``, ``<score>_ci_high`` for
        bliss, hsa, loewe, zip.
    summary : DataFrame
        `SUMMARY_COLUMNS`: one row per cell line, drug pair and score.
    """
    from napari_il6assay.doseresponse.synergy import _prepare, synergy_scores

    d = _prepare(df, response, conc)
    molar = (conc or ("concentration_M" if "concentration_M" in df.columns else "")).endswith("_M")
    scores = synergy_scores(df, response=response, conc=conc) if fitted else additive_scores(d)
    for s in SCORES:
        scores[f"{s}_ci_low"] = np.nan
        scores[f"{s}_ci_high"] = np.nan
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for key, idx in scores.groupby(["cell_line", "drug", "drug_b"], sort=True).groups.items():
        cl, drug, drug_b = cast(tuple[str, str, str], key)
        point = scores.loc[idx]
        g = d[d["cell_line"] == cl]
        ci, block_rows = _block(g, cl, drug, drug_b, point, n_boot=n_boot,
                                n_boot_fitted=n_boot_fitted, level=level, rng=rng,
                                molar=molar)  # fmt: skip
        for s, (lo, hi) in ci.items():
            scores.loc[idx, f"{s}_ci_low"] = lo
            scores.loc[idx, f"{s}_ci_high"] = hi
        rows.extend(block_rows)
    return scores, pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
