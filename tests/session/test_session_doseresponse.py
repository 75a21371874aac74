"""The dose–response panel's state without Qt (`DoseResponseSession`): exclusions with reasons,
corrections measured into the tables, and the refit, checked against the batch itself."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.io.cells import text_column
from napari_il6assay.io.plate import well_key
from napari_il6assay.session.doseresponse import DoseResponseSession

WELLS = [f"{r}{c:02d}" for r in "AD" for c in range(1, 11)]
FIT_COLUMNS = ["ic50_rel_M", "ic50_ci_low_M", "ic50_ci_high_M", "hill", "top", "bottom"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small spheroid plate (parental row A, resistant row D) measured by `run_batch`."""
    from napari_il6assay.batch.run import run_batch
    from napari_il6assay.synthetic.experiment import make_experiment

    root = tmp_path_factory.mktemp("session")
    full = root / "full"
    make_experiment(full, mode="spheroid", seed=5, image_size=96, rgb=False)
    folder = root / "plate"
    folder.mkdir()
    for w in WELLS:
        shutil.copy2(full / f"{w}.tif", folder / f"{w}.tif")
    lay = pd.read_csv(full / "layout.csv")
    lay[lay["well"].isin(WELLS)].to_csv(root / "layout.csv", index=False)
    out = root / "results"
    run_batch(folder, root / "layout.csv", "spheroid", out, workers=1, quiet=True, report=False)
    return {"root": root, "folder": folder, "layout": root / "layout.csv", "out": out}


def _fresh(run: dict, tmp_path: Path) -> Path:
    """A copy of the results folder (the session writes exclusions and corrections into it)."""
    out = tmp_path / "results"
    shutil.copytree(run["out"], out)
    return out


def _fits(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    f = tables["fits"]
    f = f[text_column(f["drug_b"]) == ""] if "drug_b" in f.columns else f
    cols = [c for c in FIT_COLUMNS if c in f.columns]
    return f.set_index("cell_line")[cols].astype(float).sort_index()


def _resistant_sample(wells: pd.DataFrame, k: int) -> tuple[str, str]:
    """(plate, well) of the k-th resistant-line sample well."""
    w = wells[wells["well"].str.startswith("D") & (wells["role"] == "sample")]
    return str(w["plate"].iloc[k]), str(w["well"].iloc[k])


def test_refit_of_the_loaded_run_gives_the_batch_fits(run):
    session = DoseResponseSession.open(run["out"])
    assert session.excluded == set() and session.drugs() == sorted(session.drugs())
    batch = _fits(session.tables)
    assert np.isfinite(batch["ic50_rel_M"]).all() and len(batch) == 2
    refit = _fits(session.refit())
    pd.testing.assert_frame_equal(refit, batch, rtol=1e-9)


def test_exclusion_refit_is_the_batch_exclude(run, tmp_path):
    """Excluding two wells in the session and refitting gives the fits of ``batch --exclude``
    with the exclusions file the session saved; including them again gives the run's fits."""
    from napari_il6assay.batch.run import run_batch

    out = _fresh(run, tmp_path)
    session = DoseResponseSession.open(out)
    before = _fits(session.tables)
    wells = session.tables["wells"]
    (plate, w1), (_, w2) = _resistant_sample(wells, 3), _resistant_sample(wells, 4)
    session.exclude(plate, w1, "bubble")
    session.exclude(plate, w2, "empty well")
    keys = {well_key(plate, w1), well_key(plate, w2)}
    assert session.excluded == keys and session.is_excluded(plate, w1)
    saved = session.save_exclusions()
    assert saved == out / "exclusions.csv"

    tables = session.refit()
    refit = tables["wells"].set_index("well")
    assert refit.loc[w1, "role"] == "exclude" and refit.loc[w2, "role"] == "exclude"
    assert refit.loc[w1, "exclusion_reason"] == "bubble"
    assert refit.loc[w2, "exclusion_reason"] == "empty well"
    assert (refit.drop(index=[w1, w2])["exclusion_reason"] == "").all()
    after = _fits(tables)
    assert after.loc[:, "ic50_rel_M"].ne(before.loc[:, "ic50_rel_M"]).any()

    cli_out = tmp_path / "cli"
    run_batch(run["folder"], run["layout"], "spheroid", cli_out, workers=1, quiet=True,
              report=False, exclude=saved)  # fmt: skip
    cli = _fits({"fits": pd.read_csv(cli_out / "fits.csv")})
    pd.testing.assert_frame_equal(after, cli, rtol=1e-9)

    # opened again: the saved exclusions come back, and so does the same refit
    again = DoseResponseSession.open(out)
    assert again.excluded == keys
    pd.testing.assert_frame_equal(_fits(again.refit()), after, rtol=0)

    session.include(plate, w1)
    session.include(plate, w2)
    assert session.excluded == set()
    pd.testing.assert_frame_equal(_fits(session.refit()), before, rtol=1e-9)


def test_set_excluded_is_not_saved(run, tmp_path):
    out = _fresh(run, tmp_path)
    saved = (out / "exclusions.csv").read_bytes()  # the run's (empty) exclusions
    session = DoseResponseSession.open(out)
    plate, well = _resistant_sample(session.tables["wells"], 2)
    session.set_excluded({well_key(plate, well)})
    wells = session.refit()["wells"].set_index("well")
    assert wells.loc[well, "role"] == "exclude"
    assert (out / "exclusions.csv").read_bytes() == saved


def test_correction_is_measured_saved_and_refitted(run, tmp_path):
    """A square of 20 x 20 pixels drawn as the well's spheroid: the well's readout becomes the
    volume of the sphere of that area, the file is saved, and the refit uses it."""
    from napari_il6assay.batch.corrections import find_corrections

    out = _fresh(run, tmp_path)
    session = DoseResponseSession.open(out)
    plate, well = _resistant_sample(session.tables["wells"], 0)
    info = session.results.well_image(well, plate)
    import tifffile

    shape = tifffile.imread(info.paths[0]).shape[:2]
    labels = np.zeros(shape, np.int32)
    labels[30:50, 30:50] = 1
    corr = session.new_correction(plate, well, labels)
    assert corr is not None and not corr.saved and corr.well == well
    corrected, problems = session.measure([corr])
    assert problems == [] and len(corrected) == 1
    saved, errors = session.save_corrections(corrected)
    assert errors == []
    (found, bad) = find_corrections(out)
    assert bad == [] and [c.well for c in found] == [well]

    session.apply_corrections(saved)
    row = session.tables["wells"].set_index("well").loc[well]
    px = info.pixel_size_um or 1.0
    d_um = 2.0 * math.sqrt(400.0 / math.pi) * px
    assert bool(row["corrected"]) is True
    assert float(row["readout"]) == pytest.approx(math.pi / 6.0 * d_um**3, rel=1e-9)
    refit = session.refit()["wells"].set_index("well")
    assert float(refit.loc[well, "readout"]) == pytest.approx(float(row["readout"]), rel=1e-12)
    # the loaded run's rows are the base: applying the same correction again changes nothing
    session.apply_corrections(saved)
    assert float(session.tables["wells"].set_index("well").loc[well, "readout"]) == float(
        row["readout"]
    )


#: the tables a refit makes, by file stem (``batch.stages.refit_tables``)
REFIT_TABLES = ("wells", "conditions", "fits", "synergy", "synergy_summary", "potentiation",
                "plate_qc", "cross_resistance")  # fmt: skip


def _csv(frame: pd.DataFrame) -> bytes:
    """A table as the batch writes it (`batch.exports`: no index, ``\\n`` line ends)."""
    return frame.to_csv(index=False, lineterminator="\n").encode()


@pytest.mark.parametrize("include", [(), ("out_of_focus",)])
def test_refit_without_change_writes_the_batch_tables_byte_for_byte(run, tmp_path, include):
    """Opened and refitted with no change, every table the refit makes is the batch's file to
    the byte, also when the run fitted flagged wells (``--include-flagged``, from run.json)."""
    from napari_il6assay.batch.run import run_batch

    out = _fresh(run, tmp_path)
    if include:  # the same measured parts, the tables made again with the flagged wells
        run_batch(run["folder"], run["layout"], "spheroid", out, workers=1, quiet=True,
                  report=False, resume=True, include_flagged=include)  # fmt: skip
        # the flagged wells move the fits: a refit that ignored the choice could not pass
        assert (out / "fits.csv").read_bytes() != (run["out"] / "fits.csv").read_bytes()
    session = DoseResponseSession.open(out)
    assert session.refit_options() == {
        "model": "4pl", "plate_format": 96, **({"include_flagged": include} if include else {})
    }  # fmt: skip
    tables = session.refit()
    written = [n for n in REFIT_TABLES if (out / f"{n}.csv").is_file()]
    assert {"wells", "conditions", "fits", "plate_qc"} <= set(written)
    for name in written:
        assert _csv(tables[name]) == (out / f"{name}.csv").read_bytes(), name
    # a table the batch did not write (one drug: no cross-resistance) is not current either
    assert [n for n in REFIT_TABLES if n in session.tables] == written


def test_refit_drops_a_table_it_no_longer_makes():
    """A stale plate or combination table goes when the refit returns it empty."""
    session = DoseResponseSession()
    session.tables = {
        "fits": pd.DataFrame({"a": [1]}),
        "cross_resistance": pd.DataFrame({"b": [2]}),
    }
    session.apply_refit({"fits": pd.DataFrame({"a": [3]}), "cross_resistance": pd.DataFrame()})
    assert list(session.tables) == ["fits"] and session.tables["fits"]["a"].tolist() == [3]


def test_well_image_with_an_all_empty_plate_column(tmp_path):
    """A run without plate ids reads back an all-empty (float) ``plate`` column: finding a
    well's image must neither warn (Pandas4Warning is an error here) nor match a plate."""
    from napari_il6assay.session.results import Results

    nan = float("nan")
    images = pd.DataFrame({"image": ["a.tif", "b.tif"], "plate": [nan, nan],
                           "well": ["A01", "A02"], "site": [1, 1], "id": ["i1", "i2"]})  # fmt: skip
    assert images["plate"].dtype == float
    res = Results(out=None, tables={"images": images, "wells": images.drop(columns="id")},
                  run_info={"folder": str(tmp_path)})  # fmt: skip
    info = res.well_image("A02", plate=nan)
    assert info is not None and info.paths == [tmp_path / "b.tif"] and info.image_id == "i2"
    assert info.plate == "" and res.well_image("A02", plate="P1") is None
    images["plate"] = ["P1", nan]  # one plate named: its well matches, the blank one does not
    assert res.well_image("A01", plate=" P1 ").image_id == "i1"
    assert res.well_image("A02", plate="P1") is None


def test_nothing_loaded():
    session = DoseResponseSession()
    assert session.refit() == {} and session.refit_input() is None
    assert session.drugs() == [] and session.out is None
    assert session.new_correction("", "A01", np.zeros((4, 4), np.int32)) is None
