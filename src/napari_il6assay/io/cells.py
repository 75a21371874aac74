"""Is this table cell blank, and what does it hold? One answer for every table we read or build.

Tables read back from CSV hold NaN where a cell was empty, tables built in memory hold ``""``
or None, and a column that went through ``astype(str)`` holds ``"nan"``, ``"None"`` or
``"<NA>"``. Every place that asks "is there a value?" treats all of them alike, and text that
only holds spaces, as blank. `cell_int` reads a whole number from a spreadsheet cell (plate
grids number their columns ``1, 2, ...`` as text, ints or floats, depending on the program).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["MISSING_TEXT", "cell_int", "cell_text", "is_blank", "is_missing", "text_codes",
           "text_column"]  # fmt: skip

#: how missing values read once converted to text (compared without case)
MISSING_TEXT = frozenset({"nan", "none", "<na>"})


def is_missing(v: Any) -> bool:
    """Tell whether a cell holds no value at all: None, NaN, pandas' NA or NaT.

    Text is never missing here, not even ``""`` or ``"nan"``: that is `is_blank`.

    Examples
    --------
    >>> import pandas as pd
    >>> is_missing(None), is_missing(float("nan")), is_missing(pd.NA), is_missing("nan")
    (True, True, True, False)
    """
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
    if is_missing(v):
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


def cell_int(v: Any) -> int | None:
    """Return the whole number a cell holds (``3``, ``3.0``, ``" 3 "``), None for anything else.

    Booleans are no numbers here (a spreadsheet's TRUE is not column 1).

    Examples
    --------
    >>> cell_int(3.0), cell_int(" 12 "), cell_int(2.5), cell_int(True), cell_int(None)
    (3, 12, None, None, None)
    """
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def text_column(s: pd.Series) -> pd.Series:
    """`cell_text` of every cell of a column (object dtype, same index).

    The cleaning runs once per distinct value (factorize, then take): a screen's 270,000 rows
    hold a few hundred distinct names, so this is C speed rather than a Python call per row.
    """
    import pandas as pd

    codes, clean = _cleaned_codes(s)
    return pd.Series(clean[codes], index=s.index, dtype=object)


def text_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`text_column` of ``s`` as codes: each row's code, each code's text and its rank.

    No text per row is built: a screen's 270,000 rows hold a few hundred distinct names, and
    columns of 270,000 references, compared and grouped as Python strings, made the split of
    a 10,000-curve screen into curves take 0.10 s instead of 0.055 s (issue 13).

    Returns
    -------
    codes : ndarray of intp
        Each row's code: ``texts[codes]`` is `text_column` of ``s`` (a missing cell's code
        is -1, whose text, the last, is "").
    texts : ndarray of object
        The cleaned text of each code.
    rank : ndarray of int64
        Each code's position among the sorted distinct texts (equal texts, equal ranks): a
        group key that needs no second hash of the rows' strings.
    """
    import numpy as np
    import pandas as pd

    codes, texts = _cleaned_codes(s)
    rank = pd.factorize(texts, sort=True)[0].astype(np.int64)
    return codes, texts, rank


def _cleaned_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code and the `cell_text` of each code's value (code -1, missing: "")."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    clean = np.array([cell_text(v) for v in uniques] + [""], dtype=object)
    return codes, clean
