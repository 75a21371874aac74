"""Sphere-forming efficiency, passages and the sphere-size test (issue 15, part 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.spheres import (
    MFE,
    add_efficiency,
    sphere_forming_efficiency,
    sphere_sizes,
)
from napari_il6assay.errors import LayoutError
from napari_il6assay.io.layout import read_layout, write_layout


def test_efficiency_is_count_over_seeded() -> None:
    counts = np.array([0, 7, 40, 13])
    seeded = np.array([1000, 500, 2000, 0])
    got = sphere_forming_efficiency(counts, seeded)
    np.testing.assert_allclose(got[:3], counts[:3] / seeded[:3] * 100, rtol=1e-15)
    assert np.isnan(got[3])  # nothing seeded: no efficiency, not inf
    w = pd.DataFrame(
        {"well": ["A01", "A02"], "sphere_count": [12.0, 3.0], "cells_seeded": [400, 300]}
    )
    assert add_efficiency(w)[MFE].tolist() == [3.0, 1.0]
    assert MFE not in add_efficiency(w.drop(columns="cells_seeded")).columns


def test_layout_columns(tmp_path: Path) -> None:
    p = tmp_path / "layout.csv"
    p.write_text(
        "well,cell_line,drug,concentration,unit,cells_seeded,passage\n"
        "A1,MCF-7,eribulin,0,nM,1000,primary\n"
        "A2,MCF-7,eribulin,1,nM,1000,secondary\n"
    )
    t = read_layout(p).table
    assert t["cells_seeded"].tolist() == [1000.0, 1000.0]
    assert t["passage"].tolist() == ["primary", "secondary"]
    write_layout(read_layout(p), tmp_path / "back.csv")
    assert "cells_seeded,passage" in (tmp_path / "back.csv").read_text().splitlines()[0]
    # a layout without them writes none of them
    p2 = tmp_path / "plain.csv"
    p2.write_text("well,cell_line,drug,concentration,unit\nA1,MCF-7,eribulin,1,nM\n")
    write_layout(read_layout(p2), tmp_path / "plain_back.csv")
    assert (tmp_path / "plain_back.csv").read_text().splitlines()[0] == (
        "well,cell_line,drug,concentration,unit,drug_b,concentration_b,unit_b,role,"
        "replicate,parental"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "well,cell_line,drug,concentration,unit,cells_seeded\n"
        "A1,MCF-7,eribulin,1,nM,1000\nA2,MCF-7,eribulin,1,nM,lots\n"
    )
    with pytest.raises(LayoutError) as e:
        read_layout(bad)
    assert e.value.location.row == 3 and e.value.location.column == "cells_seeded"


def _size_tables(
    seed: int, *, n_wells: int = 3, per_well: int = 12, shrink: float = 0.7, log_sd: float = 0.35
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vehicle, one dose whose spheres are 30 % smaller, two doses from the vehicle's sizes."""
    rng = np.random.default_rng(seed)
    wells, objects = [], []
    design = [(0.0, 1.0), (1e-9, 1.0), (3e-9, 1.0), (1e-8, shrink)]
    k = 0
    for conc, factor in design:
        for _ in range(n_wells):
            well = f"{'ABCDEFGH'[k % 8]}{k // 8 + 1:02d}"
            k += 1
            wells.append(
                dict(
                    plate="P1",
                    well=well,
                    cell_line="MCF-7",
                    drug="eribulin",
                    concentration_M=conc,
                    role="vehicle" if conc == 0 else "sample",
                )
            )
            d = 90.0 * factor * np.exp(log_sd * rng.standard_normal(per_well))
            objects += [
                dict(plate="P1", well=well, equivalent_diameter_um=v, counted=True) for v in d
            ]
            # sub-threshold objects are in objects.csv but are not spheres
            objects += [dict(plate="P1", well=well, equivalent_diameter_um=20.0, counted=False)]
    return pd.DataFrame(objects), pd.DataFrame(wells)


def test_size_test_power_and_false_positives() -> None:
    n, hits, false_pos, null_tests = 200, 0, 0, 0
    for seed in range(n):
        obj, wells = _size_tables(seed)
        t = sphere_sizes(obj, wells).set_index("concentration_M")
        hits += t.loc[1e-8, "size_flag"] == "smaller"
        for c in (1e-9, 3e-9):
            null_tests += 1
            false_pos += t.loc[c, "size_flag"] in ("smaller", "larger")
    power, fp = hits / n, false_pos / null_tests
    assert power >= 0.80, power
    assert fp <= 0.05, fp
    # the table itself: medians and IQR of the counted spheres only
    obj, wells = _size_tables(0)
    t = sphere_sizes(obj, wells).set_index("concentration_M")
    veh = obj[obj["counted"] & obj["well"].isin(wells.loc[wells["role"] == "vehicle", "well"])]
    assert t.loc[0.0, "median_um"] == pytest.approx(veh["equivalent_diameter_um"].median())
    q1, q3 = np.percentile(veh["equivalent_diameter_um"], [25, 75])
    assert t.loc[0.0, "iqr_um"] == pytest.approx(q3 - q1)
    assert t.loc[0.0, "n_spheres"] == 36 and t.loc[0.0, "n_wells"] == 3
    assert np.isnan(t.loc[0.0, "p_value"])


def test_smaller_design_power_is_reported() -> None:
    """Fewer spheres (2 wells x 8): the power drops; the false-positive rate must not rise."""
    n, hits, fps = 150, 0, 0
    for seed in range(n):
        obj, wells = _size_tables(1000 + seed, n_wells=2, per_well=8)
        t = sphere_sizes(obj, wells).set_index("concentration_M")
        hits += t.loc[1e-8, "size_flag"] == "smaller"
        fps += (t.loc[[1e-9, 3e-9], "size_flag"] != "").sum()
    assert fps / (2 * n) <= 0.05
    assert hits / n >= 0.5, hits / n


@pytest.mark.slow
def test_batch_spheres_mfe_passages_and_sizes(tmp_path: Path) -> None:
    from napari_il6assay.batch.run import run_batch
    from napari_il6assay.synthetic.sphere_mfe import make_sphere_mfe_experiment

    truth, _ = make_sphere_mfe_experiment(tmp_path / "in", seed=0)
    res = run_batch(
        tmp_path / "in",
        tmp_path / "in" / "layout.csv",
        "spheres",
        tmp_path / "out",
        workers=1,
        quiet=True,
    )
    assert res.exit_code == 0 and res.n_ok == len(truth)
    out = tmp_path / "out"
    wells = pd.read_csv(out / "wells.csv").set_index("well")
    t = truth.set_index("well")
    # MFE is the measured count over the seeded cells, exactly
    np.testing.assert_allclose(
        wells[MFE], wells["sphere_count"] / wells["cells_seeded"] * 100, rtol=1e-12
    )
    assert (wells["cells_seeded"] == t.loc[wells.index, "cells_seeded"]).all()
    # and the measured counts are the drawn ones (within 3 spheres per well)
    assert (np.abs(wells["sphere_count"] - t.loc[wells.index, "true_count"]) <= 3).all()
    assert (wells["passage"] == t.loc[wells.index, "passage"]).all()
    # each passage is scaled to its own vehicle
    for _p, g in wells.groupby("passage"):
        assert g.loc[g["role"] == "vehicle", "viability"].mean() == pytest.approx(1.0)
    cond = pd.read_csv(out / "conditions.csv")
    assert set(cond["passage"]) == {"primary", "secondary"}
    sec_veh = cond[(cond["passage"] == "secondary") & (cond["concentration_M"] == 0)].iloc[0]
    want = wells[(wells["passage"] == "secondary") & (wells["concentration_M"] == 0)][MFE].mean()
    assert sec_veh[f"{MFE}_mean"] == pytest.approx(want)
    fits = pd.read_csv(out / "fits.csv")
    assert set(fits["passage"]) == {"primary", "secondary"}
    sizes = pd.read_csv(out / "sphere_sizes.csv")
    assert set(sizes["passage"]) == {"primary", "secondary"}
    top = sizes[(sizes["passage"] == "primary") & (sizes["concentration_M"] == 1e-8)].iloc[0]
    assert top["median_ratio_vs_vehicle"] == pytest.approx(0.7, abs=0.12)
    assert (out / "plots" / "sphere_sizes_MCF-7E.png").stat().st_size > 10_000
    for p in ("primary", "secondary"):  # a dose-response figure per passage
        assert (out / "plots" / f"dose_response_eribulin_{p}.png").is_file()
    assert "Sphere sizes" in (out / "report.html").read_text()
    # the efficiency is fittable against dose (one passage: passages are separate curves)
    wells.reset_index()[wells.reset_index()["passage"] == "primary"].to_csv(
        tmp_path / "primary.csv", index=False
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_il6assay",
            "fit",
            str(tmp_path / "primary.csv"),
            "--out",
            str(tmp_path / "fit"),
            "--response",
            MFE,
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    f = pd.read_csv(tmp_path / "fit" / "fits.csv")
    ok = f[f["status"] == "ok"]
    assert len(ok) >= 1
    # truth: IC50 2 nM (duplicate wells of Poisson counts: a loose check)
    assert abs(np.log10(ok["ic50_rel_M"].iloc[0] / 2e-9)) < 0.3
