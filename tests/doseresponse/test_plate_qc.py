"""Plate QC against hand computations and a synthetic plate with a known edge effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.normalize import normalize_wells
from napari_il6assay.doseresponse.plate_qc import PLATE_QC_COLUMNS, plate_qc, ssmd, z_prime


def test_z_prime_and_ssmd_by_hand() -> None:
    pos, neg = np.array([1.0, 0.9, 1.1]), np.array([0.1, 0.0, 0.2])
    # sd 0.1 each, means 1.0 and 0.1: Z' = 1 - 3 (0.1 + 0.1) / 0.9 = 1/3
    assert z_prime(pos, neg) == pytest.approx(1.0 / 3.0)
    assert ssmd(pos, neg) == pytest.approx(0.9 / np.sqrt(0.02))
    assert np.isnan(z_prime(pos, neg[:1]))


def plate(rng: np.random.Generator, edge_drop: float = 0.0, blanks: bool = True) -> pd.DataFrame:
    """A 96-well plate: two lines x 4 replicate rows; column 1 vehicle, 2-11 doses, 12 blank."""
    rows = []
    for r in range(8):
        line = "P" if r < 4 else "R"
        ic50 = 1e-9 if line == "P" else 1e-7
        for c in range(1, 13):
            well = f"{'ABCDEFGH'[r]}{c:02d}"
            if c == 12 and blanks:
                role, x, v = "blank", 0.0, 0.0
            elif c == 1:
                role, x, v = "vehicle", 0.0, 1.0
            else:
                role, x = "sample", 1e-11 * 3.0 ** (c - 2)
                v = 0.05 + 0.95 / (1 + x / ic50)
            readout = 0.45 * v + 0.01 + rng.normal(0, 0.012)
            edge = r in (0, 7) or c in (1, 12)
            if edge and role != "blank":
                readout *= 1 - edge_drop
            rows.append({"plate": "p1", "well": well, "cell_line": line if role != "blank" else "",
                         "drug": "eri" if role == "sample" else "", "concentration_M": x,
                         "drug_b": "", "concentration_b": 0.0, "role": role,
                         "readout": readout, "qc_flag": ""})  # fmt: skip
    return normalize_wells(pd.DataFrame(rows), readout="readout")


def test_edge_effect_flagged_only_when_present() -> None:
    for seed in range(3):
        good = plate_qc(plate(np.random.default_rng(seed)))
        bad = plate_qc(plate(np.random.default_rng(seed), edge_drop=0.2))
        assert list(good.columns) == PLATE_QC_COLUMNS and len(good) == 1
        g, b = good.iloc[0], bad.iloc[0]
        assert "edge_effect" not in g["flag"], g.to_dict()
        assert "edge_effect" in b["flag"], b.to_dict()
        assert b["edge_ratio"] == pytest.approx(0.8, abs=0.05)
        assert g["edge_ratio"] == pytest.approx(1.0, abs=0.05)
        assert b["edge_p_value"] < 1e-3 and g["edge_p_value"] > 0.01
        assert g["z_prime"] > 0.5 and "low_z_prime" not in g["flag"]


def test_plate_qc_z_prime_matches_hand_computation_from_wells() -> None:
    w = plate(np.random.default_rng(7))
    q = plate_qc(w).iloc[0]
    veh = w.loc[w["role"] == "vehicle", "viability"].to_numpy(float)
    blk = w.loc[w["role"] == "blank", "viability"].to_numpy(float)
    hand = 1 - 3 * (veh.std(ddof=1) + blk.std(ddof=1)) / abs(veh.mean() - blk.mean())
    assert q["z_prime"] == pytest.approx(hand, rel=1e-9)
    assert q["negative_control"] == "blank" and q["n_vehicle"] == 8 and q["n_negative"] == 8
    assert q["vehicle_cv_pct"] == pytest.approx(100 * veh.std(ddof=1) / veh.mean())


def test_noisy_plate_has_low_z_prime_and_top_kill_without_blanks() -> None:
    rng = np.random.default_rng(2)
    w = plate(rng, blanks=False)
    q = plate_qc(w).iloc[0]
    assert q["negative_control"].startswith("top-dose kill (P")
    w2 = w.copy()
    veh = w2["role"] == "vehicle"
    w2.loc[veh, "viability"] = 1 + rng.normal(0, 0.25, int(veh.sum()))
    q2 = plate_qc(w2).iloc[0]
    assert q2["z_prime"] < 0.5 and "low_z_prime" in q2["flag"]
