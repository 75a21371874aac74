"""The curve stages of a plate: normalise -> summarise -> fit -> combinations.

One runner, `curve_tables`, for both users: the batch (`napari_il6assay.batch.tables`), which
runs it on the wells it has just measured, and the dose-response panel, which runs it again
through `refit_tables` after a well was excluded or corrected. So a refit without changes
gives the batch's own tables.

A stage that fails (a fit that raises, a combination block that cannot be scored) is recorded
as a `StageError` row of ``errors.csv`` instead of losing the plate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from napari_il6assay.batch.wells import (
    CONDITION_COLUMNS,
    by_passage,
    has_combinations,
    order_wells,
    sort_wells,
)
from napari_il6assay.errors import Il6AssayError

T = TypeVar("T")

#: what a table stage may raise for bad data (anything else is a bug and propagates)
STAGE_ERRORS: tuple[type[BaseException], ...] = (
    Il6AssayError,
    ValueError,
    KeyError,
    np.linalg.LinAlgError,
)


@dataclass
class StageError:
    """A table stage that failed: one row of ``errors.csv``.

    Parameters
    ----------
    stage : str
        ``fit``, ``synergy``, ``sphere_sizes``, ``plate_qc`` or ``cross_resistance``.
    error : str
        ``<ExceptionType>: <message>``.
    path : str
        The table the stage reads (``wells.csv``).
    """

    stage: str
    error: str
    path: str = "wells.csv"

    def row(self) -> dict[str, str]:
        """Return the ``errors.csv`` row: ``path, stage, error``."""
        return {"path": self.path, "stage": self.stage, "error": self.error}


def run_stage(
    problems: list[StageError], stage: str, fn: Callable[..., T], *args: Any, **kw: Any
) -> T | None:
    """Run one table stage; on a data error append a `StageError` and return None.

    Parameters
    ----------
    problems : list of StageError
        Collects the failures.
    stage : str
        The stage's name in ``errors.csv``.
    fn : callable
        The stage, called as ``fn(*args, **kw)``.
    *args, **kw
        Its arguments.

    Returns
    -------
    object or None
        What ``fn`` returned, or None when it failed.
    """
    try:
        return fn(*args, **kw)
    except STAGE_ERRORS as exc:
        problems.append(StageError(stage=stage, error=f"{type(exc).__name__}: {exc}"))
        return None


@dataclass
class TableSet:
    """Base of the dataclasses whose DataFrame fields are tables of a run, named by file stem."""

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return the tables that were made, by file stem (``wells`` -> ``wells.csv``)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, pd.DataFrame):
                out[f.name] = v
        return out


@dataclass
class CurveTables(TableSet):
    """What the curve stages make of a plate's wells.

    Parameters
    ----------
    wells : DataFrame
        ``wells.csv``: normalised (``viability``), in interface column order, sorted.
    conditions : DataFrame
        ``conditions.csv``.
    fits : DataFrame
        ``fits.csv`` (header only when the fit stage failed or there are no wells).
    synergy, synergy_summary, potentiation : DataFrame or None
        The combination tables; None when the layout has no combination or the stage failed.
    problems : list of StageError
        The stages that failed.
    """

    wells: pd.DataFrame
    conditions: pd.DataFrame
    fits: pd.DataFrame
    synergy: pd.DataFrame | None = None
    synergy_summary: pd.DataFrame | None = None
    potentiation: pd.DataFrame | None = None
    problems: list[StageError] = field(default_factory=list)


def curve_tables(
    wells: pd.DataFrame, *, model: str = "4pl", include_flagged: Iterable[str] = ()
) -> CurveTables:
    """Normalise, summarise, fit and score combinations (the batch's curve stages).

    Parameters
    ----------
    wells : DataFrame
        Wells joined with the layout, with ``readout`` and ``role`` (``wells.csv`` of a run
        works as well: its ``viability`` is computed again).
    model : str
        Dose-response model: ``4pl``, ``3pl`` or ``5pl``.
    include_flagged : iterable of str
        Untrusted ``qc_flag`` names whose wells are fitted all the same.

    Returns
    -------
    CurveTables
    """
    from napari_il6assay.doseresponse import normalize as _norm
    from napari_il6assay.doseresponse import spheres as _spheres
    from napari_il6assay.doseresponse.fit import FITS_COLUMNS

    if wells.empty:  # every image failed or none is in the layout: header-only tables
        empty = order_wells(wells.assign(viability=pd.Series(dtype=float)))
        return CurveTables(empty, pd.DataFrame(columns=CONDITION_COLUMNS),
                           pd.DataFrame(columns=FITS_COLUMNS))  # fmt: skip
    flagged = tuple(include_flagged)
    # each passage is scaled to its own vehicle and summarized on its own
    w = by_passage(
        wells, lambda g: _norm.normalize_wells(g, readout="readout", include_flagged=flagged)
    )
    w = sort_wells(order_wells(w))
    conditions = by_passage(w, _norm.summarize_conditions, tag=True)
    w = _spheres.add_efficiency(w)
    conditions = _spheres.summarize_efficiency(w, conditions)
    problems: list[StageError] = []
    fits = run_stage(problems, "fit", fit_table, w, model=model)
    out = CurveTables(w, conditions, pd.DataFrame(columns=FITS_COLUMNS) if fits is None else fits)
    if has_combinations(w):
        combo = run_stage(problems, "synergy", combination_tables, w, model=model)
        if combo is not None:
            out.synergy, out.synergy_summary, out.potentiation = combo
    out.problems = problems
    return out


def fit_table(wells: pd.DataFrame, *, model: str = "4pl") -> pd.DataFrame:
    """Fit ``fits.csv``: curves per cell line and drug, with fold resistance vs the parental.

    Parameters
    ----------
    wells : DataFrame
        Normalised wells (``viability``).
    model : str
        Dose-response model.

    Returns
    -------
    DataFrame
        One row per curve (and per passage, with its own parental match).
    """
    from napari_il6assay.doseresponse import fit as _fit
    from napari_il6assay.doseresponse.fold import add_fold_resistance

    return by_passage(
        wells,
        lambda g: add_fold_resistance(_fit.fit_curve_table(g, response="viability", model=model)),
        tag=True,
    )


def combination_tables(
    wells: pd.DataFrame, *, model: str = "4pl"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score the combination block: ``synergy``, ``synergy_summary`` and ``potentiation``.

    Parameters
    ----------
    wells : DataFrame
        Normalised wells with ``drug_b`` and ``concentration_b``.
    model : str
        Dose-response model of the potentiation curves.

    Returns
    -------
    synergy, synergy_summary, potentiation : DataFrame
    """
    from napari_il6assay.doseresponse import synergy as _syn
    from napari_il6assay.doseresponse import synergy_stats as _stats

    # scores with bootstrap CIs over replicate wells (seeded: a rerun gives the same table)
    synergy, summary = _stats.synergy_with_ci(wells, response="viability")
    return synergy, summary, _syn.potentiation(wells, response="viability", model=model)


def refit_tables(
    wells: pd.DataFrame,
    model: str = "4pl",
    *,
    include_flagged: Iterable[str] = (),
    plate_format: int = 96,
) -> dict[str, pd.DataFrame]:
    """Run the curve stages again on a finished run's wells, e.g. after an exclusion.

    The same stages as the batch (`curve_tables`), for the dose-response panel; no Qt.

    Parameters
    ----------
    wells : pandas.DataFrame
        ``wells.csv`` with ``readout`` and (possibly changed) ``role``.
    model : str
        Dose-response model.
    include_flagged : iterable of str
        As the run's ``--include-flagged`` (``run.json`` parameters).
    plate_format : int
        As the run's ``--plate-format`` (the edge test of ``plate_qc``).

    Returns
    -------
    dict
        ``wells``, ``conditions``, ``fits`` (+ ``synergy``, ``synergy_summary``,
        ``potentiation`` for combinations), ``plate_qc`` and ``cross_resistance``. When the
        combination stage fails its tables are empty and ``combination_error`` holds the
        message, so the panel keeps the curves and drops the stale scores; a plate table the
        batch would not write (no cross-resistance, or its stage failed) is empty too.

    Raises
    ------
    FitError
        When the fit stage fails (the panel shows it; its curves would be gone otherwise).
    """
    from napari_il6assay.errors import FitError

    res = curve_tables(wells, model=model, include_flagged=include_flagged)
    for p in res.problems:
        if p.stage == "fit":
            raise FitError(p.error)
    out = res.frames()
    combo = [p for p in res.problems if p.stage == "synergy"]
    if combo:
        for name in ("synergy", "synergy_summary", "potentiation"):
            out[name] = pd.DataFrame()
        out["combination_error"] = pd.DataFrame({"error": [combo[0].error]})
    plate = plate_tables(res.problems, res.wells, res.fits, plate_format=plate_format)
    for name in PLATE_TABLES:
        out[name] = plate.get(name, pd.DataFrame())
    return out


#: the plate-level tables of `plate_tables`
PLATE_TABLES = ("plate_qc", "cross_resistance")


def plate_tables(
    problems: list[StageError], wells: pd.DataFrame, fits: pd.DataFrame, *, plate_format: int = 96
) -> dict[str, pd.DataFrame]:
    """Compute the plate-level tables of normalised wells and their fits, each its own stage.

    Parameters
    ----------
    problems : list of StageError
        Collects the stages that fail.
    wells : DataFrame
        Normalised wells (`curve_tables`).
    fits : DataFrame
        Their ``fits.csv``.
    plate_format : int
        Wells per plate.

    Returns
    -------
    dict of str -> DataFrame
        ``plate_qc`` and ``cross_resistance`` (when a resistant line has >= 2 drugs); a
        table that failed, or any table when there are no wells, is left out.
    """
    out: dict[str, pd.DataFrame] = {}
    if not len(wells):
        return out
    qc = run_stage(problems, "plate_qc", plate_qc_table, wells, plate_format=plate_format)
    if qc is not None:
        out["plate_qc"] = qc
    cross = run_stage(problems, "cross_resistance", cross_resistance_table, fits)
    if cross is not None and len(cross):
        out["cross_resistance"] = cross
    return out


def plate_qc_table(wells: pd.DataFrame, *, plate_format: int = 96) -> pd.DataFrame:
    """Compute ``plate_qc.csv``: Z', SSMD, vehicle CV and the edge test per plate."""
    from napari_il6assay.doseresponse.plate_qc import plate_qc

    return plate_qc(wells, plate_format=plate_format)


def cross_resistance_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Compute ``cross_resistance.csv``: fold resistance per resistant line and drug."""
    from napari_il6assay.doseresponse.cross_resistance import cross_resistance

    return cross_resistance(fits)
