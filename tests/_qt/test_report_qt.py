"""GUI: the plate tab colours wells by readout, viability or qc_flag and shows the plate QC;
the combination tab draws the chosen score with drug B's unit; the summary shows synergy CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gui


def _tables() -> dict:
    rows = []
    for r in "ABCDEFGH":
        for c in range(1, 13):
            v = 1.0 - (c - 1) / 11
            rows.append({"plate": "p1", "well": f"{r}{c:02d}", "cell_line": "R",
                         "drug": "eri" if c > 1 else "", "concentration_M": 1e-9 * c,
                         "drug_b": "", "concentration_b": 0.0, "unit_b": "",
                         "role": "sample" if c > 1 else "vehicle", "readout": 0.45 * v,
                         "viability": v,
                         "qc_flag": "touches_border" if (r, c) == ("B", 5) else ""})  # fmt: skip
    wells = pd.DataFrame(rows)
    wells.loc[wells["well"] == "H12", ["drug_b", "concentration_b", "unit_b"]] = \
        ["toc", 10.0, "ug/mL"]  # fmt: skip
    syn = pd.DataFrame({"cell_line": "R", "drug": "eri", "concentration_M": [1e-9, 1e-8],
                        "drug_b": "toc", "concentration_b": 10.0, "viability": [0.9, 0.5],
                        "bliss": [0.05, 0.2], "hsa": [0.0, 0.1], "loewe": np.nan,
                        "zip": [0.04, 0.18], "note": ""})  # fmt: skip
    summ = pd.DataFrame([{"cell_line": "R", "drug": "eri", "drug_b": "toc", "score": "bliss",
                          "mean": 0.125, "ci_low": 0.08, "ci_high": 0.17, "p_value": 2e-4,
                          "msa": 0.125, "n_conditions": 2}])  # fmt: skip
    qc = pd.DataFrame([{"plate": "p1", "z_prime": 0.42, "ssmd": 6.1, "vehicle_cv_pct": 9.0,
                        "edge_ratio": 0.81, "edge_p_value": 1e-5,
                        "flag": "low_z_prime;edge_effect"}])  # fmt: skip
    return {"wells": wells, "synergy": syn, "synergy_summary": summ, "plate_qc": qc}


def test_plate_tab_and_combination(make_napari_viewer) -> None:
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-il6assay", "Dose–response panel")
    w.load_results(None, tables=_tables())
    pm = w.plate_map
    w.plate_color.setCurrentIndex(w.plate_color.findData("viability"))
    cols = pm.well_colors
    assert len(cols) == 96 and cols["A01"] != cols["A12"]  # viability 1 vs 0
    assert cols["A01"] == cols["H01"]  # same value, same colour
    w.plate_color.setCurrentIndex(w.plate_color.findData("qc_flag"))
    legend = [name for name, _ in pm._legend]
    assert legend == ["ok", "touches_border"]
    assert pm.well_colors["B05"] != pm.well_colors["A01"]
    assert "Z' 0.42" in w.plate_qc_label.text() and "edge_effect" in w.plate_qc_label.text()
    # the summary carries the synergy CI; the heat map follows the score chooser, with B's unit
    # (rich text: read as displayed, where "&lt;" shows as "<")
    from qtpy.QtGui import QTextDocument

    shown = QTextDocument()
    shown.setHtml(w.summary.text())
    assert "bliss 0.12 [0.08, 0.17], p < 0.001" in shown.toPlainText()
    w.score.setCurrentText("zip")
    ax = w.combo.figure.subfigs[0].axes[0] if w.combo.figure.subfigs else w.combo.figure.axes[0]
    assert "ZIP" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10 \u00b5g/mL"]
