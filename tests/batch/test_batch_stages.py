"""The curve stages (`batch.stages`): one runner for the batch and the panel's refit.

A refit of the batch's own ``wells.csv``, read back as the panel reads it, must give the batch's
conditions and fits; passages are normalised each to their own vehicle in both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.batch.stages import curve_tables, refit_tables
from napari_il6assay.batch.wells import aggregate_sites

DOSES_M = [0.0, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5]


def _wells(passages: tuple[str, ...] = ("",), scale: tuple[float, ...] = (1.0,)) -> pd.DataFrame:
    """A parental (IC50 10 nM) and a resistant line (IC50 1 uM), triplicates, per passage."""
    rng = np.random.default_rng(7)
    rows = []
    for p, s in zip(passages, scale, strict=True):
        for line, ic50, parental in (("P", 1e-8, ""), ("R", 1e-6, "P")):
            for i, c in enumerate(DOSES_M):
                for rep in range(3):
                    v = 1.0 / (1.0 + (c / ic50) ** 1.2) if c else 1.0
                    rows.append({
                        "plate": "p1", "well": f"{'AB'[rep // 2]}{i + 1 + 7 * (line == 'R')}",
                        "cell_line": line, "drug": "eribulin" if c else "",
                        "concentration_M": c, "drug_b": "", "concentration_b": np.nan,
                        "role": "sample" if c else "vehicle", "parental": parental or np.nan,
                        "replicate": rep + 1, "qc_flag": "", "passage": p or np.nan,
                        "readout": s * 1000.0 * v * (1 + 0.02 * rng.standard_normal()),
                    })  # fmt: skip
    return pd.DataFrame(rows)


def test_refit_of_the_written_wells_gives_the_batch_fits(tmp_path: Path) -> None:
    batch = curve_tables(_wells(passages=("",)).drop(columns="passage"))
    assert not batch.problems
    # the panel reads wells.csv back with pandas and refits it
    batch.wells.to_csv(tmp_path / "wells.csv", index=False)
    wells = pd.read_csv(tmp_path / "wells.csv")
    refit = refit_tables(wells)
    # the plate tables too (one drug: no cross-resistance, an empty table)
    assert set(refit) == {"wells", "conditions", "fits", "plate_qc", "cross_resistance"}
    assert len(refit["plate_qc"]) == 1 and refit["cross_resistance"].empty
    pd.testing.assert_frame_equal(refit["fits"], batch.fits, check_dtype=False)
    cols = ["cell_line", "concentration_M", "n", "viability_mean"]
    pd.testing.assert_frame_equal(refit["conditions"][cols], batch.conditions[cols],
                                  check_dtype=False)  # fmt: skip
    # the curves are the ones the wells were made with (2 % noise)
    ic50 = batch.fits.set_index("cell_line")["ic50_rel_M"]
    assert ic50["P"] == pytest.approx(1e-8, rel=0.15)
    assert ic50["R"] == pytest.approx(1e-6, rel=0.15)
    assert batch.fits.set_index("cell_line").loc["R", "fold_resistance"] == pytest.approx(
        100, rel=0.3
    )


def test_each_passage_is_scaled_to_its_own_vehicle_in_the_refit_too() -> None:
    # the secondary spheres read 3x the primary ones: pooled, the primary vehicle would be ~0.5
    wells = _wells(passages=("primary", "secondary"), scale=(1.0, 3.0))
    for res in (curve_tables(wells).wells, refit_tables(wells)["wells"]):
        veh = res[res["role"] == "vehicle"].groupby(["passage", "cell_line"])["viability"].mean()
        assert veh.to_numpy() == pytest.approx(1.0, abs=0.03)
    fits = refit_tables(wells)["fits"]
    assert sorted(fits["passage"]) == ["primary", "primary", "secondary", "secondary"]


def test_a_failing_combination_stage_keeps_the_curves(monkeypatch: pytest.MonkeyPatch) -> None:
    from napari_il6assay.batch import stages

    def boom(*a: object, **k: object) -> None:
        raise ValueError("no checkerboard")

    monkeypatch.setattr(stages, "combination_tables", boom)
    wells = _wells().drop(columns="passage")
    wells.loc[wells["cell_line"] == "R", ["drug_b", "concentration_b"]] = ["tocilizumab", 10.0]
    res = curve_tables(wells)
    assert [(p.stage, p.error) for p in res.problems] == [
        ("synergy", "ValueError: no checkerboard")
    ]
    assert res.synergy is None and len(res.fits) >= 2
    refit = refit_tables(wells)
    assert refit["synergy"].empty and refit["potentiation"].empty
    assert refit["combination_error"]["error"].tolist() == ["ValueError: no checkerboard"]


def test_a_failing_fit_stage_is_an_error_row_in_the_batch_and_raised_in_the_refit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from napari_il6assay.batch import stages
    from napari_il6assay.errors import FitError

    def boom(*a: object, **k: object) -> None:
        raise KeyError("cell_line")

    monkeypatch.setattr(stages, "fit_table", boom)
    wells = _wells().drop(columns="passage")
    res = curve_tables(wells)
    assert [p.row() for p in res.problems] == [
        {"path": "wells.csv", "stage": "fit", "error": "KeyError: 'cell_line'"}
    ]
    assert res.fits.empty and "ic50_rel_M" in res.fits.columns
    with pytest.raises(FitError, match="cell_line"):
        refit_tables(wells)


def test_aggregate_sites_of_one_site_wells_is_the_site() -> None:
    images = pd.DataFrame({"plate": ["p", "p"], "well": ["A01", "A02"], "site": [1, 1],
                           "image": ["a.png", "b.png"], "readout": [0.25, 0.5],
                           "n_objects": [3, 4], "qc_flag": ["", "low_contrast"]})  # fmt: skip
    w = aggregate_sites(images)
    assert w["readout"].tolist() == [0.25, 0.5]
    assert w["n_objects"].tolist() == [3, 4] and w["qc_flag"].tolist() == ["", "low_contrast"]
