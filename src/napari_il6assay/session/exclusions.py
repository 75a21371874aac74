"""Excluded wells with reasons, kept with the results they apply to (no Qt here).

A well the user leaves out is recorded with a reason and a time in an exclusions table of
`napari_il6assay.io.exclusions` (the same ``exclusions.csv`` that ``batch --exclude`` reads and
writes), so the panel, the CLI and the tests share one format and one set of rules. The
session writes that table atomically into the opened *results* folder after every change, and
opening the folder again restores it: what the user did survives closing napari. It never
writes anywhere else: not without a results folder (tables handed over in memory), and never
into the run's input plate folder.

Which rows of ``wells.csv`` an exclusion hits is decided by
`napari_il6assay.io.exclusions.apply_exclusions` (a row without a plate hits the well on
every plate), so the panel excludes exactly the wells ``batch --exclude`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.exclusions import (
    COLUMNS,
    apply_exclusions,
    make_exclusions,
    now_iso,
    read_exclusions,
    write_exclusions,
)

#: the file name in a results folder (as `run_batch` writes it)
EXCLUSIONS_CSV = "exclusions.csv"


class ExclusionSession:
    """Exclusions with reasons of one opened results folder.

    Parameters
    ----------
    out : Path or None
        The results folder (``wells.csv`` in it); None = keep the exclusions in memory only.
    input_folder : Path or None
        The run's input plate folder (from ``run.json``); never written.
    table : DataFrame, optional
        Exclusions to start from (`make_exclusions` form).
    """

    def __init__(
        self,
        out: str | Path | None = None,
        input_folder: str | Path | None = None,
        table: pd.DataFrame | None = None,
    ) -> None:
        self.out = Path(out) if out is not None else None
        self.input_folder = Path(input_folder) if input_folder is not None else None
        self.table = _plain(table if table is not None else make_exclusions([]))

    @classmethod
    def open(
        cls, out: str | Path | None, input_folder: str | Path | None = None
    ) -> ExclusionSession:
        """Open the session of a results folder, with its saved ``exclusions.csv`` when present.

        Raises
        ------
        InputError, LayoutError
            A saved ``exclusions.csv`` that cannot be read (naming the file and row).
        """
        session = cls(out, input_folder)
        if session.out is not None and (session.out / EXCLUSIONS_CSV).is_file():
            session.table = _plain(read_exclusions(session.out / EXCLUSIONS_CSV))
        return session

    # -- editing --------------------------------------------------------------------------------
    def exclude(self, plate: Any, well: str, reason: str, time: str | None = None) -> None:
        """Exclude a well (replacing an earlier record of it) with a reason and a time.

        Raises
        ------
        LayoutError
            No reason, or not a well id.
        """
        row = {"plate": "" if is_blank(plate) else str(plate), "well": well,
               "reason": reason, "time": time or now_iso()}  # fmt: skip
        new = make_exclusions([row])  # checks the well id and the reason
        keep = self._others(str(new.loc[0, "plate"]), str(new.loc[0, "well"]))
        self.table = _plain(pd.concat([self.table[keep], new], ignore_index=True))

    def include(self, plate: Any, well: str) -> None:
        """Include a well again: drop its record (and a plate-less record of that well)."""
        from napari_il6assay.io.plate import canonical_well

        canon = canonical_well(str(well))
        p = "" if is_blank(plate) else str(plate)
        hits = (self.table["well"] == canon) & self.table["plate"].isin([p, ""])
        self.table = self.table[~hits].reset_index(drop=True)

    def _others(self, plate: str, well: str) -> pd.Series:
        return ~((self.table["well"] == well) & (self.table["plate"] == plate))

    # -- reading --------------------------------------------------------------------------------
    def reasons(self, wells: pd.DataFrame) -> dict[str, str]:
        """`well_key` -> reason of the rows of ``wells`` that the exclusions hit."""
        from napari_il6assay.io.plate import well_key

        if not len(self.table) or wells is None or not len(wells):
            return {}
        marked = apply_exclusions(wells[[c for c in ("plate", "well") if c in wells]],
                                  self.table)  # fmt: skip
        plate = marked["plate"] if "plate" in marked else pd.Series("", index=marked.index)
        return {
            well_key("" if is_blank(p) else p, w): r
            for p, w, r in zip(plate, marked["well"], marked["exclusion_reason"], strict=True)
            if r
        }

    def keys(self, wells: pd.DataFrame) -> set[str]:
        """`well_key` of the rows of ``wells`` that the exclusions hit."""
        return set(self.reasons(wells))

    # -- file -----------------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """Where `save` writes (None without a results folder)."""
        return self.out / EXCLUSIONS_CSV if self.out is not None else None

    def save(self) -> Path | None:
        """Write ``exclusions.csv`` atomically into the results folder (None without one).

        Raises
        ------
        InputError
            The results folder is gone, or it is the run's input folder.
        """
        from napari_il6assay.errors import InputError

        if self.out is None:
            return None
        if not (self.out / "wells.csv").is_file():
            raise InputError("not a results folder (no wells.csv); exclusions not saved",
                             path=self.out)  # fmt: skip
        if self.input_folder is not None and _same(self.out, self.input_folder):
            raise InputError("will not write exclusions into the input folder", path=self.out)
        return write_exclusions(self.table.reindex(columns=COLUMNS), self.out / EXCLUSIONS_CSV)


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """Make the text columns plain ``object``.

    A table read from CSV and one built in memory must compare equal, whatever string dtype
    pandas infers.
    """
    return table.reindex(columns=COLUMNS).astype(object).reset_index(drop=True)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
