"""``report.html``: one self-contained, offline page per batch run.

Everything is inlined (figures as base64 PNG, thumbnails as base64 JPEG, CSS in a
``<style>`` block);
there is no script and no external resource, so the file can be mailed, archived and
opened years later. Sections: run summary, fold resistance, dose-response curves (and
synergy figures), the fits table, the wells excluded and corrected by hand, failed inputs,
and a montage of every well's thumbnail
with its outline laid out by the plate map, each titled with well, cell line, dose and
viability, so a reviewer can see which wells made each point.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from napari_il6assay.batch.parts import PARTS, atomic_bytes
from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.units import format_molar

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:24px;
 color:#1d1d1f;max-width:1500px}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:4px;
 margin-top:1.6em} .muted{color:#666}
table.data{border-collapse:collapse;font-size:13px;margin:8px 0}
table.data th,table.data td{border:1px solid #ddd;padding:3px 7px;text-align:right}
table.data th{background:#f3f3f3} table.data td.t{text-align:left}
.scroll{overflow-x:auto;max-width:100%}
.figs{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.figs img{max-width:640px;width:100%;border:1px solid #eee}
.figs.small img{max-width:430px}
.fold{font-size:1.15em;margin:6px 0}
table.plate{border-collapse:collapse;table-layout:fixed}
table.plate th{font-size:12px;color:#555;padding:2px}
table.plate td{border:1px solid #ddd;padding:2px;vertical-align:top;width:108px}
.well{font-size:10px;line-height:1.25;text-align:center;overflow:hidden}
.well img{width:104px;height:104px;object-fit:contain;display:block;margin:0 auto;
 background:#000}
.well .id{font-weight:600;font-size:11px} .well .v{font-weight:600}
td.vehicle{background:#eef5ff} td.blank{background:#f2f2f2} td.exclude{background:#fde9e9}
td.empty{background:#fafafa} .flag{color:#b00020} .corr{color:#1a5fb4;font-weight:600}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border:1px solid #ddd}
.headline{background:#f6f8fb;border:1px solid #d5dde8;padding:8px 14px;margin:10px 0}
.headline li{margin:3px 0} .warn{background:#fff4e5;border:1px solid #f0b45a;padding:6px 12px}
table.data td.t{max-width:420px;white-space:normal}
.notes li{font-size:13px;color:#333}
"""


def _b64_png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _plot_png(out: Path, name: str) -> bytes | None:
    p = out / "plots" / f"{name}.png"
    return p.read_bytes() if p.is_file() else None


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _sig(v: Any, digits: int = 3) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return _e(v)
    if math.isnan(x):
        return ""
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _dose_text(row: pd.Series) -> str:
    parts = []
    drug = row.get("drug")
    if not is_blank(drug):
        conc = row.get("concentration_M")
        if not is_blank(conc):
            parts.append(f"{_e(drug)} {format_molar(conc)}")
        else:
            parts.append(f"{_e(drug)} {_sig(row.get('concentration'))} {_e(row.get('unit', ''))}")
    drug_b = row.get("drug_b")
    cb: Any = row.get("concentration_b")
    if not is_blank(drug_b) and not is_blank(cb):
        try:
            cbz = float(cb) == 0
        except (TypeError, ValueError):
            cbz = False
        if not cbz:
            unit_b = str(row.get("unit_b", "") or "").replace("ug/", "µg/")
            parts.append(f"+ {_e(drug_b)} {_sig(cb)} {_e(unit_b)}")
    role = str(row.get("role", "") or "")
    if role in ("vehicle", "blank"):
        # a vehicle of a combination block still carries its second agent
        return " ".join([role, *[p for p in parts if p.startswith("+ ")]])
    return " ".join(parts) if parts else "no drug"


def _table(df: pd.DataFrame, cols: list[str], fmt: dict[str, Any] | None = None) -> str:
    fmt = fmt or {}
    cols = [c for c in cols if c in df.columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c in fmt:
                text = fmt[c](v)
            elif isinstance(v, float):
                text = _sig(v)
            else:
                text = _e("" if is_blank(v) else v)
            cls = ' class="t"' if not isinstance(v, (int, float)) or isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table class="data"><tr>{head}</tr>{"".join(rows)}</table></div>'


def _p(v: Any) -> str:
    """Format a p-value for prose: ``p = 0.012``, ``p < 0.001``; empty when missing."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return ""
    if math.isnan(x):
        return ""
    return "p < 0.001" if x < 0.001 else f"p = {x:.2g}"


def _dose_b(cb: Any, unit_b: str) -> str:
    """Drug B's dose with its unit (``10 µg/mL``)."""
    from napari_il6assay.doseresponse.figures import si_dose

    try:
        return si_dose(float(cb), unit_b or "")
    except (TypeError, ValueError):
        return _e(cb)


def _units_b(tables: dict[str, Any]) -> dict[str, str]:
    from napari_il6assay.batch.exports import units_of_b

    w = tables.get("wells")
    return units_of_b(w) if isinstance(w, pd.DataFrame) else {}


def _headline(tables: dict[str, Any]) -> str:
    """Write the key results first, each with its CI and p-value.

    Plate problems, each fold resistance, each potentiation shift, and each combination's
    synergy.
    """
    warn = _plate_warnings(tables.get("plate_qc"))
    items = [
        *_fold_items(tables.get("fits")),
        *_potentiation_items(tables.get("potentiation"), _units_b(tables)),
        *_synergy_items(tables.get("synergy_summary")),
    ]
    html_ = ""
    if warn:
        html_ += ("<div class='warn'><b>Check these plates before using their numbers:</b><ul>"
                  + "".join(f"<li>{w}</li>" for w in warn) + "</ul></div>")  # fmt: skip
    if items:
        html_ += ("<div class='headline'><b>Key results</b><ul>"
                  + "".join(f"<li>{i}</li>" for i in items) + "</ul></div>")  # fmt: skip
    return html_


def _plate_warnings(qc: Any) -> list[str]:
    """Return one line per flagged plate of ``plate_qc.csv``, saying why."""
    warn: list[str] = []
    if not isinstance(qc, pd.DataFrame):
        return warn
    for _, r in qc.iterrows():
        if is_blank(r.get("flag")):
            continue
        plate = _e(r["plate"]) or "(the plate)"
        why = []
        if "low_z_prime" in str(r["flag"]):
            why.append(f"Z' = {_sig(r['z_prime'], 2)} (&lt; 0.5)")
        if "edge_effect" in str(r["flag"]):
            why.append(f"edge effect: outer wells at {_sig(r['edge_ratio'], 2)}× the "
                       f"interior ({_e(_p(r['edge_p_value']))})")  # fmt: skip
        if "no_controls" in str(r["flag"]):
            why.append("Z' not computable (too few vehicle or control wells)")
        warn.append(f"<b>Plate {plate}</b>: {'; '.join(why)}")
    return warn


def _fold_items(fits: Any) -> list[str]:
    """Return one line per fold resistance of a single-drug curve."""
    items: list[str] = []
    if not isinstance(fits, pd.DataFrame) or "fold_resistance" not in fits:
        return items
    has_fold = pd.to_numeric(fits["fold_resistance"], errors="coerce").notna()
    for _, r in fits[has_fold].iterrows():
        cb: Any = r.get("concentration_b")
        if not is_blank(r.get("drug_b")) and float(pd.to_numeric(cb, errors="coerce") or 0) > 0:
            continue
        cens = "" if is_blank(r.get("fold_censored")) else str(r.get("fold_censored"))
        ci = (f"95% CI {_sig(r.get('fold_ci_low'))}–{_sig(r.get('fold_ci_high'))}"
              if not is_blank(r.get("fold_ci_low")) else "no CI")  # fmt: skip
        p = _p(r.get("p_value"))
        items.append(
            f"<b>{_e(r['cell_line'])}</b> is <b>{cens}{_sig(r['fold_resistance'])}-fold</b> "
            f"resistant to {_e(r['drug'])} vs {_e(r.get('parental'))} ({ci}"
            f"{', ' + _e(p) if p else ''}; IC50 {format_molar(r['ic50_rel_M'])})."
        )
    return items


def _potentiation_items(pot: Any, units: dict[str, str]) -> list[str]:
    """Return one line per IC50 shift of the potentiation table."""
    items: list[str] = []
    if not isinstance(pot, pd.DataFrame) or pot.empty:
        return items
    for _, r in pot.iterrows():
        dose = _dose_b(r["concentration_b"], units.get(str(r["drug_b"]), ""))
        shift = pd.to_numeric(pd.Series([r.get("shift")]), errors="coerce").iloc[0]
        if not math.isfinite(shift):
            items.append(f"{_e(r['drug_b'])} {dose}: no IC50 shift of {_e(r['drug'])} in "
                         f"{_e(r['cell_line'])} ({_e(r.get('note'))}).")  # fmt: skip
            continue
        verb = "lowers" if shift >= 1 else "raises"
        fold = shift if shift >= 1 else 1 / shift
        lo: Any = r.get("shift_ci_low")
        hi: Any = r.get("shift_ci_high")
        ci = (f"95% CI {_sig(lo)}–{_sig(hi)}" if shift >= 1 else
              f"95% CI {_sig(1 / float(hi))}–{_sig(1 / float(lo))}") if not is_blank(lo) \
            else "no CI"  # fmt: skip
        p = _p(r.get("p_value"))
        cens = "" if is_blank(r.get("shift_censored")) else str(r["shift_censored"])
        items.append(
            f"{_e(r['drug_b'])} {dose} {verb} the {_e(r['drug'])} IC50 of "
            f"<b>{_e(r['cell_line'])}</b> <b>{cens}{_sig(fold)}-fold</b> ({ci}"
            f"{', ' + _e(p) if p else ''}; {format_molar(r['ic50_M'])} with it)."
        )
    return items


def _synergy_items(summ: Any) -> list[str]:
    """Return one line per combination block of the synergy summary."""
    items: list[str] = []
    if not isinstance(summ, pd.DataFrame) or summ.empty:
        return items
    for (cl, a, b), g in summ.groupby(["cell_line", "drug", "drug_b"], sort=True):
        parts = []
        for _, r in g.iterrows():
            if not math.isfinite(float(r["mean"])):
                why = str(r.get("note", "") or "").split(": ", 1)[-1]
                parts.append(f"{_e(r['score'])} n/a ({_e(why)})" if why else
                             f"{_e(r['score'])} n/a")  # fmt: skip
                continue
            ci = (f" [{_sig(r['ci_low'], 2)}, {_sig(r['ci_high'], 2)}], {_e(_p(r['p_value']))}"
                  if math.isfinite(float(r["ci_low"])) else "")  # fmt: skip
            parts.append(f"{_e(r['score'])} {_sig(r['mean'], 2)}{ci}")
        items.append(f"{_e(a)} + {_e(b)} in <b>{_e(cl)}</b>, mean excess over the "
                     f"reference (&gt; 0 = synergy, 95% CI): {'; '.join(parts)}.")  # fmt: skip
    return items


def _fits_tables(fits: pd.DataFrame, units: dict[str, str] | None = None) -> str:
    """Show the fits as two narrow tables (curves; fold resistance).

    No horizontal scrolling, and the absolute IC50 kept away from the relative IC50's CI.
    """

    def ic50(r: pd.Series) -> str:
        cens = "" if is_blank(r.get("ic50_censored")) else str(r["ic50_censored"])
        text = f"{cens}{format_molar(r['ic50_rel_M'])}"
        if not cens and not is_blank(r.get("ic50_ci_low_M")):
            text += (f" ({format_molar(r['ic50_ci_low_M'])} – "
                     f"{format_molar(r['ic50_ci_high_M'])})")  # fmt: skip
        return text

    f = fits.copy()
    units = units or {}
    f["curve"] = [
        f"{_e(r['drug'])}" + (f" + {_e(r['drug_b'])} "
                              f"{_dose_b(r['concentration_b'], units.get(str(r['drug_b']), ''))}"
                              if not is_blank(r.get("drug_b")) else "")
        for _, r in f.iterrows()
    ]  # fmt: skip
    f["IC50 (95% CI), relative"] = [ic50(r) for _, r in f.iterrows()]
    f["absolute IC50 (viability 0.5)"] = [
        ("" if is_blank(r.get("ic50_abs_censored")) else str(r.get("ic50_abs_censored")))
        + format_molar(r["ic50_abs_M"]) for _, r in f.iterrows()
    ]  # fmt: skip
    f["status"] = f.get("status", pd.Series("", index=f.index))
    t1 = _table(f, ["cell_line", "curve", "n_points", "IC50 (95% CI), relative", "top",
                    "bottom", "hill", "r2", "absolute IC50 (viability 0.5)", "status"])  # fmt: skip
    fr = f[pd.to_numeric(f["fold_resistance"], errors="coerce").notna()] if \
        "fold_resistance" in f else f.iloc[:0]  # fmt: skip
    t2 = ""
    if len(fr):
        fr = fr.assign(**{
            "fold (95% CI)": [f"{_sig(r['fold_resistance'])} ({_sig(r['fold_ci_low'])} – "
                              f"{_sig(r['fold_ci_high'])})" for _, r in fr.iterrows()],
            "p (equal IC50)": [_p(r["p_value"]).replace("p = ", "").replace("p ", "")
                               for _, r in fr.iterrows()],
        })  # fmt: skip
        t2 = "<h3>Fold resistance</h3>" + _table(
            fr, ["cell_line", "parental", "curve", "fold (95% CI)", "p (equal IC50)"]
        )
    return t1 + t2


def _fold_section(fits: pd.DataFrame | None) -> str:
    if fits is None or fits.empty or "fold_resistance" not in fits:
        return "<p class='muted'>No resistant line with a parental line in the layout.</p>"
    f = fits[pd.to_numeric(fits["fold_resistance"], errors="coerce").notna()]
    if f.empty:
        return "<p class='muted'>No fold resistance could be computed.</p>"
    lines = []
    for _, r in f.iterrows():
        combo = ""
        if not is_blank(r.get("drug_b")) and not is_blank(r.get("concentration_b")):
            combo = f" with {_e(r['drug_b'])} {_sig(r['concentration_b'])}"
        lines.append(
            f"<div class='fold'><b>{_e(r['cell_line'])}</b> vs <b>{_e(r.get('parental'))}</b>, "
            f"{_e(r['drug'])}{combo}: <b>{_sig(r['fold_resistance'])}-fold</b> "
            f"(95% CI {_sig(r.get('fold_ci_low'))}–{_sig(r.get('fold_ci_high'))}"
            f"{', p = ' + _sig(r.get('p_value'), 2) if not is_blank(r.get('p_value')) else ''})"
            "</div>"
        )
    return "".join(lines)


def _figure_block(out: Path, title: str, names: list[str], cls: str) -> str:
    """Inline the PNGs of ``plots/<name>.png`` under an ``<h2>`` (when titled)."""
    imgs = []
    for name in names:
        png = _plot_png(out, name)
        if png is not None:
            imgs.append(f"<img alt='{_e(name)}' src='{_b64_png(png)}'>")
    if not imgs:
        return ""
    head = f"<h2>{_e(title)}</h2>" if title else ""
    return f"{head}<div class='{cls}'>{''.join(imgs)}</div>"


def _synergy_section(out: Path, tables: dict[str, Any], figs: list[str]) -> str:
    """Write the combination section.

    Curves with the drug-alone reference, potentiation, heat maps, the per-block summary with
    CIs, and every note the scores carry (no dangling "see note").
    """
    syn, summ = tables.get("synergy"), tables.get("synergy_summary")
    pot = tables.get("potentiation")
    if not isinstance(syn, pd.DataFrame) or syn.empty:
        return ""
    parts = ["<h2>Combination</h2>"]
    parts.append(_figure_block(out, "", [n for n in figs if n == "potentiation"], "figs small"))
    if isinstance(pot, pd.DataFrame) and not pot.empty:
        units = _units_b(tables)
        p = pot.assign(**{
            "dose of B": [_dose_b(c, units.get(str(b), "")) for c, b in
                          zip(pot["concentration_b"], pot["drug_b"], strict=True)],
            "IC50 with B (95% CI)": [f"{format_molar(r['ic50_M'])} "
                                     f"({format_molar(r['ic50_ci_low_M'])} – "
                                     f"{format_molar(r['ic50_ci_high_M'])})"
                                     for _, r in pot.iterrows()],
            "shift (95% CI)": [f"{_sig(r['shift'])} ({_sig(r['shift_ci_low'])} – "
                               f"{_sig(r['shift_ci_high'])})" for _, r in pot.iterrows()],
            "p": [_p(v).replace("p = ", "").replace("p ", "") for v in pot["p_value"]],
        })  # fmt: skip
        parts.append("<p>Potentiation: IC50 of drug A alone / with drug B (&gt; 1 = B "
                     "sensitizes); 95% CI from the joint profile likelihood, p from the "
                     "extra-sum-of-squares F test of equal IC50.</p>")  # fmt: skip
        parts.append(
            _table(
                p,
                [
                    "cell_line",
                    "drug",
                    "drug_b",
                    "dose of B",
                    "IC50 with B (95% CI)",
                    "shift (95% CI)",
                    "p",
                    "note",
                ],
            )
        )
    if not isinstance(summ, pd.DataFrame) or summ.empty:
        # a run folder from before synergy_summary.csv: plain means, with the reason for n/a
        num = syn.select_dtypes("number")
        notes_ = [n for v in syn.get("note", pd.Series(dtype=object)).astype(str)
                  for n in v.split("; ") if n and n != "nan"]  # fmt: skip
        means = []
        for c in ("bliss", "hsa", "loewe", "zip"):
            if c not in num:
                continue
            if num[c].notna().any():
                means.append(f"{c} {_sig(num[c].mean(), 2)}")
                continue
            key = "Loewe" if c == "loewe" else "ZIP" if c == "zip" else c
            why = next((n for n in notes_ if key in n), "undefined for every condition")
            means.append(f"{c} n/a ({_e(why)})")
        parts.append(f"<p>Mean synergy scores (&gt; 0 = synergy): {', '.join(means)}.</p>")
    if isinstance(summ, pd.DataFrame) and not summ.empty:
        sm = summ.assign(**{
            "mean (95% CI)": [
                f"{_sig(r['mean'], 2)} ({_sig(r['ci_low'], 2)} – {_sig(r['ci_high'], 2)})"
                if math.isfinite(float(r["ci_low"])) else
                (_sig(r["mean"], 2) if math.isfinite(float(r["mean"])) else "n/a")
                for _, r in summ.iterrows()],
            "p (mean ≠ 0)": [_p(v).replace("p = ", "").replace("p ", "")
                             for v in summ["p_value"]],
        })  # fmt: skip
        parts.append("<p>Synergy per block: mean excess over each reference model on the "
                     "viability-loss scale (&gt; 0 = synergy), 95% bootstrap CI over replicate "
                     "wells and its two-sided p-value; MSA = most synergistic 3×3 dose window "
                     "(smaller when an agent has fewer doses).</p>")  # fmt: skip
        parts.append(_table(sm, ["cell_line", "drug", "drug_b", "score", "mean (95% CI)",
                                 "p (mean ≠ 0)", "msa", "n_conditions", "note"]))  # fmt: skip
    notes = sorted({n for v in syn.get("note", []) for n in str(v).split("; ")
                    if n and n != "nan"})  # fmt: skip
    if notes:
        parts.append("<p><b>Notes on the scores</b> (from synergy.csv):</p><ul class='notes'>"
                     + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")  # fmt: skip
    heat = [n for n in figs if n.startswith("synergy_")]
    parts.append(_figure_block(out, "", heat, "figs"))
    return "".join(parts)


def _qc_section(out: Path, tables: dict[str, Any], figs: list[str]) -> str:
    qc = tables.get("plate_qc")
    if not isinstance(qc, pd.DataFrame) or qc.empty:
        return ""
    from napari_il6assay.qc_flags import PLATE_FLAGS

    parts = ["<h2>Plate QC</h2>",
             "<p>Z' and SSMD: vehicle vs blank wells, or vs the strongest top-dose kill when "
             "the plate has no blanks (Z' ≥ 0.5 is a good assay window); vehicle CV in % of "
             "the vehicle mean; edge ratio: outer-ring wells / interior wells of the same "
             "condition, with a Welch t-test p-value.</p>",
             _table(qc, ["plate", "z_prime", "ssmd", "vehicle_cv_pct", "edge_ratio",
                         "edge_p_value", "flag", "negative_control"])]  # fmt: skip
    used = {f for v in qc["flag"] for f in str(v).split(";") if f and f != "nan"}
    if used:
        parts.append("<ul class='notes'>" + "".join(
            f"<li><b>{_e(f)}</b>: {_e(PLATE_FLAGS.get(f, ''))}</li>" for f in sorted(used))
            + "</ul>")  # fmt: skip
    parts.append(_figure_block(out, "", [n for n in figs if n.startswith("plate_")], "figs small"))
    return "".join(parts)


def _record_section(wells: pd.DataFrame | None, run_info: dict[str, Any]) -> str:
    """List what a person changed: the excluded wells with their reasons, the corrected wells.

    From ``run.json`` (``exclusions``, ``corrections``), completed by the wells table's
    ``exclusion_reason`` / ``corrected`` columns (a report written from the panel's tables).
    """
    ex = pd.DataFrame(run_info.get("exclusions") or [], columns=["plate", "well", "reason", "time"])
    co = pd.DataFrame(run_info.get("corrections") or [],
                      columns=["plate", "well", "site", "file", "time"])  # fmt: skip
    if isinstance(wells, pd.DataFrame) and len(wells):
        w = wells
        plate = (w["plate"].map(lambda v: "" if is_blank(v) else str(v)) if "plate" in w.columns
                 else pd.Series("", index=w.index))  # fmt: skip
        if not len(ex) and "exclusion_reason" in w.columns:
            hit = w["exclusion_reason"].fillna("").astype(str).str.strip() != ""
            ex = pd.DataFrame({"plate": plate[hit], "well": w.loc[hit, "well"],
                               "reason": w.loc[hit, "exclusion_reason"], "time": ""})  # fmt: skip
        if "corrected" in w.columns:
            hit = w["corrected"].fillna(False).astype(bool)
            rows = w[hit].assign(plate=plate[hit])
            if not len(co):
                co = pd.DataFrame({"plate": rows["plate"], "well": rows["well"], "site": 1,
                                   "file": rows.get("label_source", ""), "time": ""})  # fmt: skip
            # the corrected readout and what the automatic segmentation had flagged
            extra = rows[[c for c in ("plate", "well", "readout", "qc_flag", "qc_flag_auto")
                          if c in rows.columns]]  # fmt: skip
            co = co.assign(plate=co["plate"].fillna("").astype(str)).merge(
                extra, on=["plate", "well"], how="left"
            )
    if not len(ex) and not len(co):
        return ""
    parts = ["<h2>Excluded and corrected wells</h2>"]
    parts.append(f"<p>Excluded by hand ({len(ex)}): kept in the tables, left out of the fits.</p>")
    if len(ex):
        parts.append(_table(ex, ["plate", "well", "reason", "time"]))
    parts.append(
        f"<p>Corrected by hand ({len(co)}): measured from the saved labels "
        "(<code>corrections/</code>) instead of the automatic segmentation; "
        "<code>qc_flag_auto</code> is what the automatic segmentation flagged. "
        "Thumbnails below show the automatic outline.</p>"
    )
    if len(co):
        co = co.rename(columns={"readout": "readout (corrected)"})
        parts.append(_table(co, ["plate", "well", "site", "file", "time", "readout (corrected)",
                                 "qc_flag", "qc_flag_auto"]))  # fmt: skip
    return "".join(parts)


def _methods() -> str:
    return (
        "<h2>How to read the figures</h2><ul class='notes'>"
        "<li>Dose–response points: mean ± SD of the replicate wells (SD, not SEM); "
        "the vehicle is drawn left of the dotted line. Curves: 4PL fits. ◆: relative IC50 "
        "(inflection) with its 95% profile-likelihood CI as horizontal bars.</li>"
        "<li>Combination curves also show the same line's drug-alone points (hollow) and "
        "curve (dashed), so the IC50 shift is read against its own reference.</li>"
        "<li>Synergy heat maps: excess over the reference model (Bliss, HSA, Loewe, ZIP) on "
        "the viability-loss scale, &gt; 0 (red) = synergy; grey “n/a” cells: the score is "
        "undefined there (reason in the notes above).</li>"
        "<li>Potentiation: bars are 95% CIs of the IC50 ratio.</li>"
        "<li>Plate maps: readout (raw) and viability (vehicle = 1, blank = 0); × marks a well "
        "with a qc_flag.</li></ul>"
    )


def _plate_shape(wells: list[str], plate_format: int = 96) -> tuple[int, int]:
    """Rows and columns of the plate map: the run's plate format, or larger if needed."""
    from napari_il6assay.io.plate import PLATE_FORMATS, split_well

    rows = cols = 0
    for w in wells:
        try:
            r, c = split_well(w)
        except ValueError:
            continue
        rows, cols = max(rows, r), max(cols, c)
    candidates = [PLATE_FORMATS.get(int(plate_format), (8, 12)), (8, 12), (16, 24), (32, 48)]
    for nr, nc in candidates:
        if rows <= nr and cols <= nc:
            return nr, nc
    return rows, cols


def _montage(
    out: Path, wells: pd.DataFrame | None, images: pd.DataFrame | None, plate_format: int = 96
) -> str:
    from napari_il6assay.io.plate import split_well, well_name

    if images is None or images.empty:
        return "<p class='muted'>No measured image.</p>"
    first_site = images.sort_values(["plate", "well", "site"]).groupby(["plate", "well"]).first()
    sections = []
    plates = sorted(set(images["plate"].astype(str)))
    for plate in plates:
        wp = wells[wells["plate"].astype(str) == plate] if wells is not None else pd.DataFrame()
        by_well = {str(r["well"]): r for _, r in wp.iterrows()}
        img_wells = [w for (p, w) in first_site.index if str(p) == plate]
        nr, nc = _plate_shape(list(by_well) + img_wells, plate_format)
        head = "<tr><th></th>" + "".join(f"<th>{c}</th>" for c in range(1, nc + 1)) + "</tr>"
        body = []
        for r in range(1, nr + 1):
            cells = [f"<th>{chr(ord('A') + r - 1)}</th>"]
            for c in range(1, nc + 1):
                w = well_name(r, c)
                cells.append(_well_cell(out, plate, w, by_well.get(w), first_site, images))
            body.append("<tr>" + "".join(cells) + "</tr>")
        title = f"<h3>Plate {_e(plate)}</h3>" if plate else ""
        sections.append(f"{title}<table class='plate'>{head}{''.join(body)}</table>")
    _ = split_well
    legend = (
        "<p class='legend'><span class='vehicle' style='background:#eef5ff'>vehicle</span>"
        "<span style='background:#f2f2f2'>blank</span>"
        "<span style='background:#fde9e9'>excluded</span>"
        "<span style='background:#fafafa'>no image / not in layout</span> "
        "Yellow: segmentation outline. Title: well, cell line, dose, viability "
        "(readout for wells without viability).</p>"
    )
    return legend + "".join(sections)


def _well_cell(
    out: Path,
    plate: str,
    well: str,
    row: pd.Series | None,
    first_site: pd.DataFrame,
    images: pd.DataFrame,
) -> str:
    key = (plate, well)
    if key not in first_site.index:
        return "<td class='empty'></td>"
    site: Any = first_site.loc[key]
    thumb = out / PARTS / f"{site['id']}.{well}.thumb.jpg"  # a well of a plate photo
    if not thumb.is_file():
        thumb = out / PARTS / f"{site['id']}.thumb.jpg"
    img = ""
    if thumb.is_file():
        data = base64.b64encode(thumb.read_bytes()).decode("ascii")
        img = f"<img alt='{_e(well)}' src='data:image/jpeg;base64,{data}'>"
    n_sites = int(((images["plate"].astype(str) == plate) & (images["well"] == well)).sum())
    if row is None:
        text = f"<div class='id'>{_e(well)}</div><div class='muted'>not in layout</div>"
        return f"<td class='empty'><div class='well'>{img}{text}</div></td>"
    role = str(row.get("role", "sample") or "sample")
    via = row.get("viability")
    vtext = (
        f"viability {_sig(via, 2)}" if not is_blank(via) else f"readout {_sig(row.get('readout'))}"
    )
    flag = row.get("qc_flag")
    lines = [
        f"<div class='id'>{_e(well)}{' (' + str(n_sites) + ' sites)' if n_sites > 1 else ''}</div>",
        f"<div>{'' if is_blank(row.get('cell_line')) else _e(row.get('cell_line'))}</div>",
        f"<div>{_dose_text(row)}</div>",
        f"<div class='v'>{vtext}</div>",
    ]
    if not is_blank(flag):
        lines.append(f"<div class='flag'>{_e(flag)}</div>")
    if str(row.get("corrected", "")).strip().lower() in ("true", "1"):
        lines.append("<div class='corr'>corrected by hand</div>")
    line = "" if is_blank(row.get("cell_line")) else str(row.get("cell_line"))
    tip = f"{well} {line} {_dose_text(row)} {vtext}"
    cls = role if role in ("vehicle", "blank", "exclude") else "sample"
    return f"<td class='{cls}' title='{_e(tip)}'><div class='well'>{img}{''.join(lines)}</div></td>"


def build_report(
    out: Path,
    tables: dict[str, Any],
    run_info: dict[str, Any],
    figs: Any = None,
) -> str:
    """Build the HTML text of the report (see the module docstring).

    ``figs`` names the figures (``out/plots/<name>.png``) to inline, in order.
    """
    wells = tables.get("wells")
    fits = tables.get("fits")
    images = tables.get("images")
    errors = tables.get("errors")
    figs = figs or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>napari-il6assay report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>napari-il6assay batch report</h1>",
    ]
    cal = run_info.get("calibration")
    cal_text = (
        "uncalibrated (sizes in pixels)"
        if cal == "pixels"
        else f"{_e(cal.get('pixel_size_um'))} µm/pixel ({_e(cal.get('source'))})"
        if isinstance(cal, dict)
        else _e(cal)
    )
    parts.append(
        "<p class='muted'>"
        f"Mode <b>{_e(run_info.get('mode'))}</b> · folder {_e(run_info.get('folder'))} · "
        f"layout {_e((run_info.get('layout') or {}).get('path'))} · "
        f"{_e(run_info.get('n_measured'))} of {_e(run_info.get('n_images'))} images measured, "
        f"{_e(run_info.get('n_failed'))} failed · calibration {cal_text} · "
        f"started {_e(run_info.get('started'))} · version {_e(run_info.get('version'))}</p>"
    )
    parts.append(_headline(tables))
    parts.append("<h2>Fold resistance</h2>")
    parts.append(_fold_section(fits))
    figs = list(figs)
    groups = (
        ("Dose–response curves", [n for n in figs if n.startswith("dose_response")], "figs"),
        (
            "Sphere sizes (see sphere_sizes.csv)",
            [n for n in figs if n.startswith("sphere_sizes")],
            "figs",
        ),
    )
    for title, names, cls in groups:
        if names:
            parts.append(_figure_block(out, title, names, cls))
    if isinstance(fits, pd.DataFrame) and not fits.empty:
        parts.append("<h2>Fits</h2>")
        parts.append(_fits_tables(fits, _units_b(tables)))
    cross = tables.get("cross_resistance")
    if isinstance(cross, pd.DataFrame) and not cross.empty:
        parts.append("<h2>Cross-resistance</h2>")
        parts.append(_figure_block(out, "", [n for n in figs if n == "cross_resistance"], "figs"))
        parts.append(_table(cross, ["cell_line", "parental", "drug", "fold_resistance",
                                    "fold_ci_low", "fold_ci_high", "p_value"]))  # fmt: skip
    parts.append(_synergy_section(out, tables, figs))
    parts.append(_qc_section(out, tables, figs))
    parts.append(_record_section(wells, run_info))
    parts.append(_methods())
    if isinstance(errors, pd.DataFrame) and not errors.empty:
        parts.append(f"<h2>Failed inputs ({len(errors)})</h2>")
        parts.append(_table(errors, ["path", "stage", "error"]))
    for key, text in (
        ("layout_wells_without_result", "Layout wells without a measured image"),
        ("unlisted_wells", "Images of wells the layout does not list (not used)"),
    ):
        wl = run_info.get(key) or []
        if wl:
            shown = ", ".join(_e(w) for w in wl[:48]) + (" …" if len(wl) > 48 else "")
            parts.append(f"<p class='muted'>{text} ({len(wl)}): {shown}</p>")
    parts.append("<h2>Wells</h2>")
    plate_format = (run_info.get("parameters") or {}).get("plate_format") or 96
    parts.append(_montage(out, wells, images, int(plate_format)))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    out: Path,
    tables: dict[str, Any],
    run_info: dict[str, Any],
    figs: Any = None,
) -> Path:
    """Write ``out/report.html`` atomically and return its path."""
    text = build_report(out, tables, run_info, figs)
    path = out / "report.html"
    atomic_bytes(path, text.encode("utf-8"))
    return path
