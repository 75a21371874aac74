"""Typed results of the dose-response fits, and their one mapping to `CurveFit` and fits.csv.

`FitBatch` holds the fits of B curves as arrays (what `fit.fit_arrays` returns); `CurveFit` is
one curve's fit as plain numbers (`fit.fit_curve`); `CurveTableFit` is a fitted table with what
the fold step needs (`fit.fit_curve_table`). `COLUMNS` is the one list that says which attribute
of `FitBatch` and `CurveFit` each ``fits.csv`` column holds, and what a curve that could not be
fitted gets: the table, a curve's record and an unfitted curve's values all come from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from napari_il6assay.doseresponse._clean import distinct_per_curve
from napari_il6assay.doseresponse.models import (
    BOTTOM,
    HILL,
    LOGS,
    PARAMS,
    TOP,
    dose_at_response,
    evaluate,
)

if TYPE_CHECKING:
    import pandas as pd

    from napari_il6assay.doseresponse._batch import FlatCurves
    from napari_il6assay.doseresponse._table import Curve


class Column(NamedTuple):
    """One column of ``fits.csv``."""

    #: the column's name in ``fits.csv``
    name: str
    #: the `FitBatch` and `CurveFit` attribute it holds; None: `fits_table` fills it from the
    #: curve (its key, ``parental``, ``n_doses``) or the run (``ci_method``), or it is the fold
    #: step's (`fold.add_fold_resistance`) and starts as ``empty``
    field: str | None
    #: its value for a curve that was not fitted (and the fold columns' before the fold step)
    empty: float | str | bool = np.nan


#: Every column of ``fits.csv``, in order (INTERFACE.md: the first `N_INTERFACE_COLUMNS`).
COLUMNS: tuple[Column, ...] = (
    Column("cell_line", None), Column("drug", None), Column("drug_b", None),
    Column("concentration_b", None), Column("model", "model"), Column("n_points", "n_points"),
    Column("top", "top"), Column("bottom", "bottom"), Column("hill", "hill"),
    Column("ic50_rel_M", "ic50_rel"), Column("ic50_abs_M", "ic50_abs"),
    Column("ic50_ci_low_M", "ic50_ci_low"), Column("ic50_ci_high_M", "ic50_ci_high"),
    Column("ic50_censored", "ic50_censored", ""), Column("emax", "emax"), Column("auc", "auc"),
    Column("r2", "r2"), Column("converged", "converged", False), Column("parental", None),
    Column("fold_resistance", None), Column("fold_ci_low", None), Column("fold_ci_high", None),
    Column("p_value", None),
    # added after the contract's columns
    Column("status", "status"), Column("note", "note"), Column("ic50_fit_M", "ic50_fit"),
    Column("ic50_se_M", "ic50_se"), Column("ic50_se_log10", "ic50_se_log10"),
    Column("ic50_abs_censored", "ic50_abs_censored", ""), Column("ci_method", None),
    Column("asymmetry", "asymmetry"), Column("hill_se", "hill_se"), Column("top_se", "top_se"),
    Column("bottom_se", "bottom_se"), Column("rss", "rss"), Column("df", "df"),
    Column("sigma", "sigma"), Column("p_flat", "p_flat"), Column("n_doses", None),
    Column("min_dose_M", "min_dose"), Column("max_dose_M", "max_dose"),
    Column("fold_censored", None, ""), Column("fold_note", None, ""), Column("aic", "aic"),
    Column("bic", "bic"), Column("model_note", "model_note", ""),
    Column("lack_of_fit_p", "lack_of_fit_p"), Column("non_monotone", "non_monotone", False),
)  # fmt: skip
#: How many of `COLUMNS` INTERFACE.md defines (the rest are added after them).
N_INTERFACE_COLUMNS = 23
#: The fold step's columns (`fold.add_fold_resistance` fills them).
FOLD_COLUMNS = (
    "fold_resistance", "fold_ci_low", "fold_ci_high", "p_value", "fold_censored", "fold_note",
)  # fmt: skip
_BY_FIELD = {c.field: c for c in COLUMNS if c.field}


@dataclass
class FitBatch:
    """The fits of B curves (`fit.fit_arrays`): every array has one entry per curve.

    The attributes named in `COLUMNS` are the ``fits.csv`` columns of the same meaning;
    ``params`` (B, 5) holds ``(hill, bottom, top, log e, log s)`` for `models.evaluate`,
    ``se`` their standard errors (NaN for fixed parameters), ``loglik`` drc's ``logLik``.
    ``hill``, ``bottom``, ``top``, ``asymmetry`` and the ``*_se`` come from ``params`` and
    ``se``.
    """

    model: np.ndarray
    params: np.ndarray
    se: np.ndarray
    ic50_rel: np.ndarray
    ic50_fit: np.ndarray
    ic50_abs: np.ndarray
    ic50_ci_low: np.ndarray
    ic50_ci_high: np.ndarray
    ic50_censored: np.ndarray
    ic50_abs_censored: np.ndarray
    ic50_se: np.ndarray
    ic50_se_log10: np.ndarray
    emax: np.ndarray
    auc: np.ndarray
    r2: np.ndarray
    rss: np.ndarray
    df: np.ndarray
    sigma: np.ndarray
    n_points: np.ndarray
    p_flat: np.ndarray
    loglik: np.ndarray
    aic: np.ndarray
    bic: np.ndarray
    lack_of_fit_p: np.ndarray
    non_monotone: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    note: np.ndarray
    min_dose: np.ndarray
    max_dose: np.ndarray
    model_note: np.ndarray

    @property
    def hill(self) -> np.ndarray:
        """Hill slope (drc's ``b``: > 0 for a falling curve)."""
        return self.params[:, HILL]

    @property
    def bottom(self) -> np.ndarray:
        """Response at infinite dose (for ``hill > 0``)."""
        return self.params[:, BOTTOM]

    @property
    def top(self) -> np.ndarray:
        """Response at dose 0 (for ``hill > 0``)."""
        return self.params[:, TOP]

    @property
    def asymmetry(self) -> np.ndarray:
        """The 5PL's asymmetry ``s`` (1 for the other models)."""
        return np.exp(self.params[:, LOGS])

    @property
    def hill_se(self) -> np.ndarray:
        """Standard error of ``hill``."""
        return self.se[:, HILL]

    @property
    def top_se(self) -> np.ndarray:
        """Standard error of ``top``."""
        return self.se[:, TOP]

    @property
    def bottom_se(self) -> np.ndarray:
        """Standard error of ``bottom``."""
        return self.se[:, BOTTOM]

    def __len__(self) -> int:
        """Return the number of curves."""
        return int(self.params.shape[0])

    @classmethod
    def unfitted(cls, problems: Sequence[str], model: str, concs: Sequence[np.ndarray]) -> FitBatch:
        """Return the record of curves that were not fitted, with their ``problem`` as note.

        Every value is its column's ``empty`` (`COLUMNS`); ``status`` is ``constant`` or
        ``bad_input``, ``n_points`` counts the finite doses and ``min_dose``/``max_dose`` are
        the positive ones' range.
        """
        n = len(problems)
        values: dict[str, Any] = {}
        for f in fields(cls):
            col = _BY_FIELD.get(f.name)
            empty = np.nan if col is None else col.empty
            values[f.name] = np.full(n, empty, dtype=object if isinstance(empty, str) else None)
        values["params"], values["se"] = np.full((n, 5), np.nan), np.full((n, 5), np.nan)
        values["model"] = np.full(n, model, dtype=object)
        values["note"] = np.array(problems, dtype=object).reshape(n)
        values["status"] = np.array(["constant" if s.startswith("constant") else "bad_input"
                                     for s in problems], dtype=object).reshape(n)  # fmt: skip
        values["n_points"] = np.array([int(np.isfinite(c).sum()) for c in concs], dtype=np.intp)
        lo, hi = np.full(n, np.nan), np.full(n, np.nan)
        for i, c in enumerate(concs):
            pos = c[np.isfinite(c) & (c > 0)] if c.size else c
            if pos.size:
                lo[i], hi[i] = pos.min(), pos.max()
        values["min_dose"], values["max_dose"] = lo, hi
        return cls(**values)

    def take(self, idx: Sequence[int] | np.ndarray) -> FitBatch:
        """Return the curves ``idx``, in that order."""
        rows = np.asarray(idx, dtype=np.intp)
        return FitBatch(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def merge(cls, parts: Sequence[tuple[Sequence[int], FitBatch]], n: int) -> FitBatch:
        """Put the curves of several batches in place: ``(positions, batch)`` pairs.

        The positions of all parts together are ``0 .. n-1``. Each column's dtype is what
        numpy makes of the parts' (integers with NaN become floats, as in a table).
        """
        given = [(list(pos), b) for pos, b in parts if len(pos)]
        if not given:  # no curve at all
            return parts[0][1] if parts else cls.unfitted([], "", [])
        if len(given) == 1 and given[0][0] == list(range(n)):
            return given[0][1]
        order = np.argsort(np.concatenate([np.asarray(pos, np.intp) for pos, _ in given]))
        return cls(**{f.name: np.concatenate([getattr(b, f.name) for _, b in given])[order]
                      for f in fields(cls)})  # fmt: skip

    def curve(self, i: int) -> CurveFit:
        """Return curve ``i`` as a `CurveFit` (plain Python numbers)."""
        values: dict[str, Any] = {}
        for f in fields(CurveFit):
            if f.name in ("params", "se"):
                continue
            v = getattr(self, f.name)[i]
            # CurveFit's annotations are strings (postponed evaluation): its scalar types
            if f.type == "int":
                values[f.name] = int(v) if np.isfinite(v) else 0
            else:
                values[f.name] = {"float": float, "str": str, "bool": bool}[str(f.type)](v)
        se = {name: float(self.se[i, j]) for j, name in enumerate(PARAMS)}
        return CurveFit(params=np.asarray(self.params[i]), se=se, **values)


@dataclass
class CurveFit:
    """The fit of one dose-response curve (`fit.fit_curve`; `FitBatch.curve`).

    Each attribute named in `COLUMNS` is that ``fits.csv`` column's value: ``ic50_rel`` (the
    censoring-aware reported value), ``ic50_fit`` (the raw estimate), ``ic50_censored``
    (``""``, ``">"`` or ``"<"``), ``status`` (``ok``, ``no_effect``, ``not_converged``,
    ``bad_input``, ``constant``, ``small_effect``, ``shallow``) and ``note`` (why, in
    words). ``params`` holds the full 5-vector ``(hill, bottom, top, log e, log s)`` for
    `predict`, ``se`` their standard errors by name (`models.PARAMS`). ``df`` is 0 for a curve
    that was not fitted.
    """

    model: str
    params: np.ndarray
    hill: float
    bottom: float
    top: float
    asymmetry: float
    ic50_rel: float
    ic50_fit: float
    ic50_abs: float
    ic50_ci_low: float
    ic50_ci_high: float
    ic50_censored: str
    ic50_abs_censored: str
    ic50_se: float
    ic50_se_log10: float
    emax: float
    auc: float
    r2: float
    rss: float
    df: int
    sigma: float
    n_points: int
    p_flat: float
    loglik: float
    aic: float
    bic: float
    lack_of_fit_p: float
    non_monotone: bool
    converged: bool
    status: str
    note: str
    min_dose: float
    max_dose: float
    model_note: str
    hill_se: float
    top_se: float
    bottom_se: float
    se: dict[str, float] = field(default_factory=dict)

    @property
    def ic50_ci(self) -> tuple[float, float]:
        """The relative IC50's confidence interval (low, high)."""
        return self.ic50_ci_low, self.ic50_ci_high

    @property
    def dose_range(self) -> tuple[float, float]:
        """The lowest and highest tested dose above 0."""
        return self.min_dose, self.max_dose

    def predict(self, conc: np.ndarray | float) -> np.ndarray:
        """Fitted response at ``conc`` (M or whatever unit was fitted)."""
        return evaluate(self.params, np.atleast_1d(np.asarray(conc, float)))

    def ed(self, percent: float) -> float:
        """Effective dose ``ED_p`` relative to the fitted span (drc ``ED(type="relative")``)."""
        level = self.top - (self.top - self.bottom) * percent / 100.0
        return float(dose_at_response(self.params, level))


@dataclass
class CurveTableFit:
    """A fitted table (`fit.fit_curve_table`): ``fits.csv`` and what the fold step needs."""

    #: the ``fits.csv`` table, one row per curve (fold columns still empty)
    fits: pd.DataFrame
    #: the curves' data, in the order of the rows
    curves: list[Curve]
    #: (n, 5) each curve's parameters under ``fold_model`` (NaN where it was not fitted)
    params: np.ndarray
    #: the model of ``params`` (the 4PL under ``model="auto"``: a pair's joint fit needs one)
    fold_model: str
    #: ``level``, ``fixed_bottom``, ``fixed_top`` of the fits, for `fold.fold_test`
    fold_options: dict[str, float] = field(default_factory=dict)


def fits_table(
    curves: Sequence[Curve], batch: FitBatch, ci_method: str, flat: FlatCurves | None = None
) -> pd.DataFrame:
    """Build the ``fits.csv`` table (`COLUMNS`) of curves and their fits, a column at a time.

    Parameters
    ----------
    curves : sequence of `_table.Curve`
    batch : FitBatch
        The curves' fits, in the same order (`FitBatch.merge` of the fitted and unfitted).
    ci_method : str
    flat : FlatCurves, optional
        The curves' doses and responses as flat arrays (`_table.split_curves_flat`): the
        doses are not concatenated again.

    Returns
    -------
    DataFrame
        The curve's own problems (`_table.Curve.problems`) lead its ``note``; the fold
        columns are empty.
    """
    import pandas as pd

    n = len(curves)
    notes = ["; ".join([*c.problems, r] if r else c.problems)
             for c, r in zip(curves, batch.note.tolist(), strict=True)]  # fmt: skip
    batch = replace(batch, note=np.array(notes, dtype=object).reshape(n))
    if flat is not None:
        dose_cid, dose_all = np.repeat(np.arange(n), flat.lens), flat.x
    else:
        dose_cid = np.repeat(np.arange(n), [c.conc.size for c in curves])
        dose_all = np.concatenate([c.conc for c in curves]) if n else np.empty(0)
    finite = np.isfinite(dose_all)
    other: dict[str, Any] = {
        "cell_line": [c.key.get("cell_line", "") for c in curves],
        "drug": [c.key.get("drug", "") for c in curves],
        "drug_b": [c.key.get("drug_b", "") for c in curves],
        "concentration_b": [c.key.get("concentration_b", np.nan) for c in curves],
        "parental": [c.parental for c in curves],
        "ci_method": [ci_method] * n,
        "n_doses": distinct_per_curve(dose_cid[finite], dose_all[finite], n),
    }
    cols: dict[str, Any] = {}
    for c in COLUMNS:
        if c.field is not None:
            v = getattr(batch, c.field)
            # no curve: pandas makes float columns of empty lists (bool ones stay bool), the
            # dtypes a table of no curves always had
            cols[c.name] = v if n or v.dtype == bool else []
        elif c.name in other:
            cols[c.name] = other[c.name]
        else:  # a fold column, empty until the fold step
            cols[c.name] = np.full(n, c.empty) if isinstance(c.empty, float) else [c.empty] * n
    return pd.DataFrame(cols, columns=[c.name for c in COLUMNS])
