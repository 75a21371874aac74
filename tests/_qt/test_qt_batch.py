"""Batch widget: runs a plate folder in a worker with progress, can cancel, opens the panel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def small_plate(tmp_path_factory) -> Path:
    """Replicate 1 of the sample experiment (both lines, all doses, no combination)."""
    import pandas as pd

    sample = Path(__file__).resolve().parents[2] / "sample_data"
    lay = pd.read_csv(sample / "layout.csv")
    keep = lay[(pd.to_numeric(lay["replicate"], errors="coerce") == 1) & lay["drug_b"].isna()]
    plate = tmp_path_factory.mktemp("batch_widget") / "plate"
    plate.mkdir()
    for well in keep["well"]:
        for f in sample.glob(f"{well}.*"):
            shutil.copy(f, plate / f.name)
    shutil.copy(sample / "layout.csv", plate / "layout.csv")
    return plate


@pytest.fixture
def widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-il6assay", "Batch (plate folder)")
    return w


def _setup(widget, plate: Path, out: Path) -> None:
    widget.folder.set_path(plate)
    widget.layout_file.set_path(plate / "layout.csv")
    widget.out.set_path(out)
    widget.mode.setCurrentText("colony")
    widget.workers.setValue(1)


def test_batch_runs_and_opens_the_panel(widget, small_plate, tmp_path, qtbot):
    n_images = len([p for p in small_plate.iterdir() if p.suffix in (".png", ".tif")])
    _setup(widget, small_plate, tmp_path / "out")
    seen = []
    widget._relay.progressed.connect(lambda d, t: seen.append((d, t)))
    worker = widget.run()
    assert worker is not None and not widget.run_button.isEnabled()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)
    res = widget.result
    assert res is not None and not res.cancelled
    assert res.n_ok == n_images and res.n_failed == 0
    assert (tmp_path / "out" / "wells.csv").is_file()
    # progress arrived on the main thread, ending at total
    assert seen and seen[-1] == (n_images, n_images)
    assert widget.bar.value() == n_images and widget.bar.maximum() == n_images
    # results open in the panel: two curves (parental and resistant)
    panel = widget.panel
    assert panel is not None
    ax = panel.curves.figure.axes[0]
    curves = [ln for ln in ax.lines if len(ln.get_xdata()) >= 50]
    assert len(curves) == 2
    assert set(panel.tables["fits"]["cell_line"]) == {"MDA-MB-231", "MDA-MB-231E"}
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_cancel_stops_the_run(widget, small_plate, tmp_path, qtbot):
    _setup(widget, small_plate, tmp_path / "out")
    widget.run()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)
    res = widget.result
    n_images = len([p for p in small_plate.iterdir() if p.suffix in (".png", ".tif")])
    assert res is not None and res.cancelled and res.n_ok < n_images
    assert not (tmp_path / "out" / "fits.csv").exists()
    assert widget.panel is None
    assert "resume" in widget.status.text()


def test_bad_input_is_a_notification(widget, tmp_path, qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    (tmp_path / "layout.csv").write_text("well,cell_line\nA01,x\n")
    _setup(widget, tmp_path / "missing_folder", tmp_path / "out")
    widget.layout_file.set_path(tmp_path / "layout.csv")
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert len(shown) == 1 and "missing_folder" in shown[0]
    assert widget.status.text().startswith("Failed:")
