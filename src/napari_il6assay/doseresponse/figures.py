"""Figures as functions returning ``matplotlib.figure.Figure`` (no pyplot state).

The CLI saves them (``fig.savefig``), the GUI draws them into its own canvas: every function
accepts ``fig=`` (an existing Figure, cleared and reused) and ``theme="light"|"dark"``.

Linking points to wells: every plotted data point set is a separate artist created with
``picker=5``; ``fig.il6assay_wells`` is a dict mapping that artist to a list of lists of well ids
(one list per point, in plotting order), so a ``pick_event`` handler does::

    def on_pick(event):
        wells = event.artist.figure.il6assay_wells.get(event.artist)
        if wells is not None:
            for i in event.ind:
                print(wells[i])          # e.g. ["P1:A01", "P1:A02", "P1:A03"]

Each such artist's ``gid`` is ``"points:<cell line>"`` too.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from napari_il6assay.io.cells import cell_text
from napari_il6assay.io.cells import text_column as _text
from napari_il6assay.io.plate import well_keys

THEMES = {
    "light": {"bg": "white", "fg": "black", "grid": "#dddddd"},
    "dark": {"bg": "#262930", "fg": "#f0f1f2", "grid": "#414851"},
}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


def _figure(fig: Any | None, theme: str, size: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    if fig is None:
        # Any: the figure carries il6assay_wells, an attribute of ours the stubs cannot know
        fig = cast(Any, Figure(figsize=size, layout="constrained"))
    else:
        fig.clear()
    colors = THEMES.get(theme, THEMES["light"])
    fig.set_facecolor(colors["bg"])
    fig.il6assay_wells = {}
    root = getattr(fig, "figure", fig)  # a SubFigure's root Figure (the GUI's canvas)
    if root is not fig and root is not None and not hasattr(root, "il6assay_wells"):
        root.il6assay_wells = {}
    return fig


def _register(fig: Any, artist: Any, wells: list) -> None:
    """Attach well ids to an artist on the figure (and on its root when a SubFigure)."""
    fig.il6assay_wells[artist] = wells
    root = getattr(fig, "figure", fig)
    if root is not fig and root is not None:
        root.il6assay_wells[artist] = wells


def _style(ax: Any, theme: str) -> None:
    c = THEMES.get(theme, THEMES["light"])
    ax.set_facecolor(c["bg"])
    for s in ax.spines.values():
        s.set_color(c["fg"])
    ax.tick_params(colors=c["fg"], which="both")
    ax.xaxis.label.set_color(c["fg"])
    ax.yaxis.label.set_color(c["fg"])
    ax.title.set_color(c["fg"])


def _points(data: pd.DataFrame, response: str) -> pd.DataFrame:
    """Mean +/- SD per (cell line, dose) from wells or conditions, with the well ids."""
    d = data.copy()
    if "role" in d.columns:
        d = d[~_text(d["role"]).str.lower().isin(["exclude", "blank"])]
    conc = next(c for c in ("concentration_M", "concentration", "conc", "dose") if c in d.columns)
    d["_x"] = pd.to_numeric(d[conc], errors="coerce").fillna(0.0)
    if "drug" in d.columns:
        d.loc[_text(d["drug"]) == "", "_x"] = 0.0
    d["_cl"] = _text(d["cell_line"]) if "cell_line" in d.columns else ""
    if "viability_mean" in d.columns and response not in d.columns:  # conditions table
        d["_y"] = d["viability_mean"]
        d["_sd"] = d.get("viability_sd", np.nan)
        d["_w"] = d["wells"] if "wells" in d.columns else ""
        g = d.groupby(["_cl", "_x"], sort=True)
        out = g.agg(y=("_y", "mean"), sd=("_sd", "mean")).reset_index()
        out["wells"] = g["_w"].agg(lambda s: [w for v in s for w in str(v).split(";") if w]).values
        return out
    d["_y"] = pd.to_numeric(d[response], errors="coerce")
    if "well" in d.columns:
        d["_w"] = well_keys(d["plate"] if "plate" in d.columns else None, d["well"])
    else:
        d["_w"] = ""
    g = d.groupby(["_cl", "_x"], sort=True)
    out = g.agg(y=("_y", "mean"), sd=("_y", "std")).reset_index()
    out["wells"] = g["_w"].agg(list).values
    return out


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _num(v: Any) -> float:
    """Return a table cell as a float (NaN for missing or non-numeric)."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _mark(v: Any) -> str:
    """Return a ``*_censored`` cell as ``">"``/``"<"``, or ``""`` when not censored.

    Fits read back from CSV hold NaN (or ``pd.NA`` with the string dtype) where the fit table
    had ``""``: all of them mean "not censored".
    """
    return cell_text(v)


_PREFIXES = ((1.0, ""), (1e-3, "m"), (1e-6, "\u00b5"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def _dose_scale(v: float, unit: str) -> tuple[float, str]:
    """Factor and unit label that show a molar dose with an SI prefix (540 nM, not 5.4e-07 M)."""
    if unit != "M" or not np.isfinite(v) or v <= 0:
        return 1.0, unit
    for factor, prefix in _PREFIXES:
        if v >= factor * 0.9995:
            return factor, prefix + unit
    return _PREFIXES[-1][0], _PREFIXES[-1][1] + unit


def si_dose(v: float, unit: str = "M") -> str:
    """Format a dose with an SI prefix in the layout's unit: ``31.6 nM``, ``10 µg/mL``, ``0``.

    Parameters
    ----------
    v : float
        Dose in ``unit`` (molar doses in M).
    unit : str
        ``"M"`` gets a prefix; any other unit (``ug/mL``) is shown as given.

    Returns
    -------
    str
    """
    if not np.isfinite(v):
        return ""
    if v == 0:
        return "0"
    unit = unit.replace("ug/", "\u00b5g/") if unit else ""
    if unit != "M":
        return f"{v:.3g} {unit}".rstrip()
    factor, u = _dose_scale(v, "M")
    return f"{v / factor:.3g} {u}"


def _si_axis(axis: Any, unit: str, floor: float = 0.0) -> None:
    """Label a log dose axis's major ticks with SI-prefixed doses (``10 nM``), no minor labels.

    Ticks below ``floor`` (the vehicle's place on a broken axis) get no label: they are not
    doses.
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if unit != "M":
        return
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: si_dose(v, "M") if v >= floor else ""))
    axis.set_minor_formatter(NullFormatter())


def _bound(v: float, factor: float = 1.0) -> str:
    """Format a CI bound in the prefix of its estimate: ``1150`` rather than ``1.15e+03``."""
    if np.isinf(v):
        return "\u221e" if v > 0 else "0"
    x = v / factor
    return f"{float(f'{x:.3g}'):.0f}" if 1e3 <= abs(x) < 1e5 else _fmt(x)


def _fit_note(r: pd.Series, unit: str) -> str:
    """``IC50 540 nM [462–640] · fold 553 [442–700]`` for one fit row (NaN-safe)."""
    ic50, cens = _num(r.get("ic50_rel_M")), _mark(r.get("ic50_censored"))
    if np.isfinite(ic50):
        factor, u = _dose_scale(ic50, unit)
        note = f"IC50 {cens}{_fmt(ic50 / factor)} {u}".rstrip()
        lo, hi = _num(r.get("ic50_ci_low_M")), _num(r.get("ic50_ci_high_M"))
        if not cens and not np.isnan(lo) and not np.isnan(hi):
            note += f" [{_bound(lo, factor)}\u2013{_bound(hi, factor)}]"
    else:
        note = "IC50 not estimated"
    if str(r.get("status", "")) == "no_effect":
        note = f"no effect ({note})" if np.isfinite(ic50) else "no effect"
    fold, fcens = _num(r.get("fold_resistance")), _mark(r.get("fold_censored"))
    if np.isfinite(fold):
        note += f" \u00b7 fold {fcens}{_bound(fold)}"
        lo, hi = _num(r.get("fold_ci_low")), _num(r.get("fold_ci_high"))
        if not fcens and not np.isnan(lo) and not np.isnan(hi):
            note += f" [{_bound(lo)}\u2013{_bound(hi)}]"
    return note


def _readable(color: str, theme: str) -> str:
    """Return the line colour, lightened on the dark theme so that 8 pt text stays legible."""
    if theme != "dark":
        return color
    from matplotlib.colors import to_hex, to_rgb

    r, g, b = to_rgb(color)
    return to_hex((0.55 * r + 0.45, 0.55 * g + 0.45, 0.55 * b + 0.45))


def _wrap_note(text: str, width_pt: float, size: float) -> str:
    """Break a note after its ``name:`` and before its `` · `` joints.

    No line is then wider than ``width_pt``.

    The notes sit under the axes, left-aligned on it; a line wider than the axes would make
    constrained layout shrink the axes to fit it (and a GUI ``wrap`` breaks lines without
    telling the layout), so the breaks are made here, measured with the real font.
    """
    import re

    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=size)
    ttp = TextToPath()

    def width(s: str) -> float:
        return ttp.get_text_width_height_descent(s, prop, ismath=False)[0]

    parts = [p for p in re.split("(?<=: )|(?= \u00b7 )", text) if p]
    lines = [parts[0]]
    for part in parts[1:]:
        if width(lines[-1] + part) <= width_pt:
            lines[-1] += part
        else:
            lines.append("    " + part.removeprefix(" \u00b7 "))
    return "\n".join(line.rstrip() for line in lines)


def dose_response_figure(
    data: pd.DataFrame,
    fits: pd.DataFrame | None = None,
    *,
    cell_lines: list[str] | None = None,
    drug: str | None = None,
    drug_b: str | None = None,
    concentration_b: float | None = None,
    response: str = "viability",
    fig: Any | None = None,
    theme: str = "light",
    unit: str = "M",
    title: str | None = None,
    unit_b: str = "",
    alone: bool = True,
) -> Any:
    """Dose-response points +/- SD per cell line with fitted curves, IC50s and fold.

    Parameters
    ----------
    data : DataFrame
        ``wells`` (one row per well, ``response`` column) or ``conditions``
        (``viability_mean``/``viability_sd``/``wells``).
    fits : DataFrame, optional
        `fit.fit_curves` output (or ``fits.csv`` read back: NaN, None and "" in the
        ``*_censored`` columns all mean "not censored"); curves, IC50 markers with CI bars and
        the notes come from it. The notes, ``● line: IC50 540 nM [462–640] · fold 553
        [442–700]``, are annotations in ``ax.texts`` stacked under the x label in each line's
        colour (constrained layout makes room), so they never cover data; they replace the
        legend when every line has one.
    cell_lines : list of str, optional
        Lines to draw (default all), all on one log axis.
    drug, drug_b, concentration_b : optional
        Which curve (default: the first drug; no second agent).
    response : str
        Response column of a wells table.
    fig : Figure, optional
        Existing figure to draw into (cleared first).
    theme : {"light", "dark"}
    unit : str
        Axis label unit of the dose.
    title : str, optional
    unit_b : str
        Unit of ``concentration_b`` (``ug/mL``), shown in the title.
    alone : bool
        With a second agent: also draw each line's drug-alone points (hollow) and curve
        (dashed), so the shift is seen against the same line's reference.

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.il6assay_wells`` mapping each point artist to its points' well ids.
    """
    fig = _figure(fig, theme, (6.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    _style(ax, theme)
    d, d_alone, drug = _select_curve_rows(data, drug, drug_b, concentration_b, alone)
    pts = _points(d, response)
    lines = cell_lines or list(dict.fromkeys(pts["_cl"]))
    pos = pts["_x"][pts["_x"] > 0]
    if pos.empty:
        ax.text(0.5, 0.5, "no dose > 0 to plot", transform=ax.transAxes, ha="center")
        return fig
    pts_alone = _points(d_alone, response) if d_alone is not None and len(d_alone) else None
    if pts_alone is not None:
        pos = pd.concat([pos, pts_alone["_x"][pts_alone["_x"] > 0]])
    xmin, xmax = pos.min(), pos.max()
    x_zero = xmin / 10**0.75  # where the vehicle (dose 0) is drawn, on a broken axis
    fg = THEMES.get(theme, THEMES["light"])["fg"]
    notes: list[tuple[str, str]] = []  # (text, colour): drawn under the axes, never on data
    for k, cl in enumerate(lines):
        color = COLORS[k % len(COLORS)]
        if pts_alone is not None:
            _draw_alone(ax, pts_alone, fits, cl, drug, color, x_zero, xmin, xmax, notes, unit)
        p = pts[pts["_cl"] == cl]
        xs = np.where(p["_x"] > 0, p["_x"], x_zero)
        ax.errorbar(xs, p["y"], yerr=p["sd"].fillna(0.0), fmt="none", ecolor=color, capsize=2)
        art = ax.scatter(xs, p["y"], color=color, s=22, zorder=3, picker=5, label=cl or "data")
        art.set_gid(f"points:{cl}")
        _register(fig, art, list(p["wells"]))
        if fits is None:
            continue
        r = _curve_fit_row(fits, cl, drug, concentration_b)
        if r is None:
            continue
        _draw_fit(ax, r, color, (xmin, xmax), fg)
        note = _fit_note(r, unit)
        notes.append((f"\u25cf {cl}: {note}" if cl else f"\u25cf {note}", color))
    ax.set_xscale("log")
    _si_axis(ax.xaxis, unit, floor=x_zero * 10**0.375)
    ax.axvline(x_zero * 10**0.375, color=fg, lw=0.6, ls=":")
    unit_txt = "" if unit in ("", "M") else f" ({unit})"  # molar ticks carry their own unit
    ax.set_xlabel(f"{drug or 'dose'} concentration{unit_txt}; left of the dotted line: vehicle")
    ax.set_ylabel(response)
    if title or drug:
        combo = f" + {drug_b} {si_dose(float(concentration_b or 0), unit_b)}" if drug_b else ""
        ax.set_title(title or f"{drug}{combo}")
    # say what the marks are: a reader must not guess SD vs SEM or what the diamond is
    fig.supxlabel("points: mean \u00b1 SD of replicate wells; \u25c6 IC50 with 95% CI"
                  + ("; hollow/dashed: drug alone" if pts_alone is not None else ""),
                  fontsize=7, color=fg)  # fmt: skip
    # IC50/fold notes: one line per cell line in its colour, stacked under the x label (each
    # anchored to the bottom of the one above), so constrained layout makes room for them
    # below the axes and they can never cover a plateau or a point
    width_pt = fig.bbox.width * 72.0 / fig.dpi - 60.0  # the axes: figure minus the y labels
    anchor: Any = ax.xaxis.label
    for k, (text, color) in enumerate(notes):
        anchor = ax.annotate(
            _wrap_note(text, width_pt, 8.0), xy=(0.0, 0.0), xycoords=("axes fraction", anchor),
            xytext=(0.0, -3.0 if k == 0 else -1.0), textcoords="offset points", ha="left",
            va="top", fontsize=8, color=_readable(color, theme), linespacing=1.15,
        )  # fmt: skip
    if sum(t.startswith("\u25cf") for t, _ in notes) < len(lines):  # notes name every line
        leg = ax.legend(loc="best", fontsize=8, frameon=False)
        for t in leg.get_texts():
            t.set_color(fg)
    return fig


def _select_curve_rows(
    data: pd.DataFrame,
    drug: str | None,
    drug_b: str | None,
    concentration_b: float | None,
    alone: bool,
) -> tuple[pd.DataFrame, pd.DataFrame | None, str | None]:
    """Pick the rows of one curve for `dose_response_figure`.

    Returns the rows of ``drug`` (default: the first drug) at ``concentration_b`` of
    ``drug_b``, the same drug's rows alone (only with a second agent and ``alone``, else
    None), and the drug chosen.
    """
    d = data.copy()
    d_alone = None
    for col in ("drug", "drug_b"):
        if col in d.columns:
            d[col] = _text(d[col])
    if "drug" in d.columns:
        drugs = [x for x in d["drug"].unique() if x]
        drug = drug or (drugs[0] if drugs else None)
        if drug is not None:
            d = d[d["drug"].isin([drug, ""])]
    if "concentration_b" in d.columns:
        cb = pd.to_numeric(d["concentration_b"], errors="coerce").fillna(0.0)
        want = float(concentration_b or 0.0)
        m = np.isclose(cb, want) if want > 0 else cb <= 0
        if drug_b and "drug_b" in d.columns and want > 0:
            m &= d["drug_b"] == drug_b
        if want > 0 and alone:
            d_alone = d[cb <= 0]
        d = d[m]
    return d, d_alone, drug


def _curve_fit_row(
    fits: pd.DataFrame, cl: str, drug: str | None, concentration_b: float | None
) -> pd.Series | None:
    """Return the fit row of one line's curve, or None when there is none with a ``top``."""
    f = fits[fits["cell_line"] == cl]
    if drug is not None and "drug" in f.columns:
        f = f[f["drug"] == drug]
    if "concentration_b" in f.columns:
        cbf = pd.to_numeric(f["concentration_b"], errors="coerce").fillna(0.0)
        f = f[np.isclose(cbf, float(concentration_b or 0.0))]
    if f.empty or not np.isfinite(_num(f.iloc[0]["top"])):
        return None
    return f.iloc[0]


def _draw_fit(ax: Any, r: pd.Series, color: str, xrange: tuple[float, float], fg: str) -> None:
    """Draw one fit row's curve over ``xrange`` (+/- 0.3 decades) and its IC50 with CI bar."""
    from napari_il6assay.doseresponse.models import evaluate

    xmin, xmax = xrange
    asym = _num(r.get("asymmetry", 1.0))
    asym = asym if np.isfinite(asym) and asym > 0 else 1.0  # 4PL/3PL: NaN or 1
    par = np.array([_num(r["hill"]), _num(r["bottom"]), _num(r["top"]),
                    np.log(_num(r["ic50_fit_M"])), np.log(asym)])  # fmt: skip
    grid = np.logspace(np.log10(xmin) - 0.3, np.log10(xmax) + 0.3, 200)
    drawn = bool(np.isfinite(par).all())  # a failed fit keeps its note, has no curve
    if drawn:
        ax.plot(grid, evaluate(par, grid), color=color, lw=1.6)
    ic50 = _num(r.get("ic50_rel_M"))
    if drawn and not _mark(r.get("ic50_censored")) and np.isfinite(ic50):
        yv = evaluate(par, np.array([ic50]))[0]
        lo, hi = _num(r.get("ic50_ci_low_M")), _num(r.get("ic50_ci_high_M"))
        xerr = None
        if np.isfinite(lo) and np.isfinite(hi):
            xerr = [[ic50 - max(lo, grid[0])], [min(hi, grid[-1]) - ic50]]
        ax.errorbar([ic50], [yv], xerr=xerr, fmt="D", color=color, ms=6, capsize=4,
                    elinewidth=1.5, zorder=4, mec=fg)  # fmt: skip


def _draw_alone(
    ax: Any,
    pts: pd.DataFrame,
    fits: pd.DataFrame | None,
    cl: str,
    drug: str | None,
    color: str,
    x_zero: float,
    xmin: float,
    xmax: float,
    notes: list[tuple[str, str]],
    unit: str = "M",
) -> None:
    """One line's drug-alone points (hollow) and fitted curve (dashed) on a combination plot."""
    from napari_il6assay.doseresponse.models import evaluate

    p = pts[pts["_cl"] == cl]
    if p.empty:
        return
    xs = np.where(p["_x"] > 0, p["_x"], x_zero)
    ax.errorbar(xs, p["y"], yerr=p["sd"].fillna(0.0), fmt="none", ecolor=color, alpha=0.5,
                capsize=2)  # fmt: skip
    ax.scatter(xs, p["y"], facecolors="none", edgecolors=color, s=22, zorder=3,
               label=f"{cl} {drug or ''} alone".strip())  # fmt: skip
    if fits is None:
        return
    f = fits[fits["cell_line"] == cl]
    if drug is not None and "drug" in f.columns:
        f = f[f["drug"] == drug]
    if "concentration_b" in f.columns:
        f = f[pd.to_numeric(f["concentration_b"], errors="coerce").fillna(0.0) <= 0]
    if f.empty or not np.isfinite(_num(f.iloc[0]["top"])):
        return
    r = f.iloc[0]
    asym = _num(r.get("asymmetry", 1.0))
    asym = asym if np.isfinite(asym) and asym > 0 else 1.0
    par = np.array([_num(r["hill"]), _num(r["bottom"]), _num(r["top"]),
                    np.log(_num(r["ic50_fit_M"])), np.log(asym)])  # fmt: skip
    if np.isfinite(par).all():
        grid = np.logspace(np.log10(xmin) - 0.3, np.log10(xmax) + 0.3, 200)
        ax.plot(grid, evaluate(par, grid), color=color, lw=1.2, ls="--")
    note = _fit_note(r, unit)
    notes.append((f"\u25cb {cl}, {drug or ''} alone: {note}", color))


def synergy_heatmap(
    synergy: pd.DataFrame,
    score: str = "bliss",
    *,
    cell_line: str | None = None,
    drug: str | None = None,
    drug_b: str | None = None,
    fig: Any | None = None,
    theme: str = "light",
    vmax: float | None = None,
    unit_b: str = "",
) -> Any:
    """Heat map of one synergy score over the dose grid (red = synergy, blue = antagonism).

    Parameters
    ----------
    synergy : DataFrame
        `synergy.synergy_scores` output.
    score : {"bliss", "hsa", "loewe", "zip", "ci_chou"}
    cell_line, drug, drug_b : str, optional
        Which combination (default the first).
    fig, theme
        As `dose_response_figure`.
    vmax : float, optional
        Symmetric colour limit (default: largest |score|).
    unit_b : str
        Unit of ``concentration_b`` (``ug/mL``; molar doses of drug B: ``M``).

    Returns
    -------
    matplotlib.figure.Figure
        The image artist is in ``fig.il6assay_wells`` with a per-cell (drug A, drug B) dose
        list.
    """
    n_a = synergy["concentration_M"].nunique() if "concentration_M" in synergy else 1
    n_b = synergy["concentration_b"].nunique() if "concentration_b" in synergy else 1
    # square cells: the figure grows with the grid instead of stretching the cells
    size = (min(2.6 + 0.62 * max(n_a, 1), 11.0), min(2.0 + 0.62 * max(n_b, 1), 9.0))
    fig = _figure(fig, theme, size)
    ax = fig.add_subplot(1, 1, 1)
    _style(ax, theme)
    s = synergy
    for col, val in (("cell_line", cell_line), ("drug", drug), ("drug_b", drug_b)):
        vals = list(dict.fromkeys(s[col]))
        if not vals:
            break
        s = s[s[col] == (val if val is not None else vals[0])]
    if s.empty:
        ax.text(0.5, 0.5, "no combination data", transform=ax.transAxes, ha="center")
        return fig
    # every measured dose pair keeps its cell: a score that cannot be computed (Loewe with a
    # single dose of drug B) is an "n/a" cell, not a dropped row that leaves an empty image
    scores = pd.to_numeric(s[score], errors="coerce") if score in s.columns else np.nan
    s = s.assign(_score=scores)
    grid = s.groupby(["concentration_b", "concentration_M"], sort=True)["_score"].mean().unstack()
    grid = grid.reindex(index=sorted(s["concentration_b"].unique()),
                        columns=sorted(s["concentration_M"].unique()))  # fmt: skip
    z = grid.to_numpy(float)
    lim = vmax or (np.nanmax(np.abs(z)) if np.isfinite(z).any() else 1.0) or 1.0
    from matplotlib import colormaps

    # "n/a" cells in the theme's grid grey: NaN must not pass for white (= no interaction)
    cmap = colormaps["RdBu" if score == "ci_chou" else "RdBu_r"].with_extremes(
        bad=THEMES.get(theme, THEMES["light"])["grid"]
    )
    center = 1.0 if score == "ci_chou" else 0.0
    nrow, ncol = z.shape
    # cells centred on integer row/column indices (the GUI maps a click back by rounding);
    # the explicit extent gives a single row or column its full cell height/width
    im = ax.imshow(z, origin="lower", cmap=cmap, vmin=center - lim, vmax=center + lim,
                   aspect="equal", picker=5, interpolation="nearest",
                   extent=(-0.5, ncol - 0.5, -0.5, nrow - 0.5))  # fmt: skip
    ax.set_xlim(-0.5, ncol - 0.5)
    ax.set_ylim(-0.5, nrow - 0.5)
    _register(fig, im, [(a, b) for b in grid.index for a in grid.columns])
    for (i, j), v in np.ndenumerate(z):
        if np.isfinite(v):
            dark = abs(v - center) > 0.6 * lim
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
        else:
            ax.text(j, i, "n/a", ha="center", va="center", fontsize=6, color="grey")
    ax.set_xticks(range(len(grid.columns)), [si_dose(float(c), "M") for c in grid.columns],
                  rotation=45, ha="right", fontsize=7)  # fmt: skip
    ax.set_yticks(range(len(grid.index)), [si_dose(float(c), unit_b) for c in grid.index],
                  fontsize=7)  # fmt: skip
    ax.set_xlabel(f"{s['drug'].iloc[0]} concentration")
    ax.set_ylabel(f"{s['drug_b'].iloc[0]}" + (" concentration" if nrow > 2 else ""))
    name = SCORE_NAMES.get(score, score)
    title = (f"{s['cell_line'].iloc[0]}: {name}" if score != "ci_chou"
             else f"{s['cell_line'].iloc[0]}: Chou-Talalay CI (< 1 synergy)")  # fmt: skip
    if not np.isfinite(z).any():
        title += ": not computable here"
        why = _first_note(s)
        if why:  # the reason as a second title line (not on the ticks or the cells)
            title += "\n" + why
    ax.set_title(title, fontsize=10 if "\n" not in title else 8)
    # a strip of 1-2 rows gets its colour bar underneath, where it does not tower over it
    flat = nrow <= 2 and ncol > 3
    cb = fig.colorbar(im, ax=ax, shrink=0.6 if flat else 0.9,
                      location="bottom" if flat else "right")  # fmt: skip
    fgc = THEMES.get(theme, THEMES["light"])["fg"]
    cb.ax.tick_params(colors=fgc)
    label_sep = " " if flat else "\n"
    cb.set_label("Chou-Talalay CI (< 1 = synergy)" if score == "ci_chou" else
                 f"{name} excess, viability-loss scale{label_sep}(> 0 synergy, < 0 antagonism)",
                 color=fgc, fontsize=8)  # fmt: skip
    return fig


#: long names of the synergy scores (figure titles and colour-bar labels)
SCORE_NAMES = {"bliss": "Bliss", "hsa": "HSA", "loewe": "Loewe", "zip": "ZIP"}


def _first_note(s: pd.DataFrame) -> str:
    """Return the first Loewe/ZIP reason of a block's ``note`` column (why a map is empty)."""
    for n in s.get("note", pd.Series(dtype=object)).astype(str):
        for part in n.split("; "):
            if "undefined" in part or "not estimable" in part:
                return part
    return ""


def synergy_figures(
    synergy: pd.DataFrame, unit_b: dict[str, str] | None = None, theme: str = "light"
) -> dict[str, Any]:
    """Every synergy heat map of a table: the same set from ``batch`` and ``synergy``.

    One map per cell line, drug pair and score (Bliss, HSA, Loewe, ZIP); a score that is
    undefined for the block is still drawn, as "n/a" cells with the reason.

    Parameters
    ----------
    synergy : DataFrame
        `synergy.synergy_scores` output.
    unit_b : dict, optional
        ``drug_b`` -> unit of its concentration.
    theme : str

    Returns
    -------
    dict
        ``synergy_<score>_<line>_<drug>+<drug_b>`` -> Figure (names file-safe).
    """
    import re

    def safe(t: str) -> str:
        return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(t)).strip("_") or "none"

    figs: dict[str, Any] = {}
    if synergy is None or synergy.empty:
        return figs
    keys = synergy[["cell_line", "drug", "drug_b"]].astype(str).drop_duplicates()
    for line, drug, drug_b in keys.itertuples(index=False):
        for score in ("bliss", "hsa", "loewe", "zip"):
            if score not in synergy.columns:
                continue
            name = f"synergy_{score}_{safe(line)}_{safe(drug)}+{safe(drug_b)}"
            figs[name] = synergy_heatmap(synergy, score, cell_line=line, drug=drug,
                                         drug_b=drug_b, theme=theme,
                                         unit_b=(unit_b or {}).get(drug_b, ""))  # fmt: skip
    return figs


def potentiation_figure(
    pot: pd.DataFrame,
    *,
    cell_lines: list[str] | None = None,
    fig: Any | None = None,
    theme: str = "light",
    unit_b: str = "",
) -> Any:
    """IC50 shift ratio (with 95 % CI) of drug A against the fixed dose of drug B.

    Parameters
    ----------
    pot : DataFrame
        `synergy.potentiation` output.
    cell_lines : list of str, optional
    fig, theme
        As `dose_response_figure`.
    unit_b : str
        Unit of drug B's dose (x axis).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(fig, theme, (5.5, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    _style(ax, theme)
    fg = THEMES.get(theme, THEMES["light"])["fg"]
    lines = cell_lines or list(dict.fromkeys(pot["cell_line"]))
    for k, cl in enumerate(lines):
        p = pot[pot["cell_line"] == cl].sort_values("concentration_b")
        if p.empty:
            continue
        color = COLORS[k % len(COLORS)]
        x = p["concentration_b"].to_numpy(float)
        y = p["shift"].to_numpy(float)
        lo = y - p["shift_ci_low"].to_numpy(float)
        hi = p["shift_ci_high"].to_numpy(float) - y
        ax.errorbar(x, y, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o-", color=color,
                    capsize=3, label=cl, picker=5)  # fmt: skip
        marks = p["shift_censored"] if "shift_censored" in p.columns else [""] * len(p)
        for xi, yi, c in zip(x, y, marks, strict=True):
            if _mark(c) and np.isfinite(yi):
                ax.annotate(_mark(c), (xi, yi), textcoords="offset points", xytext=(4, 4),
                            color=color)  # fmt: skip
    ax.axhline(1.0, color=fg, lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    # plain numbers (10, 100), not 10^1: the shift is a ratio, the dose is in unit_b
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    b = pot["drug_b"].iloc[0] if len(pot) else "drug B"
    a = pot["drug"].iloc[0] if len(pot) else "drug A"
    ub = unit_b.replace("ug/", "\u00b5g/") if unit_b else ""
    ax.set_xlabel(f"{b} fixed dose{f' ({ub})' if ub and ub != 'M' else ''}; "
                  "bars: 95% CI", fontsize=8)  # fmt: skip
    if ub == "M":
        _si_axis(ax.xaxis, "M")
    # the axes is short in the GUI's stacked panel: a short y label, the ratio in the title
    ax.set_ylabel("IC50 shift (\u00d7)")
    ax.set_title(f"{a} IC50 alone / with {b}", fontsize=9)
    leg = ax.legend(fontsize=8, frameon=False)
    for t in leg.get_texts():
        t.set_color(fg)
    return fig


def plate_heatmap(
    wells: pd.DataFrame,
    value: str = "viability",
    *,
    plate: str | None = None,
    plate_format: int = 96,
    fig: Any | None = None,
    theme: str = "light",
) -> Any:
    """Draw a plate map of one well value (readout or viability) with flagged wells marked.

    Parameters
    ----------
    wells : DataFrame
        ``wells.csv`` (``plate, well, role, qc_flag`` and ``value``).
    value : {"viability", "readout"}
    plate : str, optional
        Which plate (default the first).
    plate_format : int
        96, 384, ...: the grid drawn.
    fig, theme
        As `dose_response_figure`.

    Returns
    -------
    matplotlib.figure.Figure
        Blank wells are outlined in grey, wells with a ``qc_flag`` get an ``x``.
    """
    from napari_il6assay.io.plate import PLATE_FORMATS, split_well

    nr, nc = PLATE_FORMATS.get(int(plate_format), (8, 12))
    fig = _figure(fig, theme, (1.6 + 0.42 * nc, 1.0 + 0.42 * nr))
    ax = fig.add_subplot(1, 1, 1)
    _style(ax, theme)
    w = wells
    if "plate" in w.columns and len(w):
        plates = list(dict.fromkeys(_text(w["plate"])))
        plate = plates[0] if plate is None else plate
        w = w[_text(w["plate"]) == plate]
    z = np.full((nr, nc), np.nan)
    flagged = []
    for _, r in w.iterrows():
        try:
            i, j = split_well(str(r["well"]))
        except ValueError:
            continue
        if i > nr or j > nc:
            continue
        z[i - 1, j - 1] = _num(r.get(value))
        if cell_text(r.get("qc_flag")):
            flagged.append((i - 1, j - 1))
    im = ax.imshow(z, cmap="viridis", aspect="equal", interpolation="nearest")
    for i, j in flagged:
        ax.text(j, i, "\u00d7", ha="center", va="center", color="red", fontsize=9)
    ax.set_xticks(range(nc), [str(c + 1) for c in range(nc)], fontsize=7)
    ax.set_yticks(range(nr), [chr(ord("A") + r) for r in range(nr)], fontsize=7)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.set_title(f"plate {plate or ''}: {value}".replace("plate : ", "plate: "), fontsize=10)
    cb = fig.colorbar(im, ax=ax, shrink=0.85)
    fgc = THEMES.get(theme, THEMES["light"])["fg"]
    cb.ax.tick_params(colors=fgc)
    name = str(w["readout_name"].iloc[0]) if "readout_name" in w.columns and len(w) else ""
    label = ("viability (vehicle = 1, blank = 0)" if value == "viability"
             else f"readout{': ' + name if name and name != 'nan' else ''} (raw)")  # fmt: skip
    cb.set_label(label, color=fgc, fontsize=8)
    ax.set_xlabel("\u00d7 = well with a qc_flag; grey = no well/value", fontsize=7)
    return fig


def cross_resistance_heatmap(
    cross: pd.DataFrame, *, fig: Any | None = None, theme: str = "light"
) -> Any:
    """Resistant lines x drugs, coloured by log10 fold resistance, annotated with the CI.

    Parameters
    ----------
    cross : DataFrame
        `cross_resistance.cross_resistance` output.
    fig, theme
        As `dose_response_figure`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps

    lines = list(dict.fromkeys(cross["cell_line"]))
    drugs = sorted(dict.fromkeys(cross["drug"]))
    fig = _figure(fig, theme, (2.4 + 1.5 * len(drugs), 1.6 + 0.7 * len(lines)))
    ax = fig.add_subplot(1, 1, 1)
    _style(ax, theme)
    z = np.full((len(lines), len(drugs)), np.nan)
    for _, r in cross.iterrows():
        i, j = lines.index(r["cell_line"]), drugs.index(r["drug"])
        z[i, j] = np.log10(_num(r["fold_resistance"]))
    lim = max(np.nanmax(np.abs(z)) if np.isfinite(z).any() else 1.0, 0.5)
    cmap = colormaps["RdBu_r"].with_extremes(bad=THEMES.get(theme, THEMES["light"])["grid"])
    im = ax.imshow(z, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    for _, r in cross.iterrows():
        i, j = lines.index(r["cell_line"]), drugs.index(r["drug"])
        f, lo, hi = (_num(r.get(k)) for k in ("fold_resistance", "fold_ci_low", "fold_ci_high"))
        text = f"{_mark(r.get('fold_censored'))}{_bound(f)}\u00d7"
        if np.isfinite(lo) and np.isfinite(hi):
            text += f"\n[{_bound(lo)}\u2013{_bound(hi)}]"
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if abs(z[i, j]) > 0.6 * lim else "black")  # fmt: skip
    ax.set_xticks(range(len(drugs)), drugs, fontsize=8)
    ax.set_yticks(range(len(lines)), [f"{cl} vs {p}" for cl, p in dict.fromkeys(
        zip(cross["cell_line"], cross["parental"], strict=True))], fontsize=8)  # fmt: skip
    ax.set_title("Cross-resistance: fold resistance vs parental (95% CI)", fontsize=10)
    cb = fig.colorbar(im, ax=ax)
    fgc = THEMES.get(theme, THEMES["light"])["fg"]
    cb.ax.tick_params(colors=fgc)
    cb.set_label("log10 fold resistance (> 0 resistant)", color=fgc, fontsize=8)
    return fig


def standard_curve_figure(
    result: Any, *, fig: Any | None = None, theme: str = "light", title: str | None = None
) -> Any:
    """Draw a fitted standard curve with its standards and the samples placed on it.

    Parameters
    ----------
    result : doseresponse.quantify.QuantifyResult
    fig : Figure, optional
        Existing figure to draw into (cleared first).
    theme : {"light", "dark"}
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Standards as points (``gid`` ``"points:standards"``), samples in the quantification
        range as diamonds on the curve (in-well concentration, before dilution), LLOQ/ULOQ as
        dashed lines, flagged samples as horizontal ticks at their response on the right.
    """
    fig = _figure(fig, theme, (6.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    _style(ax, theme)
    fg = THEMES.get(theme, THEMES["light"])["fg"]
    curve, unit = result.curve, result.unit
    wells = result.wells
    std = wells[(wells["role"] == "standard") & (wells["concentration"] > 0)]
    pos = std["concentration"].to_numpy(float)
    lo, hi = pos.min() / 3.0, pos.max() * 3.0
    xs = np.geomspace(lo, hi, 200)
    ax.plot(xs, curve.predict(xs), color=COLORS[0], lw=1.6,
            label=f"{curve.model.upper()} fit, R² {curve.r2:.4f}")  # fmt: skip
    art = ax.scatter(std["concentration"], std["response"], color=COLORS[0], s=22, zorder=3,
                     picker=5, label="standards")  # fmt: skip
    art.set_gid("points:standards")
    _register(fig, art, [[w] for w in std["well"]])
    conc = result.concentrations
    ok = conc[conc["flag"] == ""]
    if len(ok):
        xw = (ok["concentration"] / ok["dilution"]).to_numpy(float)
        art = ax.scatter(xw, ok["response_mean"], marker="D", color=COLORS[1], s=26, zorder=4,
                         picker=5, label="samples")  # fmt: skip
        art.set_gid("points:samples")
        _register(fig, art, [str(w).split(";") for w in ok["wells"]])
    bad = conc[conc["flag"] != ""]
    if len(bad):
        ax.scatter(np.full(len(bad), hi), bad["response_mean"], marker="_", color=COLORS[4],
                   s=160, zorder=4, label="flagged samples (no number)")  # fmt: skip
    for v, name in ((result.lloq, "LLOQ"), (result.uloq, "ULOQ")):
        if np.isfinite(v):
            ax.axvline(v, color=fg, ls="--", lw=0.8, alpha=0.6)
            ax.text(v, ax.get_ylim()[1], f" {name}", color=fg, fontsize=8, va="top")
    ax.set_xscale("log")
    ax.set_xlim(lo, hi * 1.2)
    ax.set_xlabel(f"concentration in the well ({unit})" if unit else "concentration in the well")
    ax.set_ylabel("response")
    ax.legend(fontsize=8, loc="lower right", frameon=False, labelcolor=fg)
    if title:
        ax.set_title(title, color=fg)
    return fig


def sphere_size_figure(
    sizes: dict[str, np.ndarray],
    *,
    cell_line: str = "",
    unit: str = "µm",
    fig: Any | None = None,
    theme: str = "light",
) -> Any:
    """Sphere-size distributions per condition: ECDF (left) and histogram (right).

    Parameters
    ----------
    sizes : dict
        Condition label -> sphere diameters (`doseresponse.spheres.sphere_size_samples`).
    cell_line : str
        For the title.
    unit : str
        Diameter unit (``px`` without calibration).
    fig : Figure, optional
    theme : {"light", "dark"}

    Returns
    -------
    matplotlib.figure.Figure
        One line per condition in each panel, the same colour in both.
    """
    fig = _figure(fig, theme, (9.0, 3.8))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    fg = THEMES.get(theme, THEMES["light"])["fg"]
    for ax in (ax1, ax2):
        _style(ax, theme)
    allv = np.concatenate([v for v in sizes.values() if len(v)] or [np.zeros(1)])
    bins = np.linspace(float(allv.min()), float(allv.max()) + 1e-9, 25)
    for i, (label, v) in enumerate(sizes.items()):
        if not len(v):
            continue
        color = COLORS[i % len(COLORS)]
        x = np.sort(v)
        ax1.step(x, np.arange(1, x.size + 1) / x.size, where="post", color=color,
                 label=f"{label} (n={x.size}, median {np.median(x):.0f})")  # fmt: skip
        ax2.hist(v, bins=bins, histtype="step", color=color, lw=1.4)
    ax1.set_xlabel(f"sphere diameter ({unit})")
    ax1.set_ylabel("fraction of spheres ≤ diameter")
    ax2.set_xlabel(f"sphere diameter ({unit})")
    ax2.set_ylabel("spheres")
    ax1.legend(fontsize=7, loc="lower right", frameon=False, labelcolor=fg)
    if cell_line:
        fig.suptitle(f"{cell_line}: sphere sizes", color=fg)
    return fig


def ic50_summary_figure(
    fits: pd.DataFrame,
    *,
    unit: str = "M",
    fig: Any | None = None,
    theme: str = "light",
    max_labels: int = 40,
) -> Any:
    """One page for a whole screen: IC50 heat map (cell line x drug) and an IC50 waterfall.

    Thousands of curves cannot be read one figure at a time; this page shows all of them: the
    heat map places every curve's relative IC50 (log10) at its cell line and drug (curve
    family: drug, second agent and its dose), the waterfall sorts them and marks the censored
    ones (``>`` above the highest dose, ``<`` below the lowest) and those without an IC50
    (no effect, not fittable) so that nothing is dropped silently.

    Parameters
    ----------
    fits : DataFrame
        `fit.fit_curves` output or ``fits.csv`` read back.
    unit : str
        Dose unit of ``ic50_rel_M`` (axis labels only).
    fig, theme
        As `dose_response_figure`.
    max_labels : int
        Above this many rows/columns the tick labels are left out (the counts are in the
        axis labels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(fig, theme, (11.0, 4.8))
    colors = THEMES.get(theme, THEMES["light"])
    f = fits.copy()
    line = _text(f["cell_line"]) if "cell_line" in f.columns else pd.Series("", index=f.index)
    family = _text(f["drug"]) if "drug" in f.columns else pd.Series("", index=f.index)
    if "drug_b" in f.columns:
        # without concentration_b no row is a combination (this used to end in an
        # AttributeError on a float)
        cb = pd.to_numeric(f["concentration_b"], errors="coerce").fillna(0.0) if (
            "concentration_b" in f.columns) else pd.Series(0.0, index=f.index)  # fmt: skip
        drug_b = _text(f["drug_b"])
        combo = (drug_b != "") & (cb > 0)
        family = family.where(~combo, family + " + " + drug_b + " " + cb.map(_fmt))
    ic50 = pd.to_numeric(f["ic50_rel_M"], errors="coerce").to_numpy(float)
    cens = f["ic50_censored"].map(_mark).to_numpy(object) if "ic50_censored" in f.columns \
        else np.full(len(f), "", object)  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        logv = np.where(ic50 > 0, np.log10(ic50), np.nan)
    ax_h, ax_w = fig.subplots(1, 2, width_ratios=[1.1, 1.0])
    for ax in (ax_h, ax_w):
        _style(ax, theme)
    # heat map: rows = cell lines, columns = curve families, in table order
    rows = list(dict.fromkeys(line))
    cols = list(dict.fromkeys(family))
    r_idx = pd.Index(rows).get_indexer(line)
    c_idx = pd.Index(cols).get_indexer(family)
    grid = np.full((len(rows), len(cols)), np.nan)
    grid[r_idx, c_idx] = logv
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad=colors["grid"])
    im = ax_h.imshow(grid, aspect="auto", cmap=cmap, interpolation="nearest")
    cbar = fig.colorbar(im, ax=ax_h)
    cbar.set_label(f"log10 IC50{f' ({unit})' if unit else ''}", color=colors["fg"])
    cbar.ax.tick_params(colors=colors["fg"])
    for names, setter in ((cols, ax_h.set_xticks), (rows, ax_h.set_yticks)):
        if len(names) <= max_labels:
            setter(range(len(names)), names, fontsize=6)
        else:
            setter([])
    if len(cols) <= max_labels:
        ax_h.tick_params(axis="x", labelrotation=90)
    ax_h.set_xlabel(f"drug ({len(cols)})")
    ax_h.set_ylabel(f"cell line ({len(rows)})")
    ax_h.set_title(f"IC50 of {len(f)} curves (grey: none)", fontsize=9)
    # waterfall: every curve with an IC50, sorted; censored ones in grey at their bound
    ok = np.isfinite(logv)
    order = np.argsort(logv[ok], kind="stable")
    v, c = logv[ok][order], cens[ok][order]
    rank = np.arange(v.size)
    plain = c == ""
    lw = float(np.clip(300.0 / max(v.size, 1), 0.3, 3.0))  # bars touch, whatever the count
    ax_w.vlines(rank[plain], v.min() if v.size else 0, v[plain], color=COLORS[0], lw=lw)
    if (~plain).any():
        ax_w.scatter(rank[~plain], v[~plain], s=4, color="grey", label="censored (> or <)")
        leg = ax_w.legend(fontsize=8, frameon=False, loc="upper left")
        for t in leg.get_texts():
            t.set_color(colors["fg"])
    ax_w.set_xlabel(f"curves with an IC50, sorted ({v.size} of {len(f)})")
    ax_w.set_ylabel(f"log10 IC50{f' ({unit})' if unit else ''}")
    n_none = int((~ok).sum())
    ax_w.set_title(f"waterfall; {n_none} without IC50 (no effect / not fittable)", fontsize=9)
    return fig
