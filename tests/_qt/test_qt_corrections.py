"""Correct and re-measure in the dose–response panel: paint in a well's Labels layer, click
"Re-measure", and the well, its row and the curves follow; the correction and the exclusions
are saved in the results folder and come back, to the byte, when the folder is opened again;
``batch --resume`` and its report use them too."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

WELLS = [f"{r}{c:02d}" for r in "AD" for c in range(1, 11)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small spheroid plate (parental row A, resistant row D) measured without saved labels,
    so the panel segments the shown well itself."""
    from napari_il6assay.batch.run import run_batch
    from napari_il6assay.synthetic.experiment import make_experiment

    root = tmp_path_factory.mktemp("qt_corrections")
    full = root / "full"
    make_experiment(full, mode="spheroid", seed=5, image_size=96, rgb=False)
    folder = root / "plate"
    folder.mkdir()
    for w in WELLS:
        shutil.copy2(full / f"{w}.tif", folder / f"{w}.tif")
    lay = pd.read_csv(full / "layout.csv")
    lay[lay["well"].isin(WELLS)].to_csv(root / "layout.csv", index=False)
    out = root / "results"
    args = dict(workers=1, quiet=True, report=False)
    run_batch(folder, root / "layout.csv", "spheroid", out, **args)
    return {"root": root, "folder": folder, "layout": root / "layout.csv", "out": out}


def _open(make_napari_viewer, qtbot, out: Path):
    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget("napari-il6assay", "Dose–response panel")
    panel.load_results(out)
    qtbot.waitUntil(lambda: not panel.busy, timeout=120_000)
    return viewer, panel


def _show(panel, qtbot, well: str, plate: str):
    panel.select_well(well, plate)
    qtbot.waitUntil(lambda: panel.labels_layer(plate, well) is not None, timeout=60_000)
    return panel.labels_layer(plate, well)


@pytest.mark.gui
def test_correct_exclude_round_trip(make_napari_viewer, qtbot, run, tmp_path):
    from napari_il6assay.batch.corrections import read_correction
    from napari_il6assay.cli import main
    from napari_il6assay.io.exclusions import read_exclusions

    out, folder = run["out"], run["folder"]
    inputs = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
    viewer, panel = _open(make_napari_viewer, qtbot, out)
    wells = panel.tables["wells"]
    plate = "" if pd.isna(wells["plate"].iloc[0]) else str(wells["plate"].iloc[0])
    before = wells.set_index("well")["readout"]
    fits_run = panel.tables["fits"].copy()

    # correct D04: paint a block onto the spheroid with napari's data (as the brush would)
    layer = _show(panel, qtbot, "D04", plate)
    auto = np.asarray(layer.data).copy()
    assert auto.any()
    ys, xs = np.nonzero(auto)
    painted = auto.copy()
    y1, x1 = int(ys.max()), int(xs.max())
    painted[y1 - 5 : y1 + 6, x1 - 5 : x1 + 6] = 1
    layer.data = painted
    assert panel.remeasure_button.isEnabled()
    panel.remeasure_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=120_000)
    path = out / "corrections" / (f"{plate}_D04_labels.tif" if plate else "D04_labels.tif")
    saved = read_correction(path)
    assert np.array_equal(saved.labels, (painted > 0).astype(np.int32))
    assert np.array_equal(np.asarray(layer.data), saved.labels)  # the layer shows what counts
    px = panel.tables["images"].set_index("well").loc["D04", "pixel_size_um"]
    px = 1.0 if pd.isna(px) else float(px)
    d = math.sqrt(4 * int((painted > 0).sum()) / math.pi) * px
    w = panel.tables["wells"].set_index("well")
    assert w.loc["D04", "readout"] == pytest.approx(math.pi / 6 * d**3, rel=1e-12)
    assert w.loc["D04", "readout"] > before["D04"]
    assert bool(w.loc["D04", "corrected"]) and not w.drop(index="D04")["corrected"].any()
    assert w.loc["D04", "label_source"] == saved.relative(out)
    assert (w.drop(index="D04")["readout"] == before.drop(index="D04")).all()
    assert "corrected" in panel.selection.text()
    assert not panel.tables["fits"].equals(fits_run)  # the refit took the new readout

    # exclude two wells with reasons
    for well, reason in (("D06", "bubble over the well"), ("A02", "tip touched the spheroid")):
        panel.select_well(well, plate)
        panel.exclude_selected(True, reason=reason)
        qtbot.waitUntil(lambda: not panel.busy, timeout=120_000)
    panel.export_tables(tmp_path / "before")
    fits_before = (tmp_path / "before" / "fits.csv").read_bytes()
    wells_before = (tmp_path / "before" / "wells.csv").read_bytes()
    table_before = panel.session.exclusions.table.copy()
    viewer.close()

    # reopen: exclusions, correction and the fits come back identical
    viewer2, panel2 = _open(make_napari_viewer, qtbot, out)
    key = (lambda w: f"{plate}/{w}") if plate else (lambda w: w)
    assert panel2.excluded == {key("D06"), key("A02")}
    pd.testing.assert_frame_equal(panel2.session.exclusions.table, table_before)
    assert [c.well for _r, c in panel2.corrected.values()] == ["D04"]
    panel2.export_tables(tmp_path / "after")
    assert (tmp_path / "after" / "fits.csv").read_bytes() == fits_before
    assert (tmp_path / "after" / "wells.csv").read_bytes() == wells_before
    layer2 = _show(panel2, qtbot, "D04", plate)  # the corrected labels, not the automatic ones
    assert np.array_equal(np.asarray(layer2.data), saved.labels)
    assert read_correction(path).time == saved.time  # reopening does not rewrite it
    viewer2.close()

    # batch --resume on the folder: the same correction and exclusions, listed in the report
    args = [str(folder), "--layout", str(run["layout"]), "--mode", "spheroid", "--out", str(out),
            "--workers", "1", "--quiet", "--resume"]  # fmt: skip
    assert main(["batch", *args]) == 0
    wells_resume = pd.read_csv(out / "wells.csv").set_index("well")
    assert wells_resume.loc["D04", "readout"] == pytest.approx(w.loc["D04", "readout"], rel=1e-12)
    assert list(read_exclusions(out / "exclusions.csv")["well"]) == ["D06", "A02"]
    info = json.loads((out / "run.json").read_text())
    assert [c["well"] for c in info["corrections"]] == ["D04"]
    assert info["corrections"][0]["time"] == saved.time
    report = (out / "report.html").read_text()
    section = report[report.index("Excluded and corrected wells") :]
    for text in ("D06", "bubble over the well", "A02", "tip touched the spheroid", "D04",
                 saved.relative(out)):  # fmt: skip
        assert text in section
    fits_resume = pd.read_csv(out / "fits.csv")
    fits_gui = pd.read_csv(tmp_path / "after" / "fits.csv")
    cols = ["cell_line", "drug", "ic50_rel_M"]
    pd.testing.assert_frame_equal(fits_resume[cols], fits_gui[cols], rtol=1e-9)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) == inputs


@pytest.mark.gui
def test_remeasure_refuses_bad_labels(make_napari_viewer, qtbot, run, monkeypatch):
    """Labels of the wrong shape (a layer the user replaced) are a warning naming the well,
    never a traceback, and nothing is saved."""
    import napari.utils.notifications as notes

    seen: list[str] = []
    monkeypatch.setattr(notes, "show_warning", lambda m: seen.append(str(m)))
    viewer, panel = _open(make_napari_viewer, qtbot, run["out"])
    wells = panel.tables["wells"]
    plate = "" if pd.isna(wells["plate"].iloc[0]) else str(wells["plate"].iloc[0])
    layer = _show(panel, qtbot, "A05", plate)
    layer.data = np.ones((20, 30), np.int32)
    panel.remeasure_selected()
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert any("well A05" in m and "20 x 30" in m for m in seen), seen
    assert not (run["out"] / "corrections" / (f"{plate}_A05_labels.tif" if plate else
                                              "A05_labels.tif")).exists()  # fmt: skip
    viewer.close()
