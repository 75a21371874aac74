"""Dose–response panel: curves and combination figures of a batch run, linked to the images.

Curves: parental vs resistant, points ± SD, IC50 with CI, fold resistance. Combination tab:
synergy heatmap, potentiation.

Figures come from `napari_il6assay.doseresponse.figures` (drawn into this dock's figure, with
napari's theme colours); refits are the batch's own steps (`batch.stages.refit_tables`, with
the run's options from ``run.json``) run in a worker thread. Clicking a data point opens the
well behind it in the viewer.

Correct and re-measure: the user paints or erases in the shown well's Labels layer with
napari's own tools and clicks "Re-measure". A worker measures the well again from those
labels (`Results.measure_corrections`, the core's `segment.remeasure`); back on the main
thread the labels are saved to ``corrections/<plate>_<well>_labels.tif`` of the results
folder, the layer shows them as measured, the well's rows change
(`batch.corrections.correct_images` / `update_wells`) and the curves are refitted. Opening the
folder again measures its saved corrections the same way before the first refit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QPoint, Qt, Signal
from qtpy.QtGui import QColor, QCursor
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTabWidget,
    QWidget,
)

from napari_il6assay._qt.dock import ViewerDock, column, row
from napari_il6assay._qt.mpl_canvas import MplCanvas, napari_figure_theme
from napari_il6assay._qt.picking import heatmap_wells, parse_well_id, picked_wells
from napari_il6assay._qt.table_model import TableWidget
from napari_il6assay._qt.workers import WorkerSlot
from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.plate import well_key
from napari_il6assay.session.doseresponse import DoseResponseSession

if TYPE_CHECKING:
    import napari
    import pandas as pd

    from napari_il6assay.session.results import Results


class DoseResponseWidget(ViewerDock):
    """Dock widget: dose–response and combination figures of a batch run, linked to wells."""

    #: A well was chosen by clicking a point (plate or "", well).
    wellPicked = Signal(str, str)

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer)
        # the run, its exclusions and corrections, the current tables (no Qt)
        self.session = DoseResponseSession()
        self.selected: tuple[str, str] | None = None  # (plate, well)
        self.label_worker: Any = None
        self.load_button = QPushButton("Load results…")
        self.load_button.setToolTip("Open a batch output folder (wells.csv, fits.csv, ...)")
        self.drug = QComboBox()
        self.drug.setToolTip("Drug whose curves are shown")
        self.export_fig_button = QPushButton("Export figure…")
        self.export_tables_button = QPushButton("Export tables…")
        self.curves = MplCanvas()
        self.combo = MplCanvas()
        self.combo.canvas.setMinimumHeight(420)
        self.wells_table = TableWidget("Wells", default_name="wells.csv")
        self.fits_table = TableWidget("Fits", default_name="fits.csv")
        # combination: which score the heat map shows (the same four as the batch plots)
        self.score = QComboBox()
        self.score.addItems(["bliss", "hsa", "loewe", "zip"])
        self.score.setToolTip("Synergy score of the combination heat map")
        self.plate_tab = self._make_plate_tab()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.combo, "Combination")
        self.tabs.addTab(self.plate_tab, "Plate")
        self.tabs.addTab(self.wells_table, "Wells")
        self.tabs.addTab(self.fits_table, "Fits")
        self.summary = QLabel("Load a batch output folder, or run a batch.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.selection = QLabel("Click a data point to see its well.")
        self.selection.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("reason (e.g. bubble, empty well)")
        self.reason.setToolTip(
            "Why the well is left out; saved with the time in exclusions.csv of the results"
        )
        self.exclude_button = QPushButton("Exclude selected well")
        self.include_button = QPushButton("Include again")
        self.remeasure_button = QPushButton("Re-measure")
        self.remeasure_button.setToolTip(
            "Measure the shown well again from its Labels layer (paint or erase with napari's "
            "label tools first); saved in corrections/ of the results folder, then refitted"
        )
        for b in (self.exclude_button, self.include_button, self.remeasure_button):
            b.setEnabled(False)
        self._refit = WorkerSlot("Refit failed", again=self.refit)
        self._measure_slot = WorkerSlot("Re-measure failed")

        # the exports on their own row at the bottom: five controls in one row cut every
        # button's label at the panel's 500-pixel width (seen on the screenshot)
        top = row(self.load_button, (self.drug, 1), self.score)
        exports = row((self.export_fig_button, 1), (self.export_tables_button, 1))
        # the well's description on its own line: beside four controls it wrapped into a
        # narrow column of eight lines (seen on the screenshot)
        sel = row((self.reason, 1), self.exclude_button, self.include_button,
                  self.remeasure_button)  # fmt: skip
        column(self, top, (self.tabs, 1), self.summary, self.selection, sel, exports)

        self.load_button.clicked.connect(self._on_load)
        self.export_fig_button.clicked.connect(self._on_export_figure)
        self.export_tables_button.clicked.connect(self._on_export_tables)
        self.drug.currentIndexChanged.connect(lambda _i: self.redraw())
        self.score.currentIndexChanged.connect(lambda _i: self.redraw())
        self.exclude_button.clicked.connect(self._on_exclude_clicked)
        self.include_button.clicked.connect(lambda: self.exclude_selected(False))
        self.remeasure_button.clicked.connect(lambda: self.remeasure_selected())
        self.curves.canvas.mpl_connect("pick_event", self._on_pick)
        self.combo.canvas.mpl_connect("pick_event", self._on_pick)
        self.wells_table.view.doubleClicked.connect(self._on_well_row)
        self._marker: Any = None
        # Wide enough for the curves' axis labels and IC50 notes at a 1280-pixel screen.
        self.setMinimumWidth(500)
        self.viewer.events.theme.connect(self._on_theme)
        self._on_theme()

    def _make_plate_tab(self) -> QWidget:
        """Plate map of the run coloured by readout, viability or qc_flag, with plate QC."""
        from napari_il6assay._qt.plate_map import RESULT_COLOR_BY, PlateMap

        tab = QWidget()
        self.plate_map = PlateMap()
        self.plate_color = QComboBox()
        for c in (*RESULT_COLOR_BY, "cell_line", "drug", "concentration", "role"):
            self.plate_color.addItem(c.replace("_", " "), c)
        self.plate_choice = QComboBox()
        self.plate_choice.setToolTip("Plate shown")
        self.plate_qc_label = QLabel("")
        self.plate_qc_label.setWordWrap(True)
        column(tab, row("Colour by", (self.plate_color, 1), (self.plate_choice, 1)),
               (self.plate_map, 1), self.plate_qc_label)  # fmt: skip
        self.plate_color.currentIndexChanged.connect(
            lambda _i: self.plate_map.set_color_by(self.plate_color.currentData())
        )
        self.plate_choice.currentIndexChanged.connect(lambda _i: self._update_plate())
        self.plate_map.wellClicked.connect(
            lambda w: self.select_well(w, self.plate_choice.currentText())
        )
        return tab

    def _update_plate(self) -> None:
        """Show the chosen plate's wells and its plate_qc.csv row."""
        wells = self.tables.get("wells")
        plate = self.plate_choice.currentText()
        if wells is None or not len(wells):
            self.plate_map.set_table(None)
            self.plate_qc_label.setText("")
            return
        w = wells
        if "plate" in w.columns and plate:
            w = w[w["plate"].astype(str) == plate]
        self.plate_map.set_color_by(self.plate_color.currentData())
        self.plate_map.set_table(w)
        self.plate_qc_label.setText(plate_qc_text(self.tables.get("plate_qc"), plate))

    # -- data -----------------------------------------------------------------------------------
    def load_results(self, out: str | Path | None, tables: dict[str, Any] | None = None) -> None:
        """Show a batch run: from its output folder, or from tables handed over in memory."""
        self.session = DoseResponseSession.open(out, tables)
        self.selected = None
        self.drug.blockSignals(True)
        self.drug.clear()
        self.drug.addItems(self.session.drugs())
        self.drug.blockSignals(False)
        self._update_tables()
        self.redraw()
        # the folder's saved corrections are measured again (worker), then refitted
        if not self._restore_corrections() and self.excluded:
            self.refit()

    # -- the session's state, as the tests and the other docks read it -------------------------
    @property
    def results(self) -> Results | None:
        """The opened run."""
        return self.session.results

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The current tables (after corrections and the last refit)."""
        return self.session.tables

    @property
    def excluded(self) -> set[str]:
        """`well_key` of the wells left out of the fits."""
        return self.session.excluded

    @property
    def corrected(self) -> dict[str, tuple[Any, Any]]:
        """Image id -> (result, correction) of the measured corrections."""
        return self.session.corrected

    @property
    def refit_worker(self) -> Any:
        """The running refit's worker (None when idle)."""
        return self._refit.worker

    @property
    def correct_worker(self) -> Any:
        """The running re-measure's worker (None when idle)."""
        return self._measure_slot.worker

    @property
    def busy(self) -> bool:
        """A refit or a re-measure is running."""
        return self._refit.running or self._measure_slot.running

    # -- corrections ----------------------------------------------------------------------------
    def _restore_corrections(self) -> bool:
        """Measure the results folder's saved corrections in a worker; True if it started."""
        from napari.utils.notifications import show_warning

        from napari_il6assay.batch.corrections import find_corrections

        if self.session.out is None:
            return False
        found, problems = find_corrections(self.session.out)
        for p in problems:
            show_warning(f"Correction not used: {p}")
        if not found:
            return False
        return self._measure(found) is not None

    def _measure(self, corrections: list[Any]) -> Any:
        """Measure corrections in a worker; back on the main thread save, show and refit."""
        self.summary.setText("Re-measuring…")
        return self._measure_slot.start(
            self.session.measure, corrections, desc="Re-measuring",
            returned=self._on_measured, finished=self._on_measure_finished,
        )  # fmt: skip

    def remeasure_selected(self) -> Any:
        """Measure the selected well again from its Labels layer, save and refit.

        Returns
        -------
        napari worker or None
            The worker measuring the well (None when nothing can be measured; the user is
            told why).
        """
        from napari.utils.notifications import show_warning

        if self.selected is None or self.results is None:
            return None
        plate, well = self.selected
        if self.results.out is None:
            show_warning("These results have no folder: a correction cannot be saved.")
            return None
        layer = self.labels_layer(plate, well)
        corr = self.session.new_correction(plate, well, layer.data) if layer is not None else None
        if corr is None:
            show_warning(f"Show well {well} and wait for its labels before re-measuring.")
            return None
        if self._measure_slot.running:
            show_warning("A re-measure is running; try again when it is done.")
            return None
        return self._measure([corr])

    def labels_layer(self, plate: str, well: str) -> Any:
        """Return the viewer's Labels layer of a well (None when it is not shown)."""
        from napari_il6assay.io.plate import well_key

        name = f"{well_key(plate, well)} labels"  # as `well_display.show_well` names it
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _on_measured(self, result: tuple[dict[str, Any], list[Any]]) -> None:
        """Save new corrections, show them, update the tables, refit (main thread)."""
        from napari.utils.notifications import show_error, show_warning

        corrected, problems = result
        for p in problems:
            show_warning(f"Correction not used: {p}")
        saved, errors = self.session.save_corrections(corrected)
        for e in errors:
            show_error(e)
        for res, corr in saved.values():
            layer = self.labels_layer(corr.plate, corr.well)
            if layer is not None and layer.data.shape == res.labels.shape:
                layer.data = res.labels  # the labels as measured (regions numbered 1..n)
        if saved:
            self.session.apply_corrections(saved)
            self._update_tables()
            if self.selected is not None:
                self.selection.setText(self._describe(*self.selected))
            self.refit()
        else:
            self.summary.setText(self.fit_summary())

    def _on_measure_finished(self) -> None:
        if not self._refit.running:
            self.summary.setText(self.fit_summary())

    def _update_tables(self) -> None:
        wells = self.tables.get("wells")
        if wells is not None:
            self.wells_table.set_frame(wells)
            plate = wells["plate"] if "plate" in wells.columns else [""] * len(wells)
            corrected = (
                wells["corrected"].fillna(False).astype(bool).to_numpy()
                if "corrected" in wells.columns
                else [False] * len(wells)
            )
            colors = {
                i: QColor(255, 80, 80, 90)
                if well_key(p, w) in self.excluded
                else QColor(80, 140, 255, 80)  # corrected by hand
                for i, (p, w, c) in enumerate(zip(plate, wells["well"], corrected, strict=True))
                if well_key(p, w) in self.excluded or c
            }
            self.wells_table.model.set_row_colors(colors)
        fits = self.tables.get("fits")
        if fits is not None:
            self.fits_table.set_frame(fits)
        if wells is not None and "plate" in wells.columns:
            plates = sorted({str(p) for p in wells["plate"].dropna()})
            current = self.plate_choice.currentText()
            self.plate_choice.blockSignals(True)
            self.plate_choice.clear()
            self.plate_choice.addItems(plates)
            if current in plates:
                self.plate_choice.setCurrentText(current)
            self.plate_choice.blockSignals(False)
            self.plate_choice.setVisible(len(plates) > 1)
        self._update_plate()
        self.summary.setText(self.fit_summary())

    def fit_summary(self) -> str:
        """One line per curve of the shown drug: IC50 [95% CI] and fold resistance."""
        fits = self.tables.get("fits")
        drug = self.drug.currentText()
        if fits is None or not len(fits):
            syn = synergy_lines(self.tables.get("synergy_summary"), drug)
            return "<br>".join(syn) or "No fits."
        f = fits
        if drug and "drug" in f.columns:
            f = f[f["drug"].astype(str) == drug]
        if "drug_b" in f.columns:
            f = f[f["drug_b"].isna() | (f["drug_b"].astype(str).str.strip().isin(["", "nan"]))]
        parts = []
        for _, r in f.iterrows():
            ic50 = r.get("ic50_rel_M")
            # rich text: names and a censored "<1 nM" are escaped, or Qt reads "<" as a tag
            # and drops the rest of the line
            ic50_text = _molar(ic50, r.get("ic50_censored"))
            txt = f"<b>{_e(r.get('cell_line'))}</b>: IC50 {_e(ic50_text)}"
            lo, hi = r.get("ic50_ci_low_M"), r.get("ic50_ci_high_M")
            if _finite(lo) and _finite(hi):
                txt += f" [{_molar(lo)}–{_molar(hi)}]"
            fold = r.get("fold_resistance")
            if _finite(fold):
                txt += f", <b>{fold:.3g}-fold</b> vs {_e(r.get('parental'))}"
                flo, fhi = r.get("fold_ci_low"), r.get("fold_ci_high")
                if _finite(flo) and _finite(fhi):
                    txt += f" [{flo:.3g}–{fhi:.3g}]"
            parts.append(txt)
        parts.extend(synergy_lines(self.tables.get("synergy_summary"), drug))
        return "<br>".join(parts) or "No fits for this drug."

    # -- drawing --------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw the curves and combination figures with the current tables and theme."""
        self.summary.setText(self.fit_summary())
        if not self.tables:
            self.curves.clear("No results loaded")
            self.combo.clear("No results loaded")
            return
        data = self.tables.get("wells")
        if data is None:
            data = self.tables.get("conditions")
        self._draw_curves(data)
        self._draw_combination(data)

    def _draw_curves(self, data: pd.DataFrame | None) -> None:
        """Draw the dose–response curves of the chosen drug, and ring the selected well."""
        from napari_il6assay.doseresponse import figures

        if data is None:
            self.curves.clear("No wells table")
            return
        theme = self.curves.theme.get("type", "light")
        drug = self.drug.currentText() or None
        try:
            figures.dose_response_figure(
                data, self.tables.get("fits"), drug=drug, fig=self.curves.figure, theme=theme
            )
        except Exception as exc:  # noqa: BLE001 - a figure problem must not kill the panel
            self.curves.clear(f"Cannot draw the curves: {type(exc).__name__}: {exc}")
        for ax in self.curves.figure.axes:
            for t in ax.texts:  # IC50 notes: wrap inside a narrow dock instead of clipping
                t.set_wrap(True)
        self._marker = None
        self._mark_selected()
        self.curves.draw()

    def _combination_parts(self, data: pd.DataFrame | None) -> list[Callable[[Any], Any]]:
        """Return the drawing steps of the combination tab: synergy heat map, potentiation."""
        from napari_il6assay.doseresponse import figures

        theme = self.curves.theme.get("type", "light")
        drug = self.drug.currentText() or None
        syn, pot = self.tables.get("synergy"), self.tables.get("potentiation")
        score = self.score.currentText() or "bliss"
        units: dict[str, str] = {}
        if data is not None and "unit_b" in data.columns:
            from napari_il6assay.batch.exports import units_of_b

            units = units_of_b(data)
        parts: list[Callable[[Any], Any]] = []
        if syn is not None and len(syn):
            ub_syn = units.get(str(syn["drug_b"].iloc[0]), "")
            parts.append(lambda f: figures.synergy_heatmap(syn, score, drug=drug, fig=f,
                                                           theme=theme, unit_b=ub_syn))  # fmt: skip
        if pot is not None and len(pot):
            ub_pot = units.get(str(pot["drug_b"].iloc[0]), "")
            parts.append(lambda f: figures.potentiation_figure(pot, fig=f, theme=theme,
                                                               unit_b=ub_pot))  # fmt: skip
        return parts

    def _draw_combination(self, data: pd.DataFrame | None) -> None:
        """Draw the combination figures stacked (the dock is narrow: each gets its width)."""
        import numpy as np

        parts = self._combination_parts(data)
        self.combo.figure.clear()
        if not parts:
            self.combo.clear("No combination in this experiment")
            return
        fig = self.combo.figure
        fig.set_facecolor(self.combo.theme["background"])
        subfigs: list[Any] = [fig]
        if len(parts) > 1:
            subfigs = list(np.ravel(np.asarray(fig.subfigures(len(parts), 1, hspace=0.04))))
        for sub, draw in zip(subfigs, parts, strict=True):
            try:
                draw(sub)
            except Exception as exc:  # noqa: BLE001 - one figure's problem is shown in it
                sub.text(0.5, 0.5, f"Cannot draw: {exc}", ha="center", va="center", wrap=True,
                         color=self.combo.theme["foreground"])  # fmt: skip
        self.combo.draw()

    def _on_theme(self, event: Any = None) -> None:
        theme = napari_figure_theme(self.viewer.theme)
        self.curves.set_theme(theme)
        self.combo.set_theme(theme)
        self.redraw()

    # -- picking and showing wells --------------------------------------------------------------
    def _on_pick(self, event: Any) -> None:
        hits = picked_wells(event) or heatmap_wells(
            event, self.tables.get("wells"), self.tables.get("synergy")
        )
        if not hits:
            return
        plate, well = hits[0]
        self.select_well(well, plate)
        button = getattr(getattr(event, "mouseevent", None), "button", None)
        if button is not None and int(button) == 3:
            self._context_menu()

    def _mark_selected(self) -> None:
        """Ring the data point of the selected well in the curves figure."""
        if self._marker is not None:
            try:
                self._marker.remove()
            except ValueError:
                pass
            self._marker = None
        if self.selected is None:
            return
        plate, well = self.selected
        fig = self.curves.figure
        for artist, ids in getattr(fig, "il6assay_wells", {}).items():
            for k, entry in enumerate(ids):
                entry = [entry] if isinstance(entry, str) else entry
                if any(isinstance(e, str) and parse_well_id(e) == (plate, well) for e in entry):
                    x, y = artist.get_offsets()[k]
                    self._marker = artist.axes.scatter(
                        [x],
                        [y],
                        s=170,
                        facecolors="none",
                        linewidths=2,
                        zorder=5,
                        edgecolors="#ffb000",
                    )  # amber: visible on both themes
                    return

    def _context_menu(self) -> None:
        if self.selected is None:
            return
        key = well_key(*self.selected)
        menu = QMenu(self)
        if key in self.excluded:
            menu.addAction(f"Include well {key} again", lambda: self.exclude_selected(False))
        else:
            menu.addAction(f"Exclude well {key} and refit", self._on_exclude_clicked)
        plate, well = self.selected
        menu.addAction(f"Show well {key}", lambda: self.show_well(well, plate))
        menu.popup(QCursor.pos() if QCursor.pos() != QPoint() else self.mapToGlobal(QPoint()))

    def select_well(self, well: str, plate: str | None = None) -> Any:
        """Select a well: describe it, enable exclusion, and show its image in the viewer."""
        plate = "" if plate is None or is_blank(plate) else str(plate)
        self.selected = (plate, well)
        key = well_key(plate, well)
        self.exclude_button.setEnabled(key not in self.excluded)
        self.include_button.setEnabled(key in self.excluded)
        self.remeasure_button.setEnabled(self.results is not None and self.results.out is not None)
        self.selection.setText(self._describe(plate, well))
        self._mark_selected()
        self.curves.draw()
        self.wellPicked.emit(plate, well)
        return self.show_well(well, plate)

    def _describe(self, plate: str, well: str) -> str:
        w = self.tables.get("wells")
        if w is None:
            return well
        m = w["well"].astype(str) == well
        if plate and "plate" in w.columns:
            m &= w["plate"].astype(str) == plate
        if not m.any():
            return well
        r = w[m].iloc[0]
        bits = [f"<b>{_e(well)}</b>", _e(r.get("cell_line", ""))]
        if not is_blank(r.get("drug")):
            bits.append(_e(f"{r.get('drug')} {_molar(r.get('concentration_M'))}"))
        if _finite(r.get("viability")):
            bits.append(f"viability {float(r['viability']):.3f}")
        if not is_blank(r.get("qc_flag")):
            bits.append(f"QC: {_e(r['qc_flag'])}")
        if str(r.get("corrected", "")).lower() == "true":
            auto = r.get("qc_flag_auto")
            note = "" if is_blank(auto) else f" (automatic QC: {_e(auto)})"
            bits.append(f"<b>corrected</b> {_e(r.get('readout_name', 'readout'))} "
                        f"{float(r['readout']):.4g}{note}")  # fmt: skip
        return " · ".join(bits)

    def show_well(self, well: str, plate: str | None = None) -> Any:
        """Show a well's image and labels, hide the other layers, select the image layer.

        The image and labels are opened from the run's folders if needed. Returns the image
        layer.
        """
        from napari_il6assay._qt.well_display import show_well

        if self.results is None:
            return None
        image, worker = show_well(self.viewer, self.results, well, plate)
        if worker is not None:
            self.label_worker = worker
            worker.finished.connect(lambda: setattr(self, "label_worker", None))
        return image

    def _on_well_row(self, index: Any) -> None:
        frame = self.wells_table.model.frame
        r = frame.iloc[index.row()]
        plate = r.get("plate") if "plate" in frame.columns else ""
        self.select_well(str(r["well"]), "" if is_blank(plate) else str(plate))

    # -- exclusion and refit --------------------------------------------------------------------
    def exclude_selected(self, exclude: bool = True, reason: str | None = None) -> Any:
        """Exclude (or include again) the selected well, save the exclusions, and refit.

        Parameters
        ----------
        exclude : bool
            False includes the well again.
        reason : str, optional
            Why the well is left out (default: the text of the reason field). Required to
            exclude: without one nothing changes and the user is told.

        Returns
        -------
        napari worker or None
            The refit worker (None when nothing changed).
        """
        from napari.utils.notifications import show_error, show_warning

        from napari_il6assay.errors import Il6AssayError

        if self.selected is None or self.session.wells is None:
            return None
        plate, well = self.selected
        if exclude:
            reason = (reason if reason is not None else self.reason.text()).strip()
            if not reason:
                show_warning(f"Give a reason to exclude well {well}.")
                self.reason.setFocus()
                return None
            self.session.exclude(plate, well, reason)
        else:
            self.session.include(plate, well)
        try:
            self.session.save_exclusions()
        except (Il6AssayError, OSError) as exc:  # keep the refit; say the file was not written
            show_error(f"Exclusions not saved: {exc}")
        if exclude:
            self.reason.clear()
        self.exclude_button.setEnabled(not exclude)
        self.include_button.setEnabled(exclude)
        return self.refit()

    def _on_exclude_clicked(self) -> None:
        """Button / menu: ask for the reason when the reason field is empty."""
        reason = self.reason.text().strip()
        if not reason and self.selected is not None:
            text, ok = QInputDialog.getText(
                self, "Exclude well", f"Why is well {self.selected[1]} left out?"
            )
            if not ok or not text.strip():
                return
            reason = text.strip()
        self.exclude_selected(True, reason=reason)

    def set_excluded(self, keys: set[str]) -> Any:
        """Exclude exactly these wells (`well_key` form) in this view and refit.

        Not saved: use `exclude_selected` to record a reason.
        """
        self.session.set_excluded(keys)
        return self.refit()

    def save_exclusions(self) -> Path | None:
        """Write the exclusions (with reasons and times) to the results folder now."""
        return self.session.save_exclusions()

    def refit(self) -> Any:
        """Recompute normalization and fits with the current exclusions in a worker thread.

        The batch's stages (`batch.stages.refit_tables`) with the run's options
        (`DoseResponseSession.refit_options`: model, ``--include-flagged``, plate format).
        """
        from napari_il6assay.batch.stages import refit_tables

        if self._refit.running:
            return self._refit.request_again()
        wells = self.session.refit_input()
        if wells is None:
            return None
        self.summary.setText("Refitting…")
        return self._refit.start(refit_tables, wells, **self.session.refit_options(),
                                 desc="Refitting", returned=self._on_refit)  # fmt: skip

    def _on_refit(self, tables: dict[str, Any]) -> None:
        self.session.apply_refit(tables)
        self._update_tables()
        self.redraw()

    # -- export ---------------------------------------------------------------------------------
    def export_figure(self, path: str | Path, which: str = "curves") -> Path:
        """Save the curves (or ``"combination"``) figure; PNG, SVG or PDF from the suffix."""
        canvas = self.curves if which == "curves" else self.combo
        canvas.save(path)
        return Path(path)

    def export_tables(self, folder: str | Path) -> list[Path]:
        """Write the current tables (with exclusions applied) as CSV into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, t in self.tables.items():
            if t is None or not hasattr(t, "to_csv"):
                continue
            p = folder / f"{name}.csv"
            t.to_csv(p, index=False)
            written.append(p)
        return written

    def _on_load(self) -> None:
        from napari.utils.notifications import show_error

        from napari_il6assay.errors import Il6AssayError

        path = QFileDialog.getExistingDirectory(self, "Open a batch output folder")
        if path:
            try:
                self.load_results(path)
            except Il6AssayError as exc:
                show_error(str(exc))

    def _on_export_figure(self) -> None:
        which = "combination" if self.tabs.currentWidget() is self.combo else "curves"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export figure", f"{which}.png", "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)"
        )
        if path:
            self.export_figure(path, which)

    def _on_export_tables(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export the tables to a folder")
        if path:
            self.export_tables(path)


def synergy_lines(summary: Any, drug: str | None = None) -> list[str]:
    """Rich-text lines of ``synergy_summary.csv``: each block's score mean [95% CI], p, MSA."""
    if summary is None or not len(summary):
        return []
    s = summary
    if drug and "drug" in s.columns:
        s = s[s["drug"].astype(str) == drug]
    lines = []
    for (cl, a, b), g in s.groupby(["cell_line", "drug", "drug_b"], sort=True):
        bits = []
        for _, r in g.iterrows():
            if not _finite(r.get("mean")):
                bits.append(f"{r['score']} n/a")
            elif _finite(r.get("ci_low")):
                p = float(r["p_value"])
                ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.2g}"
                bits.append(f"{r['score']} {r['mean']:.2g} [{r['ci_low']:.2g}, "
                            f"{r['ci_high']:.2g}], {ptxt}")  # fmt: skip
            else:
                bits.append(f"{r['score']} {r['mean']:.2g}")
        # "p < 0.001" in rich text: escaped, or Qt reads a tag and drops the rest of the line
        lines.append(f"<b>{_e(cl)}</b> {_e(f'{a} + {b}')}: {_e('; '.join(bits))}")
    return lines


def plate_qc_text(qc: Any, plate: str = "") -> str:
    """One line of ``plate_qc.csv`` for a plate: Z', SSMD, vehicle CV, edge ratio, flags."""
    if qc is None or not len(qc):
        return ""
    q = qc
    if plate and "plate" in q.columns:
        q = q[q["plate"].astype(str) == plate]
    if not len(q):
        return ""
    r = q.iloc[0]

    def f(v: Any, fmt: str = ".2f") -> str:
        return format(float(v), fmt) if _finite(v) else "n/a"

    text = (f"Z' {f(r.get('z_prime'))} · SSMD {f(r.get('ssmd'), '.3g')} · vehicle CV "
            f"{f(r.get('vehicle_cv_pct'), '.3g')}% · edge/interior {f(r.get('edge_ratio'))} "
            f"(p {f(r.get('edge_p_value'), '.2g')})")  # fmt: skip
    flag = r.get("flag")
    if not is_blank(flag):
        text += f" · <b style='color:#d04040'>{_e(flag)}</b>"
    return text


def _e(v: Any) -> str:
    """Return ``v`` as text for a rich-text label ("" when blank; ``<``, ``&`` escaped)."""
    import html

    return html.escape("" if is_blank(v) else str(v))


def _finite(v: Any) -> bool:
    try:
        import math

        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _molar(v: Any, censored: Any = None) -> str:
    """`format_molar` with an IC50's censoring sign (``>``, ``<``) in front; n/a if missing."""
    from napari_il6assay.io.units import format_molar

    prefix = str(censored) if str(censored) in (">", "<") and _finite(v) else ""
    return prefix + format_molar(v, missing="n/a")
