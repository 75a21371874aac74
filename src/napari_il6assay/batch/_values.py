"""Small value helpers shared by the batch tables, exports and report."""

from __future__ import annotations

from typing import Any

import pandas as pd


def is_blank(v: Any) -> bool:
    """True for None, NaN/NA and empty or whitespace-only text.

    Tables read back from CSV hold NaN where a cell was empty, tables built in memory hold
    ``""`` or None: every place that asks "is there a value?" must treat them alike.
    """
    if v is None:
        return True
    try:
        if pd.isna(v):
            return True
    except (TypeError, ValueError):
        pass
    return str(v).strip() == ""
