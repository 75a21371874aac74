"""Normalize well readouts to viability and summarize replicate conditions.

``viability = (readout - blank) / (vehicle - blank)`` per plate and cell line, so the vehicle
mean is 1 and the blank mean 0. Blanks (no cells) are looked up for the same plate and cell
line first, then among the plate's blanks without a cell line (shared blanks), then among all
blanks of the plate; without blanks the offset is 0. Replicate outliers are flagged in
``qc_flag`` (modified z-score on the median absolute deviation, Iglewicz & Hoaglin 1993) and
stay in the table and in the fits: flagging never removes data. ``exclude`` wells keep their
row (and a viability) but are marked, and the fits skip them.

A well whose ``qc_flag`` holds a flag of `napari_il6assay.qc_flags.UNTRUSTED` (its readout
itself may be wrong: ``mode_mismatch``, ``plate_outlier``, ...) keeps its row and readout, but
gets no viability, so it enters neither the vehicle/blank means, the conditions, the fits nor
the synergy scores; ``excluded_flags`` names the flags that left it out. ``include_flagged``
lets chosen flags back in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import numpy as np
import pandas as pd

from napari_il6assay.errors import InputError
from napari_il6assay.io.cells import text_column as _text
from napari_il6assay.qc_flags import untrusted_flags

CONDITION_KEYS = ["plate", "cell_line", "drug", "concentration_M", "drug_b", "concentration_b"]
CONDITIONS_COLUMNS = [*CONDITION_KEYS, "n", "viability_mean", "viability_sd", "viability_sem"]


def _add_flag(flags: pd.Series, mask: pd.Series | np.ndarray, flag: str) -> pd.Series:
    mask = np.asarray(mask, bool)
    cur = flags.to_numpy(dtype=object).copy()
    for i in np.flatnonzero(mask):
        parts = [p for p in str(cur[i]).split(";") if p]
        if flag not in parts:
            parts.append(flag)
        cur[i] = ";".join(parts)
    return pd.Series(cur, index=flags.index, dtype=object)


def normalize_wells(
    wells: pd.DataFrame,
    readout: str = "readout",
    *,
    outlier_z: float = 3.5,
    min_mad: float = 0.05,
    path: str | None = None,
    include_flagged: Iterable[str] = (),
) -> pd.DataFrame:
    """Scale readouts to viability per plate and cell line and flag replicate outliers.

    Parameters
    ----------
    wells : DataFrame
        One row per well with at least ``well``, ``cell_line`` and ``readout``; optional
        ``plate``, ``role`` (``sample``/``vehicle``/``blank``/``exclude``; default
        ``sample``, or ``vehicle`` for a well with concentration 0 and no second agent),
        ``drug``, ``concentration_M``, ``drug_b``, ``concentration_b``, ``qc_flag``.
    readout : str
        Column to normalize.
    outlier_z : float
        Modified z-score above which a replicate is flagged ``outlier``.
    min_mad : float
        Floor of the scaled MAD on the viability scale, so tight triplicates do not flag
        ordinary noise.
    path : str, optional
        File name for error messages.
    include_flagged : iterable of str
        Untrusted flags whose wells are used all the same (see the module docstring).

    Returns
    -------
    DataFrame
        A copy with ``viability``, ``qc_flag`` (``;``-joined flags: ``outlier``,
        ``excluded``, ``no_vehicle``, plus any flag the input had) and ``excluded_flags``
        (the untrusted flags that kept the well out; empty for wells in use).

    Examples
    --------
    >>> df = pd.DataFrame({"well": ["A1", "A2", "A3", "A4"], "cell_line": "P",
    ...                    "role": ["vehicle", "vehicle", "sample", "blank"],
    ...                    "readout": [10.0, 12.0, 6.0, 1.0]})
    >>> normalize_wells(df)["viability"].round(3).tolist()
    [0.9, 1.1, 0.5, 0.0]
    """
    d = wells.copy()
    values = _readout_values(d, readout, path)
    plate = _text(d["plate"]) if "plate" in d.columns else pd.Series("", index=d.index)
    line = _text(d["cell_line"]) if "cell_line" in d.columns else pd.Series("", index=d.index)
    role = _roles(d, path)
    flags = _text(d["qc_flag"]) if "qc_flag" in d.columns else pd.Series("", index=d.index)
    flags = flags.astype(object)
    include = frozenset(include_flagged)
    left_out = flags.map(lambda f: ";".join(untrusted_flags(f, include)))
    usable = (role != "exclude") & (left_out == "")
    viability, flags = _scale_to_viability(values, plate, line, role, usable, flags)
    viability[left_out != ""] = np.nan
    d["viability"] = viability
    d["excluded_flags"] = left_out
    flags = _add_flag(flags, role == "exclude", "excluded")
    # outliers among replicates of one condition (pooled over plates)
    keys = [c for c in CONDITION_KEYS[1:] if c in d.columns]
    if keys:
        cand = (role != "blank") & usable & viability.notna()
        outlier = _replicate_outliers(d, keys, viability, cand, outlier_z, min_mad)
        flags = _add_flag(flags, outlier, "outlier")
    d["qc_flag"] = flags
    return d


def _readout_values(d: pd.DataFrame, readout: str, path: str | None) -> pd.Series:
    """Return the readout column as numbers; a text cell is an `InputError` naming its row."""
    for col in ("well", readout):
        if col not in d.columns:
            raise InputError(f"missing column (expected {readout!r} and 'well')", path=path,
                             column=col)  # fmt: skip
    values = pd.to_numeric(d[readout], errors="coerce")
    bad = d[readout].notna() & values.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"not a number: {d[readout].iloc[i]!r}", path=path, row=i + 2,
                         column=readout)  # fmt: skip
    return values


def _roles(d: pd.DataFrame, path: str | None) -> pd.Series:
    """Return each well's role (lower case); an empty role is inferred and written into ``d``.

    A well without a role is a vehicle at concentration 0 (or without a drug) and no second
    agent, a sample otherwise.
    """
    role = _text(d["role"]).str.lower() if "role" in d.columns else pd.Series("", index=d.index)
    if not (role == "").any():
        return role
    conc_col = next((c for c in ("concentration_M", "concentration") if c in d.columns), None)
    if conc_col is None:
        # a role can only be inferred from the concentration (this used to end in an
        # AttributeError on a float)
        raise InputError("missing column: wells without a role need a concentration",
                         path=path, column="concentration_M")  # fmt: skip
    conc = pd.to_numeric(d[conc_col], errors="coerce")
    conc_b = pd.to_numeric(d["concentration_b"], errors="coerce") if (
        "concentration_b" in d.columns) else pd.Series(0.0, index=d.index)  # fmt: skip
    drug = _text(d["drug"]) if "drug" in d.columns else pd.Series("", index=d.index)
    is_vehicle = ((conc.fillna(0) == 0) | (drug == "")) & (conc_b.fillna(0) == 0)
    inferred = pd.Series(np.where(is_vehicle, "vehicle", "sample"), index=d.index, dtype=object)
    role = role.where(role != "", inferred)
    d["role"] = role
    return role


def _scale_to_viability(
    values: pd.Series,
    plate: pd.Series,
    line: pd.Series,
    role: pd.Series,
    usable: pd.Series,
    flags: pd.Series,
) -> tuple[pd.Series, pd.Series]:
    """Scale the readouts to viability per (plate, cell line); return viability and flags.

    Blanks are put on their plate's (line's) scale too. Groups without a usable vehicle get
    ``no_vehicle``, groups whose vehicle equals the blank ``vehicle_equals_blank``.
    """
    viability = pd.Series(np.nan, index=values.index, dtype=float)
    scales: dict[tuple[str, str], tuple[float, float]] = {}
    # blank means per (plate, line) and per plate, once: three whole-table masks per group
    # made this O(groups x rows)
    bmask = (role == "blank") & usable & values.notna()
    blank_line = values[bmask].groupby([plate[bmask], line[bmask]]).mean().to_dict()
    blank_plate = values[bmask].groupby(plate[bmask]).mean().to_dict()
    for key, idx in values.groupby([plate, line], sort=False).groups.items():
        pl, cl = cast(tuple[str, str], key)
        if role.loc[idx].eq("blank").all():
            continue
        veh = values.loc[idx][(role.loc[idx] == "vehicle") & usable.loc[idx]]
        # the line's blanks, else the plate's line-less blanks, else all blanks of the plate
        blank = blank_line.get((pl, cl), blank_line.get((pl, ""), blank_plate.get(pl, 0.0)))
        blank = float(blank)
        if veh.notna().sum() == 0:
            flags = _add_flag(flags, values.index.isin(idx) & (role != "blank"), "no_vehicle")
            continue
        denom = float(veh.mean()) - blank
        if denom == 0:
            flags = _add_flag(flags, values.index.isin(idx), "vehicle_equals_blank")
            continue
        viability.loc[idx] = (values.loc[idx] - blank) / denom
        scales[(pl, cl)] = (blank, denom)
    blanks = role == "blank"
    for bi in np.flatnonzero(blanks.to_numpy()).tolist():  # blanks on their plate's (line's) scale
        pl, cl = plate.iloc[bi], line.iloc[bi]
        sc = scales.get((pl, cl)) or next((v for k, v in scales.items() if k[0] == pl), None)
        if sc is not None:
            viability.iloc[bi] = (values.iloc[bi] - sc[0]) / sc[1] + 0.0
    return viability, flags


def _replicate_outliers(
    d: pd.DataFrame,
    keys: list[str],
    viability: pd.Series,
    cand: pd.Series,
    outlier_z: float,
    min_mad: float,
) -> np.ndarray:
    """Flag replicate outliers: modified z-score on the MAD per condition (3+ replicates).

    Only the ``cand`` wells take part; returns a mask over ``d``'s rows.
    """
    # median and MAD per condition as group transforms: one pass, not a loop of pandas
    # calls per condition (90,000 conditions in a 10,000-curve screen)
    sub = viability[cand]
    key_cols = [_text(d.loc[cand, k]) for k in keys]
    gkeys: list[pd.Series] | pd.Series = key_cols if len(key_cols) > 1 else key_cols[0]
    g = sub.groupby(gkeys, sort=False)
    dev = (sub - g.transform("median")).abs()
    mad = (1.4826 * dev.groupby(gkeys, sort=False).transform("median")).clip(lower=min_mad)
    out = (g.transform("size") >= 3) & (dev / mad > outlier_z)
    return np.asarray(d.index.isin(sub.index[out.to_numpy()]), dtype=bool)


def condition_wells(wells: pd.DataFrame) -> pd.DataFrame:
    """Return the wells that make up conditions: all but the ``blank`` and ``exclude`` wells."""
    if "role" not in wells.columns:
        return wells
    return wells[~_text(wells["role"]).str.lower().isin(["exclude", "blank"])]


def condition_table(wells: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Return a copy of the `condition_wells` with clean condition ``keys``, ready to group.

    A missing key column is added; ``concentration*`` keys become numbers (NaN where empty or
    missing), the others text (``""`` where blank).
    """
    d = condition_wells(wells.copy())
    for k in keys:
        if k not in d.columns:
            d[k] = np.nan if k.startswith("concentration") else ""
    for k in keys:
        d[k] = (
            pd.to_numeric(d[k], errors="coerce") if k.startswith("concentration") else _text(d[k])
        )
    return d


def summarize_conditions(wells: pd.DataFrame, response: str = "viability") -> pd.DataFrame:
    """Mean, SD and SEM of replicate wells per condition (``conditions.csv``).

    Parameters
    ----------
    wells : DataFrame
        Output of `normalize_wells` (``exclude`` and ``blank`` wells are left out).
    response : str
        Column summarized (reported as ``viability_*``).

    Returns
    -------
    DataFrame
        `CONDITIONS_COLUMNS` plus ``wells`` (the ``;``-joined well ids, for linking a plotted
        point back to its wells).
    """
    d = condition_table(wells, CONDITION_KEYS)
    d["_v"] = pd.to_numeric(d[response], errors="coerce")
    d["_w"] = _text(d["well"]) if "well" in d.columns else ""
    g = d.groupby(CONDITION_KEYS, dropna=False, sort=True)
    out = g["_v"].agg(n="count", viability_mean="mean", viability_sd="std").reset_index()
    out["viability_sem"] = out["viability_sd"] / np.sqrt(out["n"].where(out["n"] > 0))
    out["wells"] = g["_w"].agg(lambda s: ";".join(s)).to_numpy()
    return out[[*CONDITIONS_COLUMNS, "wells"]]
