"""Write a table as CSV with the exact text of ``DataFrame.to_csv(path, index=False)``, faster.

pandas formats every float through ``ndarray.astype(str)`` and its block machinery; on a
``fits.csv`` of 10,000 curves (48 columns) that was 0.5-1 s of an ``il6assay fit`` run whose
fitting takes about as long (issue 13). Here each column goes as a list of Python values
to Python's ``csv`` writer (which pandas uses too): it writes floats by ``repr`` (numpy's
float-to-text is that same shortest round-trip form), ``None`` as "", and quotes as pandas
does. Any column this cannot reproduce exactly (not float64, integer, bool, or text with
missing values) falls back to ``to_csv``, so the output never differs.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np


def _column_values(col: Any) -> list[Any] | None:
    """Return one column's cells for the csv writer (None if not handled here).

    The writer then writes exactly what ``to_csv`` writes (floats by ``repr``, missing values
    as "").
    """
    from pandas.api.types import infer_dtype

    v = col.to_numpy()
    kind = v.dtype.kind
    if kind == "f":
        if v.dtype != np.float64:  # float32 text is its own shortest form, not repr's
            return None
        vals = v.tolist()  # the writer formats floats with repr(), in C
        for i in np.flatnonzero(np.isnan(v)).tolist():
            vals[i] = None  # na_rep ""
        return vals
    if kind in "iub":
        return v.tolist()  # str(): "3", "True"
    if kind in "OUT":
        vals = v.tolist()
        if kind == "O" and infer_dtype(v, skipna=False) == "string":
            return vals  # all text: pandas checks that in C, the loop below took 0.1 s
        for i, x in enumerate(vals):
            if isinstance(x, str):
                continue
            if x is None or (isinstance(x, float) and x != x):
                vals[i] = None
            else:  # numbers or objects in a text column: pandas' own formatting
                return None
        return vals
    return None


def write_csv(df: Any, path: str | Path) -> None:
    """Write ``df`` to ``path`` exactly as ``df.to_csv(path, index=False)`` would.

    Parameters
    ----------
    df : DataFrame
    path : str or Path

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"a": [0.1, np.nan], "b": ["x, y", ""], "c": [True, False]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_csv(df, Path(d, "t.csv"))
    ...     Path(d, "t.csv").read_text() == df.to_csv(index=False)
    True
    """
    cols = []
    if len(df.columns) == 0:
        df.to_csv(path, index=False)
        return
    for name in df.columns:
        txt = _column_values(df[name])
        if txt is None or not isinstance(name, str):
            df.to_csv(path, index=False)
            return
        cols.append(txt)
    # as pandas: the csv module's writer, minimal quoting, os.linesep line ends, UTF-8
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator=os.linesep, quoting=csv.QUOTE_MINIMAL)
        w.writerow(list(df.columns))
        w.writerows(zip(*cols, strict=True))
