"""Split a tidy wells/conditions table into dose-response curves.

A curve is one (cell_line, drug, drug_b, concentration_b) group (whichever of these columns
exist). Wells with no drug A (vehicle of any label, role ``vehicle``, concentration 0, or drug B
alone in a combination) are the dose-0 points
of every drug-A curve of the same cell line and the same drug B state, so the vehicle anchors
the top of each curve. A second agent at concentration 0 (or missing) counts as no second
agent. Wells whose ``role`` is ``exclude`` or ``blank`` never enter a curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_il6assay.doseresponse._batch import FlatCurves
from napari_il6assay.io.cells import text_column as _text
from napari_il6assay.io.cells import text_column_ranked
from napari_il6assay.io.plate import well_keys

DEFAULT_GROUPS = ("cell_line", "drug", "drug_b", "concentration_b")


@dataclass
class Curve:
    """One curve's data and identity."""

    key: dict[str, object]
    conc: np.ndarray
    response: np.ndarray
    wells: list[str]
    parental: str = ""
    problems: list[str] = field(default_factory=list)


def concentration_column(df: pd.DataFrame, dose: str | None = None) -> str:
    """Return the name of the dose column.

    ``dose`` if given, else ``concentration_M``, ``concentration`` (converted by the caller),
    ``conc`` or ``dose``.
    """
    if dose is not None:
        return dose
    for c in ("concentration_M", "concentration", "conc", "dose"):
        if c in df.columns:
            return c
    raise KeyError("no concentration column (concentration_M, concentration, conc or dose)")


def split_curves(
    df: pd.DataFrame,
    response: str = "viability",
    conc: str = "concentration_M",
    group_cols: tuple[str, ...] = DEFAULT_GROUPS,
) -> list[Curve]:
    """Group a tidy table into `Curve` objects (see the module docstring).

    Parameters
    ----------
    df : DataFrame
        One row per well (or per condition).
    response, conc : str
        Column names of the response and the dose.
    group_cols : tuple of str
        Columns that identify a curve; those absent from ``df`` are ignored.

    Returns
    -------
    list of Curve
    """
    return split_curves_flat(df, response, conc, group_cols)[0]


def split_curves_flat(
    df: pd.DataFrame,
    response: str = "viability",
    conc: str = "concentration_M",
    group_cols: tuple[str, ...] = DEFAULT_GROUPS,
) -> tuple[list[Curve], FlatCurves]:
    """Return `split_curves` and the same curves' data as one `_batch.FlatCurves`.

    Each `Curve`'s ``conc`` and ``response`` are views of the flat arrays, so a fit of all
    curves need not concatenate them again (issue 13).

    Parameters
    ----------
    df : DataFrame
        One row per well (or per condition).
    response, conc : str
        Column names of the response and the dose.
    group_cols : tuple of str
        Columns that identify a curve; those absent from ``df`` are ignored.

    Returns
    -------
    curves : list of Curve
    flat : FlatCurves
        Every curve's doses and responses, curve after curve.
    """
    d = df.copy()
    if "role" in d.columns:
        role = _text(d["role"]).str.lower()
        d = d[~role.isin(["exclude", "blank"])]
    present = [c for c in group_cols if c in d.columns]
    if "concentration_b" in d.columns:
        cb = pd.to_numeric(d["concentration_b"], errors="coerce").fillna(0.0)
        d["concentration_b"] = cb
        if "drug_b" in d.columns:
            d["drug_b"] = _text(d["drug_b"]).where(cb > 0, "")
    # each key column's rank of every row, from the one factorization of its text
    ranks: dict[str, tuple[np.ndarray, int]] = {}
    for c in present:
        if c != "concentration_b":
            d[c], rank, n_ranks = text_column_ranked(d[c])
            ranks[c] = (rank, n_ranks)
        else:
            ranks[c] = _ranks(d[c])
    d["_conc"] = pd.to_numeric(d[conc], errors="coerce")
    d["_resp"] = pd.to_numeric(d[response], errors="coerce")
    if "well" in d.columns:
        d["_well"] = well_keys(d["plate"] if "plate" in d.columns else None, d["well"])
    else:
        d["_well"] = ""
    d["_parental"] = _text(d["parental"]) if "parental" in d.columns else ""
    if "drug" in present:
        # vehicle wells (whatever their drug label, e.g. "DMSO") and dose-0 wells are the
        # dose-0 points of every drug of their line and second-agent state
        untreated = (d["drug"] == "") | (d["_conc"] == 0)
        if "role" in d.columns:
            untreated |= _text(d["role"]).str.lower() == "vehicle"
        # a well without drug A is its dose 0 whatever concentration it carries
        d.loc[untreated, "_conc"] = 0.0
    else:
        untreated = pd.Series(False, index=d.index)
    return _assemble(d, untreated.to_numpy(bool), present, ranks)


def _assemble(
    d: pd.DataFrame,
    untreated: np.ndarray,
    present: list[str],
    ranks: dict[str, tuple[np.ndarray, int]],
) -> tuple[list[Curve], FlatCurves]:
    """Build the curves of a prepared table: group codes, one sort, slices per curve.

    A boolean mask per curve over the whole table (+ concat) was O(curves x rows): 17 of 21 s
    of `il6assay fit` on 10,000 curves (issue 13). Here the rows of every curve (its treated
    rows in table order, then the dose-0 rows of its line and second-agent state in table
    order) are found with group codes and index arithmetic, gathered once, and each curve
    gets slices of the gathered arrays.
    """
    conc_np = d["_conc"].to_numpy(float)
    resp_np = d["_resp"].to_numpy(float)
    well_np = np.asarray(d["_well"], dtype=object) if len(d) else np.empty(0, object)
    parental_np = np.asarray(d["_parental"], dtype=object) if len(d) else np.empty(0, object)
    t_rows = np.flatnonzero(~untreated)
    z_rows = np.flatnonzero(untreated)
    other = [c for c in present if c != "drug"]
    keys, t_sorted, t_lo, t_n = _treated_groups(d, t_rows, present, ranks)
    if other and z_rows.size and keys:
        z_sorted, z_lo, z_n = _zero_rows_per_curve(d, t_sorted[t_lo], z_rows, other)
    else:
        z_sorted, z_lo, z_n = z_rows[:0], np.zeros(len(keys), np.intp), np.zeros(len(keys), np.intp)
    idx = _curve_rows(t_sorted, t_lo, t_n, z_sorted, z_lo, z_n)
    ends = np.cumsum(t_n + z_n).tolist()
    starts = [0, *ends[:-1]] if ends else []  # no curve: a table of vehicle rows only
    conc_all, resp_all, wells_all = conc_np[idx], resp_np[idx], well_np[idx].tolist()
    # no parental column: no comparison of a column of "" (a fiftieth of a second on 10,000 curves)
    has_parental = "parental" in d.columns and bool((parental_np != "").any())
    par_all = parental_np[idx].tolist() if has_parental else []
    bounds = list(zip(keys, starts, ends, strict=True))
    if not has_parental:  # the usual case: no parental line, no problem, one call per curve
        curves = [Curve(kd, conc_all[lo:hi], resp_all[lo:hi], wells_all[lo:hi])
                  for kd, lo, hi in bounds]  # fmt: skip
        return curves, FlatCurves(conc_all, resp_all, t_n + z_n)
    curves = []
    for kd, lo, hi in bounds:
        parents = sorted(set(par_all[lo:hi]) - {""})
        problems = []
        if len(parents) > 1:
            problems.append(f"several parental lines given: {', '.join(parents)}")
        curves.append(
            Curve(
                key=kd,
                conc=conc_all[lo:hi],
                response=resp_all[lo:hi],
                wells=wells_all[lo:hi],
                parental=parents[0] if parents else "",
                problems=problems,
            )
        )
    return curves, FlatCurves(conc_all, resp_all, t_n + z_n)


def _treated_groups(
    d: pd.DataFrame,
    t_rows: np.ndarray,
    present: list[str],
    ranks: dict[str, tuple[np.ndarray, int]],
) -> tuple[list[dict[str, object]], np.ndarray, np.ndarray, np.ndarray]:
    """Each curve's key and its treated rows, curves sorted by key.

    Parameters
    ----------
    d : DataFrame
    t_rows : ndarray
        Positions in ``d`` of the treated rows.
    present : list of str
        The key columns.
    ranks : dict
        Each key column's `_ranks` over the rows of ``d``.

    Returns
    -------
    keys : list of dict
        One per curve.
    rows : ndarray
        Positions in ``d`` of the treated rows, curve after curve, in table order within one.
    lo, n : ndarray
        Where each curve's rows start in ``rows``, and how many there are.
    """
    if not present:
        return [{}], t_rows, np.zeros(1, np.intp), np.array([t_rows.size], np.intp)
    codes = _codes_of_ranks([(ranks[c][0][t_rows], ranks[c][1]) for c in present], t_rows.size)
    order = np.argsort(codes, kind="stable")  # stable: rows keep their table order
    bounds = np.searchsorted(codes[order], np.arange(codes.max() + 2 if codes.size else 1))
    firsts = d[present].iloc[t_rows[order[bounds[:-1]]] if codes.size else t_rows[:0]]
    key_vals = [firsts[c].tolist() for c in present]
    keys = [dict(zip(present, key, strict=True)) for key in zip(*key_vals, strict=True)]
    return keys, t_rows[order], bounds[:-1].astype(np.intp), np.diff(bounds).astype(np.intp)


def _ranks(values: pd.Series) -> tuple[np.ndarray, int]:
    """Each value's rank among the distinct values (sorted, missing last), and how many."""
    codes, uniques = pd.factorize(values, sort=False, use_na_sentinel=False)
    rank = pd.factorize(uniques, sort=True, use_na_sentinel=False)[0].astype(np.int64)
    return rank[codes], max(len(uniques), 1)


def _codes_of_ranks(ranks: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """Return the number of each row's combination of ranks among those present, in order.

    With `_ranks` of each column, the same numbers as ``df.groupby(cols, sort=True,
    dropna=False).ngroup()`` (missing values last), from integer arithmetic, a fifth faster
    than the groupby on a 10,000-curve screen.

    Parameters
    ----------
    ranks : list of (ndarray, int)
        Per column, each row's rank and how many ranks there can be (`_ranks`).
    n : int
        Number of rows (all in group 0 when there is no column).
    """
    combined = np.zeros(n, np.int64)
    size = 1
    for rank, k in ranks:
        combined = combined * k + rank
        size *= k
    if size > 4 * n + 1024:  # too many possible keys to count: sort them
        return np.unique(combined, return_inverse=True)[1].reshape(-1)
    seen = np.zeros(size, bool)
    seen[combined] = True
    return (np.cumsum(seen) - 1)[combined]


def _zero_rows_per_curve(
    d: pd.DataFrame, firsts: np.ndarray, z_rows: np.ndarray, other: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the dose-0 rows of each curve: those with the curve's values of ``other``.

    Parameters
    ----------
    d : DataFrame
    firsts : ndarray
        Position in ``d`` of one treated row of each curve.
    z_rows : ndarray
        Positions of the dose-0 rows, in table order.
    other : list of str
        The key columns other than ``drug``.

    Returns
    -------
    rows : ndarray
        Positions of the dose-0 rows grouped by key (table order within a group).
    lo, n : ndarray
        Per curve, where its dose-0 rows start in ``rows`` and how many there are (0: none).
    """
    both = d.iloc[np.concatenate([firsts, z_rows])][other]
    codes = both.groupby(other, sort=False, dropna=False).ngroup().to_numpy()
    c_curve, c_zero = codes[: firsts.size], codes[firsts.size :]
    order = np.argsort(c_zero, kind="stable")
    n_codes = int(codes.max()) + 1
    z_count = np.bincount(c_zero, minlength=n_codes)
    z_start = np.concatenate([[0], np.cumsum(z_count)[:-1]])
    return z_rows[order], z_start[c_curve].astype(np.intp), z_count[c_curve].astype(np.intp)


def _curve_rows(
    t_rows: np.ndarray,
    t_lo: np.ndarray,
    t_n: np.ndarray,
    z_rows: np.ndarray,
    z_lo: np.ndarray,
    z_n: np.ndarray,
) -> np.ndarray:
    """Concatenate each curve's treated rows, then its dose-0 rows, curve after curve.

    Curve ``i`` contributes ``t_rows[t_lo[i]:t_lo[i] + t_n[i]]`` then
    ``z_rows[z_lo[i]:z_lo[i] + z_n[i]]``.
    """
    size = t_n + z_n
    total = int(size.sum())
    if total == 0:
        return np.empty(0, np.intp)
    curve = np.repeat(np.arange(size.size), size)
    pos = np.arange(total) - np.repeat(np.cumsum(size) - size, size)
    treated = pos < t_n[curve]
    out = np.empty(total, np.intp)
    out[treated] = t_rows[(t_lo[curve] + pos)[treated]]
    zi = ~treated
    out[zi] = z_rows[(z_lo[curve] + pos - t_n[curve])[zi]]
    return out
