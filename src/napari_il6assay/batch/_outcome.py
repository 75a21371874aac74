"""The first thing every per-item record of a batch run tells: whether the item was measured."""

from __future__ import annotations

__all__ = ["ItemOutcome"]


class ItemOutcome:
    """Mixin of the per-item records (`WorkerResult`, `PartRecord`): ``status`` and `ok`.

    ``status`` is ``"ok"`` for a measured item and ``"error"`` for one that failed (the record
    then says where and why in ``stage``, ``error`` and ``error_path``).
    """

    status: str

    @property
    def ok(self) -> bool:
        """Whether the item was measured."""
        return self.status == "ok"
