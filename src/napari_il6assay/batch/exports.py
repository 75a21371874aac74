"""Write a batch run's tables, workbook, Prism tables, plots and ``run.json``.

All tables are UTF-8 CSV with one header row, ``.`` as decimal mark and no index column
(INTERFACE.md); ``results.xlsx`` holds the same tables, one sheet each; with
``formats=("csv", "parquet")`` every table is also written as ``<name>.parquet``. Every file
is written through a temporary file and `os.replace`, so a crash never leaves half a table.

Hostile text is defused where it would act: in ``results.xlsx`` every text cell is written as
a text cell (``data_type = "s"``), so layout text such as ``=HYPERLINK(...)`` or a DDE string
is shown, never evaluated (the OWASP advice for spreadsheets; the CSVs keep the exact text
for R and pandas), and characters XML cannot hold are dropped there. File names made from
drug and cell-line names (`safe_name`) keep letters, digits and ``._+-`` only, never start
with a dot or a dash (no hidden files, no option-like names), hold no ``..`` and are at most
`_NAME_MAX` characters; different names that map to one file get ``_2``, ``_3``.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import platform
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_il6assay.batch.parts import PartRecord, atomic_bytes, atomic_json, atomic_write
from napari_il6assay.io.cells import is_blank

#: tables in the order of the workbook sheets
TABLE_ORDER = (
    "wells",
    "conditions",
    "fits",
    "synergy",
    "synergy_summary",
    "potentiation",
    "plate_qc",
    "cross_resistance",
    "images",
    "objects",
    "errors",
)
_XLSX_MAX_ROWS = 1_048_575
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
#: longest file-name stem made from a user's text (file systems allow 255 bytes in all)
_NAME_MAX = 80
#: leading characters that make a spreadsheet treat text as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

PACKAGES = (
    "napari_il6assay",
    "numpy",
    "pandas",
    "scipy",
    "scikit-image",
    "tifffile",
    "imagecodecs",
    "dask",
    "distributed",
    "matplotlib",
    "openpyxl",
    "pyarrow",
    "Pillow",
)


def safe_name(text: str) -> str:
    """Make a file-name-safe and visible version of ``text`` (cell line, drug).

    Parameters
    ----------
    text : str
        Any text, e.g. ``"../../x"`` or ``"=cmd|' /C calc'!A0"``.

    Returns
    -------
    str
        Letters, digits and ``._+-`` only; no ``..``; not starting with ``.`` or ``-``
        (hidden or option-like); at most `_NAME_MAX` characters; ``"none"`` when nothing
        is left.
    """
    name = _SAFE.sub("_", str(text))
    name = re.sub(r"\.{2,}", ".", name)
    name = name.lstrip("._-+").rstrip("._")[:_NAME_MAX].rstrip("._")
    return name or "none"


def unique_name(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3``... when already in ``used`` (which is updated).

    File systems that ignore case (macOS, Windows) would merge ``A`` and ``a``, so the
    comparison ignores case.
    """
    cand, k = stem, 2
    while cand.lower() in used:
        cand = f"{stem}_{k}"
        k += 1
    used.add(cand.lower())
    return cand


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """Write one table as INTERFACE.md CSV, atomically."""
    # streamed into the file: a large objects table is never held twice as text
    atomic_write(path, lambda fh: df.to_csv(fh, index=False, lineterminator="\n"), binary=False)


def _parquet_ready(df: pd.DataFrame) -> pd.DataFrame:
    # object columns mixing numbers and strings (e.g. concentration_b in ug/mL or M) cannot
    # be typed by Arrow; they are written as text
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kinds = {type(v) for v in out[c].dropna()}
            if len(kinds) > 1:
                out[c] = out[c].map(lambda v: None if v is None or v != v else str(v))
    return out


def write_tables(
    out: Path,
    tables: dict[str, Any],
    errors: pd.DataFrame,
    *,
    formats: Iterable[str] = ("csv",),
    xlsx: bool = True,
) -> list[Path]:
    """Write every table as CSV (and parquet), plus ``results.xlsx`` (unless ``xlsx=False``).

    Parameters
    ----------
    out : Path
        Output folder.
    tables : dict
        Name -> DataFrame (entries that are not DataFrames are ignored).
    errors : DataFrame
        ``path, stage, error`` (written header-only when empty).
    formats : iterable of str
        ``"csv"`` (always) and optionally ``"parquet"``.

    Returns
    -------
    list of Path
        Files written.
    """
    formats = set(formats) | {"csv"}
    frames = table_frames(tables, errors)
    written = []
    for name, df in frames.items():
        p = out / f"{name}.csv"
        write_csv(p, df)
        written.append(p)
        if "parquet" in formats:
            pq = out / f"{name}.parquet"
            data = _parquet_ready(df)
            atomic_write(pq, _parquet_writer(data))
            written.append(pq)
    if xlsx:
        written.append(write_xlsx(out / "results.xlsx", frames))
    return written


def _parquet_writer(data: pd.DataFrame) -> Callable[[Any], None]:
    """Return a writer of ``data`` as parquet into an open binary file (`atomic_write`)."""
    return lambda fh: data.to_parquet(fh, index=False)


def table_frames(tables: dict[str, Any], errors: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Return the DataFrames of ``tables`` plus ``errors`` (header-only when None).

    These are the workbook's sheets, as `write_tables` builds them.
    """
    frames = {k: v for k, v in tables.items() if isinstance(v, pd.DataFrame)}
    frames["errors"] = (
        errors if errors is not None else pd.DataFrame(columns=["path", "stage", "error"])
    )
    return frames


def write_xlsx(path: Path, frames: dict[str, pd.DataFrame]) -> Path:
    """``results.xlsx``: one sheet per table, in `TABLE_ORDER`.

    The workbook is streamed (openpyxl write-only mode), so a large objects table does not
    hold a million cell objects in memory. A table longer than a sheet can hold is cut, and
    a ``notes`` sheet says so; the CSV keeps every row.
    """
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    notes = []
    names = [n for n in TABLE_ORDER if n in frames] + [n for n in frames if n not in TABLE_ORDER]
    for name in names:
        df = frames[name]
        if len(df) > _XLSX_MAX_ROWS:
            notes.append(f"{name}: first {_XLSX_MAX_ROWS} of {len(df)} rows (see {name}.csv)")
            df = df.iloc[:_XLSX_MAX_ROWS]
        ws = wb.create_sheet(title=name[:31])
        ws.append([_text_cell(ws, str(c)) for c in df.columns])
        # converted a column at a time (a numeric column in one numpy call), then streamed by
        # row: the workbook is the longest step after the images (serial, pure Python)
        for row in zip(*(_sheet_column(ws, df[c]) for c in df.columns), strict=True):
            ws.append(row)
    if notes:
        ws = wb.create_sheet(title="notes")
        ws.append(["note"])
        for n in notes:
            ws.append([n])
    atomic_write(path, wb.save)
    return path


def _sheet_column(ws: Any, col: pd.Series) -> list[Any]:
    """Return the cells of one column as `write_xlsx` appends them (`_cell`, `_text_cell`).

    A float, integer or bool numpy column becomes Python numbers in one call (NaN -> empty),
    the values `_cell` gives one by one; other columns go through `_cell` per value.
    """
    if col.dtype.kind in "fiub" and isinstance(col.dtype, np.dtype):
        values = col.to_numpy().tolist()
        if col.dtype.kind == "f":
            return [None if x != x else x for x in values]  # x != x: NaN
        return values
    out = []
    for v in col.to_numpy(dtype=object):
        c = _cell(v)
        out.append(_text_cell(ws, c) if isinstance(c, str) else c)
    return out


def _text_cell(ws: Any, text: str) -> Any:
    """Make a cell that holds ``text`` as text, never as a formula.

    openpyxl turns any string starting with ``=`` into a formula cell; such strings (and the
    other formula starts Excel and LibreOffice accept on input, ``+ - @``) get an explicit
    text cell. Characters that XML 1.0 cannot hold (control characters) are dropped, as
    openpyxl would refuse the whole workbook otherwise.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if not text.startswith(_FORMULA_START):
        return text
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"
    return cell


def _cell(v: Any) -> Any:
    """Convert to an Excel-friendly value: NaN/NA -> empty, numpy scalars -> Python."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        if v is pd.NA or v is pd.NaT:
            return None
    except TypeError:
        pass
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (TypeError, ValueError):
            return str(v)
        if isinstance(v, float) and math.isnan(v):
            return None
    if isinstance(v, (int, float, str, bool)):
        return v
    return str(v)


# ---------------------------------------------------------------- Prism tables


def prism_tables(wells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Prism-ready wide tables of viability, one per drug (and per combination partner dose).

    Rows are the drug's concentrations (molar, ``0`` = vehicle of that cell line); the
    columns are grouped by cell line, one column per replicate (``<cell line>:<replicate>``),
    ready for a Prism XY table with replicate sub-columns.

    Parameters
    ----------
    wells : DataFrame
        ``wells.csv``.

    Returns
    -------
    dict
        File stem -> table. ``<drug>`` for the drug alone; ``<drug>+<drug_b>_<conc_b>`` for
        the drug at a fixed dose of a second agent.
    """
    w = wells.copy()
    role = w.get("role", pd.Series("sample", index=w.index)).astype(str)
    w = w[~role.isin(["blank", "exclude"])]
    if w.empty or "viability" not in w:
        return {}
    w["_drug"] = w["drug"].map(lambda v: "" if is_blank(v) else str(v))
    w["_drug_b"] = w.get("drug_b", pd.Series(index=w.index, dtype=object)).map(
        lambda v: "" if is_blank(v) else str(v)
    )
    cb = w.get("concentration_b", pd.Series(index=w.index, dtype=object))
    w["_cb"] = cb.map(lambda v: "" if is_blank(v) or _num(v) == 0 else _fmt(v))
    unit_b = w.get("unit_b", pd.Series(index=w.index, dtype=object)).map(
        lambda v: "" if is_blank(v) else str(v)
    )
    w["_cb_label"] = [f"{c}{u}" if c else "" for c, u in zip(w["_cb"], unit_b, strict=True)]
    # 0.01 nM * 1e-9 is 1.0000000000000001e-11 in binary; Prism should show 1e-11
    w["_x"] = (
        pd.to_numeric(w["concentration_M"], errors="coerce")
        .fillna(0.0)
        .map(lambda x: float(f"{x:.10g}"))
    )
    vehicle = (w["_x"] == 0) & (w["_cb"] == "")
    out: dict[str, pd.DataFrame] = {}
    used: set[str] = set()
    groups = w[(w["_drug"] != "") & (w["_x"] > 0)].groupby(["_drug", "_drug_b", "_cb_label"])
    for (drug, drug_b, cb_label), g in groups:
        lines = sorted(g["cell_line"].astype(str).unique())
        veh = w[vehicle & w["cell_line"].astype(str).isin(lines)]
        veh = veh[(veh["_drug"] == "") | (veh["_drug"] == drug)]
        both = pd.concat([veh, g])
        if drug_b:
            # the second agent alone (drug at 0) is this table's zero row
            alone = w[(w["_x"] == 0) & (w["_drug_b"] == drug_b) & (w["_cb_label"] == cb_label)]
            alone = alone[alone["cell_line"].astype(str).isin(lines)]
            both = pd.concat([g, alone])
        table = _wide(both, lines)
        stem = safe_name(str(drug)) if not drug_b else safe_name(f"{drug}+{drug_b}_{cb_label}")
        out[unique_name(stem, used)] = table
    return out


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _fmt(v: Any) -> str:
    x = _num(v)
    return f"{x:g}" if not math.isnan(x) else str(v)


def _wide(df: pd.DataFrame, lines: list[str]) -> pd.DataFrame:
    df = df.copy()
    df["_line"] = df["cell_line"].astype(str)
    if "replicate" in df.columns and df["replicate"].notna().any():
        rep = df["replicate"].map(lambda v: "" if is_blank(v) else _fmt(v))
    else:
        rep = pd.Series("", index=df.index)
    df["_rep"] = rep
    # wells without a replicate id are numbered in plate order within their dose
    missing = df["_rep"] == ""
    if missing.any():
        order = df[missing].groupby(["_line", "_x"]).cumcount() + 1
        df.loc[missing, "_rep"] = order.astype(str)
    xs = sorted(df["_x"].unique())
    cols: list[str] = []
    data: dict[str, list[float]] = {}
    for line in lines:
        sub = df[df["_line"] == line]
        reps = sorted(sub["_rep"].unique(), key=_rep_key)
        for r in reps:
            name = f"{line}:{r}"
            cols.append(name)
            vals = []
            for x in xs:
                v = sub[(sub["_x"] == x) & (sub["_rep"] == r)]["viability"]
                vals.append(float(v.mean()) if len(v) else math.nan)
            data[name] = vals
    table = pd.DataFrame({"concentration_M": xs, **{c: data[c] for c in cols}})
    return table


def _rep_key(r: str) -> tuple[int, float, str]:
    x = _num(r)
    return (0, x, "") if not math.isnan(x) else (1, 0.0, r)


def write_prism(out: Path, wells: pd.DataFrame) -> list[Path]:
    """Write `prism_tables` to ``out/prism/<name>.csv``."""
    written = []
    for stem, table in prism_tables(wells).items():
        p = out / "prism" / f"{stem}.csv"
        write_csv(p, table)
        written.append(p)
    return written


# ---------------------------------------------------------------- plots


def figures(tables: dict[str, Any], plate_format: int = 96) -> dict[str, Any]:
    """Every dose-response and synergy figure of a run: name -> matplotlib Figure.

    One dose-response figure per curve group (drug alone, and drug at each fixed dose of a
    second agent), all cell lines on one axis; one heat map per cell line, drug pair and
    score; the potentiation figure when the layout has combinations.
    """
    from napari_il6assay.doseresponse import figures as F

    figs: dict[str, Any] = {}
    wells, fits = tables.get("wells"), tables.get("fits")
    sizes, objects = tables.get("sphere_sizes"), tables.get("objects")
    if (
        isinstance(sizes, pd.DataFrame)
        and not sizes.empty
        and isinstance(objects, pd.DataFrame)
        and isinstance(wells, pd.DataFrame)
    ):
        from napari_il6assay.doseresponse.spheres import sphere_size_samples

        for line in sorted({str(v) for v in sizes["cell_line"] if not is_blank(v)}):
            samples = sphere_size_samples(objects, wells, line)
            if any(len(v) for v in samples.values()):
                figs[f"sphere_sizes_{safe_name(line)}"] = F.sphere_size_figure(
                    samples, cell_line=line
                )
    if wells is None or fits is None or wells.empty or fits.empty:
        return figs
    fit_rows = fits.copy()
    fit_rows["_drug"] = fit_rows["drug"].map(lambda v: "" if is_blank(v) else str(v))
    fit_rows["_drug_b"] = fit_rows["drug_b"].map(lambda v: "" if is_blank(v) else str(v))
    fit_rows["_cb"] = pd.to_numeric(fit_rows["concentration_b"], errors="coerce").fillna(0.0)
    groups = (
        fit_rows[fit_rows["_drug"] != ""][["_drug", "_drug_b", "_cb"]]
        .drop_duplicates()
        .sort_values(["_drug", "_drug_b", "_cb"])
    )
    # passages (primary, secondary spheres) are separate curves: one figure each
    passages = [("", wells, fits)]
    if "passage" in wells.columns and "passage" in fits.columns:
        wp = wells["passage"].map(lambda v: "" if is_blank(v) else str(v))
        fp = fits["passage"].map(lambda v: "" if is_blank(v) else str(v))
        passages = [(f"_{safe_name(p)}" if p else "", wells[wp == p], fits[fp == p])
                    for p in sorted(set(wp))]  # fmt: skip
    units_b = units_of_b(wells)
    for suffix, w_p, f_p in passages:
        for drug, drug_b, cb in groups.itertuples(index=False):
            if drug_b and cb > 0:
                name = f"dose_response_{safe_name(drug)}+{safe_name(drug_b)}_{cb:g}{suffix}"
                figs[name] = F.dose_response_figure(
                    w_p,
                    f_p,
                    drug=drug,
                    drug_b=drug_b,
                    concentration_b=float(cb),
                    unit_b=units_b.get(drug_b, ""),
                )
            else:
                figs[f"dose_response_{safe_name(drug)}{suffix}"] = F.dose_response_figure(
                    w_p, f_p, drug=drug, title=suffix[1:] or None
                )
    syn = tables.get("synergy")
    if isinstance(syn, pd.DataFrame) and not syn.empty:
        # the same maps as `il6assay synergy`: every score, n/a cells where undefined
        figs.update(F.synergy_figures(syn, units_b))
    pot = tables.get("potentiation")
    if isinstance(pot, pd.DataFrame) and not pot.empty:
        b = str(pot["drug_b"].iloc[0])
        figs["potentiation"] = F.potentiation_figure(pot, unit_b=units_b.get(b, ""))
    fmt = int(plate_format or 96)
    plates = wells["plate"] if "plate" in wells.columns and "well" in wells.columns else []
    for plate in dict.fromkeys(map(lambda v: "" if is_blank(v) else str(v), plates)):
        for value in ("readout", "viability"):
            if value in wells.columns:
                figs[f"plate_{safe_name(plate)}_{value}"] = F.plate_heatmap(
                    wells, value, plate=plate, plate_format=fmt
                )
    cross = tables.get("cross_resistance")
    if isinstance(cross, pd.DataFrame) and not cross.empty:
        figs["cross_resistance"] = F.cross_resistance_heatmap(cross)
    return figs


def units_of_b(wells: pd.DataFrame) -> dict[str, str]:
    """``drug_b`` -> the unit its concentrations were given in (``ug/mL``, ``nM`` ...)."""
    units: dict[str, str] = {}
    if wells is None or "unit_b" not in wells.columns or "drug_b" not in wells.columns:
        return units
    for d, u in zip(wells["drug_b"], wells["unit_b"], strict=True):
        if not is_blank(d) and not is_blank(u):
            units.setdefault(str(d), str(u))
    return units


def render(fig: Any, fmt: str, **kw: Any) -> bytes:
    """Render a figure as PNG/SVG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", **kw)
    return buf.getvalue()


def write_plots(out: Path, figs: dict[str, Any]) -> dict[str, str]:
    """Save each figure as ``plots/<name>.png`` (150 dpi) and ``.svg``.

    A figure that cannot be drawn (e.g. a log axis without any positive value) is skipped
    and removed from ``figs``; the tables are complete without it.

    Returns
    -------
    dict
        Figure name -> reason, for the figures that could not be drawn.
    """
    failed: dict[str, str] = {}
    for name in list(figs):
        try:
            png = render(figs[name], "png", dpi=150)
            svg = render(figs[name], "svg")
        except Exception as exc:  # noqa: BLE001 - one bad plot must not lose the run
            failed[name] = f"{type(exc).__name__}: {exc}"
            del figs[name]
            continue
        atomic_bytes(out / "plots" / f"{name}.png", png)
        atomic_bytes(out / "plots" / f"{name}.svg", svg)
    return failed


# ---------------------------------------------------------------- run.json


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on."""
    from importlib import metadata

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes."""
    from napari_il6assay.batch.worker import fingerprint

    return fingerprint(path)["sha256"]


def calibration_summary(records: list[PartRecord], given: float | None) -> Any:
    """Summarise the pixel size(s) used: a number, a list of distinct numbers, or ``"pixels"``."""
    sizes = sorted({r.pixel_size_um for r in records if r.pixel_size_um})
    if not sizes:
        return "pixels"
    source = "command line" if given is not None else "file metadata"
    uncal = sum(1 for r in records if not r.pixel_size_um)
    summary: dict[str, Any] = {
        "pixel_size_um": sizes[0] if len(sizes) == 1 else sizes,
        "source": source,
    }
    vox = sorted({tuple(r.voxel_size_um) for r in records if r.voxel_size_um})
    if vox:
        summary["voxel_size_um"] = list(vox[0]) if len(vox) == 1 else [list(v) for v in vox]
    if uncal:
        summary["images_in_pixels"] = uncal
    return summary


def run_info(
    *,
    folder: Path,
    layout: Path,
    mode: str,
    out: Path,
    records: list[PartRecord],
    errors: list[dict[str, str]],
    plan: Any,
    started: str,
    params: dict[str, Any],
    n_skipped: int,
) -> dict[str, Any]:
    """Return the content of ``run.json`` (``finished`` is added when the run ends)."""
    inputs: dict[str, str | None] = {}
    for rec in records:
        for path, fp in rec.inputs.items():
            inputs[path] = fp.get("sha256")
    for e in errors:
        p = Path(e["path"])
        if p.is_absolute() and str(p) not in inputs and p.is_file():
            try:
                inputs[str(p)] = sha256_file(p)
            except OSError:
                pass
    from napari_il6assay import __version__

    return {
        "tool": "napari-il6assay",
        "version": __version__,
        "command": " ".join(sys.argv) if sys.argv else "",
        "started": started,
        "finished": None,
        "folder": str(folder.resolve()),
        "layout": {"path": str(layout.resolve()), "sha256": sha256_file(layout)},
        "mode": mode,
        "out": str(out.resolve()),
        "parameters": params,
        "calibration": calibration_summary(records, params.get("pixel_size_um")),
        "n_images": len(plan.items),
        "n_measured": len(records),
        "n_failed": len(errors),
        "n_reused_from_previous_run": n_skipped,
        "ignored_files": [{"path": p, "reason": r} for p, r in plan.ignored],
        "inputs_sha256": dict(sorted(inputs.items())),
        "packages": package_versions(),
        "platform": platform.platform(),
    }


def write_run_json(out: Path, info: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically."""
    p = out / "run.json"
    atomic_json(p, info)
    return p


def now() -> str:
    """Return the current UTC time, ISO 8601."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def start_side_process() -> Any:
    """Start one spawned process that will write ``results.xlsx`` (see `write_all`).

    Call it before the tables are built: the process starts and imports pandas and
    openpyxl on an otherwise idle core while this one builds the tables, so the workbook
    starts at once when they are ready. Shut it down with ``.shutdown()``.

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
        One process, ``spawn`` start method.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: this process holds threads (progress bar, dask client remnants); fork is unsafe
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(_warm_side_process)  # the executor starts its process on the first task
    return pool


def _warm_side_process() -> None:
    """Import what `write_xlsx` needs, ahead of the workbook."""
    import openpyxl  # noqa: F401


def write_all(
    out: Path,
    tables: dict[str, Any],
    errors: pd.DataFrame,
    *,
    formats: Iterable[str] = ("csv",),
    jobs: int = 1,
    plate_format: int = 96,
    side: Any = None,
) -> dict[str, Any]:
    """Tables, workbook, Prism tables and plots.

    Parameters
    ----------
    out, tables, errors, formats
        As `write_tables`.
    jobs : int
        Processes this step may use. With 2 or more, ``results.xlsx`` (openpyxl is pure
        Python: longer than all the plots) is written by a second process while this one
        writes the CSVs and draws the plots, so the serial end of a batch run shrinks with the
        cores like the image phase does.
    plate_format : int
        Wells per plate of the layout (the plate plots).
    side : concurrent.futures.Executor, optional
        The second process, already started (`start_side_process`); the caller shuts it
        down. Without it, ``jobs > 1`` starts one here (its start-up then waits in line).

    Returns
    -------
    dict
        ``figures`` (name -> Figure, for the report) and ``failed`` (name -> reason).
    """
    own = side is None and jobs > 1
    pool = start_side_process() if own else side
    fut = None
    if pool is not None:
        fut = pool.submit(write_xlsx, out / "results.xlsx", table_frames(tables, errors))
    try:
        write_tables(out, tables, errors, formats=formats, xlsx=fut is None)
        if isinstance(tables.get("wells"), pd.DataFrame):
            write_prism(out, tables["wells"])
        figs = figures(tables, plate_format=plate_format)
        failed = write_plots(out, figs)
        if fut is not None:
            fut.result()  # an error writing the workbook surfaces here, as it would serially
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    return {"figures": figs, "failed": failed}
