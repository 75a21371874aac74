"""Plate-level consistency: untrusted wells stay in the tables but out of viability and fits."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.batch.plate_consistency import flag_plate_outliers, plate_outliers
from napari_il6assay.doseresponse.normalize import normalize_wells
from napari_il6assay.qc_flags import FLAGS, UNTRUSTED, parse_include


def clean_plate(rng: np.random.Generator, n: int = 48) -> pd.DataFrame:
    """Diagnostics of a clean plate: levels jitter by a few %, readouts follow the dose."""
    return pd.DataFrame(
        {
            "plate": "p1",
            "well": [f"W{i:02d}" for i in range(n)],
            "role": ["sample"] * (n - 4) + ["blank"] * 4,
            "image_p1": rng.normal(60, 3, n),
            "image_p99": rng.normal(235, 4, n),
            "well_radius_px": rng.normal(90, 1.0, n),
            "readout": rng.uniform(0, 0.6, n),
        }
    )


def test_clean_plates_have_no_outlier() -> None:
    for seed in range(50):
        df = clean_plate(np.random.default_rng(seed))
        assert not plate_outliers(df)["plate_outlier"].any(), seed


def test_foreign_image_is_an_outlier_and_says_why() -> None:
    df = clean_plate(np.random.default_rng(1))
    df.loc[5, ["image_p1", "image_p99"]] = [900.0, 40000.0]  # a uint16 image among uint8
    df.loc[9, "well_radius_px"] = 40.0  # a small circle between colonies
    df.loc[45, "image_p99"] = 40000.0  # a blank is not judged against the samples
    res = plate_outliers(df)
    assert res.index[res["plate_outlier"]].tolist() == [5, 9]
    assert "image_p99 z=+" in res.loc[5, "plate_outlier_why"]
    assert res.loc[9, "plate_outlier_why"].startswith("well_radius_px z=-")
    flagged = flag_plate_outliers(df.assign(qc_flag=["low_contrast"] + [""] * 47))
    assert flagged.loc[5, "qc_flag"] == "plate_outlier"
    assert flagged.loc[0, "qc_flag"] == "low_contrast"


def test_small_plates_are_not_judged() -> None:
    df = clean_plate(np.random.default_rng(2), n=10)  # 6 judged wells < MIN_WELLS
    df.loc[0, "image_p99"] = 1e5
    assert not plate_outliers(df)["plate_outlier"].any()


def test_untrusted_well_keeps_row_but_no_viability() -> None:
    df = pd.DataFrame(
        {
            "well": ["A1", "A2", "A3", "A4", "A5", "A6"],
            "cell_line": "P",
            "role": ["vehicle", "vehicle", "vehicle", "sample", "sample", "blank"],
            "readout": [10.0, 10.0, 40.0, 5.0, 5.5, 0.0],
            "qc_flag": ["", "", "mode_mismatch", "low_contrast", "touches_border", ""],
        }
    )
    out = normalize_wells(df)
    # the mode_mismatch vehicle is not in the vehicle mean: 10, not 20
    assert out["viability"].tolist()[:2] == [1.0, 1.0]
    assert math.isnan(out.loc[2, "viability"]) and math.isnan(out.loc[4, "viability"])
    assert out.loc[3, "viability"] == pytest.approx(0.5)  # a warning flag is kept
    assert out["excluded_flags"].tolist() == ["", "", "mode_mismatch", "", "touches_border", ""]
    assert out.loc[2, "readout"] == 40.0 and "mode_mismatch" in out.loc[2, "qc_flag"]
    back = normalize_wells(df, include_flagged=parse_include("touches_border"))
    assert back.loc[4, "viability"] == pytest.approx(0.55)
    assert math.isnan(back.loc[2, "viability"])


def test_flag_vocabulary() -> None:
    assert UNTRUSTED <= set(FLAGS)
    for name in (
        "touches_border",
        "well_implausible",
        "no_object",
        "low_contrast",
        "out_of_focus",
        "mode_mismatch",
        "blank_not_empty",
        "merged_objects",
        "plate_outlier",
    ):
        assert name in FLAGS
    assert parse_include("all") == UNTRUSTED
    with pytest.raises(ValueError, match="unknown qc flag"):
        parse_include("touches_borders")


@pytest.mark.slow
def test_three_foreign_images_are_flagged_and_do_not_move_the_ic50s(tmp_path) -> None:
    """A colony plate with 3 wells holding images of other assays (issue 9)."""
    from PIL import Image

    from napari_il6assay.batch.run import run_batch
    from napari_il6assay.synthetic.experiment import make_experiment
    from napari_il6assay.synthetic.livedead import make_livedead_well
    from napari_il6assay.synthetic.spheroid import make_spheroid_2d

    clean = tmp_path / "clean"
    make_experiment(clean, mode="colony", seed=11, image_size=192, rgb=True)
    dirty = tmp_path / "dirty"
    shutil.copytree(clean, dirty)
    # mid-curve wells of the resistant line, where a wrong readout moves the IC50 most
    sph = make_spheroid_2d(3, size=192, rgb=True).image
    ld = make_livedead_well(4, size=192).image
    ld_rgb = np.zeros((*ld.shape[:2], 3), np.uint8)
    ld_rgb[..., 1] = np.clip(ld[..., 0] / ld[..., 0].max() * 255, 0, 255).astype(np.uint8)
    ld_rgb[..., 0] = np.clip(ld[..., 1] / ld[..., 1].max() * 255, 0, 255).astype(np.uint8)
    dark = np.zeros((192, 192, 3), np.uint8)  # a well photographed with the lamp off
    dark += np.random.default_rng(5).integers(0, 12, dark.shape, dtype=np.uint8)
    for well, img in (("E06", sph), ("F07", ld_rgb), ("D05", dark)):
        Image.fromarray(np.asarray(img)).save(dirty / f"{well}.png")

    tables = {}
    for name, folder in (("clean", clean), ("dirty", dirty)):
        res = run_batch(
            folder,
            folder / "layout.csv",
            "colony",
            tmp_path / f"out_{name}",
            workers=1,
            quiet=True,
            report=False,
        )
        assert res.exit_code == 0
        tables[name] = (
            pd.read_csv(tmp_path / f"out_{name}" / "wells.csv"),
            pd.read_csv(tmp_path / f"out_{name}" / "fits.csv"),
        )
    wells = tables["dirty"][0].set_index("well")
    for well in ("E06", "F07", "D05"):
        flags = set(str(wells.loc[well, "qc_flag"]).split(";"))
        assert flags & UNTRUSTED, (well, wells.loc[well, "qc_flag"])
        assert math.isnan(wells.loc[well, "viability"])

    # the other wells are judged as on the clean plate (the three do not shift the plate's
    # median and MAD)
    def flagged(w: pd.DataFrame) -> set[str]:
        w = w[~w["well"].isin(["E06", "F07", "D05"])]
        return set(w.loc[w["qc_flag"].fillna("").str.contains("plate_outlier"), "well"])

    assert flagged(tables["dirty"][0]) == flagged(tables["clean"][0])
    fc, fd = tables["clean"][1], tables["dirty"][1]
    key = ["cell_line", "drug", "drug_b"]
    m = fc.merge(fd, on=key, suffixes=("_c", "_d"))
    assert len(m) == len(fc) >= 3
    diff = np.abs(np.log10(m["ic50_rel_M_d"] / m["ic50_rel_M_c"]))
    assert (diff < 0.02).all(), m[[*key, "ic50_rel_M_c", "ic50_rel_M_d"]]


def test_every_flag_is_documented(repo_root) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    contract = (repo_root / "docs" / "interface.md").read_text(encoding="utf-8")
    for name, meaning in FLAGS.items():
        assert f"| `{name}` |" in readme and f"| `{name}` |" in contract, name
        assert meaning in readme, name


def test_exclusions_file_is_checked_and_applied(tmp_path) -> None:
    from napari_il6assay.errors import LayoutError
    from napari_il6assay.io.exclusions import apply_exclusions, read_exclusions

    f = tmp_path / "ex.csv"
    f.write_text("well,reason\nB2,bubble in the well\nZZ9,typo\nC3,\n", encoding="utf-8")
    with pytest.raises(LayoutError) as err:
        read_exclusions(f)
    msg = str(err.value)
    assert "row 3" in msg and "'ZZ9' is not a well id" in msg
    assert "row 4" in msg and "needs a reason" in msg and str(f) in msg
    f.write_text(
        "plate,well,reason,time\n,B2,bubble,2026-12-01T09:00:00\np2,C03,scratch,\n",
        encoding="utf-8",
    )
    ex = read_exclusions(f)
    assert ex["well"].tolist() == ["B02", "C03"] and ex["time"].iloc[0] == "2026-12-01T09:00:00"
    assert ex["time"].iloc[1].startswith("20")  # filled in
    wells = pd.DataFrame(
        {
            "plate": ["p1", "p2", "p1", "p2"],
            "well": ["B02", "B02", "C03", "C03"],
            "role": ["sample"] * 4,
            "readout": 1.0,
            "cell_line": "P",
        }
    )
    out = apply_exclusions(wells, ex)
    assert out["role"].tolist() == ["exclude", "exclude", "sample", "exclude"]
    assert out["exclusion_reason"].tolist() == ["bubble", "bubble", "", "scratch"]
    assert out["role_original"].tolist() == ["sample"] * 4


@pytest.mark.slow
def test_batch_exclude_file_round_trip(tmp_path) -> None:
    import json

    from napari_il6assay.cli import main
    from napari_il6assay.synthetic.experiment import make_experiment

    make_experiment(tmp_path / "in", mode="livedead", seed=12, image_size=128, rgb=False)
    ex = tmp_path / "ex.csv"
    ex.write_text("well,reason\nE05,bubble over the cells\nE6,focus lost\n", encoding="utf-8")
    out = tmp_path / "out"
    rc = main(
        [
            "batch",
            str(tmp_path / "in"),
            "--layout",
            str(tmp_path / "in" / "layout.csv"),
            "--mode",
            "livedead",
            "--out",
            str(out),
            "--workers",
            "1",
            "--quiet",
            "--no-report",
            "--exclude",
            str(ex),
        ]
    )
    assert rc == 0
    wells = pd.read_csv(out / "wells.csv").set_index("well")
    assert wells.loc["E05", "role"] == "exclude" and wells.loc["E05", "role_original"] == "sample"
    assert wells.loc["E06", "exclusion_reason"] == "focus lost"
    assert "excluded" in wells.loc["E05", "qc_flag"]
    written = pd.read_csv(out / "exclusions.csv")
    assert written["well"].tolist() == ["E05", "E06"]
    info = json.loads((out / "run.json").read_text())
    assert [e["reason"] for e in info["exclusions"]] == ["bubble over the cells", "focus lost"]
    fits = pd.read_csv(out / "fits.csv")
    row = fits[(fits["cell_line"] == "MDA-MB-231E") & fits["drug_b"].isna()].iloc[0]
    clean = pd.read_csv(out / "conditions.csv")
    assert row["n_points"] == 30 - 2  # 27 dosed + 3 vehicles, less the two excluded wells
    assert len(clean)


def test_fit_command_leaves_out_excluded_and_untrusted_rows(tmp_path, capsys) -> None:
    from napari_il6assay.cli import main

    doses = np.r_[0.0, 1e-9 * 3.0 ** np.arange(9)]
    rows = []
    for i, c in enumerate(np.repeat(doses, 3)):
        v = 1.0 / (1.0 + (c / 2e-8) ** 1.2) if c > 0 else 1.0
        rows.append(
            {
                "well": f"{'ABCDEFGH'[i // 12]}{i % 12 + 1}",
                "cell_line": "P",
                "drug": "eribulin",
                "concentration": c * 1e9,
                "unit": "nM",
                "viability": v,
                "qc_flag": "",
            }
        )
    df = pd.DataFrame(rows)
    bad = df.index[(df["concentration"] > 5) & (df["concentration"] < 30)]
    df.loc[bad[:2], "viability"] = 3.0  # wrong readouts of images of another assay
    df.loc[bad[:1], "qc_flag"] = "mode_mismatch"
    table = tmp_path / "wells.csv"
    df.to_csv(table, index=False)
    ex = tmp_path / "ex.csv"
    ex.write_text(f"well,reason\n{df.loc[bad[1], 'well']},bubble\n", encoding="utf-8")
    rc = main(
        ["fit", str(table), "--out", str(tmp_path / "o1"), "--no-plots", "--exclude", str(ex)]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "excluded 1 row" in out and "left out 1 row" in out
    ic50 = pd.read_csv(tmp_path / "o1" / "fits.csv")["ic50_rel_M"].iloc[0]
    assert abs(np.log10(ic50 / 2e-8)) < 0.01
    rc = main(
        [
            "fit",
            str(table),
            "--out",
            str(tmp_path / "o2"),
            "--no-plots",
            "--include-flagged",
            "mode_mismatch",
        ]
    )
    assert rc == 0
    worse = pd.read_csv(tmp_path / "o2" / "fits.csv")["ic50_rel_M"].iloc[0]
    assert abs(np.log10(worse / 2e-8)) > 0.05  # the wrong rows move it when let in
