"""`il6assay fit` / `il6assay synergy` commands and the figure functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.cli import main
from napari_il6assay.doseresponse.fit import FITS_COLUMNS, fit_curve_table
from napari_il6assay.doseresponse.fold import add_fold_resistance
from napari_il6assay.doseresponse.synergy import SYNERGY_COLUMNS

RYEGRASS = Path(__file__).resolve().parents[1] / "data" / "ryegrass.csv"


def combo_table(rng) -> pd.DataFrame:
    rows = []
    for line, ic in (("P", 1e-9), ("R", 3e-7)):
        for toc in (0.0, 10.0):
            for c in np.r_[0.0, 1e-11 * 4.0 ** np.arange(10)]:
                for rep in range(3):
                    v = 1 / (1 + (c * (2 if toc else 1) / ic) ** 1.1) + rng.normal(0, 0.03)
                    rows.append(
                        {
                            "plate": "p1",
                            "well": f"{line}{toc:g}-{c:g}-{rep}",
                            "cell_line": line,
                            "parental": "P" if line == "R" else "",
                            "drug": "eribulin" if c > 0 else "",
                            "concentration": c * 1e9,
                            "unit": "nM",
                            "drug_b": "tocilizumab" if toc else "",
                            "concentration_b": toc,
                            "viability": v,
                        }
                    )
    return pd.DataFrame(rows)


def test_fit_command_ryegrass(tmp_path: Path) -> None:
    rc = main(
        [
            "fit",
            str(RYEGRASS),
            "--out",
            str(tmp_path),
            "--response",
            "rootl",
            "--dose",
            "conc",
            "--unit",
            "none",  # ryegrass doses are mg/L: fitted as given, no conversion to M
            "--ci",
            "delta",
        ]
    )
    assert rc == 0
    fits = pd.read_csv(tmp_path / "fits.csv")
    assert list(fits.columns[: len(FITS_COLUMNS)]) == FITS_COLUMNS
    assert float(f"{fits.loc[0, 'ic50_rel_M']:.4g}") == 3.058
    assert fits.loc[0, "ic50_se_M"] == pytest.approx(0.18573, rel=0.03)
    assert (tmp_path / "plots" / "curve.png").stat().st_size > 1000
    # without --unit, a unit-less dose column is refused rather than read as molar
    assert (
        main(
            [
                "fit",
                str(RYEGRASS),
                "--out",
                str(tmp_path / "o2"),
                "--response",
                "rootl",
                "--dose",
                "conc",
            ]
        )
        == 2
    )
    # a unit in the column's name is used: conc_nM -> M, the IC50 scales by 1e-9
    named = pd.read_csv(RYEGRASS).rename(columns={"conc": "conc_nM"})
    named.to_csv(tmp_path / "named.csv", index=False)
    assert (
        main(
            [
                "fit",
                str(tmp_path / "named.csv"),
                "--out",
                str(tmp_path / "o3"),
                "--response",
                "rootl",
                "--ci",
                "delta",
                "--no-plots",
                "--dose",
                "conc_nM",
            ]
        )
        == 0
    )
    n = pd.read_csv(tmp_path / "o3" / "fits.csv")
    assert n.loc[0, "ic50_rel_M"] == pytest.approx(3.058e-9, rel=1e-3)


def test_fit_command_units_and_fold(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    combo_table(np.random.default_rng(0)).to_csv(src / "t.csv", index=False)
    out = tmp_path / "out"
    assert main(["fit", str(src / "t.csv"), "--out", str(out)]) == 0
    fits = pd.read_csv(out / "fits.csv", keep_default_na=False, na_values=[""])
    r = fits[(fits["cell_line"] == "R") & (fits["concentration_b"] == 0)].iloc[0]
    assert r["fold_resistance"] == pytest.approx(300, rel=0.35)  # nM converted to M
    assert 1e-7 < r["ic50_rel_M"] < 1e-6
    assert len(list((out / "plots").glob("*.png"))) == 2
    assert sorted(p.name for p in src.iterdir()) == ["t.csv"]  # input folder untouched


@pytest.mark.parametrize(
    ("content", "args", "match"),
    [
        ("conc,resp\n1,2\n", ["--response", "viability"], "column 'viability'"),
        ("conc,viability\n1,0.5\nabc,0.2\n", [], "row 3, column 'conc'"),
        ("concentration,unit,viability\n1,furlong,0.5\n", [], "row 2, column 'unit'"),
    ],
)
def test_fit_command_bad_tables(tmp_path: Path, capsys, content, args, match) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(content)
    assert main(["fit", str(f), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "bad.csv" in err[0]
    assert match in err[0]


def test_synergy_command(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    combo_table(np.random.default_rng(1)).to_csv(src, index=False)
    out = tmp_path / "out"
    assert main(["synergy", str(src), "--out", str(out)]) == 0
    syn = pd.read_csv(out / "synergy.csv")
    assert list(syn.columns[: len(SYNERGY_COLUMNS)]) == SYNERGY_COLUMNS
    assert syn["loewe"].isna().all() and syn["bliss"].notna().all()
    pot = pd.read_csv(out / "potentiation.csv")
    assert pot["shift"].to_numpy() == pytest.approx([2, 2], rel=0.35)
    assert (out / "synergy_summary.csv").is_file() and (
        out / "plots" / "potentiation.png"
    ).is_file()


def test_figures_link_points_to_wells_and_reuse_figure() -> None:
    from matplotlib.figure import Figure

    from napari_il6assay.doseresponse.figures import (
        dose_response_figure,
        potentiation_figure,
        synergy_heatmap,
    )
    from napari_il6assay.doseresponse.synergy import potentiation, synergy_scores

    df = combo_table(np.random.default_rng(2))
    df["concentration_M"] = df["concentration"] * 1e-9
    fits = add_fold_resistance(fit_curve_table(df))
    fig = Figure()
    out = dose_response_figure(df, fits, drug="eribulin", fig=fig, theme="dark")
    assert out is fig
    arts = {a.get_gid(): a for a in fig.il6assay_wells}
    assert set(arts) == {"points:P", "points:R"}
    wells = fig.il6assay_wells[arts["points:R"]]
    assert len(wells) == 11 and all(len(w) == 3 for w in wells)
    assert wells[0][0].startswith("p1/R0-0-")  # vehicle point first, then by dose
    assert arts["points:R"].get_picker() == 5
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "fold" in texts and "IC50" in texts
    dose_response_figure(df, fits, drug="eribulin", fig=fig)  # redraw into the same figure
    assert len(fig.axes) == 1
    syn = synergy_scores(df)
    hm = synergy_heatmap(syn, "bliss", cell_line="R")
    assert hm.axes[0].images[0].get_array().shape == (1, 10)
    pf = potentiation_figure(potentiation(df))
    assert pf.axes[0].get_yscale() == "log"
