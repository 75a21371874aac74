"""Small typed helpers over Qt item views (Qt's stubs return ``X | None`` for items)."""

from __future__ import annotations

from qtpy.QtWidgets import QListWidget, QListWidgetItem


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
