"""Small typed helpers over Qt item views (Qt's stubs return ``X | None`` for items).

`LayerList` is the docks' one list of viewer layers to choose from (the segment and pixel
classifier docks): it follows the viewer's layer list and keeps the user's choice when
layers come and go.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from qtpy.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem


def list_items(widget: QListWidget) -> list[QListWidgetItem]:
    """Return the items of a list widget, in order.

    Parameters
    ----------
    widget : QListWidget
        The list.

    Returns
    -------
    list of QListWidgetItem
    """
    items = (widget.item(i) for i in range(widget.count()))
    return [item for item in items if item is not None]


class LayerList(QListWidget):
    """The viewer's layers of one kind, by name, to choose one or several from.

    The list follows the viewer (a layer added, removed or moved refreshes it) and keeps the
    layers the user chose across a refresh.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose layers are listed.
    keep : callable
        ``keep(layer) -> bool``: the layers to list (e.g. 2D images only).
    tooltip : str
        What the layers are chosen for.
    max_height : int
        Height in pixels at the most (the list sits in a form).
    default_active : bool
        When nothing is chosen, choose the viewer's active layer (or the first listed).
    """

    def __init__(
        self,
        viewer: Any,
        keep: Callable[[Any], bool],
        *,
        tooltip: str,
        max_height: int,
        default_active: bool = False,
    ) -> None:
        super().__init__()
        self.viewer = viewer
        self._keep = keep
        self._default_active = default_active
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMaximumHeight(max_height)
        self.setToolTip(tooltip)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed,
                      viewer.layers.events.changed):  # fmt: skip
            event.connect(self.refresh)
        self.refresh()

    def layers(self) -> list[Any]:
        """Return the viewer's layers this list offers, in the viewer's order."""
        return [layer for layer in self.viewer.layers if self._keep(layer)]

    def chosen(self) -> list[str]:
        """Return the names of the chosen layers (Qt's selection order)."""
        return [item.text() for item in self.selectedItems()]

    def select(self, names: Collection[str]) -> None:
        """Choose exactly the layers with these names."""
        for item in list_items(self):
            item.setSelected(item.text() in names)

    def refresh(self, event: Any = None) -> None:
        """List the viewer's layers again, keeping the chosen ones chosen."""
        chosen = set(self.chosen())
        self.clear()
        for layer in self.layers():
            item = QListWidgetItem(layer.name)
            self.addItem(item)
            item.setSelected(layer.name in chosen)
        if self._default_active and not self.selectedItems() and self.count():
            active = self.viewer.layers.selection.active
            items = list_items(self)
            names = [item.text() for item in items]
            idx = names.index(active.name) if active is not None and active.name in names else 0
            items[idx].setSelected(True)
