"""Plate layout dock: load, edit, check and save a layout (CSV/TSV/XLSX).

The layout shows as a plate map coloured by cell line, drug or concentration, with validation
problems at the wells they concern.

Parsing and validation are `napari_il6assay.io.layout.read_layout`; this widget shows what it
returns (the table, or `LayoutError.problems` with their locations).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QWidget,
)

from napari_il6assay._qt.dock import ViewerDock, column, row
from napari_il6assay._qt.plate_map import COLOR_BY, PlateMap, well_or_none
from napari_il6assay._qt.table_model import TableWidget
from napari_il6assay.io.layout import INPUT_COLUMNS

if TYPE_CHECKING:
    import napari
    import pandas as pd

# The long-form columns a user edits (INTERFACE.md "Plate layout"), in this order.
EDIT_COLUMNS = tuple(INPUT_COLUMNS)


def read_raw_table(path: str | Path) -> pd.DataFrame:
    """Read the layout file as plain text cells (no validation), to show and fix a broken layout.

    Parameters
    ----------
    path : str or Path
        CSV, TSV or XLSX (first sheet).

    Returns
    -------
    pandas.DataFrame
        One row per data row of the file, in file order.
    """
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    sep = "\t" if suffix == ".tsv" else None
    return pd.read_csv(
        path, sep=sep, engine="python", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )


def editable_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return the user-facing long-form columns of a parsed `Layout.table` (no derived ones)."""
    cols = [c for c in EDIT_COLUMNS if c in table.columns]
    out = table[cols].copy()
    return out


def problems_by_well(
    problems: list[Any], raw: pd.DataFrame | None
) -> tuple[dict[str, list[str]], list[str]]:
    """Group layout problems by the well they concern.

    A problem names its well directly, or a file row (header = row 1) whose ``well`` cell
    names it. Problems without either go to the general list only.

    Parameters
    ----------
    problems : list of InputError
        `LayoutError.problems`.
    raw : pandas.DataFrame or None
        The file's rows (`read_raw_table`), to find the well of a row.

    Returns
    -------
    (dict, list)
        well -> messages, and every problem as one line of text.
    """
    per_well: dict[str, list[str]] = {}
    lines: list[str] = []
    for prob in problems:
        loc = getattr(prob, "location", None)
        reason = getattr(prob, "reason", str(prob))
        well = getattr(loc, "well", None)
        row = getattr(loc, "row", None)
        column = getattr(loc, "column", None)
        if well is None and row is not None and raw is not None and "well" in raw.columns:
            i = int(row) - 2
            if 0 <= i < len(raw):
                well = str(raw["well"].iloc[i]) or None
        where = ", ".join(
            s
            for s in (
                f"row {row}" if row is not None else "",
                f"column '{column}'" if column else "",
                f"well {well}" if well else "",
            )
            if s
        )
        lines.append(f"{where}: {reason}" if where else str(reason))
        canon = well_or_none(well) if well else None
        if canon is not None:
            per_well.setdefault(canon, []).append(reason)
    return per_well, lines


class LayoutWidget(ViewerDock):
    """Dock widget: a plate layout as an editable table and a plate map."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer)
        self.path: Path | None = None
        self.layout: Any = None  # the parsed Layout when valid
        self.problems: list[Any] = []

        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save as…")
        self.validate_button = QPushButton("Check")
        self.validate_button.setToolTip("Validate the edited table")
        self.plate_format = QComboBox()
        for n in (96, 384, 48, 24, 12, 6):
            self.plate_format.addItem(f"{n} wells", n)
        self.color_by = QComboBox()
        for c in COLOR_BY:
            self.color_by.addItem(c.replace("_", " "), c)
        self.plate = PlateMap()
        self.errors = QListWidget()
        self.errors.setMaximumHeight(96)
        self.errors.setWordWrap(True)
        self.table = TableWidget(
            "Double-click a cell to edit; the layout is checked after each edit",
            default_name="layout.csv",
            editable=True,
        )
        self.table.export_button.hide()
        self.status = QLabel("No layout loaded.")
        self.status.setWordWrap(True)

        map_page = QWidget()
        column(map_page, (self.plate, 1), self.errors).setContentsMargins(0, 0, 0, 0)
        self.errors.hide()
        self.tabs = QTabWidget()
        self.tabs.addTab(map_page, "Plate map")
        self.tabs.addTab(self.table, "Table (editable)")
        column(self, row(self.load_button, self.validate_button, self.save_button),
               row(self.plate_format, "colour by", (self.color_by, 1)), (self.tabs, 1),
               self.status)  # fmt: skip

        self.load_button.clicked.connect(self._on_load)
        self.save_button.clicked.connect(self._on_save)
        self.validate_button.clicked.connect(self.validate)
        self.plate_format.currentIndexChanged.connect(self._on_format)
        self.color_by.currentIndexChanged.connect(
            lambda _i: self.plate.set_color_by(self.color_by.currentData())
        )
        self.errors.itemClicked.connect(self._on_error_clicked)
        self.plate.wellClicked.connect(self._on_well_clicked)
        self.table.model.edited.connect(lambda *_: self.validate())

    # -- loading and validating -----------------------------------------------------------------
    def load(self, path: str | Path, plate_format: int | None = None) -> bool:
        """Read and check a layout file; returns True when it is valid.

        A layout with problems is still shown (its raw rows), with every problem at its well
        and in the list below the map.
        """
        from napari_il6assay.errors import InputError

        self.path = Path(path)
        if plate_format is not None:
            self.plate_format.blockSignals(True)
            self.plate_format.setCurrentIndex(max(0, self.plate_format.findData(plate_format)))
            self.plate.set_plate_format(plate_format)
            self.plate_format.blockSignals(False)
        try:
            raw = read_raw_table(self.path)
        except Exception:  # noqa: BLE001 - an unreadable file is reported by read_layout below
            raw = None
        ok = self._check(self.path, raw)
        if ok:
            self.table.set_frame(editable_table(self.layout.table))
        elif raw is not None:
            self.table.set_frame(raw)
        else:
            self.table.set_frame(__import__("pandas").DataFrame())
        self._mark_table_rows()
        if not ok and not self.problems:
            raise InputError("layout could not be read", path=self.path)
        return ok

    def validate(self) -> bool:
        """Check the table as edited (`layout_from_frame`); rows keep their file numbers."""
        frame = self.table.model.frame
        ok = self._check(self.path, frame, frame=frame)
        self._mark_table_rows()
        return ok

    def _check(
        self, path: Path | None, raw: pd.DataFrame | None, frame: pd.DataFrame | None = None
    ) -> bool:
        from napari_il6assay.errors import InputError, LayoutError
        from napari_il6assay.io.layout import layout_from_frame, read_layout

        fmt = int(self.plate_format.currentData())
        self.problems = []
        try:
            if frame is not None:
                self.layout = layout_from_frame(frame, fmt, path=path)
            elif path is not None:
                self.layout = read_layout(path, plate_format=fmt)
            else:  # nothing to check: no file and no table
                self.layout = None
        except LayoutError as exc:
            self.layout = None
            self.problems = list(exc.problems) or [exc]
        except InputError as exc:
            self.layout = None
            self.problems = [exc]
        per_well, lines = problems_by_well(self.problems, raw)
        if self.layout is not None:
            self.plate.set_table(self.layout.table)
        else:
            self.plate.set_table(raw)
        self.plate.set_errors(per_well)
        self.errors.clear()
        self.errors.setVisible(bool(self.problems))
        for line, prob in zip(lines, self.problems, strict=True):
            item = QListWidgetItem(f"⚠ {line}")
            item.setForeground(QColor("#ff4040"))
            well = getattr(getattr(prob, "location", None), "well", None)
            item.setData(Qt.ItemDataRole.UserRole, well)
            self.errors.addItem(item)
        shown = path.name if path is not None else "layout"
        if self.layout is not None:
            t = self.layout.table
            lines_n = t["cell_line"].nunique() if "cell_line" in t.columns else 0
            drugs = t["drug"].nunique() if "drug" in t.columns else 0
            self.status.setText(
                f"{shown}: {len(t)} wells, {lines_n} cell line(s), {drugs} drug(s) — valid"
            )
        else:
            self.status.setText(
                f"{shown}: {len(self.problems)} problem(s) — see the red wells and the list below"
            )
        return self.layout is not None

    def _mark_table_rows(self) -> None:
        frame = self.table.model.frame
        if "well" not in frame.columns:
            return
        bad = set(self.plate.errors)
        colors = {}
        for i, w in enumerate(frame["well"]):
            canon = well_or_none(w)
            if canon is not None and canon in bad:
                colors[i] = QColor(255, 60, 60, 90)
        self.table.model.set_row_colors(colors)

    # -- saving ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the edited layout in long form as CSV, TSV or XLSX (`write_layout`)."""
        from napari_il6assay.io.layout import write_layout

        path = Path(path)
        write_layout(self.table.model.frame, path)
        return path

    # -- slots ----------------------------------------------------------------------------------
    def _on_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a plate layout", "", "Layouts (*.csv *.tsv *.xlsx)"
        )
        if path:
            self._load_notify(path)

    def _load_notify(self, path: str) -> None:
        from napari.utils.notifications import show_error

        from napari_il6assay.errors import Il6AssayError

        try:
            self.load(path)
        except Il6AssayError as exc:
            show_error(f"Layout: {exc}")

    def _on_save(self) -> None:
        from napari.utils.notifications import show_error

        from napari_il6assay.errors import Il6AssayError

        name = str(self.path.with_name(self.path.stem + "_edited.csv")) if self.path else ""
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the layout", name, "CSV (*.csv);;TSV (*.tsv);;Excel (*.xlsx)"
        )
        if path:
            try:
                self.save(path)
            except (Il6AssayError, OSError) as exc:
                show_error(f"Layout not saved: {exc}")

    def _on_format(self) -> None:
        self.plate.set_plate_format(int(self.plate_format.currentData()))
        if self.table.model.rowCount():
            self.validate()

    def _on_error_clicked(self, item: QListWidgetItem) -> None:
        well = item.data(Qt.ItemDataRole.UserRole)
        if well:
            self._on_well_clicked(str(well))

    def _on_well_clicked(self, well: str) -> None:
        self.plate.select_well(well)
        frame = self.table.model.frame
        if "well" not in frame.columns:
            return
        for i, w in enumerate(frame["well"]):
            if well_or_none(w) == well:
                self.table.view.selectRow(i)
                self.table.view.scrollTo(self.table.model.index(i, 0))
                break
