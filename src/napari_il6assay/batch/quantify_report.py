"""``report.html`` of ``il6assay quantify``: one self-contained offline page.

Same conventions as the batch report (`batch.report`: inlined PNG, CSS in the page, no
script): the standard curve figure, the curve parameters with LLOQ/ULOQ/LOD, one line per
sample group, then the standards and concentrations tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_il6assay.batch.parts import atomic_bytes
from napari_il6assay.batch.report import _CSS, _b64_png, _e, _plot_png, _sig, _table


def build_quantify_report(out: Path, result: Any, info: dict[str, Any], figs: list[str]) -> str:
    """Build the HTML text of the quantify report.

    Parameters
    ----------
    out : Path
        Output folder (figures are read from ``out/plots/<name>.png``).
    result : doseresponse.quantify.QuantifyResult
    info : dict
        The ``run.json`` content.
    figs : list of str
        Figure names to inline.

    Returns
    -------
    str
    """
    c = info.get("curve") or {}
    u = _e(result.unit)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>napari-il6assay quantify report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>napari-il6assay standard curve report</h1>",
        f"<p class='muted'>version {_e(info.get('version'))} · started {_e(info.get('started'))}"
        f" · inputs {', '.join(_e(p) for p in (info.get('inputs_sha256') or {}))}</p>",
        "<h2>Standard curve</h2>",
        f"<p>{_e(str(c.get('model', '')).upper())} with {_e(c.get('weights'))} weights: "
        f"top (response at 0) {_sig(c.get('top'))}, bottom (at saturation) {_sig(c.get('bottom'))}"
        f", EC50 {_sig(c.get('ec50'))} {u}, hill {_sig(c.get('hill'))}, asymmetry "
        f"{_sig(c.get('asymmetry'))}; R² {_sig(c.get('r2'), 5)}.<br>"
        f"LLOQ {_sig(c.get('lloq'))} {u}, ULOQ {_sig(c.get('uloq'))} {u}, "
        f"LOD {_sig(c.get('lod'))} {u} (in the well, before dilution). The range is where the "
        f"precision profile of a result of {_e(c.get('loq_replicates'))} replicate(s) stays "
        f"within {_sig(c.get('loq_cv_pct'))} % CV, between the standards with 80-120 % "
        "recovery and replicate CV &le; 20 %.</p>",
    ]
    for note in result.notes:
        parts.append(f"<p class='flag'>{_e(note)}</p>")
    if figs:
        parts.append("<div class='figs'>")
        for name in figs:
            png = _plot_png(out, name)
            if png is not None:
                parts.append(f"<img alt='{_e(name)}' src='{_b64_png(png)}'>")
        parts.append("</div>")
    parts.append("<h2>Samples</h2><ul>")
    parts += [f"<li>{_e(line)}</li>" for line in result.summary_lines()]
    parts.append("</ul>")
    parts.append(_table(result.concentrations, list(result.concentrations.columns)))
    parts.append("<h2>Standards</h2>")
    parts.append(_table(result.standards, list(result.standards.columns)))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_quantify_report(out: Path, result: Any, info: dict[str, Any], figs: list[str]) -> Path:
    """Write ``out/report.html`` atomically and return its path."""
    path = out / "report.html"
    atomic_bytes(path, build_quantify_report(out, result, info, figs).encode("utf-8"))
    return path
