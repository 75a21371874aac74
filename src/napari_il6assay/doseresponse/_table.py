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
from typing import cast

import numpy as np
import pandas as pd

from napari_il6assay.doseresponse._batch import FlatCurves
from napari_il6assay.io.cells import text_codes
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
    rows = np.arange(len(df))
    vehicle = np.zeros(len(df), bool)
    if "role" in df.columns:
        codes, texts, _ = text_codes(df["role"])
        role = [t.lower() for t in texts.tolist()]
        left_out = np.array([r in ("exclude", "blank") for r in role], bool)
        vehicle = np.array([r == "vehicle" for r in role], bool)[codes]
        rows = np.flatnonzero(~left_out[codes])
        vehicle = vehicle[rows]
    present = [c for c in group_cols if c in df.columns]
    cb = None
    if "concentration_b" in df.columns:
        cb = pd.to_numeric(df["concentration_b"], errors="coerce").fillna(0.0).to_numpy()[rows]
    keys = {c: _key_column(df[c], rows, cb) for c in present}
    conc_np = pd.to_numeric(df[conc], errors="coerce").to_numpy(float)[rows]
    resp_np = pd.to_numeric(df[response], errors="coerce").to_numpy(float)[rows]
    if "well" in df.columns:
        plates = df["plate"] if "plate" in df.columns else None
        wells = np.asarray(well_keys(plates, df["well"]), dtype=object)[rows]
    else:
        wells = np.full(rows.size, "", dtype=object)
    parental = None
    if "parental" in df.columns:
        p_codes, p_texts, _ = text_codes(df["parental"])
        parental = p_texts[p_codes[rows]]
    if "drug" in present:
        # vehicle wells (whatever their drug label, e.g. "DMSO") and dose-0 wells are the
        # dose-0 points of every drug of their line and second-agent state
        drug = keys["drug"]
        untreated = (drug.values == "")[drug.codes] | (conc_np == 0) | vehicle
        # a well without drug A is its dose 0 whatever concentration it carries
        conc_np[untreated] = 0.0
    else:
        untreated = np.zeros(rows.size, bool)
    return _assemble(conc_np, resp_np, wells, parental, untreated, keys)


@dataclass
class _KeyColumn:
    """One key column over the rows a curve may take: ranks to group by, values to show.

    Attributes
    ----------
    rank : ndarray of int64
        Each row's rank among the column's distinct values (equal values, equal ranks).
    n_ranks : int
        How many ranks there can be (at least 1).
    codes : ndarray of intp
        Each row's index into ``values``.
    values : ndarray
        The values (cleaned text, or the second agent's concentration).
    """

    rank: np.ndarray
    n_ranks: int
    codes: np.ndarray
    values: np.ndarray

    def at(self, rows: np.ndarray) -> list[object]:
        """Return the values of ``rows`` as Python objects."""
        return self.values[self.codes[rows]].tolist()


def _key_column(col: pd.Series, rows: np.ndarray, cb: np.ndarray | None) -> _KeyColumn:
    """Return the `_KeyColumn` of ``col`` over ``rows``.

    Text is cleaned (`io.cells.cell_text`); ``concentration_b`` is numeric, missing is 0 (no
    second agent); ``drug_b`` is "" where that concentration is not above 0.
    """
    if col.name == "concentration_b" and cb is not None:
        rank, n_ranks = _ranks(cb)
        return _KeyColumn(rank, n_ranks, np.arange(cb.size), cb)
    codes, texts, rank = text_codes(col)
    codes = codes[rows]
    if col.name == "drug_b" and cb is not None:
        codes = np.where(cb > 0, codes, -1)  # code -1 is ""
    return _KeyColumn(rank[codes], max(int(rank.max()) + 1, 1), codes, texts)


def _assemble(
    conc_np: np.ndarray,
    resp_np: np.ndarray,
    wells: np.ndarray,
    parental: np.ndarray | None,
    untreated: np.ndarray,
    keys: dict[str, _KeyColumn],
) -> tuple[list[Curve], FlatCurves]:
    """Build the curves of the prepared rows: group codes, one sort, slices per curve.

    A boolean mask per curve over the whole table (+ concat) was O(curves x rows): 17 of 21 s
    of `il6assay fit` on 10,000 curves (issue 13). Here the rows of every curve (its treated
    rows in table order, then the dose-0 rows of its line and second-agent state in table
    order) are found with group codes and index arithmetic, gathered once, and each curve
    gets slices of the gathered arrays.
    """
    t_rows = np.flatnonzero(~untreated)
    z_rows = np.flatnonzero(untreated)
    other = [keys[c] for c in keys if c != "drug"]
    curve_keys, t_sorted, t_lo, t_n = _treated_groups(t_rows, keys)
    if other and z_rows.size and curve_keys:
        z_sorted, z_lo, z_n = _zero_rows_per_curve(t_sorted[t_lo], z_rows, other)
    else:
        none = np.zeros(len(curve_keys), np.intp)
        z_sorted, z_lo, z_n = z_rows[:0], none, none
    idx = _curve_rows(t_sorted, t_lo, t_n, z_sorted, z_lo, z_n)
    ends = np.cumsum(t_n + z_n).tolist()
    starts = [0, *ends[:-1]] if ends else []  # no curve: a table of vehicle rows only
    conc_all, resp_all, wells_all = conc_np[idx], resp_np[idx], wells[idx].tolist()
    has_parental = parental is not None and bool((parental != "").any())
    bounds = list(zip(curve_keys, starts, ends, strict=True))
    if not has_parental:  # the usual case: no parental line, no problem, one call per curve
        curves = [Curve(kd, conc_all[lo:hi], resp_all[lo:hi], wells_all[lo:hi])
                  for kd, lo, hi in bounds]  # fmt: skip
        return curves, FlatCurves(conc_all, resp_all, t_n + z_n)
    par_all = cast("np.ndarray", parental)[idx].tolist()
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
    t_rows: np.ndarray, keys: dict[str, _KeyColumn]
) -> tuple[list[dict[str, object]], np.ndarray, np.ndarray, np.ndarray]:
    """Each curve's key and its treated rows, curves sorted by key.

    Parameters
    ----------
    t_rows : ndarray
        Positions of the treated rows.
    keys : dict
        The key columns.

    Returns
    -------
    keys : list of dict
        One per curve.
    rows : ndarray
        Positions of the treated rows, curve after curve, in table order within one.
    lo, n : ndarray
        Where each curve's rows start in ``rows``, and how many there are.
    """
    if not keys:
        return [{}], t_rows, np.zeros(1, np.intp), np.array([t_rows.size], np.intp)
    codes = _codes_of_ranks([(k.rank[t_rows], k.n_ranks) for k in keys.values()], t_rows.size)
    order = np.argsort(codes, kind="stable")  # stable: rows keep their table order
    bounds = np.searchsorted(codes[order], np.arange(codes.max() + 2 if codes.size else 1))
    firsts = t_rows[order[bounds[:-1]]] if codes.size else t_rows[:0]
    names = list(keys)
    key_vals = [k.at(firsts) for k in keys.values()]
    curve_keys = [dict(zip(names, key, strict=True)) for key in zip(*key_vals, strict=True)]
    return curve_keys, t_rows[order], bounds[:-1].astype(np.intp), np.diff(bounds).astype(np.intp)


def _ranks(values: pd.Series | np.ndarray) -> tuple[np.ndarray, int]:
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
    firsts: np.ndarray, z_rows: np.ndarray, other: list[_KeyColumn]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the dose-0 rows of each curve: those with the curve's values of ``other``.

    Parameters
    ----------
    firsts : ndarray
        Position of one treated row of each curve.
    z_rows : ndarray
        Positions of the dose-0 rows, in table order.
    other : list of _KeyColumn
        The key columns other than ``drug``.

    Returns
    -------
    rows : ndarray
        Positions of the dose-0 rows grouped by key (table order within a group).
    lo, n : ndarray
        Per curve, where its dose-0 rows start in ``rows`` and how many there are (0: none).
    """
    both = np.concatenate([firsts, z_rows])
    codes = _codes_of_ranks([(k.rank[both], k.n_ranks) for k in other], both.size)
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
