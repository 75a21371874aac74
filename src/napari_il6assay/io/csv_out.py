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
import io
import os
from pathlib import Path
from typing import Any

import numpy as np


def _column_values(col: Any) -> np.ndarray | list[Any] | None:
    """Return one column's cells for `_rows_text` (None if not handled here).

    Numbers and booleans stay an array (sent to a worker as bytes, not as 10,000 Python
    objects; `_cells` makes them cells there); text becomes a list, None where missing.
    The writer then writes exactly what ``to_csv`` writes (floats by ``repr``, missing values
    as "").
    """
    from pandas.api.types import infer_dtype

    v = col.to_numpy()
    kind = v.dtype.kind
    if kind == "f":
        # float32 text is its own shortest form, not repr's
        return v if v.dtype == np.float64 else None
    if kind in "iub":
        return v  # str(): "3", "True"
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


def _cells(values: np.ndarray | list[Any]) -> list[Any]:
    """Return a column's cells for the csv writer: floats by ``repr`` (in C), NaN as None."""
    if isinstance(values, list):
        return values
    cells = values.tolist()
    if values.dtype.kind == "f":
        for i in np.flatnonzero(np.isnan(values)).tolist():
            cells[i] = None  # na_rep ""
    return cells


#: fewest rows worth a process of their own in `write_csv` (Python's float-to-text takes
#: about 0.05 s per 1,000 rows of ``fits.csv``; sending the cells and the text through
#: pipes, about 0.02 s)
MIN_ROWS_PER_PROCESS = 2000


def _rows_text(cols: list[np.ndarray | list[Any]]) -> str:
    """Return the rows of ``cols`` (one `_column_values` per column) as CSV text."""
    # as pandas: the csv module's writer, minimal quoting, os.linesep line ends
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=os.linesep, quoting=csv.QUOTE_MINIMAL)
    w.writerows(zip(*map(_cells, cols), strict=True))
    return buf.getvalue()


def write_csv(df: Any, path: str | Path, workers: int = 1) -> None:
    """Write ``df`` to ``path`` exactly as ``df.to_csv(path, index=False)`` would.

    Parameters
    ----------
    df : DataFrame
    path : str or Path
    workers : int
        Processes that turn the rows into text (`parallel.map_parts`, consecutive parts of
        at least `MIN_ROWS_PER_PROCESS` rows); the file is the same for any number.

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
    from napari_il6assay.parallel import map_parts, parts_for

    # no columns, or names pandas would format itself: to_csv's own text
    if len(df.columns) == 0 or not all(isinstance(c, str) for c in df.columns):
        df.to_csv(path, index=False)
        return
    maybe = [_column_values(df[name]) for name in df.columns]
    cols = [c for c in maybe if c is not None]
    if len(cols) < len(maybe):
        df.to_csv(path, index=False)
        return
    n_parts = parts_for(len(df), workers, MIN_ROWS_PER_PROCESS)
    edges = [len(df) * i // n_parts for i in range(n_parts + 1)]
    parts = [([c[lo:hi] for c in cols],) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    texts = map_parts(_rows_text, parts, n_parts)
    with open(path, "w", newline="", encoding="utf-8") as fh:  # UTF-8, as pandas
        csv.writer(fh, lineterminator=os.linesep, quoting=csv.QUOTE_MINIMAL).writerow(
            list(df.columns)
        )
        fh.writelines(texts)
