"""Sphere-forming efficiency and sphere sizes (mammosphere / tumoursphere assays).

``sphere_forming_efficiency_pct = sphere_count / cells_seeded x 100`` per well (the usual
"MFE"), from the layout's ``cells_seeded`` column. ``sphere_count`` is the well's value in
``wells.csv``: with one image per well that is the well's count; with several sites it is the
count per field (see `batch.tables`), so ``cells_seeded`` must then be per imaged field.

Sizes: for each condition (cell line, drug, dose, second agent, ``passage``) the counted
spheres of all its wells are pooled; the table gives their median and interquartile range and a
two-sided Mann-Whitney U test against the vehicle wells of the same cell line and passage. A
rank test because sphere sizes are skewed (roughly log-normal) and a few large fused spheres
must not carry the result. The p values of one line are Holm-adjusted over its conditions (a
dose series tests many conditions against one vehicle), and ``size_flag`` says ``smaller`` or
``larger`` when the adjusted p is below ``alpha``. Spheres are pooled over wells, so the test
assumes wells of one condition do not differ systematically (replicate wells of one plate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_il6assay.doseresponse.normalize import condition_table, condition_wells
from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.cells import text_column as _text

#: condition keys of the size table (``passage`` is kept as a factor)
SIZE_KEYS = ["cell_line", "drug", "concentration_M", "drug_b", "concentration_b", "passage"]
SIZE_COLUMNS = [
    *SIZE_KEYS, "role", "n_wells", "n_spheres", "median_um", "q1_um", "q3_um", "iqr_um",
    "median_ratio_vs_vehicle", "p_value", "p_holm", "size_flag", "wells",
]  # fmt: skip
MFE = "sphere_forming_efficiency_pct"


def sphere_forming_efficiency(count: Any, cells_seeded: Any) -> np.ndarray:
    """``count / cells_seeded x 100``; NaN where ``cells_seeded`` is missing or not > 0.

    Parameters
    ----------
    count, cells_seeded : array_like

    Returns
    -------
    ndarray
    """
    c = np.asarray(pd.to_numeric(pd.Series(np.atleast_1d(count)), errors="coerce"), float)
    s = np.asarray(pd.to_numeric(pd.Series(np.atleast_1d(cells_seeded)), errors="coerce"), float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, 100.0 * c / s, np.nan)


def add_efficiency(wells: pd.DataFrame, count: str = "sphere_count") -> pd.DataFrame:
    """``wells`` with ``sphere_forming_efficiency_pct`` when it has ``cells_seeded``.

    Parameters
    ----------
    wells : DataFrame
        ``wells.csv`` rows; the count is ``count`` (or ``readout`` when that is missing).
    count : str

    Returns
    -------
    DataFrame
        Unchanged when ``cells_seeded`` is absent or empty.
    """
    if "cells_seeded" not in wells.columns:
        return wells
    seeded = pd.to_numeric(wells["cells_seeded"], errors="coerce")
    if not seeded.notna().any():
        return wells
    col = count if count in wells.columns else "readout"
    out = wells.copy()
    out[MFE] = sphere_forming_efficiency(out[col], seeded)
    return out


def summarize_efficiency(wells: pd.DataFrame, conditions: pd.DataFrame) -> pd.DataFrame:
    """``conditions`` with the mean and SD of ``sphere_forming_efficiency_pct`` per condition.

    The conditions are matched through their ``wells`` column (the ``;``-joined well ids of
    `normalize.summarize_conditions`), with ``plate`` (and ``passage`` when present).
    """
    if MFE not in wells.columns or "wells" not in conditions.columns:
        return conditions
    keys = ["plate", "passage"] if "passage" in conditions.columns else ["plate"]
    w = wells.assign(**{k: _text(wells[k]) for k in keys if k in wells.columns})
    lookup = {tuple(r[k] for k in keys) + (r["well"],): r[MFE] for _, r in w.iterrows()}
    means, sds = [], []
    for _, r in conditions.iterrows():
        key = tuple(str(r[k]) if not pd.isna(r[k]) else "" for k in keys)
        v = np.array([lookup.get(key + (x,), np.nan) for x in str(r["wells"]).split(";") if x],
                     float)  # fmt: skip
        v = v[np.isfinite(v)]
        means.append(v.mean() if v.size else np.nan)
        sds.append(v.std(ddof=1) if v.size > 1 else np.nan)
    out = conditions.copy()
    out[f"{MFE}_mean"] = means
    out[f"{MFE}_sd"] = sds
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not ok.size:
        return out
    order = ok[np.argsort(p[ok])]
    m = order.size
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def _test_vs_vehicle(t: pd.DataFrame) -> None:
    """Fill ``median_ratio_vs_vehicle`` and ``p_value`` of the sample rows, in place.

    Each sample condition is compared (Mann-Whitney U, two-sided) with the pooled vehicle
    spheres of its cell line and passage; fewer than 2 spheres on either side leave NaN.
    """
    from scipy.stats import mannwhitneyu

    t["median_ratio_vs_vehicle"] = np.nan
    t["p_value"] = np.nan
    for (_line, _passage), g in t.groupby(["cell_line", "passage"], sort=False):
        veh = g[g["role"] == "vehicle"]
        if veh.empty:
            continue
        ref = np.concatenate(list(veh["_sizes"]))
        if ref.size < 2:
            continue
        for i in g.index[g["role"] != "vehicle"]:
            s = np.asarray(t.at[i, "_sizes"])
            if s.size < 2:
                continue
            t.at[i, "p_value"] = float(mannwhitneyu(s, ref, alternative="two-sided").pvalue)
            t.at[i, "median_ratio_vs_vehicle"] = float(np.median(s) / np.median(ref))


def sphere_sizes(
    objects: pd.DataFrame,
    wells: pd.DataFrame,
    *,
    size: str = "equivalent_diameter_um",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """``sphere_sizes.csv``: size distribution per condition with a test against the vehicle.

    Parameters
    ----------
    objects : DataFrame
        ``objects.csv`` rows (``plate, well``, ``size`` and, from the spheres mode,
        ``counted``: only counted spheres are used).
    wells : DataFrame
        ``wells.csv`` rows (``plate, well, cell_line, drug, concentration_M, role`` ...).
    size : str
        Object column of the size.
    alpha : float
        Level of ``size_flag`` on the Holm-adjusted p value.

    Returns
    -------
    DataFrame
        `SIZE_COLUMNS`, one row per condition (vehicle rows included, without a test).
    """
    if objects is None or objects.empty or size not in objects.columns:
        return pd.DataFrame(columns=SIZE_COLUMNS)
    obj = objects
    if "counted" in obj.columns:
        obj = obj[obj["counted"].astype(str).str.lower().isin(["true", "1", "1.0"])]
    w = condition_table(wells, SIZE_KEYS)
    for k in ("concentration_M", "concentration_b"):
        w[k] = w[k].fillna(0.0)
    w["plate"] = _text(w["plate"]) if "plate" in w.columns else ""
    o = obj.assign(plate=_text(obj["plate"]) if "plate" in obj.columns else "",
                   well=_text(obj["well"]))  # fmt: skip
    role = _text(w["role"]).str.lower() if "role" in w.columns else pd.Series("sample", w.index)
    w["_vehicle"] = (role == "vehicle") | ((role == "sample") & (w["concentration_M"] == 0))
    m = o.merge(w[["plate", "well", *SIZE_KEYS, "_vehicle"]], on=["plate", "well"], how="inner")
    m["_s"] = pd.to_numeric(m[size], errors="coerce")
    m = m[np.isfinite(m["_s"])]
    rows = []
    for key, g in w.groupby(SIZE_KEYS, sort=True, dropna=False):
        s = m.loc[(m[SIZE_KEYS] == pd.Series(key, index=SIZE_KEYS)).all(axis=1), "_s"].to_numpy()
        q1, med, q3 = np.percentile(s, [25, 50, 75]) if s.size else (np.nan,) * 3
        rows.append({**dict(zip(SIZE_KEYS, key, strict=True)),
                     "role": "vehicle" if g["_vehicle"].all() else "sample",
                     "n_wells": int(len(g)), "n_spheres": int(s.size), "median_um": med,
                     "q1_um": q1, "q3_um": q3, "iqr_um": q3 - q1,
                     "wells": ";".join(_text(g["well"])), "_sizes": s})  # fmt: skip
    t = pd.DataFrame(rows)
    if t.empty:
        return pd.DataFrame(columns=SIZE_COLUMNS)
    _test_vs_vehicle(t)
    t["p_holm"] = np.nan
    for _, g in t.groupby(["cell_line", "passage"], sort=False):
        t.loc[g.index, "p_holm"] = _holm(g["p_value"].to_numpy(float))
    sig = t["p_holm"] < alpha
    t["size_flag"] = np.where(
        sig & (t["median_ratio_vs_vehicle"] < 1),
        "smaller",
        np.where(sig & (t["median_ratio_vs_vehicle"] > 1), "larger", ""),
    )
    return t[SIZE_COLUMNS].reset_index(drop=True)


def sphere_size_samples(
    objects: pd.DataFrame, wells: pd.DataFrame, cell_line: str, size: str = "equivalent_diameter_um"
) -> dict[str, np.ndarray]:
    """Collect the counted sphere sizes of one cell line per condition label (for the figure)."""
    obj = objects
    if "counted" in obj.columns:
        obj = obj[obj["counted"].astype(str).str.lower().isin(["true", "1", "1.0"])]
    w = condition_wells(wells[_text(wells["cell_line"]) == cell_line].copy())
    w["plate"] = _text(w["plate"]) if "plate" in w.columns else ""
    w["_label"] = [condition_label(r) for _, r in w.iterrows()]
    o = obj.assign(plate=_text(obj["plate"]) if "plate" in obj.columns else "",
                   well=_text(obj["well"]))  # fmt: skip
    m = o.merge(w[["plate", "well", "_label", "concentration_M"]], on=["plate", "well"])
    m["_s"] = pd.to_numeric(m[size], errors="coerce")
    m = m.sort_values("concentration_M", kind="stable")
    return {str(k): g["_s"].dropna().to_numpy() for k, g in m.groupby("_label", sort=False)}


def condition_label(r: pd.Series) -> str:
    """``vehicle`` / ``eribulin 1 nM`` (+ ``+ drug_b``) (+ ``[passage]``), for legends."""
    c = pd.to_numeric(pd.Series([r.get("concentration_M")]), errors="coerce").iloc[0]
    role = str(r.get("role", "") or "").lower()
    if role == "vehicle" or not (c == c) or c == 0:
        text = "vehicle"
    else:
        from napari_il6assay.io.units import format_molar

        text = f"{r.get('drug', '')} {format_molar(c)}"
    b = r.get("drug_b")
    cb = pd.to_numeric(pd.Series([r.get("concentration_b")]), errors="coerce").iloc[0]
    if isinstance(b, str) and b.strip() and cb == cb and cb > 0:
        text += f" + {b} {cb:g}"
    p = r.get("passage")
    if not is_blank(p):
        text += f" [{p}]"
    return text
