"""What the dose–response panel holds about one opened batch run (no Qt here).

The panel (`napari_il6assay._qt.doseresponse_widget`) composes one `DoseResponseSession`,
as napari-animation's widget composes its ``Animation``: the session keeps the run's tables
as loaded, the wells the user excluded (with reasons, `ExclusionSession`), the hand
corrections measured on top of them, and the current tables after the last refit. The widget
only draws them and runs the slow steps (`DoseResponseSession.measure` and the refit) in
worker threads; a script or a test runs the same steps directly::

    session = DoseResponseSession.open("results/")
    session.exclude("", "B03", "bubble")
    tables = session.refit()  # the batch's own stages, with the run's options

A refit runs `napari_il6assay.batch.stages.refit_tables` on `refit_input` with
`refit_options` (the run's model, ``--include-flagged`` and plate format from ``run.json``),
so a refit without a change gives the tables the batch wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from napari_il6assay.io.plate import well_key
from napari_il6assay.session.exclusions import ExclusionSession
from napari_il6assay.session.results import Results, load_results, mark_excluded

if TYPE_CHECKING:
    import numpy as np

    from napari_il6assay.batch.corrections import Correction
    from napari_il6assay.errors import InputError

#: image id -> (SegmentationResult, Correction) of the wells measured from corrected labels
Corrected = dict[str, tuple[Any, "Correction"]]


class DoseResponseSession:
    """The state of the dose–response panel: tables, exclusions, corrections, refit.

    Parameters
    ----------
    results : Results, optional
        The run to start with (`load`); None: nothing loaded yet.

    Attributes
    ----------
    results : Results or None
        The opened run.
    tables : dict of str -> DataFrame
        The current tables (the run's, with corrections applied and the last refit's
        ``wells``, ``conditions``, ``fits``...).
    exclusions : ExclusionSession
        The excluded wells with reasons (saved in the results folder).
    excluded : set of str
        `well_key` of the wells left out of the fits.
    corrected : dict
        Image id -> (`SegmentationResult`, `Correction`) of every measured correction.
    """

    def __init__(self, results: Results | None = None) -> None:
        self.results: Results | None = None
        self.tables: dict[str, pd.DataFrame] = {}
        self.exclusions = ExclusionSession()
        self.excluded: set[str] = set()
        self.corrected: Corrected = {}
        self._wells_run: pd.DataFrame | None = None  # wells.csv with the corrections applied
        # the run's tables as loaded: corrections are applied to these, never twice
        self._wells_base: pd.DataFrame | None = None
        self._images_base: pd.DataFrame | None = None
        self._objects_base: pd.DataFrame | None = None
        if results is not None:
            self.load(results)

    @classmethod
    def open(
        cls, out: str | Path | None, tables: dict[str, Any] | None = None
    ) -> DoseResponseSession:
        """Open the session of a batch output folder, or of tables handed over in memory.

        Parameters
        ----------
        out : str or Path or None
            The output folder (``wells.csv``, ``run.json``...); None with ``tables`` only.
        tables : dict, optional
            The run's tables (e.g. `run_batch`'s result; values without columns are
            skipped); read from ``out`` when None.

        Returns
        -------
        DoseResponseSession

        Raises
        ------
        InputError
            ``out`` is not a batch output folder, or its ``exclusions.csv`` cannot be read.
        """
        if tables is None:
            if out is None:
                raise ValueError("give a results folder or tables")
            return cls(load_results(out))
        res = Results(
            out=Path(out) if out else None,
            tables={k: v for k, v in tables.items() if hasattr(v, "columns")},
        )
        if out is not None and (Path(out) / "run.json").is_file():
            res.run_info = json.loads((Path(out) / "run.json").read_text(encoding="utf-8"))
        return cls(res)

    def load(self, results: Results) -> None:
        """Start over with a run: its tables, and the exclusions saved in its folder.

        Raises
        ------
        InputError, LayoutError
            A saved ``exclusions.csv`` that cannot be read (naming the file and row).
        """
        self.results = results
        self.tables = dict(results.tables)
        self._wells_run = self.tables.get("wells")
        self._wells_base = self._wells_run
        self._images_base = self.tables.get("images")
        self._objects_base = self.tables.get("objects")
        self.corrected = {}
        # the folder's saved exclusions (GUI or batch --exclude) come back with it
        self.exclusions = ExclusionSession.open(results.out, results.folder)
        self.excluded = (
            self.exclusions.keys(self._wells_run) if self._wells_run is not None else set()
        )

    # -- reading --------------------------------------------------------------------------------
    @property
    def out(self) -> Path | None:
        """The results folder (None for tables without one, or nothing loaded)."""
        return self.results.out if self.results is not None else None

    @property
    def wells(self) -> pd.DataFrame | None:
        """``wells.csv`` as the run wrote it, with the corrections applied (before a refit)."""
        return self._wells_run

    def drugs(self) -> list[str]:
        """Return the drugs of the run's wells, sorted (the panel's drug choice)."""
        w = self._wells_run
        if w is None or "drug" not in w.columns:
            return []
        return sorted({str(d) for d in w["drug"].dropna() if str(d).strip()})

    def is_excluded(self, plate: str, well: str) -> bool:
        """Whether the well is left out of the fits."""
        return well_key(plate, well) in self.excluded

    # -- exclusions -----------------------------------------------------------------------------
    def exclude(self, plate: str, well: str, reason: str) -> None:
        """Leave a well out, with a reason (not saved yet: `save_exclusions`).

        Raises
        ------
        LayoutError
            No reason, or not a well id.
        """
        self.exclusions.exclude(plate, well, reason)
        self._update_excluded()

    def include(self, plate: str, well: str) -> None:
        """Include a well again (not saved yet: `save_exclusions`)."""
        self.exclusions.include(plate, well)
        self._update_excluded()

    def set_excluded(self, keys: set[str]) -> None:
        """Leave exactly these wells (`well_key` form) out, without reasons (never saved)."""
        self.excluded = set(keys)

    def save_exclusions(self) -> Path | None:
        """Write ``exclusions.csv`` into the results folder (None without one).

        Raises
        ------
        InputError
            The results folder is gone, or it is the run's input folder.
        """
        return self.exclusions.save()

    def _update_excluded(self) -> None:
        if self._wells_run is not None:
            self.excluded = self.exclusions.keys(self._wells_run)

    # -- refit ----------------------------------------------------------------------------------
    def refit_input(self) -> pd.DataFrame | None:
        """Return the wells the refit starts from: excluded ones as ``role = exclude``.

        Returns
        -------
        DataFrame or None
            `mark_excluded` of the run's wells, with ``exclusion_reason`` when exclusions were
            recorded (None when nothing is loaded).
        """
        if self._wells_run is None:
            return None
        wells = mark_excluded(self._wells_run, self.excluded)
        if len(self.exclusions.table) or "exclusion_reason" in wells.columns:
            reasons = self.exclusions.reasons(self._wells_run)
            plate = wells["plate"] if "plate" in wells.columns else [""] * len(wells)
            keys = [well_key(p, w) for p, w in zip(plate, wells["well"], strict=True)]
            wells["exclusion_reason"] = [
                reasons.get(k, "") if k in self.excluded else "" for k in keys
            ]
        return wells

    def refit_options(self) -> dict[str, Any]:
        """Return the keywords of `napari_il6assay.batch.stages.refit_tables` the run chose.

        Returns
        -------
        dict
            ``model``, ``include_flagged`` and ``plate_format`` from ``run.json``
            ``parameters`` (`Results.table_options`); empty when nothing is loaded.
        """
        return self.results.table_options() if self.results is not None else {}

    def apply_refit(self, tables: dict[str, pd.DataFrame]) -> None:
        """Take the tables of a refit (``wells``, ``conditions``, ``fits``...) as current.

        A table the refit left empty without columns (a combination or plate table that is
        not made now) is dropped, as the batch would not write it.
        """
        for name, table in tables.items():
            if len(table.columns):
                self.tables[name] = table
            else:
                self.tables.pop(name, None)

    def refit(self) -> dict[str, pd.DataFrame]:
        """Run the batch's curve and plate stages again with the exclusions and corrections.

        The widget runs `refit_input` -> `batch.stages.refit_tables` (with `refit_options`)
        in a worker and `apply_refit` on the main thread; this runs the three in turn.

        Returns
        -------
        dict of str -> DataFrame
            The refitted tables (also merged into `tables`); empty when nothing is loaded.
        """
        from napari_il6assay.batch.stages import refit_tables

        wells = self.refit_input()
        if wells is None:
            return {}
        tables = refit_tables(wells, **self.refit_options())
        self.apply_refit(tables)
        return tables

    # -- corrections ----------------------------------------------------------------------------
    def new_correction(self, plate: str, well: str, labels: np.ndarray) -> Correction | None:
        """Make a correction of a well from labels just drawn (not saved yet).

        Returns
        -------
        Correction or None
            None when the results have no folder or the run recorded no image of the well.
        """
        import numpy as np

        from napari_il6assay.batch.corrections import Correction, correction_path
        from napari_il6assay.io.exclusions import now_iso

        if self.results is None or self.results.out is None:
            return None
        info = self.results.well_image(well, plate)
        if info is None:
            return None
        return Correction(plate=info.plate, well=well,
                          path=correction_path(self.results.out, info.plate, well),
                          labels=np.array(labels, copy=True), time=now_iso(), site=info.site,
                          image=info.image, mode=self.results.mode or "")  # fmt: skip

    def measure(self, corrections: list[Correction]) -> tuple[Corrected, list[InputError]]:
        """Measure wells again from corrected labels (slow: the widget's worker runs this).

        `Results.measure_corrections` on the run's images as loaded (before corrections).

        Returns
        -------
        tuple
            ``(corrected, problems)`` as `Results.measure_corrections` returns them; empty
            when nothing is loaded.
        """
        if self.results is None:
            return {}, []
        return self.results.measure_corrections(corrections, self._images_base)

    def save_corrections(self, corrected: Corrected) -> tuple[Corrected, list[str]]:
        """Write the labels of corrections just drawn into ``corrections/`` of the folder.

        Corrections read from their files are kept as they are.

        Returns
        -------
        saved : dict
            The corrections now in the folder (image id -> (result, saved `Correction`)).
        errors : list of str
            One message per correction that could not be written (its well is left out of
            ``saved``).
        """
        from napari_il6assay.batch.corrections import write_correction
        from napari_il6assay.errors import Il6AssayError

        saved: Corrected = {}
        errors: list[str] = []
        out = self.out
        for pid, (res, corr) in corrected.items():
            if not corr.saved:  # drawn now: save it (restored ones are their files)
                if out is None:
                    errors.append(f"Correction of well {corr.well} not saved: no results folder")
                    continue
                try:
                    corr = write_correction(
                        out, corr.plate, corr.well, res.labels, site=corr.site,
                        image=corr.image, mode=corr.mode, time=corr.time,
                        input_folder=self.results.folder if self.results else None,
                    )  # fmt: skip
                except (Il6AssayError, OSError) as exc:
                    errors.append(f"Correction of well {corr.well} not saved: {exc}")
                    continue
            saved[pid] = (res, corr)
        return saved, errors

    def apply_corrections(self, new: Corrected) -> None:
        """Apply every measured correction to the run's tables (from the loaded base).

        ``images``, ``wells`` (the run's, before a refit) and ``objects`` change; `refit`
        then fits the corrected readouts.
        """
        from napari_il6assay.batch.corrections import (
            correct_images,
            replace_objects,
            update_wells,
        )

        if self._images_base is None or self._wells_base is None:
            return
        self.corrected.update(new)
        images = correct_images(self._images_base, self.corrected, self.out)
        keys = {(c.plate, c.well) for _r, c in self.corrected.values()}
        self._wells_run = update_wells(self._wells_base, images, keys)
        self.tables["images"] = images
        self.tables["wells"] = self._wells_run
        objects = replace_objects(self._objects_base, images, self.corrected)
        if objects is not None:
            self.tables["objects"] = objects
