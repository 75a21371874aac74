"""Cell cleaning in one place (`io.cells`): the ranks a curve's key is built from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_il6assay.io.cells import text_column, text_column_ranked


def test_text_column_ranked_orders_cleaned_texts() -> None:
    """Texts that clean to the same value share a rank; ranks follow the sorted clean texts;
    missing cells are "" like any blank."""
    raw = pd.Series([" MCF-7", "MCF-7", None, "A549 ", np.nan, "nan", "", "b", "A549"],
                    dtype=object)  # fmt: skip
    text, rank, n = text_column_ranked(raw)
    assert text.tolist() == text_column(raw).tolist()
    assert text.tolist() == ["MCF-7", "MCF-7", "", "A549", "", "", "", "b", "A549"]
    expected = {"": 0, "A549": 1, "MCF-7": 2, "b": 3}  # sorted as Python sorts str
    assert rank.tolist() == [expected[t] for t in text]
    assert n == 4
    for frame in (raw.astype("string"), raw.astype(str)):  # arrow / numpy text columns
        t2, r2, _ = text_column_ranked(frame)
        assert r2.tolist() == [expected[t] for t in t2]
