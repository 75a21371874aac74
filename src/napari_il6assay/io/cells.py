"""Is this table cell blank? The one answer, for every table the package reads or builds.

Tables read back from CSV hold NaN where a cell was empty, tables built in memory hold ``""``
or None, and a column that went through ``astype(str)`` holds ``"nan"``, ``"None"`` or
``"<NA>"``. Every place that asks "is there a value?" treats all of them alike, and text that
only holds spaces, as blank.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["MISSING_TEXT", "cell_text", "is_blank", "text_column"]

#: how missing values read once converted to text (compared without case)
MISSING_TEXT = frozenset({"nan", "none", "<na>"})


def _missing_scalar(v: Any) -> bool:
    """None, NaN, pandas' NA/NaT (no text check)."""
    if v is None:
        return True
    if isinstance(v, float):
        return v != v
    if isinstance(v, (str, int)):
        return False
    import pandas as pd

    try:
        return pd.isna(v) is True  # an array gives an array: not one missing value
    except (TypeError, ValueError):
        return False


def cell_text(v: Any) -> str:
    """Return the stripped text of one cell, ``""`` when it is blank (see the module notes).

    Examples
    --------
    >>> cell_text(" DMSO "), cell_text(float("nan")), cell_text("<NA>"), cell_text(None)
    ('DMSO', '', '', '')
    """
    if _missing_scalar(v):
        return ""
    t = str(v).strip()
    return "" if t.lower() in MISSING_TEXT else t


def is_blank(v: Any) -> bool:
    """Tell whether a cell is blank: None, NaN/NA, empty or whitespace text, or "nan"-like text.

    Examples
    --------
    >>> is_blank(""), is_blank("  "), is_blank(float("nan")), is_blank("nan"), is_blank(0)
    (True, True, True, True, False)
    """
    return cell_text(v) == ""


def text_column(s: pd.Series) -> pd.Series:
    """`cell_text` of every cell of a column (object dtype, same index).

    The cleaning runs once per distinct value (factorize, then take): a screen's 270,000 rows
    hold a few hundred distinct names, so this is C speed rather than a Python call per row.
    """
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    clean = np.array([cell_text(v) for v in uniques] + [""], dtype=object)
    return pd.Series(clean[codes], index=s.index, dtype=object)  # code -1 (missing) -> ""
