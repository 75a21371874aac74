"""Plate quality control: Z', SSMD, vehicle CV and an edge-versus-interior test per plate.

Methods and why:

- **Controls.** The positive control (full signal) is the vehicle wells; the negative control
  is the blank (no-cell) wells when the plate has them, otherwise the strongest kill on the
  plate: the single-agent condition at a drug's highest dose with the lowest mean viability
  ("top-dose kill"), which is the only no-signal reference such a plate holds. Wells with an
  untrusted ``qc_flag`` (`qc_flags.UNTRUSTED`) and ``exclude`` wells are left out. Values are
  ``viability`` (vehicle = 1 per cell line, so vehicles of different lines pool); the
  ``readout`` is used when viability is missing for a control.
- **Z'** (Zhang, Chung & Oldenburg 1999): ``1 - 3 (sd_p + sd_n) / |mean_p - mean_n|``;
  >= 0.5 is an excellent assay window. **SSMD** (Zhang 2007):
  ``(mean_p - mean_n) / sqrt(sd_p^2 + sd_n^2)``. **Vehicle CV** in % of the vehicle mean.
- **Edge effect.** Outer-ring wells (row A / last row, column 1 / last column) are compared
  with interior wells *of the same condition* (cell line, drugs and doses), because layouts
  put different doses at the edge: each edge well's residual is its value minus the mean of
  its condition's interior wells; each interior well's is its value minus the mean of the
  condition's other interior wells. A Welch t test compares the two residual sets
  (``edge_p_value``); ``edge_ratio`` is sum(edge values) / sum(their interior means), the
  multiplicative edge effect (0.8 = outer wells read 20 % low). Conditions without both edge
  and interior wells do not take part.
- **Flag** (`qc_flags.PLATE_FLAGS`): ``low_z_prime`` when Z' < 0.5; ``edge_effect`` when
  ``edge_p_value < 0.01`` and the edge ratio is off by >= 5 % (a 1 % shift on a big plate
  can be "significant" and still not matter).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from napari_il6assay.io.cells import text_column as _text

PLATE_QC_COLUMNS = [
    "plate", "z_prime", "ssmd", "vehicle_cv_pct", "edge_ratio", "edge_p_value", "flag",
    "negative_control", "n_vehicle", "n_negative", "n_edge", "n_interior",
]  # fmt: skip
Z_PRIME_MIN = 0.5
EDGE_ALPHA = 0.01
EDGE_MIN_SHIFT = 0.05
_KEYS = ["cell_line", "drug", "concentration_M", "drug_b", "concentration_b"]


def _trusted(w: pd.DataFrame) -> pd.DataFrame:
    from napari_il6assay.qc_flags import UNTRUSTED, split_flags

    keep = np.ones(len(w), bool)
    if "qc_flag" in w.columns:
        keep &= ~w["qc_flag"].map(lambda v: bool(set(split_flags(v)) & UNTRUSTED)).to_numpy()
    return w[keep]


def z_prime(pos: np.ndarray, neg: np.ndarray) -> float:
    """Z' factor of two control groups (NaN with fewer than 2 wells in either).

    Parameters
    ----------
    pos, neg : ndarray
        Positive (full signal) and negative control values.

    Returns
    -------
    float
    """
    if pos.size < 2 or neg.size < 2:
        return np.nan
    gap = abs(pos.mean() - neg.mean())
    if gap == 0:
        return -np.inf
    return float(1.0 - 3.0 * (pos.std(ddof=1) + neg.std(ddof=1)) / gap)


def ssmd(pos: np.ndarray, neg: np.ndarray) -> float:
    """Strictly standardized mean difference of two control groups.

    Parameters
    ----------
    pos, neg : ndarray

    Returns
    -------
    float
    """
    if pos.size < 2 or neg.size < 2:
        return np.nan
    den = np.sqrt(pos.var(ddof=1) + neg.var(ddof=1))
    return float((pos.mean() - neg.mean()) / den) if den > 0 else np.nan


def _edge_mask(wells: pd.Series, plate_format: int | None) -> np.ndarray:
    from napari_il6assay.io.plate import PLATE_FORMATS, split_well

    rc = [split_well(str(w)) for w in wells]
    r = np.array([t[0] for t in rc])
    c = np.array([t[1] for t in rc])
    nr, nc = PLATE_FORMATS.get(int(plate_format or 0), (0, 0))
    for nr_, nc_ in ((8, 12), (16, 24), (32, 48)):
        if nr and nc:
            break
        if r.max(initial=0) <= nr_ and c.max(initial=0) <= nc_:
            nr, nc = nr_, nc_
    return (r == 1) | (c == 1) | (r == nr) | (c == nc)


def edge_test(
    w: pd.DataFrame, value: str = "viability", plate_format: int | None = 96
) -> dict[str, Any]:
    """Edge-versus-interior comparison within conditions (see the module docstring).

    Parameters
    ----------
    w : DataFrame
        Wells of one plate (``well``, the condition columns, ``value``).
    value : str
    plate_format : int, optional

    Returns
    -------
    dict
        ``edge_ratio, edge_p_value, n_edge, n_interior``.
    """
    from napari_il6assay.doseresponse._dist import welch_p

    out = {"edge_ratio": np.nan, "edge_p_value": np.nan, "n_edge": 0, "n_interior": 0}
    d = w[np.isfinite(pd.to_numeric(w[value], errors="coerce").to_numpy(float))].copy()
    if d.empty:
        return out
    d["_v"] = pd.to_numeric(d[value], errors="coerce")
    d["_edge"] = _edge_mask(d["well"], plate_format)
    for k in _KEYS:
        d[k] = _text(d[k]) if k in d.columns else ""
    res_e, res_i, num, den = [], [], 0.0, 0.0
    for _, g in d.groupby(_KEYS, sort=False):
        e, i = g.loc[g["_edge"], "_v"].to_numpy(), g.loc[~g["_edge"], "_v"].to_numpy()
        if e.size == 0 or i.size == 0:
            continue
        res_e.extend(e - i.mean())
        num += e.sum()
        den += i.mean() * e.size
        if i.size >= 2:
            loo = (i.sum() - i) / (i.size - 1)
            res_i.extend(i - loo)
    out["n_edge"], out["n_interior"] = len(res_e), len(res_i)
    if den > 0:
        out["edge_ratio"] = float(num / den)
    if len(res_e) >= 2 and len(res_i) >= 2:
        out["edge_p_value"] = welch_p(res_e, res_i)
    return out


def plate_qc(wells: pd.DataFrame, *, plate_format: int | None = 96) -> pd.DataFrame:
    """``plate_qc.csv``: one row per plate.

    Parameters
    ----------
    wells : DataFrame
        ``wells.csv`` (``plate, well, role, readout, viability, qc_flag`` and the condition
        columns).
    plate_format : int, optional
        Wells per plate (96, 384, ...): where the outer ring is.

    Returns
    -------
    DataFrame
        `PLATE_QC_COLUMNS`.
    """
    from napari_il6assay.qc_flags import join_flags

    rows = []
    w_all = wells.copy()
    if "plate" not in w_all.columns:
        w_all["plate"] = ""
    w_all["plate"] = _text(w_all["plate"])
    role = (_text(w_all["role"]) if "role" in w_all.columns
            else pd.Series("sample", index=w_all.index))  # fmt: skip
    w_all["_role"] = role.str.lower().replace({"": "sample"})
    for plate, w in w_all.groupby("plate", sort=True):
        w = _trusted(w[w["_role"] != "exclude"])
        veh = w[w["_role"] == "vehicle"]
        blank = w[w["_role"] == "blank"]
        if len(blank) >= 2:
            neg, neg_name = blank, "blank"
        else:
            neg, neg_name = _top_kill(w)
        col = "viability"
        if "viability" not in w.columns or not (
            np.isfinite(pd.to_numeric(veh[col], errors="coerce")).all()
            and np.isfinite(pd.to_numeric(neg[col], errors="coerce")).all()
        ):
            col = "readout"
        pv, nv = _values(veh, col), _values(neg, col)
        vcol = "viability" if "viability" in w.columns else "readout"
        vv = _values(veh, vcol)
        cv = float(100 * vv.std(ddof=1) / vv.mean()) if vv.size >= 2 and vv.mean() != 0 else np.nan
        samples = w[w["_role"].isin(["sample", "vehicle"])]
        edge = edge_test(samples, vcol, plate_format) if len(samples) else {}
        zp, ss = z_prime(pv, nv), ssmd(pv, nv)
        flags = []
        if zp < Z_PRIME_MIN:  # -inf (no gap between the controls) included
            flags.append("low_z_prime")
        if np.isnan(zp):
            flags.append("no_controls")
        ep, er = edge.get("edge_p_value", np.nan), edge.get("edge_ratio", np.nan)
        if ep < EDGE_ALPHA and abs(er - 1) >= EDGE_MIN_SHIFT:  # NaN compares False
            flags.append("edge_effect")
        rows.append({
            "plate": plate, "z_prime": zp, "ssmd": ss, "vehicle_cv_pct": cv, "edge_ratio": er,
            "edge_p_value": ep, "flag": join_flags(flags), "negative_control": neg_name,
            "n_vehicle": int(pv.size), "n_negative": int(nv.size),
            "n_edge": int(edge.get("n_edge", 0)), "n_interior": int(edge.get("n_interior", 0)),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=PLATE_QC_COLUMNS)


def _values(w: pd.DataFrame, col: str) -> np.ndarray:
    """Finite values of one column of some wells (empty without wells or column)."""
    if not len(w) or col not in w.columns:
        return np.empty(0)
    return pd.to_numeric(w[col], errors="coerce").dropna().to_numpy(float)


def _top_kill(w: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Find the single-agent condition at a drug's highest dose with the lowest mean viability."""
    s = w[w["_role"] == "sample"].copy()
    if s.empty or "viability" not in s.columns:
        return s.iloc[:0], ""
    for k in _KEYS:
        s[k] = _text(s[k]) if k in s.columns else ""
    s["_x"] = pd.to_numeric(s["concentration_M"], errors="coerce")
    cb = pd.to_numeric(s["concentration_b"], errors="coerce").fillna(0.0)
    s = s[(s["drug"] != "") & (cb <= 0) & (s["_x"] > 0)]
    if s.empty:
        return s, ""
    top = s.groupby(["cell_line", "drug"])["_x"].transform("max")
    s = s[s["_x"] == top]
    s["_v"] = pd.to_numeric(s["viability"], errors="coerce")
    m = s.groupby(["cell_line", "drug"])["_v"].mean()
    if m.dropna().empty:
        return s.iloc[:0], ""
    cl, drug = cast(tuple[str, str], m.idxmin())  # the index is (cell_line, drug)
    sel = s[(s["cell_line"] == cl) & (s["drug"] == drug)]
    return sel, f"top-dose kill ({cl}, {drug})"
