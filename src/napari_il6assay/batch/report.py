"""``report.html``: one self-contained, offline page per batch run.

Everything is inlined (figures as base64 PNG, thumbnails as base64 JPEG, CSS in a
``<style>`` block);
there is no script and no external resource, so the file can be mailed, archived and
opened years later. Sections: run summary, fold resistance, dose-response curves (and
synergy figures), the fits table, failed inputs, and a montage of every well's thumbnail
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

from napari_il6assay.batch._values import is_blank
from napari_il6assay.batch.parts import PARTS, atomic_bytes

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
td.empty{background:#fafafa} .flag{color:#b00020}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border:1px solid #ddd}
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


def format_molar(x: Any) -> str:
    """A molar concentration in a readable unit (``3.2 nM``)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if math.isnan(v):
        return ""
    if v == 0:
        return "0"
    for unit, f in (("M", 1.0), ("mM", 1e-3), ("µM", 1e-6), ("nM", 1e-9), ("pM", 1e-12)):
        if abs(v) >= f:
            return f"{v / f:.3g} {unit}"
    return f"{v / 1e-15:.3g} fM"


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
    cb = row.get("concentration_b")
    if not is_blank(drug_b) and not is_blank(cb):
        try:
            cbz = float(cb) == 0
        except (TypeError, ValueError):
            cbz = False
        if not cbz:
            parts.append(f"+ {_e(drug_b)} {_sig(cb)} {_e(row.get('unit_b', '') or '')}")
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
    return (
        f'<div class="scroll"><table class="data"><tr>{head}</tr>{"".join(rows)}</table></div>'
    )


def _fold_section(fits: pd.DataFrame) -> str:
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


def _plate_shape(wells: list[str], plate_format: int = 96) -> tuple[int, int]:
    """Rows and columns of the plate map: the run's plate format, or larger if needed."""
    from napari_il6assay.io.plate_folder import split_well

    grids = {6: (2, 3), 12: (3, 4), 24: (4, 6), 48: (6, 8), 96: (8, 12), 384: (16, 24)}

    rows = cols = 0
    for w in wells:
        try:
            r, c = split_well(w)
        except ValueError:
            continue
        rows, cols = max(rows, r), max(cols, c)
    candidates = [grids.get(int(plate_format), (8, 12)), (8, 12), (16, 24), (32, 48)]
    for nr, nc in candidates:
        if rows <= nr and cols <= nc:
            return nr, nc
    return rows, cols


def _montage(
    out: Path, wells: pd.DataFrame, images: pd.DataFrame, plate_format: int = 96
) -> str:
    from napari_il6assay.io.plate_folder import split_well, well_name

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
    site = first_site.loc[key]
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
        f"viability {_sig(via, 2)}"
        if not is_blank(via)
        else f"readout {_sig(row.get('readout'))}"
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
    """The HTML text of the report (see the module docstring).

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
    parts.append("<h2>Fold resistance</h2>")
    parts.append(_fold_section(fits))
    if figs:
        curves = [n for n in figs if n.startswith("dose_response")]
        spheres = [n for n in figs if n.startswith("sphere_sizes")]
        others = [n for n in figs if not n.startswith("dose_response") and n not in spheres]
        for title, names, cls in (
            ("Dose–response curves", curves, "figs"),
            ("Combination", others, "figs small"),
            ("Sphere sizes (see sphere_sizes.csv)", spheres, "figs"),
        ):
            if not names:
                continue
            parts.append(f"<h2>{title}</h2><div class='{cls}'>")
            for name in names:
                png = _plot_png(out, name)
                if png is not None:
                    parts.append(f"<img alt='{_e(name)}' src='{_b64_png(png)}'>")
            parts.append("</div>")
    if isinstance(fits, pd.DataFrame) and not fits.empty:
        parts.append("<h2>Fits</h2>")
        parts.append(
            _table(
                fits,
                [
                    "cell_line",
                    "drug",
                    "drug_b",
                    "concentration_b",
                    "n_points",
                    "top",
                    "bottom",
                    "hill",
                    "ic50_rel_M",
                    "ic50_ci_low_M",
                    "ic50_ci_high_M",
                    "ic50_censored",
                    "ic50_abs_M",
                    "r2",
                    "parental",
                    "fold_resistance",
                    "fold_ci_low",
                    "fold_ci_high",
                    "p_value",
                ],
                {
                    c: format_molar
                    for c in ("ic50_rel_M", "ic50_ci_low_M", "ic50_ci_high_M", "ic50_abs_M")
                },
            )
        )
    syn = tables.get("synergy")
    if isinstance(syn, pd.DataFrame) and not syn.empty:
        num = syn.select_dtypes("number")
        # Loewe is NaN where one agent alone never reaches the effect level: say so
        means = ", ".join(
            f"{c} {_sig(num[c].mean(), 2)}" if num[c].notna().any() else f"{c} n/a (see note)"
            for c in ("bliss", "hsa", "loewe", "zip")
            if c in num
        )
        parts.append(f"<p>Mean synergy scores (&gt; 0 = synergy): {means}. See synergy.csv.</p>")
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
