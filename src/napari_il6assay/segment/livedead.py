"""Live/dead fluorescence (e.g. calcein-AM live, PI or EthD-1 dead), optional nuclei.

Method, per channel:

1. background: a robust degree-3 polynomial (cells are outliers), subtracted;
2. the live signal that bleeds into the dead channel is estimated (the median
   dead/live ratio over clearly live pixels) and removed;
3. foreground: above ``k_noise`` background sigmas and above ``edge_fraction`` of the
   local peak within about one cell diameter, so dim and bright cells both keep
   their true (half-maximum) edge; objects below ``min_area_px`` are dropped;
4. a pixel positive in both channels goes to the channel with the larger signal
   relative to its own cells' typical brightness.

``live_fraction`` = live area / (live + dead area); NaN (``qc_flag="no_object"``)
when neither channel holds any cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_il6assay.errors import SegmentationError
from napari_il6assay.segment import _util as U
from napari_il6assay.segment.result import SegmentationResult

READOUT = "live_fraction"


def _subtract_background(plane: np.ndarray, working_size: int = 256) -> tuple[np.ndarray, float]:
    from scipy import ndimage as ndi

    from napari_il6assay.segment.illumination import (
        masked_gaussian_background,
        polynomial_background,
    )

    f = U.block_factor(plane.shape, working_size)
    low = U.block_mean(plane, f)
    bg_low, sig_low, _ = polynomial_background(low, degree=3, k=2.5)
    # cells are bright outliers; the background is then followed more locally
    fg = ndi.binary_dilation((low - bg_low) > 3 * sig_low, iterations=2)
    bg_low = masked_gaussian_background(low, fg, max(low.shape) / 24)
    if f > 1:
        bg, _ = U.upsample_field(bg_low, f, plane.shape, None)
        bg = bg[: plane.shape[0], : plane.shape[1]]
    else:
        bg = bg_low
    res = plane - bg
    # noise of single pixels (not of the block means)
    sub = res[:: max(1, res.shape[0] // 256), :: max(1, res.shape[1] // 256)]
    med = np.median(sub)
    sig = U.robust_sigma(sub[np.abs(sub - med) < 5 * U.robust_sigma(sub) + 1e-12])
    return res.astype(np.float32), max(sig, 1e-6)


def _foreground(
    sig_img: np.ndarray, noise: float, *, k_noise: float, edge_fraction: float, cell_px: float,
    min_area_px: int,
) -> np.ndarray:
    from scipy import ndimage as ndi

    s = ndi.gaussian_filter(sig_img, 0.7)
    size = max(3, int(round(cell_px)) | 1)
    peak = ndi.maximum_filter(s, size=size)
    m = (s > k_noise * noise) & (s > edge_fraction * peak)
    if min_area_px > 1:
        lab, n = ndi.label(m)
        if n:
            area = np.bincount(lab.ravel())
            keep = area >= min_area_px
            keep[0] = False
            m = keep[lab]
    return m


def _count_nuclei(plane: np.ndarray, k_noise: float, cell_px: float) -> int:
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    res, noise = _subtract_background(U.to_float(plane))
    m = _foreground(res, noise, k_noise=k_noise, edge_fraction=0.3, cell_px=cell_px,
                    min_area_px=max(3, int(0.1 * cell_px * cell_px)))
    if not m.any():
        return 0
    dist = ndi.gaussian_filter(ndi.distance_transform_edt(m), 1.0)
    lab, _ = ndi.label(m)
    pk = peak_local_max(dist, min_distance=max(2, int(cell_px / 3)), labels=lab,
                        exclude_border=False)
    return int(len(pk))


def segment(
    image: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: Any = None,
    rgb: bool | None = None,
    axes: str | None = None,
    channel_names: list[str] | None = None,
    live_channel: int = 0,
    dead_channel: int = 1,
    nuclei_channel: int | None = None,
    k_noise: float = 5.0,
    edge_fraction: float = 0.3,
    cell_diameter_um: float = 15.0,
    min_area_px: int | None = None,
    unmix: bool = True,
) -> SegmentationResult:
    """Segment live and dead stain and measure their areas.

    Parameters
    ----------
    image : ndarray
        YXC with at least two channels (live, dead); an RGB photo is read as R = dead,
        G = live unless the channel indices say otherwise.
    pixel_size_um : float, optional
        Pixel size; areas in pixels when None.
    live_channel, dead_channel : int
        Channel indices.
    nuclei_channel : int, optional
        A nuclear stain (Hoechst/DAPI) channel to count nuclei (``n_nuclei``).
    k_noise : float
        Foreground must exceed this many background noise sigmas.
    edge_fraction : float
        ... and this fraction of the local peak (within one cell diameter).
    cell_diameter_um : float
        Typical cell diameter (in pixels when uncalibrated).
    min_area_px : int, optional
        Smaller objects are noise (default: a tenth of a typical cell's area).
    unmix : bool
        Remove live-channel bleed-through from the dead channel.

    Returns
    -------
    SegmentationResult
        ``labels``: 1 = live, 2 = dead pixels' connected objects numbered separately
        (``objects`` has a ``class`` column); ``measures``: ``live_fraction``
        (readout), ``live_area_um2``, ``dead_area_um2``, ``n_live``, ``n_dead``,
        ``bleed_through`` and ``n_nuclei`` with a nuclei channel.
    """
    import pandas as pd
    from scipy import ndimage as ndi

    from napari_il6assay.segment.measure import measure_objects
    from napari_il6assay.segment.qc import overlay

    U.check_2d(image, "livedead", rgb, axes)
    if image.ndim != 3 or image.shape[-1] < 2:
        raise SegmentationError(
            "mode 'livedead' needs an image with at least 2 channels (live, dead), got shape "
            f"{image.shape}"
        )
    nch = image.shape[-1]
    is_rgb = bool(rgb)
    if is_rgb and live_channel == 0 and dead_channel == 1:
        live_channel, dead_channel = 1, 0
    for name, idx in (("live_channel", live_channel), ("dead_channel", dead_channel),
                      ("nuclei_channel", nuclei_channel)):
        if idx is not None and not 0 <= idx < nch:
            raise SegmentationError(f"livedead: {name}={idx} but the image has {nch} channels")
    calibrated = pixel_size_um is not None
    shape = image.shape[:2]
    live = U.to_float(image[..., live_channel])
    dead = U.to_float(image[..., dead_channel])
    if U.is_constant(live) and U.is_constant(dead):
        return U.empty_result(
            shape, readout_name=READOUT, qc_flag="constant_image", calibrated=calibrated,
            overlay=overlay(image, np.zeros(shape, np.int32), rgb=is_rgb),
        )
    ps = pixel_size_um if pixel_size_um is not None else 1.0
    cell_px = cell_diameter_um / ps
    min_area = min_area_px if min_area_px is not None else max(3, int(0.1 * np.pi / 4 * cell_px**2))
    lres, lnoise = _subtract_background(live)
    dres, dnoise = _subtract_background(dead)
    lfg0 = _foreground(lres, lnoise, k_noise=k_noise, edge_fraction=edge_fraction,
                       cell_px=cell_px, min_area_px=min_area)
    bleed = 0.0
    if unmix and lfg0.sum() > 20:
        strong = lfg0 & (lres > np.percentile(lres[lfg0], 50))
        ratio = dres[strong] / np.maximum(lres[strong], 1e-6)
        bleed = float(np.clip(np.median(ratio), 0.0, 0.5))
        dres = dres - bleed * np.maximum(lres, 0)
    lfg = lfg0
    dfg = _foreground(dres, dnoise, k_noise=k_noise, edge_fraction=edge_fraction,
                      cell_px=cell_px, min_area_px=min_area)
    both = lfg & dfg
    if both.any():
        lref = np.median(lres[lfg]) if lfg.any() else 1.0
        dref = np.median(dres[dfg]) if dfg.any() else 1.0
        live_wins = lres[both] / max(lref, 1e-6) >= dres[both] / max(dref, 1e-6)
        yy, xx = np.nonzero(both)
        dfg[yy[live_wins], xx[live_wins]] = False
        lfg[yy[~live_wins], xx[~live_wins]] = False
    llab, nl = ndi.label(lfg)
    dlab, nd = ndi.label(dfg)
    labels = llab.astype(np.int32)
    labels[dfg] = dlab[dfg] + nl
    px2 = ps * ps if calibrated else 1.0
    live_area = float(lfg.sum()) * px2
    dead_area = float(dfg.sum()) * px2
    total = live_area + dead_area
    names = channel_names if channel_names and len(channel_names) == nch else None
    objects = measure_objects(labels, None, pixel_size_um=pixel_size_um,
                              channels=image, channel_names=names)
    cls = np.where(objects["label"].to_numpy() <= nl, "live", "dead")
    objects.insert(1, "class", pd.array(cls, dtype="string"))
    # each object's own channel as its mean/integrated intensity
    ch_cols = [c for c in objects.columns if c.startswith("mean_intensity_")]
    if len(ch_cols) >= 2:
        lcol, dcol = ch_cols[live_channel], ch_cols[dead_channel]
        objects["mean_intensity"] = np.where(cls == "live", objects[lcol], objects[dcol])
        objects["integrated_intensity"] = objects["mean_intensity"] * objects["area_px"]
    measures: dict[str, Any] = {
        "readout": live_area / total if total > 0 else float("nan"),
        "readout_name": READOUT,
        "n_objects": int(nl + nd),
        "calibrated": calibrated,
        "live_fraction": live_area / total if total > 0 else float("nan"),
        "live_area_um2": live_area,
        "dead_area_um2": dead_area,
        "n_live": int(nl),
        "n_dead": int(nd),
        "bleed_through": bleed,
    }
    if nuclei_channel is not None:
        measures["n_nuclei"] = _count_nuclei(image[..., nuclei_channel], k_noise, cell_px)
    return SegmentationResult(
        labels=labels,
        objects=objects,
        measures=measures,
        qc_flag="" if total > 0 else "no_object",
        overlay=overlay(image, (lfg.astype(np.int32)), rgb=is_rgb, extra=[dfg]),
    )
