"""The report says the story: key results with CIs and p-values, plate problems first,
reasons instead of dangling notes; the command summaries; the same synergy plots everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from napari_il6assay.batch.report import build_report
from napari_il6assay.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _tables() -> dict:
    fits = pd.DataFrame([
        {"cell_line": "P", "drug": "eribulin", "drug_b": "", "concentration_b": 0.0,
         "n_points": 30, "top": 1.0, "bottom": 0.03, "hill": 1.2, "ic50_rel_M": 1.0e-9,
         "ic50_abs_M": 1.03e-9, "ic50_ci_low_M": 0.89e-9, "ic50_ci_high_M": 1.14e-9,
         "ic50_censored": "", "r2": 0.99, "parental": "", "fold_resistance": np.nan,
         "fold_ci_low": np.nan, "fold_ci_high": np.nan, "p_value": np.nan, "status": "ok"},
        {"cell_line": "R", "drug": "eribulin", "drug_b": "", "concentration_b": 0.0,
         "n_points": 30, "top": 1.0, "bottom": 0.1, "hill": 1.1, "ic50_rel_M": 5.54e-7,
         "ic50_abs_M": 7.1e-7, "ic50_ci_low_M": 4.77e-7, "ic50_ci_high_M": 6.52e-7,
         "ic50_censored": "", "r2": 0.99, "parental": "P", "fold_resistance": 552.0,
         "fold_ci_low": 455.0, "fold_ci_high": 674.0, "p_value": 2.9e-29, "status": "ok"},
    ])  # fmt: skip
    pot = pd.DataFrame([{
        "cell_line": "R", "drug": "eribulin", "drug_b": "tocilizumab", "concentration_b": 10.0,
        "ic50_M": 5.65e-8, "ic50_censored": "", "ic50_ci_low_M": 5.04e-8,
        "ic50_ci_high_M": 6.34e-8, "shift": 9.8, "shift_ci_low": 8.16, "shift_ci_high": 11.8,
        "shift_censored": "", "p_value": 1e-26, "note": "",
    }])  # fmt: skip
    note = "Loewe/CI undefined (tocilizumab alone: fewer than 4 doses (2))"
    syn = pd.DataFrame({
        "cell_line": "R", "drug": "eribulin", "concentration_M": [1e-8, 1e-7],
        "drug_b": "tocilizumab", "concentration_b": 10.0, "viability": [0.8, 0.4],
        "bliss": [0.1, 0.3], "hsa": [0.1, 0.3], "loewe": np.nan, "zip": [0.1, 0.3],
        "note": note,
    })  # fmt: skip
    summ = pd.DataFrame([
        {"cell_line": "R", "drug": "eribulin", "drug_b": "tocilizumab", "score": s,
         "mean": m, "ci_low": m - 0.02 if m == m else np.nan,
         "ci_high": m + 0.02 if m == m else np.nan, "p_value": 1e-5 if m == m else np.nan,
         "msa": m, "n_conditions": 2 if m == m else 0, "msa_window": "",
         "n_boot": 2000, "note": "" if m == m else f"loewe undefined: {note}"}
        for s, m in (("bliss", 0.2), ("hsa", 0.2), ("loewe", np.nan), ("zip", 0.2))
    ])  # fmt: skip
    qc = pd.DataFrame([
        {"plate": "p1", "z_prime": 0.71, "ssmd": 12.0, "vehicle_cv_pct": 3.2, "edge_ratio": 0.99,
         "edge_p_value": 0.6, "flag": "", "negative_control": "blank"},
        {"plate": "p2", "z_prime": 0.31, "ssmd": 4.0, "vehicle_cv_pct": 14.0, "edge_ratio": 0.79,
         "edge_p_value": 1e-6, "flag": "low_z_prime;edge_effect", "negative_control": "blank"},
    ])  # fmt: skip
    wells = pd.DataFrame({"plate": "p1", "well": ["A01"], "drug_b": ["tocilizumab"],
                          "unit_b": ["ug/mL"], "concentration_b": [10.0]})  # fmt: skip
    return {"fits": fits, "potentiation": pot, "synergy": syn, "synergy_summary": summ,
            "plate_qc": qc, "wells": wells}  # fmt: skip


def _text(html: str) -> str:
    import html as h

    return h.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_headline_states_fold_shift_and_synergy_with_ci_and_p(tmp_path: Path) -> None:
    html = build_report(tmp_path, _tables(), {}, [])
    key = html.index("Key results")
    head = _text(html[key : html.index("</div>", key)])
    assert "R is 552-fold resistant to eribulin vs P (95% CI 455–674, p < 0.001" in head
    assert (
        "tocilizumab 10 µg/mL lowers the eribulin IC50 of R 9.8-fold (95% CI 8.16–11.8, "
        "p < 0.001" in head
    )
    assert "bliss 0.2 [0.18, 0.22], p < 0.001" in head
    # Loewe says why it is missing, there and in the combination section
    assert "loewe n/a (Loewe/CI undefined (tocilizumab alone: fewer than 4 doses (2)))" in head
    assert "see note" not in html
    body = _text(html)
    assert "Notes on the scores" in body and "fewer than 4 doses" in body
    assert "mean ± SD of the replicate wells (SD, not SEM)" in body


def test_bad_plates_are_named_before_the_results(tmp_path: Path) -> None:
    html = build_report(tmp_path, _tables(), {}, [])
    warn = html.index("Check these plates")
    assert warn < html.index("Key results") < html.index("<h2>")
    block = _text(html[warn : html.index("</div>", warn)])
    assert "Plate p2" in block and "Z' = 0.31" in block and "0.79×" in block
    assert "Plate p1" not in block


def test_fits_table_is_narrow_and_keeps_the_ci_with_its_ic50(tmp_path: Path) -> None:
    html = build_report(tmp_path, _tables(), {}, [])
    fits = html[html.index("<h2>Fits</h2>") : html.index("<h2>Combination")]
    first = fits[: fits.index("</table>")]
    assert first.count("<th>") <= 10
    # the relative IC50 and its CI are one cell; the absolute IC50 is labelled and apart
    assert "554 nM (477 nM – 652 nM)" in first
    assert "absolute IC50 (viability 0.5)" in first


def test_fit_and_segment_print_a_summary(tmp_path: Path, capsys) -> None:
    assert main(["fit", str(ROOT / "tests" / "data" / "ryegrass.csv"), "--out",
                 str(tmp_path / "f"), "--response", "rootl", "--dose", "conc",
                 "--unit", "none", "--no-plots"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    # drc: ED50 3.058 (profile CI in the same range as the delta CI 2.67-3.45)
    m = re.search(r"IC50 ([0-9.]+) \(95% CI ([0-9.]+) - ([0-9.]+)\)", out)
    assert m and abs(float(m.group(1)) - 3.058) < 0.01
    assert 2.5 < float(m.group(2)) < 3.058 < float(m.group(3)) < 3.6
    assert main(["segment", str(ROOT / "sample_data" / "A01.png"), "--mode", "colony",
                 "--pixel-size", "30", "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    truth = pd.read_csv(ROOT / "sample_data" / "truth.csv")
    m = re.search(r"A01.png: area_fraction ([0-9.]+), (\d+) object", out)
    assert m, out
    row = truth[truth["well"].astype(str).str.upper().isin(["A01", "A1"])]
    if "readout" in row.columns and len(row):
        assert abs(float(m.group(1)) - float(row["readout"].iloc[0])) < 0.1


def test_synergy_command_and_batch_plot_the_same_scores(tmp_path: Path) -> None:
    from napari_il6assay.batch.exports import figures

    rng = np.random.default_rng(5)
    rows = []
    for a in np.r_[0.0, 1e-9 * 3.0 ** np.arange(5)]:
        for b in (0.0, 1.0, 3.0, 10.0, 30.0):
            for _ in range(2):
                v = 1 / (1 + a / 3e-8) * (1 - 0.4 * b / (b + 5)) + rng.normal(0, 0.03)
                rows.append({"cell_line": "R", "drug": "eri" if a else "", "concentration_M": a,
                             "drug_b": "toc" if b else "", "concentration_b": b,
                             "unit_b": "ug/mL" if b else "", "viability": v})  # fmt: skip
    df = pd.DataFrame(rows)
    df["well"] = [f"{'ABCDEFGH'[i // 12]}{i % 12 + 1:02d}" for i in range(len(df))]
    df.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "o"
    assert main(["synergy", str(tmp_path / "c.csv"), "--out", str(out), "--n-boot", "100"]) == 0
    summ = pd.read_csv(out / "synergy_summary.csv")
    assert list(summ.columns[:10]) == ["cell_line", "drug", "drug_b", "score", "mean", "ci_low",
                                       "ci_high", "p_value", "msa", "n_conditions"]  # fmt: skip
    syn = pd.read_csv(out / "synergy.csv")
    assert {
        f"{s}_ci_{e}" for s in ("bliss", "hsa", "loewe", "zip") for e in ("low", "high")
    } <= set(syn.columns)
    cli = {p.stem for p in (out / "plots").glob("synergy_*.png")}
    assert {n.split("_")[1] for n in cli} == {"bliss", "hsa", "loewe", "zip"}
    from napari_il6assay.doseresponse.fit import fit_curves

    fits = fit_curves(df[df["concentration_b"] == 0], ci_method="none")
    batch = {n for n in figures({"wells": df.assign(plate="p"), "fits": fits, "synergy": syn})
             if n.startswith("synergy_")}  # fmt: skip
    assert batch == cli


def test_cross_resistance_lines_by_drugs(tmp_path: Path) -> None:
    from napari_il6assay.doseresponse.cross_resistance import cross_resistance
    from napari_il6assay.doseresponse.figures import cross_resistance_heatmap

    base = _tables()["fits"]
    r = base[base["cell_line"] == "R"].iloc[0]
    other = r.copy()
    other["drug"], other["fold_resistance"] = "paclitaxel", 0.5  # collateral sensitivity
    other["fold_ci_low"], other["fold_ci_high"], other["p_value"] = 0.4, 0.62, 1e-4
    combo = r.copy()
    combo["drug_b"], combo["concentration_b"] = "tocilizumab", 10.0  # not a single agent
    fits = pd.concat([base, other.to_frame().T, combo.to_frame().T], ignore_index=True)
    cr = cross_resistance(fits)
    assert list(cr["drug"]) == ["eribulin", "paclitaxel"] and (cr["cell_line"] == "R").all()
    assert list(cr["fold_resistance"]) == [552.0, 0.5]
    assert cross_resistance(base).empty  # one drug: no cross-resistance table
    fig = cross_resistance_heatmap(cr)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "552×\n[455–674]" in texts and "0.5×\n[0.4–0.62]" in texts
    html = build_report(tmp_path, {**_tables(), "cross_resistance": cr}, {}, [])
    assert "<h2>Cross-resistance</h2>" in html
