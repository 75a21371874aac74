"""IL-6 standard curve (ELISA) dock: fit the standards, read the samples, export.

Pick a tidy table or a plate reader's grid export (+ layout); see the curve with the samples
on it and the concentrations table.

The science is `napari_il6assay.doseresponse.quantify`; reading is
`napari_il6assay.commands.quantify.load_input` and the export is its `write_outputs`, the same
as ``il6assay quantify``. A fit takes well under a second, so it runs in the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QComboBox, QFileDialog, QFormLayout, QLabel, QPushButton

from napari_il6assay._qt.dock import PathField, ViewerDock, column, row
from napari_il6assay._qt.table_model import TableWidget

if TYPE_CHECKING:
    import napari


class QuantifyWidget(ViewerDock):
    """Dock widget: standard curve and back-interpolated concentrations."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer)
        self.result: Any = None
        filters = "Tables (*.csv *.tsv *.txt *.xlsx);;All files (*)"
        self.table_field = PathField("tidy table or reader export", filters=filters)
        self.layout_field = PathField("layout (for a reader's grid export)", filters=filters)
        self.model_box = QComboBox()
        self.model_box.addItems(["4pl", "5pl"])
        self.weights_box = QComboBox()
        self.weights_box.addItems(["1/y2", "1/y", "none"])
        self.run_button = QPushButton("Fit standard curve")
        self.run_button.clicked.connect(self.run)
        self.export_button = QPushButton("Export all…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._on_export)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        from napari_il6assay._qt.mpl_canvas import MplCanvas

        self.canvas = MplCanvas(self)
        self.concentrations = TableWidget("Samples", default_name="concentrations.csv")
        self.standards = TableWidget("Standards", default_name="standards.csv")
        form = QFormLayout()
        form.addRow("Table", self.table_field)
        form.addRow("Layout", self.layout_field)
        form.addRow("Model", self.model_box)
        form.addRow("Weights", self.weights_box)
        column(self, form, row(self.run_button, self.export_button), self.status,
               (self.canvas, 2), (self.concentrations, 1), (self.standards, 1))  # fmt: skip

    def run(self) -> bool:
        """Read the inputs, fit, show the curve and tables; errors go to the status line."""
        from napari_il6assay.commands.quantify import load_input
        from napari_il6assay.doseresponse.figures import standard_curve_figure
        from napari_il6assay.doseresponse.quantify import quantify
        from napari_il6assay.errors import Il6AssayError

        table = self.table_field.path()
        if table is None:
            self.status.setText("Pick a table first.")
            return False
        try:
            df, where = load_input(table, self.layout_field.path())
            res = quantify(df, model=self.model_box.currentText(),
                           weights=self.weights_box.currentText(), path=where)  # fmt: skip
        except Il6AssayError as exc:
            self.status.setText(f"error: {exc}")
            self.result = None
            self.export_button.setEnabled(False)
            return False
        self.result = res
        c = res.curve
        self.status.setText(
            f"{c.model.upper()} ({c.weights}), R² {c.r2:.4f}; LLOQ {res.lloq:.4g}, ULOQ "
            f"{res.uloq:.4g}, LOD {res.lod:.3g} {res.unit}\n" + "\n".join(res.summary_lines())
        )
        standard_curve_figure(res, fig=self.canvas.figure, theme="light")
        self.canvas.draw()
        self.concentrations.set_frame(res.concentrations)
        self.standards.set_frame(res.standards)
        self.export_button.setEnabled(True)
        return True

    def export(self, folder: str | Path) -> Path:
        """Write every output (as ``il6assay quantify``) into ``folder``."""
        from napari_il6assay.commands.quantify import write_outputs

        inputs = [Path(p) for p in (self.table_field.path(), self.layout_field.path()) if p]
        params = {
            "model": self.model_box.currentText(),
            "weights": self.weights_box.currentText(),
            "source": "napari widget",
        }
        write_outputs(self.result, folder, inputs, params)
        return Path(folder)

    def _on_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder")
        if folder and self.result is not None:
            self.export(folder)
            self.status.setText(self.status.text() + f"\nwritten to {folder}")
