"""Normalization to viability, shared blanks, excluded wells, robust outlier flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.normalize import (
    CONDITIONS_COLUMNS,
    normalize_wells,
    summarize_conditions,
)
from napari_il6assay.errors import InputError


def plate() -> pd.DataFrame:
    rows = []
    for line, veh, blank in (("P", 2.0, 0.2), ("R", 4.0, None)):
        for i in range(3):
            rows.append((line, "", 0.0, "vehicle", veh + (i - 1) * 0.1))
        for c, frac in ((1e-9, 0.8), (1e-8, 0.5), (1e-7, 0.1)):
            b = 0.2 if blank is None else blank
            for i in range(3):
                rows.append((line, "eribulin", c, "sample", b + frac * (veh - b) + (i - 1) * 0.01))
    rows += [("", "", np.nan, "blank", v) for v in (0.19, 0.2, 0.21)]  # shared blanks
    rows.append(("P", "eribulin", 1e-8, "exclude", 99.0))
    df = pd.DataFrame(rows, columns=["cell_line", "drug", "concentration_M", "role", "readout"])
    df["plate"] = "p1"
    df["well"] = [f"A{i + 1:02d}" for i in range(len(df))]
    return df


def test_vehicle_one_blank_zero_shared_blanks() -> None:
    w = normalize_wells(plate())
    for line in ("P", "R"):
        v = w[(w["cell_line"] == line) & (w["role"] == "vehicle")]["viability"]
        assert v.mean() == pytest.approx(1.0, abs=1e-12)
        s = w[(w["cell_line"] == line) & (w["concentration_M"] == 1e-8) & (w["role"] == "sample")]
        assert s["viability"].mean() == pytest.approx(0.5, abs=1e-9)
    assert w[w["role"] == "blank"]["viability"].mean() == pytest.approx(0.0, abs=1e-9)
    ex = w[w["role"] == "exclude"]
    assert len(ex) == 1 and "excluded" in ex["qc_flag"].iloc[0]  # kept, flagged
    assert not w["qc_flag"].str.contains("outlier").any()


def test_outlier_flagged_not_removed() -> None:
    df = plate()
    extra = df.iloc[3:6].assign(well=["B1", "B2", "B3"])  # 6 replicates of P at 1 nM
    df = pd.concat([df, extra], ignore_index=True)
    df.loc[3, "readout"] = 3.0  # viability 1.56 among replicates at 0.8
    w = normalize_wells(df)
    assert len(w) == len(df)
    assert w.loc[3, "qc_flag"] == "outlier"
    assert w.loc[3, "viability"] == pytest.approx((3.0 - 0.2) / 1.8)
    assert (w["qc_flag"] == "outlier").sum() == 1


def test_summarize_conditions() -> None:
    c = summarize_conditions(normalize_wells(plate()))
    assert list(c.columns[: len(CONDITIONS_COLUMNS)]) == CONDITIONS_COLUMNS
    r = c[(c["cell_line"] == "R") & (c["concentration_M"] == 1e-8)].iloc[0]
    assert r["n"] == 3 and r["viability_mean"] == pytest.approx(0.5, abs=1e-9)
    assert r["viability_sem"] == pytest.approx(r["viability_sd"] / np.sqrt(3))
    assert len(r["wells"].split(";")) == 3
    assert not (c["viability_mean"] > 10).any()  # the excluded 99 never enters


def test_bad_readout_names_row_and_column() -> None:
    df = plate()
    df["readout"] = df["readout"].astype(object)
    df.loc[4, "readout"] = "n/a?"
    with pytest.raises(InputError, match="row 6.*readout"):
        normalize_wells(df, path="wells.csv")


def test_roles_inferred_from_concentration_and_missing_concentration_named() -> None:
    df = plate()
    df = df[df["role"] != "exclude"].copy()
    df["role"] = np.where(df["role"] == "blank", "blank", "")
    w = normalize_wells(df)
    # a dose of 0 (or no drug) is a vehicle, a dose > 0 a sample: the same scale as given roles
    assert (w["role"] == "vehicle").sum() == 6 and (w["role"] == "sample").sum() == 18
    s = w[(w["cell_line"] == "P") & (w["concentration_M"] == 1e-8)]["viability"]
    assert s.mean() == pytest.approx(0.5, abs=1e-9)
    with pytest.raises(InputError, match="concentration"):
        normalize_wells(df.drop(columns=["concentration_M"]), path="wells.csv")


def test_normalized_wells_fit_end_to_end() -> None:
    """wells -> normalize -> fit: vehicles labelled 'DMSO' anchor every drug's curve."""
    from napari_il6assay.doseresponse.fit import fit_curves

    rng = np.random.default_rng(5)
    rows = []
    for c in np.r_[0.0, 1e-10 * 3.0 ** np.arange(9)]:
        for drug, ic in (("eribulin", 2e-9), ("paclitaxel", 2e-8)):
            if c == 0 and drug == "paclitaxel":
                continue
            for _ in range(3):
                raw = 0.1 + 2.0 / (1 + (c / ic) ** 1.3) + rng.normal(0, 0.04)
                rows.append(("P", "DMSO" if c == 0 else drug, c, "vehicle" if c == 0 else "sample",
                             raw))  # fmt: skip
    rows += [("", "", np.nan, "blank", 0.1 + rng.normal(0, 0.01)) for _ in range(3)]
    df = pd.DataFrame(rows, columns=["cell_line", "drug", "concentration_M", "role", "readout"])
    df["plate"], df["well"] = "p1", [f"W{i}" for i in range(len(df))]
    fits = fit_curves(normalize_wells(df)).set_index("drug")
    assert sorted(fits.index) == ["eribulin", "paclitaxel"]
    for drug, ic in (("eribulin", 2e-9), ("paclitaxel", 2e-8)):
        assert fits.loc[drug, "n_points"] == 30  # 27 dosed + the 3 shared vehicles
        assert np.log10(fits.loc[drug, "ic50_rel_M"] / ic) == pytest.approx(0, abs=0.1)
        assert fits.loc[drug, "top"] == pytest.approx(1.0, abs=0.05)
