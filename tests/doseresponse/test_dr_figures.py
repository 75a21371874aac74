"""Dose-response figures: IC50/fold notes off the data, CSV read-back (NaN markers), dock-size
layout, heat maps of degenerate dose grids, and warning-free fold fits of censored curves."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.doseresponse.figures import (
    dose_response_figure,
    potentiation_figure,
    synergy_heatmap,
)
from napari_il6assay.doseresponse.fit import fit_curve_table
from napari_il6assay.doseresponse.fold import add_fold_resistance

DOSES = np.r_[0.0, np.logspace(-12, -5, 15)]
# (line, true IC50 M, hill, parental): a >500-fold pair and a line censored above the range
LINES = [
    ("MDA-MB-231", 1e-9, 1.2, ""),
    ("MDA-MB-231E", 6e-7, 1.1, "MDA-MB-231"),
    ("MDA-MB-231X", 1e-2, 1.2, "MDA-MB-231"),
]


def wells_table(rng: np.random.Generator, lines=LINES, sd: float = 0.03) -> pd.DataFrame:
    rows = []
    for line, ic50, hill, parental in lines:
        for c in DOSES:
            for rep in range(3):
                rows.append(
                    {
                        "plate": "P1",
                        "well": f"{line[-1]}{len(rows):03d}",
                        "cell_line": line,
                        "parental": parental,
                        "drug": "eribulin" if c > 0 else "",
                        "concentration_M": c,
                        "viability": 1 / (1 + (c / ic50) ** hill) + rng.normal(0, sd),
                        "replicate": rep,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wells and fits as the GUI/batch read them back: through CSV, so markers become NaN."""
    wells = wells_table(np.random.default_rng(7))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the censored pair must fit cleanly
        fits = add_fold_resistance(fit_curve_table(wells))
    path = Path(tmp_path_factory.mktemp("fits")) / "fits.csv"
    fits.to_csv(path, index=False)
    return wells, pd.read_csv(path)


def _notes(fig) -> dict[str, str]:
    ax = fig.axes[0]
    return {t.get_text().split(":")[0].lstrip("\u25cf ").strip(): t.get_text() for t in ax.texts}


def _molar(text: str) -> float:
    m = re.search(r"IC50 [<>]?([0-9.e+-]+) (\S?)M", text)
    assert m, text
    return float(m.group(1)) * {"": 1, "m": 1e-3, "\u00b5": 1e-6, "n": 1e-9, "p": 1e-12}[m.group(2)]


def test_notes_from_csv_have_no_nan_and_show_ic50_and_fold_cis(tables) -> None:
    wells, fits = tables
    assert fits["ic50_censored"].isna().any()  # the read-back case the GUI and batch meet
    assert fits["fold_censored"].isna().any()
    fig = dose_response_figure(wells, fits, drug="eribulin")
    notes = _notes(fig)
    assert set(notes) == {"MDA-MB-231", "MDA-MB-231E", "MDA-MB-231X"}
    for text in notes.values():
        assert "nan" not in text.lower() and "none" not in text.lower()
    f = fits.set_index("cell_line")
    # in-range IC50s: value and CI in the note, within 1 % of the fit and near the truth
    for line, true_ic50 in (("MDA-MB-231", 1e-9), ("MDA-MB-231E", 6e-7)):
        ic50 = _molar(notes[line])
        assert ic50 == pytest.approx(f.loc[line, "ic50_rel_M"], rel=0.01)
        assert ic50 == pytest.approx(true_ic50, rel=0.3)
        assert re.search(r"IC50 [0-9.]+ \S?M \[[0-9.]+\u2013[0-9.]+\]", notes[line])
    e = notes["MDA-MB-231E"]
    fold = float(re.search(r"fold ([0-9.]+)", e).group(1))
    assert fold == pytest.approx(600, rel=0.35)
    assert fold == pytest.approx(f.loc["MDA-MB-231E", "fold_resistance"], rel=0.01)
    lo, hi = (float(v) for v in re.search(r"fold [0-9.]+ \[([0-9.]+)\u2013([0-9.]+)\]", e).groups())
    assert lo < fold < hi
    # censored above the range: a bound, no CI pretending to be exact
    x = notes["MDA-MB-231X"]
    assert "IC50 >" in x and "fold >" in x and "[" not in x
    assert _molar(x) == pytest.approx(DOSES[-1], rel=0.01)
    # the IC50 diamonds are drawn for the in-range lines only
    diamonds = [ln for ln in fig.axes[0].lines if ln.get_marker() == "D"]
    assert len(diamonds) == 2


def test_markers_read_as_nan_none_or_empty_give_the_same_figure(tables) -> None:
    wells, fits = tables
    texts = []
    for blank in (np.nan, None, "", pd.NA):
        f = fits.copy()
        for col in ("ic50_censored", "fold_censored"):
            f[col] = f[col].astype(object).where(f[col].notna(), blank)
        texts.append(sorted(_notes(dose_response_figure(wells, f, drug="eribulin")).values()))
    assert all(t == texts[0] for t in texts)


@pytest.mark.parametrize(("size", "dpi"), [((5.0, 3.6), 100), ((6.0, 4.2), 110), ((4.2, 3.2), 100)])
def test_notes_sit_below_the_axes_inside_the_figure(tables, size, dpi) -> None:
    from matplotlib.figure import Figure

    wells, fits = tables
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")  # the dock's canvas: 500 x 360 px
    dose_response_figure(wells, fits, drug="eribulin", fig=fig, theme="dark")
    fig.draw_without_rendering()
    ax = fig.axes[0]
    renderer = fig._get_renderer()
    axes_box = ax.get_window_extent(renderer)
    label_box = ax.xaxis.label.get_window_extent(renderer)
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 3
    for b in boxes:
        assert b.y1 <= label_box.y0 + 0.5  # under the x label, so never on a plateau or point
        assert b.x0 >= axes_box.x0 - 0.5 and b.x1 <= fig.bbox.x1  # readable: not cut off
        assert b.y0 >= fig.bbox.y0 - 0.5
    for a, b in zip(boxes, boxes[1:], strict=False):
        assert b.y1 <= a.y0 + 0.5  # stacked, no overlap between lines
    assert axes_box.height > 0.45 * fig.bbox.height  # the notes did not squash the plot


def test_picking_metadata_kept(tables) -> None:
    wells, fits = tables
    fig = dose_response_figure(wells, fits, drug="eribulin")
    arts = {a.get_gid(): a for a in fig.il6assay_wells}
    assert set(arts) == {f"points:{line}" for line, *_ in LINES}
    ids = fig.il6assay_wells[arts["points:MDA-MB-231E"]]
    assert len(ids) == len(DOSES) and all(len(w) == 3 for w in ids)
    assert all(w.startswith("P1/") for w in ids[0])
    assert arts["points:MDA-MB-231E"].get_picker() == 5


def _combo(rng: np.random.Generator, doses_a, doses_b) -> pd.DataFrame:
    rows = []
    for b in (0.0, *doses_b):
        for a in (0.0, *doses_a):
            for _rep in range(3):
                v = 1 / (1 + (a * (1 + b / 10) / 3e-7) ** 1.1) + rng.normal(0, 0.02)
                rows.append(
                    {
                        "plate": "P1",
                        "well": f"W{len(rows)}",
                        "cell_line": "MDA-MB-231E",
                        "drug": "eribulin" if a > 0 else "",
                        "concentration_M": a,
                        "drug_b": "tocilizumab" if b > 0 else "",
                        "concentration_b": b,
                        "viability": v,
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("doses_a", "doses_b"),
    [(1e-9 * 4.0 ** np.arange(8), [10.0]), ([3e-7], [1.0, 3.0, 10.0, 30.0])],
    ids=["one-dose-of-B", "one-dose-of-A"],
)
@pytest.mark.parametrize("score", ["bliss", "hsa", "loewe", "zip"])
def test_heatmap_of_a_single_row_or_column_has_cells_and_no_warning(
    doses_a, doses_b, score
) -> None:
    from napari_il6assay.doseresponse.synergy import synergy_scores

    syn = synergy_scores(_combo(np.random.default_rng(3), doses_a, doses_b))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = synergy_heatmap(syn, score)
        fig.draw_without_rendering()
    ax = fig.axes[0]
    nrow, ncol = len(doses_b), len(doses_a)
    assert ax.images[0].get_array().shape == (nrow, ncol)  # NaN scores kept as n/a cells
    assert ax.get_xlim() == pytest.approx((-0.5, ncol - 0.5))
    assert ax.get_ylim() == pytest.approx((-0.5, nrow - 0.5))
    cells = fig.il6assay_wells[ax.images[0]]
    assert cells == [(pytest.approx(a), pytest.approx(b)) for b in doses_b for a in doses_a]
    z = np.asarray(syn.pivot_table(index="concentration_b", columns="concentration_M",
                                   values=score, aggfunc="mean", dropna=False))  # fmt: skip
    shown = [t.get_text() for t in ax.texts]
    assert shown.count("n/a") == int(np.isnan(z).sum())


def test_potentiation_label_fits_the_short_dock_axes(tmp_path) -> None:
    from matplotlib.figure import Figure

    from napari_il6assay.doseresponse.synergy import potentiation

    pot = potentiation(_combo(np.random.default_rng(4), 1e-9 * 4.0 ** np.arange(8), [10.0]))
    pot.to_csv(tmp_path / "potentiation.csv", index=False)
    pot = pd.read_csv(tmp_path / "potentiation.csv")  # shift_censored "" -> NaN
    assert pot["shift_censored"].isna().all()
    fig = Figure(figsize=(5.0, 4.2), dpi=100, layout="constrained")  # the GUI's stacked panel
    sub = fig.subfigures(2, 1, hspace=0.04)
    synergy_heatmap(pd.DataFrame(columns=["cell_line", "drug", "drug_b"]), fig=sub[0])
    potentiation_figure(pot, fig=sub[1], theme="dark")
    fig.draw_without_rendering()
    ax = sub[1].axes[0]
    r = fig._get_renderer()
    box = ax.yaxis.label.get_window_extent(r)
    assert box.y0 >= sub[1].bbox.y0 - 0.5 and box.y1 <= sub[1].bbox.y1 + 0.5
    assert box.height <= ax.get_window_extent(r).height
    assert not [t for t in ax.texts if "nan" in t.get_text().lower()]
    assert pot["shift"].iloc[0] == pytest.approx(2.0, rel=0.3)  # the combination halves IC50


def test_fold_test_ci_switch_keeps_the_p_value() -> None:
    from napari_il6assay.doseresponse.fit import fit_arrays
    from napari_il6assay.doseresponse.fold import fold_test

    w = wells_table(np.random.default_rng(11), LINES[:2])
    par = w[w.cell_line == "MDA-MB-231"]
    res = w[w.cell_line == "MDA-MB-231E"]
    xy_p = (par.concentration_M.to_numpy(float), par.viability.to_numpy(float))
    xy_r = (res.concentration_M.to_numpy(float), res.viability.to_numpy(float))
    both = fit_arrays([(*xy_p, None), (*xy_r, None)], "4pl", ci_method="none")
    full = fold_test(xy_p, xy_r, both.params[0], both.params[1])
    bare = fold_test(xy_p, xy_r, both.params[0], both.params[1], ci=False)
    assert bare["p_value"] == full["p_value"] and bare["fold"] == full["fold"]
    assert np.isnan(bare["ci_low"]) and np.isnan(bare["ci_high"])
    assert full["ci_low"] < 600 < full["ci_high"]


@pytest.mark.parametrize(
    ("ic50_p", "ic50_r", "seed", "sd", "status"),
    [
        (1e-10, 1e-3, 2, 0.04, "no_effect"),  # test_dr_fold's censored pair, same draws
        (1e-9, 1e-2, 7, 0.03, "no_effect"),
        (1e-9, 3e-5, 7, 0.03, "small_effect"),
    ],
)
def test_fold_of_a_flat_resistant_curve_fits_without_nan(ic50_p, ic50_r, seed, sd, status) -> None:
    # the joint fit's unidentified hill used to run off to ~1e304 and overflow to NaN
    # parameters ("invalid value encountered in logaddexp" thousands of times)
    lines = [("P", ic50_p, 1.2, ""), ("R", ic50_r, 1.2, "P")]
    w = wells_table(np.random.default_rng(seed), lines, sd=sd)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fits = add_fold_resistance(fit_curve_table(w)).set_index("cell_line")
    r, p = fits.loc["R"], fits.loc["P"]
    assert r["status"] == status and r["ic50_censored"] == ">" and r["fold_censored"] == ">"
    assert r["fold_resistance"] == pytest.approx(DOSES[-1] / p["ic50_rel_M"])
    assert p["ic50_rel_M"] == pytest.approx(ic50_p, rel=0.3)
    assert np.isnan(r["fold_ci_low"]) and 0.0 <= r["p_value"] <= 1.0


def test_long_names_break_at_joints_within_the_axes_width() -> None:
    from matplotlib.figure import Figure

    par, res = "MDA-MB-231 parental (ATCC HTB-26)", "MDA-MB-231E eribulin-resistant clone 7"
    w = wells_table(np.random.default_rng(1), [(par, 1e-9, 1.2, ""), (res, 6e-7, 1.0, par)])
    fits = add_fold_resistance(fit_curve_table(w))
    fig = Figure(figsize=(4.2, 3.4), dpi=100, layout="constrained")
    dose_response_figure(w, fits, drug="eribulin", fig=fig)
    fig.draw_without_rendering()
    ax, r = fig.axes[0], fig._get_renderer()
    axes_box = ax.get_window_extent(r)
    texts = [t.get_text() for t in ax.texts]
    assert texts[1].splitlines()[0] == f"\u25cf {res}:"  # broken after the name, then at " · "
    assert "fold" in texts[1].splitlines()[-1] and "IC50" in texts[1]
    for t in ax.texts:
        assert t.get_window_extent(r).x1 <= axes_box.x1 + 1.0  # no overhang to squash the axes
    assert axes_box.width > 0.6 * fig.bbox.width
