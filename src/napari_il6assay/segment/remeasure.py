"""Measure a well again from labels a person corrected (no Qt).

When the automatic segmentation of a well is wrong, the user paints or erases in its label
image and the well is measured again from those labels. `remeasure` does that for every
mode with the mode's own measurement code (`napari_il6assay.segment.measure` and the mode
module's helpers), so a corrected well has the same columns, units and readout definition as
an automatic one:

========== ==================================================================================
mode       readout from the corrected labels
========== ==================================================================================
colony     ``area_fraction`` = labelled pixels inside the well / well pixels. The well is the
           circle the automatic segmentation found (``well_center_y/x``, ``well_radius_px``;
           the ``roi`` or the whole frame when it measured without a well); labels painted
           outside it are dropped. ``colony_count`` = labelled objects in the well. The
           automatic readout counts the stain mask, which also holds specks and fringes the
           colony labels leave out: unchanged labels read 1-4 % (relative) lower on the
           sample plate.
           ``intensity_weighted_area_fraction`` and ``full_stain_od`` come from the
           automatic stain threshold and are left empty (NaN).
livedead   ``live_fraction`` = live area / (live + dead area). Each object is live or dead by
           its median background-subtracted signal in the two channels (the mode's own
           background step and bleed-through), each channel scaled by its median over the
           objects of its class, as the mode decides pixels claimed by both stains. On the
           synthetic wells 0-3 of ~150-250 objects, all of a few pixels beside a cell of the
           other stain, are sorted otherwise than the automatic run or the truth.
spheroid   ``volume_um3`` of the sphere with the labelled area (every labelled pixel is the
           spheroid), with the mode's other shape columns and ``dead_fraction``.
spheroid3d ``volume_um3`` = labelled voxels x voxel volume (surface by marching cubes).
spheres    ``sphere_count`` = labelled objects with an equivalent diameter of at least
           ``min_diameter_um`` (the run's value).
========== ==================================================================================

Labels are taken as drawn: each connected region of one label value is an object (napari's
brush can give two separate spheres the same value; they are two objects), and touching
regions of different values stay apart. The measures that describe the image rather than the
objects (background level, sharpness, well geometry, image percentiles) keep their automatic
values.

Flags: the automatic ``qc_flag`` judged the automatic objects; a person has now drawn them.
Flags about the objects are dropped (`OBJECT_FLAGS`) and those a correction of the labels
does not answer are kept (`napari_il6assay.qc_flags.KEPT_BY_CORRECTION`). ``no_object`` and
``touches_border`` are judged again on the corrected labels where the mode sets them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_il6assay.errors import SegmentationError
from napari_il6assay.qc_flags import KEPT_BY_CORRECTION, join_flags, split_flags
from napari_il6assay.segment.result import SegmentationResult

__all__ = ["remeasure", "relabel_regions", "CORRECTABLE_MODES"]

#: modes whose labels can be corrected and measured again
CORRECTABLE_MODES = ("colony", "livedead", "spheroid", "spheroid3d", "spheres")

#: measures of the automatic result that depend on its own stain threshold, not on labels;
#: a corrected well leaves them empty instead of keeping numbers that no longer match
_STALE = {
    "colony": ("intensity_weighted_area_fraction", "full_stain_od"),
    "spheres": ("mode_check",),
    "livedead": ("mode_check",),
}


@dataclass
class _Ctx:
    """What a mode's measurement needs besides the labels and the image."""

    pixel_size_um: float | None = None
    voxel_size_um: Any = None
    rgb: bool | None = None
    channel_names: list[str] | None = None
    auto: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


#: what a mode's measurement returns: labels as measured, objects, new measures, flags
_Measured = tuple[np.ndarray, Any, dict[str, Any], list[str]]


def relabel_regions(labels: np.ndarray) -> np.ndarray:
    """Give every connected region of one label value its own object number, 1..n.

    Parameters
    ----------
    labels : ndarray of int
        A label image as painted (0 = background).

    Returns
    -------
    ndarray of int32
        Same shape; touching regions of different values stay apart, separate regions of
        one value become two objects. Numbered in raster order of their first pixel.

    Examples
    --------
    >>> lab = np.array([[1, 1, 0, 1], [2, 2, 0, 0]])
    >>> relabel_regions(lab).tolist()
    [[1, 1, 0, 2], [3, 3, 0, 0]]
    """
    from skimage.measure import label

    lab = np.asarray(labels)
    if not lab.any():
        return np.zeros(lab.shape, np.int32)
    # full connectivity: a diagonal brush stroke is one object, as in the modes' own labels
    return label(lab, background=0, connectivity=lab.ndim).astype(np.int32)


def _check_labels(labels: Any, shape: tuple[int, ...], mode: str) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.dtype.kind not in "biu":
        if lab.dtype.kind == "f" and np.isfinite(lab).all() and np.array_equal(lab, np.round(lab)):
            lab = lab.astype(np.int64)
        else:
            raise SegmentationError(f"labels must be whole numbers, got pixel type {lab.dtype}")
    if lab.dtype.kind == "b":
        lab = lab.astype(np.int32)
    if lab.shape != tuple(shape):
        raise SegmentationError(
            f"mode '{mode}': the labels are {' x '.join(map(str, lab.shape))} but the image is "
            f"{' x '.join(map(str, shape))} pixels"
        )
    if lab.size and lab.min() < 0:
        raise SegmentationError("labels must not be negative")
    return lab


def _kept_flags(auto_flag: str, *new: str) -> str:
    kept = [f for f in split_flags(auto_flag) if f in KEPT_BY_CORRECTION]
    return join_flags(kept, [f for f in new if f])


def remeasure(
    labels: np.ndarray,
    image: np.ndarray,
    mode: str,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: tuple[float, float, float] | None = None,
    rgb: bool | None = None,
    channel_names: list[str] | None = None,
    auto_measures: dict[str, Any] | None = None,
    auto_flag: str = "",
    **params: Any,
) -> SegmentationResult:
    """Measure an image again from corrected labels, with the mode's own measurements.

    Parameters
    ----------
    labels : ndarray of int
        The corrected label image: the image's YX shape (ZYX for ``spheroid3d``).
    image : ndarray
        The image as the mode segments it (YX, YXC; ZYX or ZYXC for ``spheroid3d``).
    mode : str
        One of `CORRECTABLE_MODES`.
    pixel_size_um : float, optional
        YX pixel size (sizes in pixels when None).
    voxel_size_um : (z, y, x), optional
        Voxel size for ``spheroid3d``.
    rgb : bool, optional
        ``image`` is an RGB photo.
    channel_names : list of str, optional
        Names of the channel columns.
    auto_measures : dict, optional
        The automatic measures of the image (its ``images.csv`` row): the image diagnostics
        and the well the correction keeps, and the counting size of ``spheres``.
    auto_flag : str
        The automatic ``qc_flag`` of the image (see the module docstring).
    **params
        The run's mode parameters (``live_channel``, ``dead_channel``, ``channel``, ``roi``,
        ``min_diameter_um``...); the others are ignored.

    Returns
    -------
    SegmentationResult
        ``labels`` as measured (`relabel_regions`; colony: outside the well dropped),
        ``objects``, ``measures`` (the automatic measures with the label-derived ones
        replaced), ``qc_flag``; ``overlay`` None.

    Raises
    ------
    SegmentationError
        Labels of another shape than the image, not whole numbers, negative, a mode that
        cannot be corrected, or a whole-plate photo (one label image holds many wells).

    Examples
    --------
    >>> img = np.full((64, 64), 200, np.uint8)
    >>> lab = np.zeros((64, 64), np.int32)
    >>> lab[10:30, 10:30] = 1
    >>> res = remeasure(lab, img, "colony", pixel_size_um=2.0,
    ...                 auto_measures={"well_center_y": 31.5, "well_center_x": 31.5,
    ...                                "well_radius_px": float("nan")})
    >>> round(res.measures["area_fraction"], 4), res.measures["colony_count"]
    (0.0977, 1)
    """
    if mode not in CORRECTABLE_MODES:
        raise SegmentationError(f"unknown mode {mode!r}; expected one of "
                                f"{', '.join(CORRECTABLE_MODES)}")  # fmt: skip
    img = np.asarray(image)
    auto = dict(auto_measures or {})
    if auto.get("per_well") is not None or _finite(auto.get("n_wells")):
        raise SegmentationError(
            "a whole-plate photo holds many wells in one label image; correct its wells one "
            "photo per well"
        )
    if mode == "spheroid3d":
        if img.ndim not in (3, 4):
            raise SegmentationError(f"mode 'spheroid3d' needs a z-stack, got shape {img.shape}")
        shape = img.shape[:3]
    else:
        from napari_il6assay.segment import _util as U

        U.check_2d(img, mode, rgb)
        shape = img.shape[:2]
    lab = relabel_regions(_check_labels(labels, shape, mode))
    fn = {"colony": _colony, "livedead": _livedead, "spheroid": _spheroid,
          "spheroid3d": _spheroid3d, "spheres": _spheres}[mode]  # fmt: skip
    ctx = _Ctx(pixel_size_um, voxel_size_um, rgb, channel_names, auto, params)
    lab, objects, new, flags = fn(lab, img, ctx)
    measures = dict(auto)
    for k in _STALE.get(mode, ()):
        if k in measures:
            measures[k] = "" if isinstance(measures[k], str) else float("nan")
    measures.update(new)
    measures["n_objects"] = int(new.get("n_objects", len(objects)))
    return SegmentationResult(
        labels=lab.astype(np.int32, copy=False),
        objects=objects,
        measures=measures,
        qc_flag=_kept_flags(auto_flag, *flags),
    )


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _colony(lab: np.ndarray, img: np.ndarray, ctx: _Ctx) -> _Measured:
    from napari_il6assay.segment import _util as U
    from napari_il6assay.segment.colony import READOUT, _absorbing_plane
    from napari_il6assay.segment.geometry import disc_mask
    from napari_il6assay.segment.measure import measure_objects
    from napari_il6assay.segment.well import parse_roi

    multi = U.is_multichannel_2d(img, ctx.rgb)
    is_rgb = bool(multi and (ctx.rgb or (ctx.rgb is None and img.shape[-1] in (3, 4))))
    plane = _absorbing_plane(img, multi, is_rgb)
    shape = plane.shape
    nan = float("nan")
    cy, cx, r = (ctx.auto.get(k, nan) for k in ("well_center_y", "well_center_x", "well_radius_px"))
    if _finite(r) and _finite(cy) and _finite(cx):
        # the automatic circle at full resolution (the same circle: the mode's working scale
        # maps centre and radius back with the same formula)
        well = disc_mask(shape, float(cy), float(cx), float(r))
    elif ctx.params.get("roi") not in (None, ""):
        y0, x0, y1, x1 = parse_roi(ctx.params["roi"], shape)
        well = np.zeros(shape, bool)
        well[y0:y1, x0:x1] = True
    else:  # measured without a well (no rim found, or --well none): the whole frame
        well = np.ones(shape, bool)
    # stain outside the well is not part of the well's area fraction
    lab = relabel_regions(np.where(well, lab, 0))
    stain = lab > 0
    n_well = int(well.sum())
    px2 = 1.0 if ctx.pixel_size_um is None else float(ctx.pixel_size_um) ** 2
    objects = measure_objects(lab, plane, pixel_size_um=ctx.pixel_size_um)
    af = float(stain.sum() / n_well) if n_well else float("nan")
    new = {
        "readout": af,
        "readout_name": READOUT,
        "n_objects": int(lab.max()),
        "area_fraction": af,
        "colony_count": int(lab.max()),
        "well_area_um2": n_well * px2,
        "stained_area_um2": float(stain.sum()) * px2,
    }
    return lab, objects, new, []


def _spheroid(lab: np.ndarray, img: np.ndarray, ctx: _Ctx) -> _Measured:
    from napari_il6assay.segment import _util as U
    from napari_il6assay.segment.measure import BASE_COLUMNS_2D, measure_objects
    from napari_il6assay.segment.spheroid import READOUT, _dead_fraction

    # the plane and channels exactly as `spheroid.segment` chooses them
    multi = U.is_multichannel_2d(img, ctx.rgb)
    is_rgb = bool(multi and (ctx.rgb or (ctx.rgb is None and img.dtype == np.uint8
                                     and img.shape[-1] in (3, 4))))  # fmt: skip
    channel = int(ctx.params.get("channel", 0))
    dead_channel = ctx.params.get("dead_channel")
    if multi and not is_rgb:
        plane = U.to_float(img[..., channel])
        if dead_channel is None and img.shape[-1] >= 2:
            dead_channel = 1 if channel != 1 else 0
    else:
        plane = U.gray(img, multi, True if is_rgb else ctx.rgb)
    # one spheroid: everything labelled is it
    mask = lab > 0
    lab = mask.astype(np.int32)
    if not mask.any():
        import pandas as pd

        empty = pd.DataFrame(columns=BASE_COLUMNS_2D)
        nan = float("nan")
        none = {"readout": nan, "readout_name": READOUT, "n_objects": 0, "volume_um3": nan,
                "volume_ellipsoid_um3": nan, "dead_fraction": nan}  # fmt: skip
        return lab, empty, none, ["no_object"]
    chans = img if (multi and not is_rgb) else (img[..., :3] if is_rgb else None)
    names = ctx.channel_names if (multi and not is_rgb) else (["r", "g", "b"] if is_rgb else None)
    objects = measure_objects(lab, plane, pixel_size_um=ctx.pixel_size_um, channels=chans,
                              channel_names=names)  # fmt: skip
    row = objects.iloc[0]
    d = float(row["equivalent_diameter_um"])
    new: dict[str, Any] = {"readout": math.pi / 6 * d**3, "readout_name": READOUT,
                           "n_objects": 1}  # fmt: skip
    for col in objects.columns:
        if col != "label":
            new[col] = float(row[col]) if col != "area_px" else int(row[col])
    new["volume_um3"] = new["readout"]
    new["volume_ellipsoid_um3"] = (
        math.pi / 6 * float(row["major_axis_um"]) * float(row["minor_axis_um"]) ** 2
    )
    dead = float("nan")
    if dead_channel is not None and multi and not is_rgb and 0 <= int(dead_channel) < img.shape[-1]:
        dead = _dead_fraction(img[..., int(dead_channel)], mask)
    new["dead_fraction"] = dead
    objects["volume_um3"] = new["readout"]
    flags = ["touches_border"] if U.border_touch_fraction(mask) > 0 else []
    return lab, objects, new, flags


def _spheroid3d(lab: np.ndarray, img: np.ndarray, ctx: _Ctx) -> _Measured:
    import pandas as pd

    from napari_il6assay.segment.measure import BASE_COLUMNS_3D, measure_objects_3d
    from napari_il6assay.segment.spheroid3d import READOUT

    vox = ctx.voxel_size_um
    if vox is None and ctx.pixel_size_um is not None:
        vox = (float(ctx.pixel_size_um),) * 3
    vs = tuple(float(v) for v in vox) if vox is not None else (1.0,) * 3
    channel = int(ctx.params.get("channel", 0))
    stack, chans = (img[..., channel], img) if img.ndim == 4 else (img, None)
    mask = lab > 0
    lab = mask.astype(np.int32)
    if not mask.any():
        nan = float("nan")
        return lab, pd.DataFrame(columns=BASE_COLUMNS_3D), {
            "readout": nan, "readout_name": READOUT, "n_objects": 0, "volume_um3": nan,
        }, ["no_object"]  # fmt: skip
    objects = measure_objects_3d(lab, stack, voxel_size_um=vs, channels=chans,
                                 channel_names=ctx.channel_names, surface_step=1)  # fmt: skip
    row = objects.iloc[0]
    new: dict[str, Any] = {"readout": float(row["volume_um3"]), "readout_name": READOUT,
                           "n_objects": 1}  # fmt: skip
    for c in objects.columns:
        if c != "label":
            new[c] = int(row[c]) if c == "area_px" else float(row[c])
    # the object reaching the stack's sides (not its first/last plane) is cut by the frame
    side = np.concatenate([mask[:, 0].ravel(), mask[:, -1].ravel(), mask[:, :, 0].ravel(),
                           mask[:, :, -1].ravel()])  # fmt: skip
    return lab, objects, new, ["touches_border"] if side.any() else []


def _spheres(lab: np.ndarray, img: np.ndarray, ctx: _Ctx) -> _Measured:
    from napari_il6assay.segment import _util as U
    from napari_il6assay.segment.measure import measure_objects
    from napari_il6assay.segment.spheres import READOUT

    multi = U.is_multichannel_2d(img, ctx.rgb)
    is_rgb = bool(multi and (ctx.rgb or (ctx.rgb is None and img.dtype == np.uint8)))
    channel = int(ctx.params.get("channel", 0))
    plane = (
        U.to_float(img[..., channel])
        if (multi and not is_rgb)
        else U.gray(img, multi, True if is_rgb else ctx.rgb)
    )
    min_d = ctx.auto.get("min_diameter_um", float("nan"))
    if not _finite(min_d):
        min_d = ctx.params.get("min_diameter_um", 50.0)
    min_d = float(min_d)
    objects = measure_objects(lab, plane, pixel_size_um=ctx.pixel_size_um)
    counted = objects["equivalent_diameter_um"].to_numpy() >= min_d
    objects["counted"] = counted
    d = objects.loc[counted, "equivalent_diameter_um"]
    new = {
        "readout": int(counted.sum()),
        "readout_name": READOUT,
        "n_objects": int(len(objects)),
        "sphere_count": int(counted.sum()),
        "min_diameter_um": min_d,
        "median_diameter_um": float(d.median()) if len(d) else float("nan"),
        "mean_diameter_um": float(d.mean()) if len(d) else float("nan"),
        "total_sphere_area_um2": float(objects.loc[counted, "area_um2"].sum()),
    }
    return lab, objects, new, []


def _livedead(lab: np.ndarray, img: np.ndarray, ctx: _Ctx) -> _Measured:
    from napari_il6assay.segment import _util as U
    from napari_il6assay.segment.livedead import READOUT, _subtract_background, live_dead_objects

    if img.ndim != 3 or img.shape[-1] < 2:
        raise SegmentationError("mode 'livedead' needs an image with at least 2 channels "
                                f"(live, dead), got shape {img.shape}")  # fmt: skip
    live_ch = int(ctx.params.get("live_channel", 0))
    dead_ch = int(ctx.params.get("dead_channel", 1))
    if ctx.rgb and live_ch == 0 and dead_ch == 1:  # as the mode reads an RGB photo
        live_ch, dead_ch = 1, 0
    lres, lnoise = _subtract_background(U.to_float(img[..., live_ch]))
    dres, dnoise = _subtract_background(U.to_float(img[..., dead_ch]))
    bleed = float(ctx.auto["bleed_through"]) if _finite(ctx.auto.get("bleed_through")) else 0.0
    if bleed:  # the bleed-through the automatic run measured and removed
        dres = dres - bleed * np.maximum(lres, 0)
    n = int(lab.max())
    flat = lab.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:].astype(np.float64)
    from scipy import ndimage as ndi

    ids = np.arange(1, n + 1)
    # the median, not the mean: a small cell's rim picks up the blur of a bright neighbour
    lmed = np.asarray(ndi.median(lres, lab, ids), dtype=np.float64) if n else np.zeros(0)
    dmed = np.asarray(ndi.median(dres, lab, ids), dtype=np.float64) if n else np.zeros(0)
    # first by signal-to-noise, then (as the mode decides pixels claimed by both stains) by
    # each channel's level relative to its typical cell of that class
    is_live = lmed / lnoise >= dmed / dnoise
    obj, idx = flat > 0, np.maximum(flat - 1, 0)
    for _ in range(3):
        live_px, dead_px = obj & is_live[idx], obj & ~is_live[idx]
        if not (live_px.any() and dead_px.any()):
            break
        lref = max(float(np.median(lres.ravel()[live_px])), 1e-6)
        dref = max(float(np.median(dres.ravel()[dead_px])), 1e-6)
        is_live = lmed / lref >= dmed / dref
    # renumber: live objects first (1..n_live), then dead, as the mode numbers them
    order = np.concatenate([np.flatnonzero(is_live), np.flatnonzero(~is_live)]) + 1
    remap = np.zeros(n + 1, np.int32)
    remap[order] = np.arange(1, n + 1, dtype=np.int32)
    lab = remap[lab]
    nl = int(is_live.sum())
    ps = float(ctx.pixel_size_um) if ctx.pixel_size_um is not None else 1.0
    px2 = ps * ps
    live_area = float(area[is_live].sum()) * px2
    dead_area = float(area[~is_live].sum()) * px2
    total = live_area + dead_area
    objects = live_dead_objects(lab, nl, img, pixel_size_um=ctx.pixel_size_um,
                                channel_names=ctx.channel_names, live_channel=live_ch,
                                dead_channel=dead_ch)  # fmt: skip
    lf = live_area / total if total > 0 else float("nan")
    new = {
        "readout": lf,
        "readout_name": READOUT,
        "n_objects": n,
        "live_fraction": lf,
        "live_area_um2": live_area,
        "dead_area_um2": dead_area,
        "n_live": nl,
        "n_dead": n - nl,
    }
    return lab, objects, new, [] if total > 0 else ["no_object"]
