"""Dose–response panel on a synthetic experiment run through the batch engine: two curves,
clicking a point opens that well, excluding a well refits, exports, theme."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui

PARENTAL, RESISTANT = "MDA-MB-231", "MDA-MB-231E"


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory) -> Path:
    """The repository's sample experiment (known truth) measured by `run_batch`."""
    from napari_il6assay.batch.run import run_batch

    sample = Path(__file__).resolve().parents[2] / "sample_data"
    acq = json.loads((sample / "acquisition.json").read_text())
    out = tmp_path_factory.mktemp("panel") / "results"
    run_batch(
        sample,
        sample / "layout.csv",
        acq["mode"],
        out,
        workers=1,
        quiet=True,
        report=False,
        save_labels=True,
        pixel_size_um=acq["pixel_size_um"],
    )
    return out


@pytest.fixture
def panel(make_napari_viewer, batch_out):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-il6assay", "Dose–response panel")
    w.load_results(batch_out)
    w.test_viewer = viewer  # the real viewer (the widget holds napari's proxy of it)
    return w


def _curves(panel):
    """Fitted-curve Line2D artists of the curves figure: (label colour, x, y)."""
    ax = panel.curves.figure.axes[0]
    return [ln for ln in ax.lines if len(ln.get_xdata()) >= 50]


def _fit(panel, line):
    f = panel.tables["fits"]
    m = (f["cell_line"] == line) & (f["drug"] == "eribulin")
    if "drug_b" in f.columns:
        m &= f["drug_b"].isna() | (f["drug_b"].astype(str).isin(["", "nan"]))
    return f[m].iloc[0]


def test_panel_draws_parental_and_resistant_curves(panel, batch_out):
    sample = Path(__file__).resolve().parents[2] / "sample_data"
    truth = json.loads((sample / "truth.json").read_text())
    curves = _curves(panel)
    assert len(curves) == 2
    # Each curve crosses the halfway response at its line's fitted relative IC50.
    for line, curve in zip(
        (PARENTAL, RESISTANT), sorted(curves, key=lambda c: _mid(c)), strict=True
    ):
        r = _fit(panel, line)
        x, y = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
        half = (r["top"] + r["bottom"]) / 2
        x_half = np.exp(np.interp(half, y[::-1], np.log(x[::-1])))
        assert np.log10(x_half) == pytest.approx(np.log10(r["ic50_rel_M"]), abs=0.02)
    fold = _fit(panel, RESISTANT)["fold_resistance"]
    true_fold = _true_fold(truth)
    assert abs(np.log10(fold) - np.log10(true_fold)) < 0.3
    # Points: one scatter per line, each point carrying its wells.
    wells_of = panel.curves.figure.il6assay_wells
    assert len(wells_of) == 2
    assert "fold" in panel.summary.text()


def _mid(line) -> float:
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    half = (y.max() + y.min()) / 2
    return float(x[np.argmin(np.abs(y - half))])


def _true_fold(truth: dict) -> float:
    return float(truth["fold_resistance"][f"{RESISTANT} vs {PARENTAL}"])


def _click(panel, artist, k):
    """A real left click on the k-th point of a scatter artist."""
    from matplotlib.backend_bases import MouseEvent

    canvas = panel.curves.canvas
    canvas.draw()
    x, y = artist.get_offset_transform().transform(artist.get_offsets()[k])
    MouseEvent("button_press_event", canvas, x, y, button=1)._process()


def test_clicking_a_point_shows_its_well(panel, qtbot):
    viewer = panel.test_viewer
    viewer.add_points([[0, 0]], name="other")
    fig = panel.curves.figure
    artist = next(a for a in fig.il6assay_wells if a.get_gid() == f"points:{RESISTANT}")
    k = len(artist.get_offsets()) // 2
    expected = fig.il6assay_wells[artist][k]
    _click(panel, artist, k)
    plate, well = panel.selected
    from napari_il6assay.io.plate import well_key

    assert well_key(plate, well) in expected
    active = viewer.layers.selection.active
    assert active is not None and active.name.endswith(f"{well} image")
    assert active.visible and not viewer.layers["other"].visible
    # The image is the well's file, at the run's pixel size.
    from napari_il6assay.io.images import read_image

    info = panel.results.well_image(well, plate)
    expected_pixels = np.asarray(read_image(info.paths[0]).data)
    np.testing.assert_array_equal(np.asarray(active.data), expected_pixels)
    qtbot.waitUntil(lambda: active.name.replace("image", "labels") in viewer.layers, timeout=30_000)
    labels = viewer.layers[active.name.replace("image", "labels")]
    assert labels.visible and labels.data.shape == active.data.shape[:2]
    assert well in panel.selection.text()


def test_excluding_a_well_refits(panel, qtbot):
    before = _fit(panel, RESISTANT)
    parental_before = _fit_from(panel, PARENTAL)
    wells = panel.tables["wells"]
    w = wells[
        (wells["cell_line"] == RESISTANT)
        & (wells["role"] == "sample")
        & (wells["drug_b"].isna() if "drug_b" in wells else True)
    ]
    # the well whose dose is closest to the resistant IC50 moves the fit most
    conc = w["concentration_M"].to_numpy(dtype=float)
    target = w.iloc[int(np.argmin(np.abs(np.log10(conc) - np.log10(before["ic50_rel_M"]))))]
    plate = "" if str(target.get("plate", "")) in ("", "nan") else str(target["plate"])
    panel.select_well(str(target["well"]), plate)
    worker = panel.exclude_selected(True, reason="moves the fit most")
    assert worker is not None
    qtbot.waitUntil(lambda: panel.refit_worker is None, timeout=60_000)
    after = _fit(panel, RESISTANT)
    assert after["ic50_rel_M"] != pytest.approx(before["ic50_rel_M"], rel=1e-6)
    # parental untouched
    assert _fit_from(panel, PARENTAL) == pytest.approx(parental_before, rel=1e-6)
    wt = panel.tables["wells"]
    row = wt[(wt["well"] == target["well"]) & (wt["plate"].astype(str) == str(target["plate"]))]
    assert row["role"].iloc[0] == "exclude" and "excluded" in str(row["qc_flag"].iloc[0])
    assert len(panel.wells_table.model._highlight) == 1
    # The excluded well's point is gone from the figure: one fewer well id among the points.
    ids = [i for lst in panel.curves.figure.il6assay_wells.values() for p in lst for i in p]
    assert not any(
        i.endswith(f"/{target['well']}") and i.startswith(f"{target['plate']}") for i in ids
    )
    # Including it again restores the original fit.
    panel.exclude_selected(False)
    qtbot.waitUntil(lambda: panel.refit_worker is None, timeout=60_000)
    assert _fit(panel, RESISTANT)["ic50_rel_M"] == pytest.approx(before["ic50_rel_M"], rel=1e-3)


def _fit_from(panel, line):
    return float(_fit(panel, line)["ic50_rel_M"])


def test_exports_and_theme(panel, tmp_path):
    for suffix in ("png", "svg", "pdf"):
        p = panel.export_figure(tmp_path / f"curves.{suffix}")
        assert p.stat().st_size > 1000
    written = panel.export_tables(tmp_path / "tables")
    names = {p.name for p in written}
    assert {"wells.csv", "fits.csv", "conditions.csv"} <= names
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "tables" / "wells.csv")) == len(panel.tables["wells"])
    panel.test_viewer.theme = "light"
    assert panel.curves.theme["type"] == "light"
    from matplotlib.colors import to_hex

    assert to_hex(panel.curves.figure.get_facecolor()) == "#ffffff"
    panel.test_viewer.theme = "dark"
    assert to_hex(panel.curves.figure.get_facecolor()) != "#ffffff"


def test_combination_tab_draws(panel):
    fig = panel.combo.figure
    if panel.tables.get("synergy") is None or not len(panel.tables["synergy"]):
        pytest.fail("the sample experiment has a combination block; synergy table missing")
    axes = [ax for sub in (fig.subfigs or [fig]) for ax in sub.axes]
    assert any(ax.images for ax in axes)  # the heat map


def test_load_rejects_a_folder_without_results(panel, tmp_path):
    from napari_il6assay.errors import InputError

    with pytest.raises(InputError, match="wells.csv"):
        panel.load_results(tmp_path)


def test_right_click_offers_exclusion(panel, qtbot):
    from matplotlib.backend_bases import MouseEvent
    from qtpy.QtWidgets import QMenu

    fig = panel.curves.figure
    artist = next(a for a in fig.il6assay_wells if a.get_gid() == f"points:{PARENTAL}")
    canvas = panel.curves.canvas
    canvas.draw()
    x, y = artist.get_offset_transform().transform(artist.get_offsets()[3])
    MouseEvent("button_press_event", canvas, x, y, button=3)._process()
    menus = panel.findChildren(QMenu)
    assert menus, "no context menu"
    texts = [a.text() for a in menus[-1].actions()]
    plate, well = panel.selected
    assert any(t.startswith("Exclude well") and well in t for t in texts)
    menus[-1].close()


def test_clicking_a_heatmap_cell_shows_one_of_its_wells(panel):
    from matplotlib.backend_bases import MouseEvent

    fig = panel.combo.figure
    sub = fig.subfigs[0] if fig.subfigs else fig
    im = next(a for a in sub.il6assay_wells if hasattr(a, "get_array"))
    ncol = im.get_array().shape[1]
    a, b = sub.il6assay_wells[im][ncol - 1]  # bottom row, last column: highest dose of A
    panel.tabs.setCurrentWidget(panel.combo)
    panel.combo.canvas.draw()
    x, y = im.axes.transData.transform((ncol - 1, 0))
    MouseEvent("button_press_event", panel.combo.canvas, x, y, button=1)._process()
    plate, well = panel.selected
    w = panel.tables["wells"]
    row = w[(w["well"] == well)].iloc[0]
    assert float(row["concentration_M"]) == pytest.approx(a)
    assert float(row["concentration_b"]) == pytest.approx(b)
    assert panel.test_viewer.layers.selection.active.name.endswith(f"{well} image")


def test_summary_keeps_text_with_less_than_signs():
    """The summary label is rich text: "p < 0.001" and a censored "<1 nM" IC50 must show as
    written, not be read as the start of a tag that swallows the rest of the line."""
    import pandas as pd
    from qtpy.QtGui import QTextDocument

    from napari_il6assay._qt.doseresponse_widget import synergy_lines

    summary = pd.DataFrame({
        "cell_line": ["MCF-7E"] * 2, "drug": ["eribulin"] * 2, "drug_b": ["tocilizumab"] * 2,
        "score": ["bliss", "hsa"], "mean": [0.21, 0.18], "ci_low": [0.19, 0.15],
        "ci_high": [0.23, 0.2], "p_value": [1e-5, 0.04],
    })  # fmt: skip
    doc = QTextDocument()
    doc.setHtml("<br>".join(synergy_lines(summary, "eribulin")))
    assert doc.toPlainText() == (
        "MCF-7E eribulin + tocilizumab: bliss 0.21 [0.19, 0.23], p < 0.001; "
        "hsa 0.18 [0.15, 0.2], p = 0.04"
    )


def test_fit_summary_shows_a_censored_ic50(panel):
    """A curve whose IC50 is below the lowest dose reads "IC50 <..." in the summary."""
    from qtpy.QtGui import QTextDocument

    fits = panel.tables["fits"].copy()
    drug = panel.drug.currentText()
    row = fits.index[fits["drug"].astype(str) == drug][0]
    fits.loc[row, "ic50_censored"] = "<"
    fits.loc[row, "ic50_rel_M"] = 1e-9
    panel.tables["fits"] = fits
    doc = QTextDocument()
    doc.setHtml(panel.fit_summary())
    line = doc.toPlainText().splitlines()[0]
    assert f"{fits.loc[row, 'cell_line']}: IC50 <1 nM" in line and line.endswith("]")
