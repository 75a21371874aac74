"""What the plugin's docks share: the viewer they serve, Run/Cancel buttons, rows, paths.

napari creates each dock with its viewer (the ``napari_viewer`` parameter of the widget
contributions in ``napari.yaml``); `ViewerDock` keeps it. `RunCancel` is the pair of buttons
of the docks whose work runs in a `napari_il6assay._qt.workers.WorkerSlot` (its ``busy``
callback is `RunCancel.set_busy`). `row` and `column` lay out a dock's controls. `PathField`
is a line edit with a "…" button that opens a file or folder dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QBoxLayout,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import napari


#: what `row` and `column` lay out: a widget, a layout, a text (shown as a label), or one of
#: these with its stretch factor (the items with one share the spare room)
Item = QWidget | QLayout | str | tuple[QWidget | QLayout, int]


def _fill(lay: QBoxLayout, items: tuple[Item, ...]) -> None:
    for item in items:
        thing, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(thing, QLayout):
            lay.addLayout(thing, stretch)
        else:
            lay.addWidget(QLabel(thing) if isinstance(thing, str) else thing, stretch)


def row(*items: Item) -> QHBoxLayout:
    """Return a row of controls, left to right.

    Parameters
    ----------
    *items : QWidget, QLayout, str or (QWidget or QLayout, int)
        See `Item`.

    Returns
    -------
    QHBoxLayout
    """
    lay = QHBoxLayout()
    _fill(lay, items)
    return lay


def column(parent: QWidget, *items: Item, end_stretch: bool = False) -> QVBoxLayout:
    """Lay out a widget's contents top to bottom.

    Parameters
    ----------
    parent : QWidget
        The widget that gets the layout.
    *items : QWidget, QLayout, str or (QWidget or QLayout, int)
        See `Item`.
    end_stretch : bool
        Leave the spare height below the last item (the items keep their natural height).

    Returns
    -------
    QVBoxLayout
        The parent's layout.
    """
    lay = QVBoxLayout(parent)
    _fill(lay, items)
    if end_stretch:
        lay.addStretch(1)
    return lay


class ViewerDock(QWidget):
    """A dock widget of the plugin, serving one napari viewer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers the dock reads and changes (napari passes it by this name).
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer


class RunCancel(QWidget):
    """A Run button, and a Cancel button that is on only while the work runs.

    Parameters
    ----------
    run_text : str
        Text of the Run button.
    """

    def __init__(self, run_text: str = "Run") -> None:
        super().__init__()
        self.run_button = QPushButton(run_text)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        lay = row(self.run_button, self.cancel_button)
        lay.setContentsMargins(0, 0, 0, 0)
        self.setLayout(lay)

    def set_busy(self, busy: bool) -> None:
        """Enable Cancel while the work runs and Run when it does not."""
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)


class PathField(QWidget):
    """A file or folder path: typed in, or chosen with the "…" button's dialog.

    Parameters
    ----------
    placeholder : str
        Grey text of the empty field: what the path is for.
    folder : bool
        Choose a folder (else a file to open).
    filters : str
        File dialog filters, e.g. ``"Layouts (*.csv *.xlsx)"``.
    """

    def __init__(self, placeholder: str, *, folder: bool = False, filters: str = "") -> None:
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.button = QToolButton()
        self.button.setText("…")
        self._folder, self._filters = folder, filters
        lay = row(self.edit, self.button)
        lay.setContentsMargins(0, 0, 0, 0)
        self.setLayout(lay)
        self.button.clicked.connect(self._browse)

    def _browse(self) -> None:
        if self._folder:
            path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.edit.text())
        else:
            path, _ = QFileDialog.getOpenFileName(
                self, "Choose a file", self.edit.text(), self._filters
            )
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        """Return the path as typed, without surrounding spaces (``""`` when empty)."""
        return self.edit.text().strip()

    def path(self) -> str | None:
        """Return the path, or None when the field is empty."""
        return self.text() or None

    def set_path(self, path: str | Path) -> None:
        """Show a path in the field."""
        self.edit.setText(str(path))
