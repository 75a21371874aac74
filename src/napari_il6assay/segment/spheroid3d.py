"""One spheroid in a z-stack (confocal, light-sheet, widefield), anisotropic voxels.

Method (at a working scale with y/x reduced to about ``working_size``; z kept):

1. background level and noise from the mode of the stack's histogram (most voxels are
   background), light smoothing;
2. polarity: bright object (fluorescence) by default; ``polarity="dark"`` for stacks
   where the spheroid absorbs;
3. hysteresis: every voxel above the noise floor connected to a confident core above
   the Otsu level, the central component kept, holes filled;
4. outline: half-way between the background and the object's own level just inside
   its surface, measured locally, so signal lost with depth (scattering) does not
   shrink the deep side;
5. full resolution: each plane's outline interpolated back (smooth, sub-block);
6. ``volume_um3`` = voxels x voxel volume, ``surface_um2`` by marching cubes with the
   anisotropic spacing, ``sphericity`` = pi^(1/3) (6V)^(2/3) / A.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from napari_il6assay.errors import SegmentationError
from napari_il6assay.segment import _util as U
from napari_il6assay.segment.result import SegmentationResult, empty_result

READOUT = "volume_um3"


def _masked_gauss3(
    v: np.ndarray, keep: np.ndarray, sigma: tuple[float, float, float]
) -> np.ndarray:
    from scipy import ndimage as ndi

    w = keep.astype(np.float32)
    num = ndi.gaussian_filter(v * w, sigma, mode="nearest")
    den = ndi.gaussian_filter(w, sigma, mode="nearest")
    return num / np.maximum(den, 1e-3)


def detect3d(
    stack: np.ndarray,
    *,
    voxel_size_um: tuple[float, float, float] | None = None,
    polarity: str = "bright",
    working_size: int = 256,
    noise_floor: float = 4.0,
    min_volume_fraction: float = 0.0005,
    edge_fraction: float = 0.5,
    band_um: tuple[float, float] = (1.0, 3.0),
) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any]]:
    """Working-scale mask and the full-resolution mask of the main object of a ZYX stack.

    Returns
    -------
    full : ndarray of bool
        ZYX mask at full resolution.
    low : ndarray of bool
        The mask at the working scale.
    f : int
        y/x block factor of the working scale.
    info : dict
        ``polarity``, ``threshold_sigma``, ``noise_sigma``.
    """
    from scipy import ndimage as ndi

    from napari_il6assay.segment.illumination import _mode_and_width

    nz, ny, nx = stack.shape
    f = U.block_factor((ny, nx), working_size)
    g = U.block_mean(stack, f)
    sub = g[:, :: max(1, g.shape[1] // 96), :: max(1, g.shape[2] // 96)].ravel()
    mode, width = _mode_and_width(sub)
    # the noise of the working voxels: robust spread of the background side only
    bgv = sub[np.abs(sub - mode) < 3 * width]
    sig = max(U.robust_sigma(bgv), 1e-6 * (abs(mode) + 1))
    vz, vy, vx = voxel_size_um if voxel_size_um is not None else (1.0, 1.0, 1.0)
    sz = 0.7 * min(1.0, (vy * f) / vz)
    z = ndi.gaussian_filter((g - mode) / sig, (sz, 1.0, 1.0))
    zs = U.robust_sigma(z[np.abs(z) < 3].ravel()[::7]) or 1.0
    z /= zs
    if polarity not in ("bright", "dark", "auto"):
        raise SegmentationError(f"polarity must be 'auto', 'dark' or 'bright', not {polarity!r}")
    if polarity == "auto":
        pol = 1 if (z > noise_floor).sum() >= (z < -noise_floor).sum() else -1
    else:
        pol = 1 if polarity == "bright" else -1
    s = pol * z
    info: dict[str, Any] = {"polarity": "bright" if pol > 0 else "dark", "noise_sigma": sig}
    fg = s[s > noise_floor]
    if fg.size < 10:
        return np.zeros(stack.shape, bool), np.zeros(s.shape, bool), f, info
    t = max(noise_floor, U.otsu(s[:, ::2, ::2]))
    info["threshold_sigma"] = t
    min_vol = min_volume_fraction * s.size
    core = s > t
    lab, n = ndi.label(core)
    if n == 0:
        return np.zeros(stack.shape, bool), np.zeros(s.shape, bool), f, info
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    # main object: large and near the stack centre (the axis of the image); the
    # centroids from a 2x subsample of the labels are plenty for that
    ls = lab[:, ::2, ::2]
    _, hh, ww = ls.shape
    fl = ls.ravel()
    cnt = np.maximum(np.bincount(fl, minlength=n + 1), 1)
    yy = np.broadcast_to(np.arange(hh, dtype=np.float64)[None, :, None], ls.shape).ravel()
    xx = np.broadcast_to(np.arange(ww, dtype=np.float64)[None, None, :], ls.shape).ravel()
    cy = (np.bincount(fl, weights=yy, minlength=n + 1) / cnt)[1:]
    cx = (np.bincount(fl, weights=xx, minlength=n + 1) / cnt)[1:]
    d = np.hypot((cy - hh / 2) / hh, (cx - ww / 2) / ww)
    score = sizes[1:] * np.exp(-((d / 0.35) ** 2))
    best = int(np.argmax(score)) + 1
    if sizes[best] < min_vol:
        return np.zeros(stack.shape, bool), np.zeros(s.shape, bool), f, info
    low = s > noise_floor
    llab, _ = ndi.label(low)
    ids = np.unique(llab[lab == best])
    lut = np.zeros(int(llab.max()) + 1, bool)
    lut[ids[ids > 0]] = True
    grown = lut[llab] | (lab == best)
    grown = U.fill_holes(grown)
    # local half-maximum surface: the level is read 1-3 shells inside, beyond the
    # blur of the surface, so the threshold is half of the plateau next to it
    # distances on a 2x coarser y/x grid: only a band a few shells deep is needed
    gz = grown[:, ::2, ::2]
    dist = ndi.distance_transform_edt(gz, sampling=(vz, 2 * vy * f, 2 * vx * f))
    dist = np.repeat(np.repeat(dist, 2, axis=1), 2, axis=2)[:, : grown.shape[1], : grown.shape[2]]
    shell_um = max(3 * vy * f, 1.5 * vz)
    band = (dist > band_um[0] * shell_um) & (dist <= band_um[1] * shell_um)
    if band.sum() > 50:
        sg = (max(1.0, 4 * vy * f / vz), 2.0, 2.0)
        # the level map is smooth: compute it on 2x2 blocks in y/x
        sb = U.block_mean(s * band, 2)
        wb = U.block_mean(band.astype(np.float32), 2)
        lb = _masked_gauss3(np.where(wb > 0, sb / np.maximum(wb, 1e-6), 0), wb > 0.25, sg)
        level = np.repeat(np.repeat(lb, 2, axis=1), 2, axis=2)[:, : s.shape[1], : s.shape[2]]
        t_map = np.maximum(edge_fraction * level, noise_floor)
        near = ndi.binary_dilation(grown, iterations=2)
        obj = (s > t_map) & near
        olab, on = ndi.label(obj)
        if on > 1:
            sizes2 = np.bincount(olab.ravel())
            sizes2[0] = 0
            obj = olab == int(np.argmax(sizes2))
        obj = U.fill_holes(obj)
        field = s - t_map
    else:
        obj = grown
        field = s - t
    field = np.clip(field, -4.0, 4.0)
    field = np.where(obj, np.maximum(field, 0.05), np.minimum(field, -0.05)).astype(np.float32)
    info["field"] = field
    full = U.mask_to_full_stack(obj, field, f, (ny, nx))
    return full, obj, f, info


def _surface(field: np.ndarray, spacing: tuple[float, float, float]) -> float:
    from skimage.measure import marching_cubes, mesh_surface_area

    inside = field > 0
    zz = np.flatnonzero(inside.any(axis=(1, 2)))
    yy = np.flatnonzero(inside.any(axis=(0, 2)))
    xx = np.flatnonzero(inside.any(axis=(0, 1)))
    sub = field[
        max(zz[0] - 1, 0) : zz[-1] + 2,
        max(yy[0] - 1, 0) : yy[-1] + 2,
        max(xx[0] - 1, 0) : xx[-1] + 2,
    ]
    sub = np.pad(sub, 1, constant_values=float(min(sub.min(), -0.5)))
    verts, faces, _, _ = marching_cubes(sub, level=0.0, spacing=spacing)
    return float(mesh_surface_area(verts, faces))


def _stack_of(
    a: np.ndarray, axes: str | None, channel: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the ZYX stack to segment and the ZYXC channels (None for a ZYX stack).

    Raises
    ------
    SegmentationError
        A 2D image, an image with channels but no z, or a channel that does not exist.
    """
    if a.ndim == 4:
        if not 0 <= channel < a.shape[-1]:
            raise SegmentationError(f"spheroid3d: channel {channel} does not exist ({a.shape})")
        stack = a[..., channel]
        chans = a
    elif a.ndim == 3 and (axes is None or axes == "ZYX"):
        if axes is None and a.shape[-1] <= 4 and a.shape[0] > 4:
            raise SegmentationError(
                f"mode 'spheroid3d' needs a z-stack (ZYX) but got shape {a.shape}, which looks "
                "like a 2D image with channels; use mode 'spheroid'"
            )
        stack = a
        chans = None
    elif a.ndim == 2:
        raise SegmentationError(
            f"mode 'spheroid3d' needs a z-stack (ZYX) but got a 2D image of shape {a.shape}; "
            "use mode 'spheroid' for single planes"
        )
    else:
        raise SegmentationError(f"mode 'spheroid3d' needs a ZYX or ZYXC stack, got shape {a.shape}")
    return stack, chans


def _measure_object(
    labels: np.ndarray,
    low: np.ndarray,
    f: int,
    stack: np.ndarray,
    chans: np.ndarray | None,
    vs: tuple[float, float, float],
    channel_names: list[str] | None,
) -> Any:
    """Measure the spheroid (label 1); its surface from the smoothed working-scale mask.

    ``low`` is the mask at the working scale (``f`` times coarser in y and x).
    """
    from scipy import ndimage as ndi

    from napari_il6assay.segment.measure import measure_objects_3d

    # measure inside the object's box only (every measure is translation invariant)
    box = U.crop_box(low, 1)
    box = (
        box[0],
        slice(box[1].start * f, min(box[1].stop * f, stack.shape[1])),
        slice(box[2].start * f, min(box[2].stop * f, stack.shape[2])),
    )
    objects = measure_objects_3d(
        labels[box],
        stack[box],
        voxel_size_um=vs,
        channels=None if chans is None else chans[box],
        channel_names=channel_names,
        surface_step=0,
    )
    # surface of the smoothed working-scale mask (not of the voxel staircase, nor of
    # the cell-scale texture of the threshold field)
    lbox = U.crop_box(low, 3)
    sm = ndi.gaussian_filter(low[lbox].astype(np.float32), (max(0.5, vs[1] * f / vs[0]), 1.0, 1.0))
    objects.loc[0, "surface_um2"] = _surface(sm - 0.5, (vs[0], vs[1] * f, vs[2] * f))
    vol = float(objects["volume_um3"].to_numpy()[0])
    surf = float(objects["surface_um2"].to_numpy()[0])
    objects.loc[0, "sphericity"] = (
        min(1.0, math.pi ** (1 / 3) * (6 * vol) ** (2 / 3) / surf) if surf > 0 else float("nan")
    )
    return objects


def segment(
    image: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: tuple[float, float, float] | None = None,
    rgb: bool | None = None,
    axes: str | None = None,
    channel: int = 0,
    channel_names: list[str] | None = None,
    polarity: str = "bright",
    working_size: int = 256,
    noise_floor: float = 4.0,
) -> SegmentationResult:
    """Segment and measure the spheroid of a ZYX (or ZYXC) stack.

    Parameters
    ----------
    image : ndarray
        ZYX, or ZYXC with channels last.
    voxel_size_um : (z, y, x), optional
        Voxel size; voxels when None (``calibrated`` False). With only
        ``pixel_size_um`` the z step is taken equal to it.
    axes : str, optional
        ``"ZYX"``/``"ZYXC"``; a 2D image is refused.
    channel : int
        Channel segmented in a ZYXC stack.
    polarity : {"bright", "dark", "auto"}
        Bright object (fluorescence) by default.
    working_size : int
        y/x size of the working scale.
    noise_floor : float
        Lowest threshold in background noise sigmas.

    Returns
    -------
    SegmentationResult
        ``measures``: ``volume_um3`` (readout), ``surface_um2``, ``sphericity``,
        ``equivalent_diameter_um``, ``mean_intensity``, ``integrated_intensity`` and
        per-channel intensities.
    """
    from napari_il6assay.segment.measure import BASE_COLUMNS_3D
    from napari_il6assay.segment.qc import overlay

    a = np.asarray(image)
    if a.size == 0:
        raise SegmentationError("mode 'spheroid3d': the image is empty")
    if axes is not None and "Z" not in axes:
        raise SegmentationError(
            f"mode 'spheroid3d' needs a z-stack (ZYX) but got a 2D image (axes {axes}, shape "
            f"{a.shape}); use mode 'spheroid' for single planes"
        )
    stack, chans = _stack_of(a, axes, channel)
    if stack.shape[0] < 2:
        raise SegmentationError(f"mode 'spheroid3d' needs at least 2 z planes, got {stack.shape}")
    if voxel_size_um is None and pixel_size_um is not None:
        voxel_size_um = (float(pixel_size_um),) * 3
    calibrated = voxel_size_um is not None
    vz, vy, vx = (float(v) for v in voxel_size_um) if voxel_size_um is not None else (1.0,) * 3
    vs = (vz, vy, vx)
    if stack.dtype.kind == "f" and not np.isfinite(stack[::4, ::4, ::4]).all():
        stack = U.to_float(stack)
    sub = stack[::2, ::4, ::4]
    if sub.min() == sub.max() and U.is_constant(stack):
        return empty_result(
            stack.shape,
            readout_name=READOUT,
            qc_flag="constant_image",
            calibrated=calibrated,
            columns=BASE_COLUMNS_3D,
        )
    full, low, f, info = detect3d(
        stack,
        voxel_size_um=vs,
        polarity=polarity,
        working_size=working_size,
        noise_floor=noise_floor,
    )
    if not full.any():
        return empty_result(
            stack.shape,
            readout_name=READOUT,
            qc_flag="no_object",
            calibrated=calibrated,
            columns=BASE_COLUMNS_3D,
            overlay=overlay(stack, np.zeros(stack.shape, np.int32)),
        )
    labels = full.astype(np.int32)
    objects = _measure_object(labels, low, f, stack, chans, vs, channel_names)
    row = objects.iloc[0]
    measures: dict[str, Any] = {
        "readout": float(row["volume_um3"]),
        "readout_name": READOUT,
        "n_objects": 1,
        "calibrated": calibrated,
    }
    for c in objects.columns:
        if c == "label":
            continue
        measures[c] = int(row[c]) if c == "area_px" else float(row[c])
    measures["polarity"] = info["polarity"]
    return SegmentationResult(
        labels=labels,
        objects=objects,
        measures=measures,
        qc_flag="",
        overlay=overlay(stack, labels),
    )
