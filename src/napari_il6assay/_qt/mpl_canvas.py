"""A matplotlib canvas for a napari dock: Qt Agg canvas, navigation toolbar, napari theme.

matplotlib is imported when a canvas is created, not when this module is imported, so a
plugin that merely lists this widget costs napari nothing at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtGui import QColor, QPalette
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def napari_figure_theme(theme_id: str | None) -> dict[str, str]:
    """Colours for the figure functions from a napari theme.

    Parameters
    ----------
    theme_id : str or None
        A napari theme id (``"dark"``, ``"light"``, ...); ``None`` gives a light theme.

    Returns
    -------
    dict
        ``background``, ``foreground`` (text, axes, ticks), ``grid``, ``highlight`` and
        ``type`` (``"dark"`` or ``"light"``) as hex colours; the figure functions of
        `napari_il6assay.doseresponse.figures` take it as ``theme=``.
    """
    if theme_id is None:
        return {
            "type": "light",
            "background": "#ffffff",
            "foreground": "#000000",
            "grid": "#d0d0d0",
            "highlight": "#ff7f0e",
        }
    from napari.utils.theme import get_theme

    th = get_theme(theme_id)
    return {
        "type": str(th.type),
        "background": th.background.as_hex(),
        "foreground": th.text.as_hex(),
        "grid": th.primary.as_hex(),
        "highlight": th.current.as_hex(),
    }


class MplCanvas(QWidget):
    """A `FigureCanvasQTAgg` with a `NavigationToolbar2QT` that follows a colour theme.

    The figure uses the constrained layout engine. Nothing is changed in matplotlib's global
    ``rcParams``: colours go to the figure functions (``theme=``) and to the figure itself.

    Parameters
    ----------
    parent : QWidget, optional
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import (
            FigureCanvasQTAgg,
            NavigationToolbar2QT,
        )
        from matplotlib.figure import Figure

        self.figure: Figure = Figure(figsize=(5, 3.6), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(220)
        self.toolbar = NavigationToolbar2QT(self.canvas, self, coordinates=True)
        self.theme: dict[str, str] = napari_figure_theme(None)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.canvas)

    def set_theme(self, theme: dict[str, str]) -> None:
        """Use new colours (from `napari_figure_theme`); the owner redraws the figure."""
        self.theme = dict(theme)
        self.figure.set_facecolor(theme["background"])
        # The toolbar's icon engine draws white icons when its palette background is dark.
        pal = self.toolbar.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(theme["background"]))
        pal.setColor(QPalette.ColorRole.WindowText, QColor(theme["foreground"]))
        self.toolbar.setPalette(pal)
        self.toolbar.update()

    def clear(self, message: str | None = None) -> None:
        """Empty the figure, optionally with a centred message (e.g. "no results loaded")."""
        self.figure.clear()
        self.figure.set_facecolor(self.theme["background"])
        if message:
            self.figure.text(
                0.5,
                0.5,
                message,
                ha="center",
                va="center",
                color=self.theme["foreground"],
                wrap=True,
            )
        self.canvas.draw_idle()

    def draw(self) -> None:
        """Redraw the canvas after the figure changed."""
        self.canvas.draw_idle()

    def save(self, path: Any, **kwargs: Any) -> None:
        """Save the figure (format from the suffix: PNG, SVG, PDF)."""
        kwargs.setdefault("dpi", 200)
        kwargs.setdefault("facecolor", self.figure.get_facecolor())
        self.figure.savefig(path, **kwargs)
