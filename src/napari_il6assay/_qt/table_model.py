"""A Qt table model over a pandas DataFrame, and a table view that sorts and exports it.

The model shows the frame as it is; sorting is done on the frame itself (by the column's
values, NaN last), so numeric columns sort as numbers, not as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import pandas as pd


def _format(value: Any) -> str:
    """Display text of one cell: short floats, empty for missing values."""
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class DataFrameModel(QAbstractTableModel):
    """Table model that displays (and optionally edits) a pandas DataFrame.

    Parameters
    ----------
    frame : pandas.DataFrame, optional
        The table to show; a copy is kept.
    editable : bool
        Whether cells can be edited in the view. Edited text is converted to the column's
        dtype when it is numeric (an unparsable number is refused).
    """

    #: Emitted after a cell was edited through the view (row position, column name).
    edited = Signal(int, str)

    def __init__(self, frame: pd.DataFrame | None = None, *, editable: bool = False) -> None:
        super().__init__()
        import pandas as pd

        self._df = pd.DataFrame() if frame is None else frame.reset_index(drop=True).copy()
        self._editable = editable
        self._highlight: dict[int, Any] = {}

    # -- access ---------------------------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """The table currently shown (a copy, in display order)."""
        return self._df.copy()

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Replace the table shown."""
        self.beginResetModel()
        self._df = frame.reset_index(drop=True).copy()
        self._highlight = {}
        self.endResetModel()

    def set_row_colors(self, colors: dict[int, Any]) -> None:
        """Paint the background of some rows (row position -> QColor), e.g. excluded wells."""
        self._highlight = dict(colors)
        if len(self._df):
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._df) - 1, self._df.shape[1] - 1)
            )

    # -- Qt model API ---------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._df)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._df.shape[1]

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return _format(self._df.iat[index.row(), index.column()])
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._highlight.get(index.row())
        if role == Qt.ItemDataRole.TextAlignmentRole:
            import pandas as pd

            if pd.api.types.is_numeric_dtype(self._df.dtypes.iloc[index.column()]):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self._df.columns[section]) if section < self._df.shape[1] else None
        return str(section + 1)

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if self._editable and index.isValid():
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not (self._editable and index.isValid() and role == Qt.ItemDataRole.EditRole):
            return False
        import numpy as np
        import pandas as pd

        col = self._df.columns[index.column()]
        text = "" if value is None else str(value).strip()
        if pd.api.types.is_numeric_dtype(self._df[col].dtype):
            if text == "":
                new: Any = np.nan
            else:
                try:
                    new = float(text)
                except ValueError:
                    return False
            if pd.api.types.is_integer_dtype(self._df[col].dtype) and not (
                isinstance(new, float) and new.is_integer()
            ):
                self._df[col] = self._df[col].astype("float64")
        else:
            new = text if text != "" else pd.NA
            if not (
                pd.api.types.is_string_dtype(self._df[col].dtype) or self._df[col].dtype == object
            ):
                self._df[col] = self._df[col].astype(object)
        self._df.iat[index.row(), index.column()] = new
        self.dataChanged.emit(index, index)
        self.edited.emit(index.row(), str(col))
        return True

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < self._df.shape[1]:
            return
        self.layoutAboutToBeChanged.emit()
        self._df = self._df.sort_values(
            self._df.columns[column],
            ascending=order == Qt.SortOrder.AscendingOrder,
            na_position="last",
            kind="stable",
        ).reset_index(drop=True)
        self._highlight = {}
        self.layoutChanged.emit()


def save_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV (INTERFACE.md conventions) or, for ``.xlsx``, as one sheet.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : str or Path
        Destination; ``.xlsx`` writes a workbook, anything else UTF-8 CSV without index.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, encoding="utf-8")
    return path


class TableWidget(QWidget):
    """A sortable table view over a DataFrame with an "Export…" button.

    Parameters
    ----------
    title : str
        Short label shown above the table.
    default_name : str
        File name proposed by the export dialog.
    editable : bool
        Whether cells can be edited.
    parent : QWidget, optional
    """

    def __init__(
        self,
        title: str = "",
        *,
        default_name: str = "table.csv",
        editable: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = DataFrameModel(editable=editable)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # no alternating rows: napari's stylesheet gives them a light base under light text
        rows = self.view.verticalHeader()
        if rows is not None:  # a QTableView always has one; Qt's stubs say it may not
            rows.setDefaultSectionSize(20)
        self._default_name = default_name
        self.title = QLabel(title)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save this table as CSV or XLSX")
        self.export_button.clicked.connect(self._on_export)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.view)

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Show a new table (the previous sort order is dropped)."""
        self.model.set_frame(frame)
        header = self.view.horizontalHeader()
        if header is not None:
            header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.view.resizeColumnsToContents()

    def export(self, path: str | Path) -> Path:
        """Save the table as shown (with its current sort order) to ``path``."""
        return save_table(self.model.frame, path)

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export table", self._default_name, "CSV (*.csv);;Excel (*.xlsx)"
        )
        if path:
            self.export(path)
