"""A custom-painted 96/384-well plate map: wells coloured by a layout column, with a legend.

Validation errors are drawn at the offending well (red ring, message in the tooltip).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from qtpy.QtGui import QBrush, QColor, QFont, QHelpEvent, QLinearGradient, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QToolTip, QWidget

from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.plate import PLATE_FORMATS, canonical_well, split_well, well_name
from napari_il6assay.io.units import format_molar

if TYPE_CHECKING:
    import pandas as pd

COLOR_BY = ("cell_line", "drug", "concentration", "role")
#: colourings of a results table (wells.csv): value scales and the QC flags
RESULT_COLOR_BY = ("readout", "viability", "qc_flag")

# Tableau-10, readable on light and dark backgrounds.
_CATEGORICAL = [
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
# viridis at 0, 1/7, ..., 1 (interpolated linearly in between).
_VIRIDIS = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"]
_ERROR = QColor("#ff2d2d")


def well_or_none(well: Any) -> str | None:
    """Canonical id of a well id such as ``a1``/``P24`` (`napari_il6assay.io.plate`), else None."""
    try:
        return canonical_well(str(well))
    except ValueError:
        return None


def viridis(t: float) -> QColor:
    """Colour of ``t`` in [0, 1] on the viridis scale."""
    t = min(max(float(t), 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    a, b = QColor(_VIRIDIS[i]), QColor(_VIRIDIS[i + 1])
    f = t - i
    return QColor(
        round(a.red() + f * (b.red() - a.red())),
        round(a.green() + f * (b.green() - a.green())),
        round(a.blue() + f * (b.blue() - a.blue())),
    )


class PlateMap(QWidget):
    """Plate map of a layout table.

    Parameters
    ----------
    plate_format : int
        Number of wells (96 or 384; 6-48 also drawn).
    parent : QWidget, optional

    Notes
    -----
    After `set_table`, ``well_colors`` holds the fill colour (hex) of every well that has one,
    ``errors`` the messages per well, so tests and other widgets can read what is shown.
    """

    #: A well was clicked (canonical id).
    wellClicked = Signal(str)

    def __init__(self, plate_format: int = 96, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 170)
        self.plate_format = plate_format
        self.color_by = "cell_line"
        self._table: pd.DataFrame | None = None
        self._info: dict[str, str] = {}
        self.well_colors: dict[str, str] = {}
        self.well_marks: dict[str, str] = {}
        #: wells with a second agent (combination), drawn with a small dot
        self.combo_wells: set[str] = set()
        self._combo_name = ""
        self.errors: dict[str, list[str]] = {}
        self.selected: str | None = None
        self._legend: list[tuple[str, QColor]] = []
        self._scale: tuple[float, float] | None = None  # log10 molar range of the colour bar

    # -- data -----------------------------------------------------------------------------------
    def set_plate_format(self, plate_format: int) -> None:
        """Change the number of wells drawn."""
        if plate_format not in PLATE_FORMATS:
            raise ValueError(f"plate format must be one of {sorted(PLATE_FORMATS)}")
        self.plate_format = plate_format
        self._recolor()

    def set_table(self, table: pd.DataFrame | None) -> None:
        """Show a layout table (one row per well; `well` plus any of the layout columns)."""
        self._table = None if table is None else table.copy()
        self._recolor()

    def set_color_by(self, column: str) -> None:
        """Colour wells by a column.

        ``cell_line``, ``drug``, ``concentration`` (log scale) or ``role``; on a results table
        also ``readout``, ``viability`` (linear scale) or ``qc_flag``.
        """
        if column not in COLOR_BY + RESULT_COLOR_BY:
            raise ValueError(
                f"color_by must be one of {COLOR_BY + RESULT_COLOR_BY}, got {column!r}"
            )
        self.color_by = column
        self._recolor()

    def set_errors(self, errors: dict[str, list[str]]) -> None:
        """Mark wells with validation problems (canonical well id -> messages)."""
        self.errors = {}
        for well, msgs in errors.items():
            key = well_or_none(well) or str(well)
            self.errors.setdefault(key, []).extend(msgs)
        self.update()

    def select_well(self, well: str | None) -> None:
        """Draw a selection ring around one well."""
        self.selected = well_or_none(well) if well else None
        self.update()

    def _recolor(self) -> None:
        self.well_colors, self.well_marks, self._info = {}, {}, {}
        self.combo_wells, self._combo_name = set(), ""
        self._legend, self._scale = [], None
        self._scale_label = ""  # a linear scale's legend text (concentration: log molar)
        t = self._table
        if t is not None and len(t) and "well" in t.columns:
            wells = [well_or_none(w) or str(w) for w in t["well"]]
            for i, w in enumerate(wells):
                row = t.iloc[i]
                self._info[w] = "\n".join(
                    f"{c}: {row[c]}" for c in t.columns if c != "well" and not is_blank(row[c])
                )
                role = str(row["role"]).lower() if "role" in t.columns else "sample"
                self.well_marks[w] = {"vehicle": "V", "blank": "B", "exclude": "×"}.get(role, "")
                b = row["drug_b"] if "drug_b" in t.columns else None
                if not is_blank(b) and str(b).strip():
                    self.combo_wells.add(w)
                    self._combo_name = str(b)
            if self.color_by == "concentration":
                self._color_concentration(t, wells)
            elif self.color_by in ("readout", "viability"):
                self._color_value(t, wells, self.color_by)
            elif self.color_by == "qc_flag" and "qc_flag" in t.columns:
                flags = ["ok" if is_blank(v) or not str(v).strip() else str(v)
                         for v in t["qc_flag"]]  # fmt: skip
                self._color_categorical(t.assign(_qc=flags), wells, "_qc")
            else:
                self._color_categorical(t, wells, self.color_by)
        self.update()

    def _color_categorical(self, t: pd.DataFrame, wells: list[str], column: str) -> None:
        if column not in t.columns:
            return
        values = ["" if is_blank(v) else str(v) for v in t[column]]
        cats = sorted({v for v in values if v})
        colors = {c: QColor(_CATEGORICAL[i % len(_CATEGORICAL)]) for i, c in enumerate(cats)}
        for w, v in zip(wells, values, strict=True):
            if v:
                self.well_colors[w] = colors[v].name()
        self._legend = [(c, colors[c]) for c in cats]

    def _color_value(self, t: pd.DataFrame, wells: list[str], column: str) -> None:
        """Linear viridis scale over the column's finite range (readout or viability)."""
        import numpy as np
        import pandas as pd

        if column not in t.columns:
            return
        v = pd.to_numeric(t[column], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(v)
        if not ok.any():
            return
        lo, hi = float(v[ok].min()), float(v[ok].max())
        self._scale = (lo, hi)
        self._scale_label = f"{column} {lo:.3g} – {hi:.3g}, linear"
        for w, x in zip(wells, v, strict=True):
            if np.isfinite(x):
                self.well_colors[w] = viridis(0.5 if hi == lo else (x - lo) / (hi - lo)).name()

    def _color_concentration(self, t: pd.DataFrame, wells: list[str]) -> None:
        import numpy as np
        import pandas as pd

        col = "concentration_M" if "concentration_M" in t.columns else "concentration"
        if col not in t.columns:
            return
        conc = pd.to_numeric(t[col], errors="coerce").to_numpy(dtype=float)
        pos = conc[np.isfinite(conc) & (conc > 0)]
        if pos.size:
            lo, hi = math.log10(pos.min()), math.log10(pos.max())
            self._scale = (lo, hi)
        zero = QColor("#9a9a9a")
        for w, c in zip(wells, conc, strict=True):
            if not np.isfinite(c):
                continue
            if c <= 0:
                self.well_colors[w] = zero.name()
            elif self._scale is not None:
                lo, hi = self._scale
                frac = 0.5 if hi == lo else (math.log10(c) - lo) / (hi - lo)
                self.well_colors[w] = viridis(frac).name()
        if np.any(np.isfinite(conc) & (conc <= 0)):
            self._legend = [("0 (vehicle)", zero)]

    # -- geometry -------------------------------------------------------------------------------
    def _grid(self) -> tuple[int, int, QRectF, float]:
        nrow, ncol = PLATE_FORMATS.get(self.plate_format, (8, 12))
        fm = self.fontMetrics()
        label_w = fm.horizontalAdvance("WW") + 4
        label_h = fm.height() + 2
        legend_h = self._legend_height()
        avail_w = self.width() - label_w - 6
        avail_h = self.height() - label_h - legend_h - 6
        cell = max(4.0, min(avail_w / ncol, avail_h / nrow))
        grid = QRectF(label_w, label_h, cell * ncol, cell * nrow)
        return nrow, ncol, grid, cell

    def _legend_height(self) -> int:
        fm = self.fontMetrics()
        n = len(self._legend) + (1 if self.combo_wells else 0)
        if n == 0 and not self._scale:  # nothing to explain
            return 0
        per_line = max(1, (self.width() - 8) // 150)
        lines = math.ceil(n / per_line) + (1 if self._scale else 0)
        return lines * (fm.height() + 6) + 6

    def well_at(self, x: float, y: float) -> str | None:
        """Well id under a widget position, or None."""
        nrow, ncol, grid, cell = self._grid()
        if not grid.contains(QPointF(x, y)):
            return None
        c = int((x - grid.left()) // cell)
        r = int((y - grid.top()) // cell)
        if 0 <= r < nrow and 0 <= c < ncol:
            return well_name(r + 1, c + 1)
        return None

    def well_center(self, well: str) -> QPointF:
        """Widget position of a well's centre (for tests and tooltips)."""
        _, _, grid, cell = self._grid()
        try:
            r, c = (i - 1 for i in split_well(well))
        except ValueError:
            r, c = 0, 0
        return QPointF(grid.left() + (c + 0.5) * cell, grid.top() + (r + 0.5) * cell)

    def sizeHint(self) -> QSize:
        return QSize(420, 320)

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        empty_pen = QPen(text)
        empty_pen.setWidthF(0.8)
        nrow, ncol, grid, cell = self._grid()
        font = QFont(self.font())
        p.setFont(font)
        p.setPen(text)
        for c in range(ncol):
            if ncol > 12 and c % 2:  # 384 wells: label every other column to stay legible
                continue
            p.drawText(
                QRectF(grid.left() + c * cell, 0, cell, grid.top()),
                Qt.AlignmentFlag.AlignCenter,
                str(c + 1),
            )
        for r in range(nrow):
            p.drawText(
                QRectF(0, grid.top() + r * cell, grid.left() - 2, cell),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                chr(65 + r),
            )
        pad = max(1.0, cell * 0.1)
        mark_font = QFont(font)
        mark_font.setPixelSize(max(6, int(cell * 0.45)))
        for r in range(nrow):
            for c in range(ncol):
                w = well_name(r + 1, c + 1)
                rect = QRectF(
                    grid.left() + c * cell + pad,
                    grid.top() + r * cell + pad,
                    cell - 2 * pad,
                    cell - 2 * pad,
                )
                color = self.well_colors.get(w)
                p.setPen(empty_pen)
                p.setBrush(QBrush(QColor(color)) if color else Qt.BrushStyle.NoBrush)
                p.drawEllipse(rect)
                mark = self.well_marks.get(w)
                if mark:
                    bg = QColor(color) if color else pal.color(pal.ColorRole.Window)
                    p.setPen(QColor("black") if bg.lightness() > 140 else QColor("white"))
                    p.setFont(mark_font)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, mark)
                    p.setFont(font)
                if w in self.combo_wells:
                    d = max(3.0, cell * 0.22)
                    p.setPen(QPen(QColor("black"), 1.0))
                    p.setBrush(QBrush(QColor("white")))
                    p.drawEllipse(QRectF(rect.right() - d * 0.9, rect.top() - d * 0.1, d, d))
                if w in self.errors:
                    pen = QPen(_ERROR)
                    pen.setWidthF(max(2.0, cell * 0.12))
                    p.setPen(pen)
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    p.drawEllipse(rect.adjusted(-pad * 0.5, -pad * 0.5, pad * 0.5, pad * 0.5))
                if w == self.selected:
                    pen = QPen(QColor("#ffd400"))
                    pen.setWidthF(max(2.0, cell * 0.1))
                    p.setPen(pen)
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    p.drawRect(rect.adjusted(-pad, -pad, pad, pad))
        self._paint_legend(p, grid, text)
        p.end()

    def _paint_legend(self, p: QPainter, grid: QRectF, text: QColor) -> None:
        fm = self.fontMetrics()
        lh = fm.height() + 6
        per_line = max(1, (self.width() - 8) // 150)
        x0, y0 = 4.0, grid.bottom() + 8
        items: list[tuple[str, QColor | None]] = list(self._legend)
        if self.combo_wells:
            items.append((f"with {self._combo_name}", QColor("white")))
        n_cat = len(items)
        if self._scale:
            items.append(("__scale__", None))
        for i, (label, color) in enumerate(items):
            x = x0 + (i % per_line) * 150
            y = y0 + (i // per_line) * lh
            if color is None:  # the colour bar gets a line of its own
                x, y = x0, y0 + math.ceil(n_cat / per_line) * lh
                lo, hi = self._scale  # type: ignore[misc]
                grad = QLinearGradient(x, 0, x + 60, 0)
                for k in range(len(_VIRIDIS)):
                    grad.setColorAt(k / (len(_VIRIDIS) - 1), QColor(_VIRIDIS[k]))
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(QBrush(grad))
                p.drawRect(QRectF(x, y + 2, 60, fm.height() - 4))
                p.setPen(text)
                p.drawText(
                    QRectF(x + 64, y, self.width() - x - 68, fm.height()),
                    Qt.AlignmentFlag.AlignVCenter,
                    getattr(self, "_scale_label", "")
                    or f"{format_molar(10**lo)} – {format_molar(10**hi)}, log scale",
                )
                continue
            p.setPen(QPen(text, 0.8))
            p.setBrush(QBrush(color))
            d = fm.height() - 4
            p.drawEllipse(QRectF(x, y + 2, d, d))
            p.setPen(text)
            p.drawText(
                QRectF(x + d + 4, y, 150 - d - 8, fm.height()),
                Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(label, Qt.TextElideMode.ElideRight, 150 - d - 8),
            )

    # -- interaction ----------------------------------------------------------------------------
    def tooltip_text(self, well: str) -> str:
        """Return the tooltip of a well: its id, layout values and any errors."""
        parts = [well]
        if self._info.get(well):
            parts.append(self._info[well])
        for msg in self.errors.get(well, []):
            parts.append(f"⚠ {msg}")
        return "\n".join(parts)

    def event(self, ev: QEvent | None) -> bool:
        if isinstance(ev, QHelpEvent) and ev.type() == QEvent.Type.ToolTip:
            pos = ev.pos()
            well = self.well_at(pos.x(), pos.y())
            if well:
                QToolTip.showText(ev.globalPos(), self.tooltip_text(well), self)
            else:
                QToolTip.hideText()
            return True
        return super().event(ev)

    def mousePressEvent(self, ev: Any) -> None:
        pos = ev.position()
        well = self.well_at(pos.x(), pos.y())
        if well:
            self.select_well(well)
            self.wellClicked.emit(well)
        super().mousePressEvent(ev)
