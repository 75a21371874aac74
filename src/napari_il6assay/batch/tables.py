"""From per-image parts to the plate's tables: images, objects, wells, conditions, fits.

Sites of a well are aggregated into the well's row of ``wells.csv`` like this:

- ``readout`` and every other per-image measure: the mean over the well's sites. Sites
  of one well have the same size, so for fractions (``area_fraction``) the mean is the
  area-weighted value; for counts (``sphere_count``) it is the count per field, which keeps
  wells comparable when a site failed.
- ``live_fraction``: area-weighted over the sites, sum(live area) / sum(live + dead area),
  when the images report those areas; the mean otherwise.
- ``n_objects``: the sum over sites (objects measured in the well).
- ``image``: the site image names joined by ``;``; ``qc_flag``: the distinct site flags
  joined by ``;``; ``n_sites``: sites measured.

Wells of the layout without a measured image (failed or missing) are left out of
``wells.csv`` (failed ones are in ``errors.csv``); images of wells the layout does not list
are left out too and reported in ``run.json`` (``unlisted_wells``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.plate import well_key

#: wells.csv columns of INTERFACE.md, in order
WELL_COLUMNS = [
    "plate",
    "well",
    "image",
    "cell_line",
    "drug",
    "concentration_M",
    "drug_b",
    "concentration_b",
    "role",
    "readout",
    "viability",
    "qc_flag",
]
#: conditions.csv columns of INTERFACE.md
CONDITION_COLUMNS = [
    "plate", "cell_line", "drug", "concentration_M", "drug_b", "concentration_b", "n",
    "viability_mean", "viability_sd", "viability_sem",
]  # fmt: skip
#: layout columns carried into wells.csv after the INTERFACE ones
LAYOUT_EXTRA = [
    "concentration",
    "unit",
    "unit_b",
    "concentration_b_M",
    "replicate",
    "parental",
    "row",
    "column",
]
_META = {"readout", "readout_name", "n_objects", "calibrated"}
_LIVE_AREA = ("live_area_um2", "live_area_px", "live_area")
_DEAD_AREA = ("dead_area_um2", "dead_area_px", "dead_area")


def images_table(records: list[dict[str, Any]], mode: str) -> pd.DataFrame:
    """``images.csv``: one row per measured image (site).

    Columns ``image, mode, readout, n_objects`` + the mode's measures, then ``plate, well,
    site, qc_flag, pixel_size_um, id``.
    """
    rows = []
    measure_names: list[str] = []
    for rec in records:
        for m, well, flag in _site_rows(rec):
            for k in m:
                if k not in measure_names:
                    measure_names.append(k)
            rows.append(
                {
                    "image": rec["image"],
                    "mode": mode,
                    **m,
                    "plate": rec["plate"],
                    "well": well,
                    "site": int(rec["site"]),
                    "qc_flag": flag,
                    "pixel_size_um": rec.get("pixel_size_um"),
                    "id": rec["id"],
                }
            )
    head = ["image", "mode", "readout", "n_objects"]
    rest = [k for k in measure_names if k not in head]
    tail = ["plate", "well", "site", "qc_flag", "pixel_size_um", "id"]
    cols = head + [c for c in rest if c not in tail] + tail
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["plate", "well", "site"], kind="stable").reset_index(drop=True)


def _site_rows(rec: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(measures, well, qc_flag) of a record: one, or one per well of a plate photo."""
    m = rec.get("measures", {})
    flag = rec.get("qc_flag", "") or ""
    per_well = rec.get("per_well")
    if not per_well:
        return [(m, rec["well"], flag)]
    name = m.get("readout_name", "")
    rows = []
    for w in per_well:
        wm = {k: v for k, v in w.items() if k != "well"}
        row = {
            "readout": wm.get(name, math.nan),
            "n_objects": int(wm.get("colony_count", 0) or 0),
            "readout_name": name,
            "calibrated": m.get("calibrated"),
            **wm,
        }
        rows.append((row, str(w["well"]), str(w.get("qc_flag", "") or "")))
    return rows


def objects_table(out: Path, records: list[dict[str, Any]]) -> pd.DataFrame:
    """``objects.csv``: every object of every image, ``image, well`` first."""
    from napari_il6assay.batch.parts import read_objects

    frames = []
    for rec in records:
        obj = read_objects(out, rec["id"])
        if obj is None:
            continue
        obj = obj.copy()
        wells = obj["plate_well"].astype(str) if "plate_well" in obj.columns else rec["well"]
        for col in ("image", "well", "plate", "site", "plate_well"):
            if col in obj.columns:
                obj = obj.drop(columns=col)
        obj.insert(0, "image", rec["image"])
        obj.insert(1, "well", wells)
        obj["plate"] = rec["plate"]
        obj["site"] = int(rec["site"])
        frames.append(obj)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["image", "well", "label", "plate", "site"])
    return pd.concat(frames, ignore_index=True)


def _first(cols: Any, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in cols), None)


def aggregate_sites(images: pd.DataFrame) -> pd.DataFrame:
    """One row per (plate, well) from the site rows of ``images.csv`` (see module notes)."""
    if images.empty:
        return pd.DataFrame(columns=["plate", "well", "image", "readout", "n_objects", "qc_flag"])
    numeric = [
        c
        for c in images.columns
        if c not in {"site", "pixel_size_um", "n_objects"}
        and pd.api.types.is_numeric_dtype(images[c])
        and not pd.api.types.is_bool_dtype(images[c])
    ]
    live = _first(images.columns, _LIVE_AREA)
    dead = _first(images.columns, _DEAD_AREA)
    rows = []
    for (plate, well), g in images.groupby(["plate", "well"], sort=True):
        row: dict[str, Any] = {"plate": plate, "well": well}
        row["image"] = ";".join(g["image"].astype(str))
        for c in numeric:
            row[c] = float(g[c].mean()) if g[c].notna().any() else math.nan
        if "readout_name" in g.columns:
            row["readout_name"] = str(g["readout_name"].iloc[0])
        if "calibrated" in g.columns:
            row["calibrated"] = bool(g["calibrated"].astype(bool).all())
        if live and dead and "live_fraction" in g.columns and len(g) > 1:
            tot = g[live].sum() + g[dead].sum()
            lf = float(g[live].sum() / tot) if tot > 0 else math.nan
            row["live_fraction"] = lf
            if str(g.get("readout_name", pd.Series(["live_fraction"])).iloc[0]) == "live_fraction":
                row["readout"] = lf
        row["n_objects"] = int(g["n_objects"].fillna(0).sum()) if "n_objects" in g else 0
        flags = sorted({f for f in g["qc_flag"].astype(str) if f and f != "nan"})
        row["qc_flag"] = ";".join(flags)
        row["n_sites"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows)


def join_layout(measured: pd.DataFrame, layout: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Attach each measured well to its layout row.

    The plate ids of the layout are used when the layout has them and they name the
    image plates (sub-folders); a layout without plate ids (or with a single one) applies to
    every plate of the folder.

    Returns
    -------
    wells : DataFrame
        Measured wells that the layout lists, with the layout columns.
    unlisted : list of str
        ``plate/well`` of measured wells the layout does not list.
    """
    lay = layout.copy()
    if "plate" not in lay.columns:
        lay["plate"] = ""
    lay_plates = {str(p) for p in lay["plate"] if not is_blank(p)}
    img_plates = {str(p) for p in measured["plate"]}
    by_plate = len(lay_plates) > 1 or (lay_plates and img_plates <= lay_plates)
    if by_plate:
        lay = lay.assign(plate=lay["plate"].map(lambda p: "" if is_blank(p) else str(p)))
        keys = ["plate", "well"]
        merged = measured.merge(lay, on=keys, how="left", indicator=True)
    else:
        lay = lay.drop(columns=["plate"])
        keys = ["well"]
        merged = measured.merge(lay, on="well", how="left", indicator=True)
    listed = merged["_merge"] == "both"
    rest = merged.loc[~listed]
    unlisted = [well_key(p, w) for p, w in zip(rest["plate"], rest["well"], strict=True)]
    wells = merged.loc[listed].drop(columns="_merge").reset_index(drop=True)
    return wells, unlisted


def unmeasured_wells(measured: pd.DataFrame, layout: pd.DataFrame) -> list[str]:
    """`well_key` (``plate/well``) of layout wells (not ``exclude``) that no measured image covers.

    A layout without plate ids is checked against every plate of the folder.
    """
    lay = layout
    if "role" in lay.columns:
        lay = lay[lay["role"].astype(str) != "exclude"]
    have = {(str(p), str(w)) for p, w in zip(measured["plate"], measured["well"], strict=True)}
    img_plates = sorted({str(p) for p in measured["plate"]}) or [""]
    missing = []
    for p, w in zip(
        lay["plate"] if "plate" in lay.columns else [None] * len(lay), lay["well"], strict=True
    ):
        plates = [str(p)] if not is_blank(p) and str(p) in img_plates else img_plates
        if is_blank(p) or str(p) in img_plates:
            missing += [well_key(q, w) for q in plates if (q, str(w)) not in have]
        else:
            missing.append(well_key(p, w))
    return sorted(set(missing))


def order_wells(wells: pd.DataFrame) -> pd.DataFrame:
    """INTERFACE columns first, then layout extras, then the mode's measures."""
    first = [c for c in WELL_COLUMNS if c in wells.columns]
    extra = [c for c in LAYOUT_EXTRA if c in wells.columns]
    rest = [c for c in wells.columns if c not in first and c not in extra]
    for c in WELL_COLUMNS:
        if c not in wells.columns:
            wells[c] = math.nan
    return wells[[*WELL_COLUMNS, *extra, *rest]]


def has_combinations(wells: pd.DataFrame) -> bool:
    """Whether any sample well holds a second agent at a non-zero concentration."""
    if "drug_b" not in wells.columns:
        return False
    drug_b = np.array([not is_blank(v) for v in wells["drug_b"]], dtype=bool)
    conc = pd.to_numeric(wells.get("concentration_b"), errors="coerce").fillna(0).to_numpy() > 0
    return bool((drug_b & conc).any())


def build_tables(
    out: Path,
    records: list[dict[str, Any]],
    layout: Any,
    mode: str,
    *,
    model: str = "4pl",
    include_flagged: Iterable[str] = (),
    exclusions: pd.DataFrame | None = None,
    corrections: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every table of a batch run from its finished parts.

    Parameters
    ----------
    out : Path
        Output folder (the parts are read from it).
    records : list of dict
        Part records of the measured images.
    layout : Layout
        From `napari_il6assay.io.layout.read_layout`.
    mode : str
        Segmentation mode.
    model : str
        Dose-response model.
    include_flagged : iterable of str
        Untrusted ``qc_flag`` names whose wells are fitted all the same
        (`napari_il6assay.qc_flags.UNTRUSTED` wells are left out otherwise).
    exclusions : DataFrame, optional
        Wells the user excluded, with reasons (`napari_il6assay.io.exclusions`).
    corrections : dict, optional
        Image id -> (`SegmentationResult`, `Correction`) of the sites measured again from
        corrected labels (`napari_il6assay.batch.corrections.measure_run_corrections`): they
        replace those sites' measures and objects, and mark their wells ``corrected``.

    Returns
    -------
    dict
        DataFrames ``objects, images, wells, conditions, fits, plate_qc`` (+ ``synergy``,
        ``synergy_summary``, ``potentiation`` when the layout has combinations,
        ``cross_resistance`` when a resistant line has >= 2 drugs), ``unlisted_wells`` (list) and
        ``stage_errors`` (``path, stage, error`` dicts of table stages that failed).
    """
    from napari_il6assay.doseresponse import normalize as _norm

    images = images_table(records, mode)
    objects = objects_table(out, records)
    if corrections:
        from napari_il6assay.batch import corrections as _corr

        images = _corr.correct_images(images, corrections, out)
        objects = _corr.replace_objects(objects, images, corrections)
        measured = _corr.mark_wells(aggregate_sites(images), images)
    else:
        measured = aggregate_sites(images)
    table = layout.table if hasattr(layout, "table") else layout
    wells, unlisted = join_layout(measured, table)
    if exclusions is not None and len(exclusions) and len(wells):
        from napari_il6assay.io.exclusions import apply_exclusions

        wells = apply_exclusions(wells, exclusions)
    if wells.empty:  # every image failed or none is in the layout: header-only tables
        wells = order_wells(wells.assign(viability=pd.Series(dtype=float)))
        conditions = pd.DataFrame(columns=CONDITION_COLUMNS)
    else:
        from napari_il6assay.batch.plate_consistency import flag_plate_outliers

        wells = _drop_empty_layout_columns(wells)
        wells = flag_plate_outliers(wells)
        wells = flag_nonempty_blanks(wells)
        # passages (primary, secondary spheres) are separate experiments: each is scaled to
        # its own vehicle and summarized on its own
        wells = _by_passage(
            wells,
            lambda g: _norm.normalize_wells(g, readout="readout", include_flagged=include_flagged),
        )
        wells = _sort_wells(order_wells(wells))
        conditions = _by_passage(wells, _norm.summarize_conditions, tag=True)
        from napari_il6assay.doseresponse import spheres as _spheres

        wells = _spheres.add_efficiency(wells)
        conditions = _spheres.summarize_efficiency(wells, conditions)
    tables: dict[str, Any] = {
        "objects": objects,
        "images": images,
        "wells": wells,
        "conditions": conditions,
    }
    problems: list[dict[str, str]] = []
    fits = _stage(problems, "fit", fit_table, wells, model=model) if len(wells) else None
    if fits is None:
        from napari_il6assay.doseresponse.fit import FITS_COLUMNS

        fits = pd.DataFrame(columns=FITS_COLUMNS)
    tables["fits"] = fits
    if has_combinations(wells):
        combo = _stage(problems, "synergy", combination_tables, wells, model=model)
        if combo is not None:
            tables.update(combo)
    if mode == "spheres" and len(wells) and len(objects):
        from napari_il6assay.doseresponse.spheres import sphere_sizes

        sizes = _stage(problems, "sphere_sizes", sphere_sizes, objects, wells)
        if sizes is not None:
            tables["sphere_sizes"] = sizes
    if len(wells):
        fmt = int(getattr(layout, "plate_format", 96) or 96)
        qc = _stage(problems, "plate_qc", plate_qc_table, wells, plate_format=fmt)
        if qc is not None:
            tables["plate_qc"] = qc
        cross = _stage(problems, "cross_resistance", cross_resistance_table, fits)
        if cross is not None and len(cross):
            tables["cross_resistance"] = cross
    tables["plate_format"] = int(getattr(layout, "plate_format", 96) or 96)  # for plots
    tables["unlisted_wells"] = unlisted
    tables["unmeasured_wells"] = unmeasured_wells(measured, table)
    tables["stage_errors"] = problems
    return tables


def _drop_empty_layout_columns(wells: pd.DataFrame) -> pd.DataFrame:
    """Leave the optional layout columns (``cells_seeded``, ``passage``, ...) out when empty."""
    empty = [c for c in ("cells_seeded", "passage", "dilution", "sample")
             if c in wells.columns and not wells[c].notna().any()]  # fmt: skip
    return wells.drop(columns=empty)


def _by_passage(wells: pd.DataFrame, fn: Any, tag: bool = False) -> pd.DataFrame:
    """``fn`` per ``passage`` when the wells have one, concatenated (``passage`` column added
    to each result with ``tag``); just ``fn(wells)`` otherwise."""
    if "passage" not in wells.columns:
        return fn(wells)
    key = wells["passage"].map(lambda v: "" if is_blank(v) else str(v))
    parts = []
    for p, g in wells.groupby(key, sort=True):
        r = fn(g)
        parts.append(r.assign(passage=p) if tag else r)
    return pd.concat(parts, ignore_index=True)


#: a blank reads "clearly non-zero" above this share of its plate's vehicle median ...
BLANK_VS_VEHICLE = 0.1
#: ... and above this absolute readout (colony: the area-fraction accuracy budget)
BLANK_FLOOR = {"area_fraction": 0.02}


def flag_nonempty_blanks(wells: pd.DataFrame) -> pd.DataFrame:
    """Add ``blank_not_empty`` to blank wells (role ``blank``) whose readout is clearly not 0.

    Clearly: above `BLANK_VS_VEHICLE` x the median vehicle readout of the same plate (when
    the plate has vehicles) and above the readout's floor (`BLANK_FLOOR`, 0 otherwise).
    Segmentation alone cannot know a well is blank (rim shading, debris and stain haze
    look like a little stain); the layout can.

    Parameters
    ----------
    wells : DataFrame
        Wells joined with the layout: ``plate, role, readout, qc_flag`` (+ ``readout_name``).

    Returns
    -------
    DataFrame
        A copy with the flag added where it applies.
    """
    from napari_il6assay.qc_flags import join_flags

    if "role" not in wells.columns or "readout" not in wells.columns:
        return wells
    d = wells.copy()
    role = d["role"].astype(str).str.lower()
    value = pd.to_numeric(d["readout"], errors="coerce")
    plate = d["plate"].astype(str) if "plate" in d.columns else pd.Series("", index=d.index)
    if "qc_flag" not in d.columns:
        d["qc_flag"] = ""
    for i in np.flatnonzero((role == "blank").to_numpy()):
        v = value.iloc[i]
        if not np.isfinite(v):
            continue
        name = str(d["readout_name"].iloc[i]) if "readout_name" in d.columns else ""
        limit = BLANK_FLOOR.get(name, 0.0)
        veh = value[(role == "vehicle") & (plate == plate.iloc[i])].dropna()
        if len(veh):
            limit = max(limit, BLANK_VS_VEHICLE * float(veh.median()))
        if v > limit:
            col = d.columns.get_loc("qc_flag")
            d.iat[i, col] = join_flags(d.iat[i, col], "blank_not_empty")
    return d


def _stage(problems: list[dict[str, str]], stage: str, fn: Any, *args: Any, **kw: Any) -> Any:
    """Run one table stage; a failure is recorded (errors.csv) instead of losing the plate."""
    from napari_il6assay.errors import Il6AssayError

    try:
        return fn(*args, **kw)
    except (Il6AssayError, ValueError, KeyError, np.linalg.LinAlgError) as exc:
        problems.append(
            {"path": "wells.csv", "stage": stage, "error": f"{type(exc).__name__}: {exc}"}
        )
        return None


def _sort_wells(wells: pd.DataFrame) -> pd.DataFrame:
    from napari_il6assay.io.plate_folder import split_well

    rc = wells["well"].map(split_well)
    return (
        wells.assign(_r=rc.map(lambda t: t[0]), _c=rc.map(lambda t: t[1]))
        .sort_values(["plate", "_r", "_c"], kind="stable")
        .drop(columns=["_r", "_c"])
        .reset_index(drop=True)
    )


def fit_table(wells: pd.DataFrame, *, model: str = "4pl") -> pd.DataFrame:
    """``fits.csv``: curves per cell line and drug, with fold resistance vs the parental."""
    from napari_il6assay.doseresponse import fit as _fit

    # a curve per passage (primary, secondary spheres), with its own parental match
    return _by_passage(
        wells, lambda g: _fit.fit_curves(g, response="viability", model=model), tag=True
    )


def combination_tables(wells: pd.DataFrame, *, model: str = "4pl") -> dict[str, pd.DataFrame]:
    """``synergy`` and ``potentiation`` tables of the combination block."""
    from napari_il6assay.doseresponse import synergy as _syn
    from napari_il6assay.doseresponse import synergy_stats as _stats

    out: dict[str, pd.DataFrame] = {}
    # scores with bootstrap CIs over replicate wells (seeded: a rerun gives the same table)
    out["synergy"], out["synergy_summary"] = _stats.synergy_with_ci(wells, response="viability")
    out["potentiation"] = _syn.potentiation(wells, response="viability", model=model)
    return out


def plate_qc_table(wells: pd.DataFrame, *, plate_format: int = 96) -> pd.DataFrame:
    """``plate_qc.csv``: Z', SSMD, vehicle CV and the edge test per plate."""
    from napari_il6assay.doseresponse.plate_qc import plate_qc

    return plate_qc(wells, plate_format=plate_format)


def cross_resistance_table(fits: pd.DataFrame) -> pd.DataFrame:
    """``cross_resistance.csv``: fold resistance per resistant line and drug (>= 2 drugs)."""
    from napari_il6assay.doseresponse.cross_resistance import cross_resistance

    return cross_resistance(fits)


def nan_to_none(v: Any) -> Any:
    """JSON-friendly scalar."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v
