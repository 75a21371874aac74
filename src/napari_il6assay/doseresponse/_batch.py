"""The curves of a batched fit as padded arrays, and their replicates pooled into dose means.

`pad` puts B curves into one `_solver.Batch` (B rows, padding with weight 0), so every step of
`fit.fit_arrays` works on all curves at once. `dose_means` pools each curve's replicates: the
grid of starting values, the solver, the shape tests and the censoring all work on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from napari_il6assay.doseresponse._solver import Batch

#: One curve's data as `fit.fit_arrays` takes it: (doses, responses, weights or None).
CurveData = tuple[np.ndarray, np.ndarray, np.ndarray | None]


class FlatCurves(Sequence[CurveData]):
    """Curves without weights stored as two flat arrays, curve after curve.

    A sequence of ``(conc, response, None)`` like any other `CurveData` sequence (each item a
    view), but `pad` and `check_curves` read the flat arrays directly instead of
    concatenating 10,000 small ones again (issue 13).

    Parameters
    ----------
    x, y : ndarray
        Doses and responses of all curves, curve after curve (float).
    lens : ndarray
        Each curve's number of points.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, lens: np.ndarray) -> None:
        self.x = np.asarray(x, float)
        self.y = np.asarray(y, float)
        self.lens = np.asarray(lens, np.intp)
        ends = np.cumsum(self.lens)
        self.starts = ends - self.lens
        self._bounds = list(zip(self.starts.tolist(), ends.tolist(), strict=True))

    def __len__(self) -> int:
        """Return the number of curves."""
        return len(self._bounds)

    def between(self, lo: int, hi: int) -> FlatCurves:
        """Return curves ``lo .. hi - 1`` as `FlatCurves` (views of the flat arrays)."""
        a = int(self.starts[lo]) if lo < len(self) else self.x.size
        b = int(self.starts[hi]) if hi < len(self) else self.x.size
        return FlatCurves(self.x[a:b], self.y[a:b], self.lens[lo:hi])

    @overload
    def __getitem__(self, i: int) -> CurveData: ...

    @overload
    def __getitem__(self, i: slice) -> list[CurveData]: ...

    def __getitem__(self, i: int | slice) -> CurveData | list[CurveData]:
        """Return curve ``i`` as ``(conc, response, None)`` (views of the flat arrays)."""
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        lo, hi = self._bounds[i]
        return self.x[lo:hi], self.y[lo:hi], None


def _flat(
    curves: Sequence[CurveData],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """All curves' points in flat arrays, with each point's (row, column) in the padded batch.

    Returns
    -------
    x, y, w : ndarray
        Doses, responses and weights (1 where a curve has none), curve after curve.
    rows, cols : ndarray
        Each point's curve and its position within the curve.
    n : int
        The longest curve's length (the padded width).
    """
    if isinstance(curves, FlatCurves):  # already flat: no concatenation
        lens, x, y = curves.lens, curves.x, curves.y
        w = np.ones(x.size)
    else:
        lens = np.fromiter((len(c[0]) for c in curves), np.intp, len(curves))
        x = np.concatenate([np.asarray(c[0], float) for c in curves])
        y = np.concatenate([np.asarray(c[1], float) for c in curves])
        if all(c[2] is None for c in curves):  # the usual case: no weights, no array per curve
            w = np.ones(x.size)
        else:
            w = np.concatenate([np.ones(m) if c[2] is None else np.asarray(c[2], float)
                                for c, m in zip(curves, lens.tolist(), strict=True)])  # fmt: skip
    rows = np.repeat(np.arange(len(curves)), lens)
    cols = np.arange(x.size) - np.repeat(np.cumsum(lens) - lens, lens)
    return x, y, w, rows, cols, int(lens.max())


def pad(curves: Sequence[CurveData]) -> Batch:
    """Pad the curves into one `Batch` (padding has weight 0), built from flat arrays."""
    return pad_with_doses(curves)[0]


def pad_with_doses(curves: Sequence[CurveData]) -> tuple[Batch, np.ndarray]:
    """Pad the curves into one `Batch` and their tested doses as given, from one flattening.

    One scatter instead of a loop of numpy calls per curve (a tenth of a second on 10,000
    curves, issue 13); each value is computed by the same operation as before. The raw doses
    are padded with 0 and kept as given (``exp(log x)`` is off in the last digit).
    """
    x, yy, w, rows, cols, n = _flat(curves)
    B = len(curves)
    logx = np.ones((B, n))
    zero = np.zeros((B, n), bool)
    y = np.zeros((B, n))
    sw = np.zeros((B, n))
    z = x <= 0
    zero[rows, cols] = z
    logx[rows, cols] = np.log(np.where(z, 1.0, x))
    y[rows, cols] = yy
    sw[rows, cols] = np.sqrt(w)
    xraw = np.zeros((B, n))
    xraw[rows, cols] = x
    return Batch(logx, zero, y, sw), xraw


def row_mean(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Mean of ``v`` over the entries where ``m`` is True, per row (NaN for an empty row)."""
    cnt = m.sum(axis=1)
    return np.where(cnt > 0, (v * m).sum(axis=1) / np.maximum(cnt, 1), np.nan)


def dose_means(data: Batch) -> Batch:
    """Return `_dose_means_impl` of ``data``, computed once per `Batch`.

    The grid, the shape tests and the censoring all need it.
    """
    cached = getattr(data, "_dose_means", None)
    if cached is None:
        cached = _dose_means_impl(data)
        data._dose_means = cached  # type: ignore[attr-defined]
    return cached


def _dose_means_impl(data: Batch) -> Batch:
    """Pool replicates: the same curves, with the weighted mean response per distinct dose.

    The RSS of any curve ``f`` is the within-dose sum of squares (fixed) plus
    ``sum_k W_k (ybar_k - f(x_k))^2`` over the distinct doses, so a search over starting values
    can work on the (fewer) dose means with weights ``W_k`` and reach the same argmin. The
    within-dose sum of squares is the returned batch's ``offset``: with it the solver works
    on the dose means (a third of the points with triplicates) and its RSS, gradient,
    ``J^T W J`` and stopping rules are those of the replicates, up to rounding.
    """
    B, n = data.y.shape
    valid = data.sw > 0
    key = np.where(valid, np.where(data.zero, -np.inf, data.logx), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    ks = np.take_along_axis(key, order, 1)
    new = np.ones((B, n), bool)
    new[:, 1:] = ks[:, 1:] != ks[:, :-1]
    gid = np.cumsum(new, axis=1) - 1
    flat = (np.arange(B)[:, None] * n + gid).ravel()
    w = np.take_along_axis(data.sw**2, order, 1).ravel()
    yw = (np.take_along_axis(data.y, order, 1).ravel()) * w
    W = np.bincount(flat, w, B * n).reshape(B, n)
    Y = np.bincount(flat, yw, B * n).reshape(B, n)
    m = int(gid.max()) + 1
    W, Y = W[:, :m], Y[:, :m]
    lx = np.zeros((B, m))
    zero = np.zeros((B, m), bool)
    first = np.take_along_axis(data.logx, order, 1)
    z_sorted = np.take_along_axis(data.zero, order, 1)
    lx[np.arange(B)[:, None].repeat(n, 1)[new], gid[new]] = first[new]
    zero[np.arange(B)[:, None].repeat(n, 1)[new], gid[new]] = z_sorted[new]
    ok = W > 0
    ybar = np.where(ok, Y / np.where(ok, W, 1.0), 0.0)
    y_sorted = np.take_along_axis(data.y, order, 1)
    dev = y_sorted - np.take_along_axis(ybar, np.minimum(gid, m - 1), 1)
    pure = (w.reshape(B, n) * dev * dev).sum(axis=1)  # padding has weight 0
    return Batch(np.where(ok, lx, 1.0), zero & ok, ybar, np.sqrt(W), pure)
