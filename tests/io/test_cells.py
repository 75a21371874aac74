"""Cell cleaning in one place (`io.cells`): the ranks a curve's key is built from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_il6assay.io.cells import text_codes, text_column


def test_text_codes_rank_cleaned_texts() -> None:
    """Texts that clean to the same value share a rank; ranks follow the sorted clean texts;
    missing cells are "" like any blank."""
    raw = pd.Series([" MCF-7", "MCF-7", None, "A549 ", np.nan, "nan", "", "b", "A549"],
                    dtype=object)  # fmt: skip
    codes, texts, rank = text_codes(raw)
    text = texts[codes].tolist()
    assert text == text_column(raw).tolist()
    assert text == ["MCF-7", "MCF-7", "", "A549", "", "", "", "b", "A549"]
    expected = {"": 0, "A549": 1, "MCF-7": 2, "b": 3}  # sorted as Python sorts str
    assert rank[codes].tolist() == [expected[t] for t in text]
    assert int(rank.max()) + 1 == 4
    for frame in (raw.astype("string"), raw.astype(str)):  # arrow / numpy text columns
        c2, t2, r2 = text_codes(frame)
        assert r2[c2].tolist() == [expected[t] for t in t2[c2]]
