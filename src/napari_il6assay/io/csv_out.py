"""Write a table as CSV with the exact text of ``DataFrame.to_csv(path, index=False)``, faster.

pandas formats every float through ``ndarray.astype(str)`` and its block machinery; on a
``fits.csv`` of 10,000 curves (48 columns) that was 0.5-1 s of an ``il6assay fit`` run whose
fitting takes about as long (issue 13). Here each column becomes a list of strings with
Python's own ``repr`` for floats (numpy's float-to-text is that same shortest round-trip
form) and Python's ``csv`` writer (which pandas uses too) joins and quotes them. Any column
this cannot reproduce exactly (not float64, integer, bool, or text with missing values) falls
back to ``to_csv``, so the output never differs.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np


def _column_text(col: Any) -> list[str] | None:
    """The CSV text of one column as ``to_csv`` writes it, or None if not handled here."""
    v = col.to_numpy()
    kind = v.dtype.kind
    if kind == "f":
        if v.dtype != np.float64:  # float32 text is its own shortest form, not repr's
            return None
        txt = list(map(repr, v.tolist()))
        for i in np.flatnonzero(np.isnan(v)).tolist():
            txt[i] = ""  # na_rep
        return txt
    if kind in "iu":
        return list(map(str, v.tolist()))
    if kind == "b":
        return ["True" if x else "False" for x in v.tolist()]
    if kind in "OUT":
        out = []
        for x in v.tolist():
            if isinstance(x, str):
                out.append(x)
            elif x is None or (isinstance(x, float) and x != x):
                out.append("")
            else:  # numbers or objects in a text column: pandas' own formatting
                return None
        return out
    return None


def write_csv(df: Any, path: str | Path) -> None:
    """Write ``df`` to ``path`` exactly as ``df.to_csv(path, index=False)`` would.

    Parameters
    ----------
    df : DataFrame
    path : str or Path

    Examples
    --------
    >>> import io, os, tempfile
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"a": [0.1, np.nan], "b": ["x, y", ""], "c": [True, False]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_csv(df, os.path.join(d, "t.csv"))
    ...     open(os.path.join(d, "t.csv")).read() == df.to_csv(index=False)
    True
    """
    cols = []
    if len(df.columns) == 0:
        df.to_csv(path, index=False)
        return
    for name in df.columns:
        txt = _column_text(df[name])
        if txt is None or not isinstance(name, str):
            df.to_csv(path, index=False)
            return
        cols.append(txt)
    # as pandas: the csv module's writer, minimal quoting, os.linesep line ends, UTF-8
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator=os.linesep, quoting=csv.QUOTE_MINIMAL)
        w.writerow(list(df.columns))
        w.writerows(zip(*cols, strict=True))
