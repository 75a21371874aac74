"""From per-image parts to the plate's tables: images, objects, wells, conditions, fits.

`build_tables` turns the part records of a run into `BatchTables`: the site rows
(``images.csv``, ``objects.csv``), the wells joined with the layout (aggregated as
`napari_il6assay.batch.wells` says), then the curve stages of
`napari_il6assay.batch.stages` and the plate-level tables.

Wells of the layout without a measured image (failed or missing) are left out of
``wells.csv`` (failed ones are in ``errors.csv``); images of wells the layout does not list
are left out too and reported in ``run.json`` (``unlisted_wells``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from napari_il6assay.batch.stages import (
    StageError,
    TableSet,
    curve_tables,
    plate_tables,
    run_stage,
)
from napari_il6assay.batch.wells import (
    aggregate_sites,
    drop_empty_layout_columns,
    flag_nonempty_blanks,
)
from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.plate import well_key

if TYPE_CHECKING:  # pragma: no cover
    from napari_il6assay.batch.parts import PartRecord

__all__ = [
    "BatchTables",
    "aggregate_sites",
    "build_tables",
    "flag_nonempty_blanks",
    "images_table",
    "join_layout",
    "objects_table",
    "unmeasured_wells",
]


def images_table(records: list[PartRecord], mode: str) -> pd.DataFrame:
    """Build ``images.csv``: one row per measured image (site).

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
                    "image": rec.image,
                    "mode": mode,
                    **m,
                    "plate": rec.plate,
                    "well": well,
                    "site": int(rec.site),
                    "qc_flag": flag,
                    "pixel_size_um": rec.pixel_size_um,
                    "id": rec.id,
                }
            )
    head = ["image", "mode", "readout", "n_objects"]
    rest = [k for k in measure_names if k not in head]
    tail = ["plate", "well", "site", "qc_flag", "pixel_size_um", "id"]
    cols = head + [c for c in rest if c not in tail] + tail
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["plate", "well", "site"], kind="stable").reset_index(drop=True)


def _site_rows(rec: PartRecord) -> list[tuple[dict[str, Any], str, str]]:
    """(measures, well, qc_flag) of a record: one, or one per well of a plate photo."""
    m = rec.measures
    flag = rec.qc_flag
    per_well = rec.per_well
    if not per_well:
        return [(m, rec.well, flag)]
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


def objects_table(out: Path, records: list[PartRecord]) -> pd.DataFrame:
    """Build ``objects.csv``: every object of every image, ``image, well`` first."""
    from napari_il6assay.batch.parts import read_objects

    frames = []
    for rec in records:
        obj = read_objects(out, rec.id)
        if obj is None:
            continue
        obj = obj.copy()
        wells = obj["plate_well"].astype(str) if "plate_well" in obj.columns else rec.well
        for col in ("image", "well", "plate", "site", "plate_well"):
            if col in obj.columns:
                obj = obj.drop(columns=col)
        obj.insert(0, "image", rec.image)
        obj.insert(1, "well", wells)
        obj["plate"] = rec.plate
        obj["site"] = int(rec.site)
        frames.append(obj)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["image", "well", "label", "plate", "site"])
    return pd.concat(frames, ignore_index=True)


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


@dataclass
class BatchTables(TableSet):
    """Every table of a batch run, and what the run reports about its wells.

    Parameters
    ----------
    objects, images, wells, conditions, fits : DataFrame
        ``objects.csv``, ``images.csv``, ``wells.csv``, ``conditions.csv``, ``fits.csv``.
    synergy, synergy_summary, potentiation : DataFrame or None
        When the layout has combinations (and the stage worked).
    sphere_sizes : DataFrame or None
        ``spheres`` mode.
    plate_qc : DataFrame or None
        Z', SSMD, vehicle CV and edge test per plate.
    cross_resistance : DataFrame or None
        When a resistant line has >= 2 drugs.
    plate_format : int
        Wells per plate of the layout (for the plate plots).
    unlisted_wells : list of str
        `well_key` of measured wells the layout does not list.
    unmeasured_wells : list of str
        `well_key` of layout wells without a measured image.
    problems : list of StageError
        The table stages that failed (rows of ``errors.csv``).
    """

    objects: pd.DataFrame
    images: pd.DataFrame
    wells: pd.DataFrame
    conditions: pd.DataFrame
    fits: pd.DataFrame
    synergy: pd.DataFrame | None = None
    synergy_summary: pd.DataFrame | None = None
    potentiation: pd.DataFrame | None = None
    sphere_sizes: pd.DataFrame | None = None
    plate_qc: pd.DataFrame | None = None
    cross_resistance: pd.DataFrame | None = None
    plate_format: int = 96
    unlisted_wells: list[str] = field(default_factory=list)
    unmeasured_wells: list[str] = field(default_factory=list)
    problems: list[StageError] = field(default_factory=list)

    def error_rows(self) -> list[dict[str, str]]:
        """Return the ``errors.csv`` rows of the failed stages."""
        return [p.row() for p in self.problems]


def build_tables(
    out: Path,
    records: list[PartRecord],
    layout: Any,
    mode: str,
    *,
    model: str = "4pl",
    include_flagged: Iterable[str] = (),
    exclusions: pd.DataFrame | None = None,
    corrections: dict[str, Any] | None = None,
) -> BatchTables:
    """Build every table of a batch run from its finished parts.

    Parameters
    ----------
    out : Path
        Output folder (the parts are read from it).
    records : list of PartRecord
        Part records of the measured images.
    layout : Layout
        From `napari_il6assay.io.layout.read_layout` (or its table).
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
    BatchTables
    """
    images, objects, measured = _site_tables(out, records, mode, corrections)
    table = layout.table if hasattr(layout, "table") else layout
    wells, unlisted = join_layout(measured, table)
    if exclusions is not None and len(exclusions) and len(wells):
        from napari_il6assay.io.exclusions import apply_exclusions

        wells = apply_exclusions(wells, exclusions)
    if not wells.empty:
        from napari_il6assay.batch.plate_consistency import flag_plate_outliers

        wells = flag_nonempty_blanks(flag_plate_outliers(drop_empty_layout_columns(wells)))
    curves = curve_tables(wells, model=model, include_flagged=include_flagged)
    res = BatchTables(
        objects=objects,
        images=images,
        **curves.frames(),
        plate_format=int(getattr(layout, "plate_format", 96) or 96),
        unlisted_wells=unlisted,
        unmeasured_wells=unmeasured_wells(measured, table),
        problems=curves.problems,
    )
    _plate_tables(res, mode)
    return res


def _site_tables(
    out: Path, records: list[PartRecord], mode: str, corrections: dict[str, Any] | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return ``images.csv``, ``objects.csv`` and the measured wells, corrections applied."""
    images = images_table(records, mode)
    objects = objects_table(out, records)
    if not corrections:
        return images, objects, aggregate_sites(images)
    from napari_il6assay.batch import corrections as _corr

    images = _corr.correct_images(images, corrections, out)
    objects = _corr.replace_objects(objects, images, corrections)
    return images, objects, _corr.mark_wells(aggregate_sites(images), images)


def _plate_tables(res: BatchTables, mode: str) -> None:
    """Add the sphere sizes, plate QC and cross-resistance tables (each its own stage)."""
    if not len(res.wells):
        return
    if mode == "spheres" and len(res.objects):
        from napari_il6assay.doseresponse.spheres import sphere_sizes

        res.sphere_sizes = run_stage(res.problems, "sphere_sizes", sphere_sizes, res.objects,
                                     res.wells)  # fmt: skip
    plate = plate_tables(res.problems, res.wells, res.fits, plate_format=res.plate_format)
    for name, table in plate.items():
        setattr(res, name, table)
