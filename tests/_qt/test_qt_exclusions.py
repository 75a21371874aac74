"""Exclusions with reasons in the dose–response panel: saved into the results folder, restored
when the folder is opened again, and the refit from the saved state is the same to the byte."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
RESISTANT = "MDA-MB-231E"


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory) -> Path:
    """The repository's sample experiment measured by `run_batch` (its own output folder)."""
    from napari_il6assay.batch.run import run_batch

    acq = json.loads((SAMPLE / "acquisition.json").read_text())
    out = tmp_path_factory.mktemp("exclusions") / "results"
    run_batch(SAMPLE, SAMPLE / "layout.csv", acq["mode"], out, workers=1, quiet=True,
              report=False, save_labels=False, pixel_size_um=acq["pixel_size_um"])  # fmt: skip
    return out


def _open(make_napari_viewer, qtbot, out: Path):
    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget("napari-il6assay", "Dose–response panel")
    panel.load_results(out)
    qtbot.waitUntil(lambda: panel.refit_worker is None, timeout=60_000)
    return viewer, panel


def _two_wells(wells: pd.DataFrame) -> list[tuple[str, str]]:
    """Two resistant-line sample wells at the doses nearest its IC50 (they move the fit)."""
    w = wells[(wells["cell_line"] == RESISTANT) & (wells["role"] == "sample")]
    if "drug_b" in w.columns:
        w = w[w["drug_b"].isna()]
    conc = w["concentration_M"].to_numpy(dtype=float)
    mid = np.sqrt(np.nanmin(conc[conc > 0]) * np.nanmax(conc))
    order = np.argsort(np.abs(np.log10(np.where(conc > 0, conc, np.nan)) - np.log10(mid)))
    picked = w.iloc[order[:2]]
    plate = picked["plate"] if "plate" in picked.columns else [""] * 2
    return [
        ("" if pd.isna(p) else str(p), str(x)) for p, x in zip(plate, picked["well"], strict=True)
    ]


@pytest.mark.gui
def test_exclusions_round_trip(make_napari_viewer, qtbot, batch_out, tmp_path):
    from napari_il6assay.io.exclusions import read_exclusions

    batch_fits = (batch_out / "fits.csv").read_bytes()
    sample_files = sorted(p.name for p in SAMPLE.rglob("*"))
    viewer, panel = _open(make_napari_viewer, qtbot, batch_out)
    assert panel.excluded == set()  # the batch ran without exclusions
    (p1, w1), (p2, w2) = _two_wells(panel.tables["wells"])

    # one reason typed in the field, one handed in code
    panel.select_well(w1, p1)
    panel.reason.setText("bubble over the well")
    panel.exclude_selected(True)
    qtbot.waitUntil(lambda: panel.refit_worker is None, timeout=60_000)
    assert panel.reason.text() == ""  # consumed
    panel.select_well(w2, p2)
    assert panel.exclude_selected(True) is None  # no reason: nothing happens
    panel.exclude_selected(True, reason="tip touched the spheroid")
    qtbot.waitUntil(lambda: panel.refit_worker is None, timeout=60_000)

    saved = read_exclusions(batch_out / "exclusions.csv")
    assert sorted(saved["well"]) == sorted([w1, w2])
    assert dict(zip(saved["well"], saved["reason"], strict=True)) == {
        w1: "bubble over the well",
        w2: "tip touched the spheroid",
    }
    assert all(pd.Timestamp(t).tzinfo is not None for t in saved["time"])
    wells = panel.tables["wells"]
    hit = wells[wells["well"].isin([w1, w2])]
    assert (hit["role"] == "exclude").all()
    assert set(hit["exclusion_reason"]) == {"bubble over the well", "tip touched the spheroid"}
    before = panel.export_tables(tmp_path / "before")
    fits_before = (tmp_path / "before" / "fits.csv").read_bytes()
    assert fits_before != batch_fits  # the two wells moved the resistant fit
    table_before = panel.session.exclusions.table.copy()
    excluded_before = set(panel.excluded)
    assert len(before) >= 3
    viewer.close()

    # reopen: the exclusions come back and the refit is the same to the byte
    viewer2, panel2 = _open(make_napari_viewer, qtbot, batch_out)
    assert panel2.excluded == excluded_before and len(excluded_before) == 2
    pd.testing.assert_frame_equal(panel2.session.exclusions.table, table_before)
    panel2.export_tables(tmp_path / "after")
    assert (tmp_path / "after" / "fits.csv").read_bytes() == fits_before
    # and the wells show as excluded in the panel's table
    assert len(panel2.wells_table.model._highlight) == 2

    # including one again is saved too; the input folder is never written
    panel2.select_well(w1, p1)
    panel2.exclude_selected(False)
    qtbot.waitUntil(lambda: panel2.refit_worker is None, timeout=60_000)
    assert list(read_exclusions(batch_out / "exclusions.csv")["well"]) == [w2]
    assert sorted(p.name for p in SAMPLE.rglob("*")) == sample_files


def test_session_rules(tmp_path):
    """Qt-free: reasons required, last word wins, plate-less rows hit every plate, and the
    session writes only into a results folder that is not the input folder."""
    from napari_il6assay.errors import InputError, LayoutError
    from napari_il6assay.session.exclusions import ExclusionSession

    wells = pd.DataFrame({"plate": ["P1", "P1", "P2"], "well": ["A01", "B02", "A01"]})
    s = ExclusionSession()
    with pytest.raises(LayoutError, match="reason"):
        s.exclude("P1", "A1", "  ")
    with pytest.raises(LayoutError, match="not a well id"):
        s.exclude("P1", "Z99x", "bad id")
    s.exclude("P1", "B2", "bubble", time="2026-12-02T10:00:00+00:00")
    s.exclude("P1", "B02", "scratch", time="2026-12-02T11:00:00+00:00")
    assert s.reasons(wells) == {"P1/B02": "scratch"}
    s.exclude("", "A1", "edge well")  # no plate: every plate's A01
    assert s.keys(wells) == {"P1/B02", "P1/A01", "P2/A01"}
    s.include("P2", "A01")  # drops the plate-less record of A01 as well
    assert s.keys(wells) == {"P1/B02"}
    assert s.save() is None  # no results folder: memory only

    results = tmp_path / "results"
    results.mkdir()
    with pytest.raises(InputError, match="no wells.csv"):
        ExclusionSession(results, table=s.table).save()
    (results / "wells.csv").write_text("well\nA01\n")
    with pytest.raises(InputError, match="input folder"):
        ExclusionSession(results, input_folder=results, table=s.table).save()
    path = ExclusionSession(results, input_folder=tmp_path / "plate", table=s.table).save()
    assert path == results / "exclusions.csv"
    assert not list(results.glob(".*.tmp"))
    again = ExclusionSession.open(results)
    pd.testing.assert_frame_equal(again.table, s.table)
