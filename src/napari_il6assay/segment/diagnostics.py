"""Image-level diagnostics that every mode reports, for plate-level consistency checks.

Within one plate, images of one assay share their optics, stain and exposure. The darkest and
brightest pixels are the background on one side and the densest stain or brightest cells on
the other, so they barely move with the dose while the readout (and the median, which follows
the covered area) does. An
image of another assay dropped into the folder, a different exposure, a well photographed out
of focus or half out of frame shifts them far from the plate's other wells; ``batch`` compares
them across the plate (`napari_il6assay.batch.plate_consistency`). They are computed on a
strided subsample (about 512 x 512 samples, or all pixels of a smaller image), for integer
pixels from a histogram of the channel sums (the same values as ``np.percentile``, without
its float copy and partition): about 1-2 ms for a 600 x 600 RGB photo, under 1 % of its
colony segmentation (~0.3 s).

Columns (``images.csv``/``wells.csv``): ``image_p1`` and ``image_p99``, the 1st and 99th
percentiles of the pixel values (channels averaged).
"""

from __future__ import annotations

import numpy as np

#: diagnostic columns this module adds to every image's measures
IMAGE_DIAGNOSTICS = ("image_p1", "image_p99")

_TARGET_SAMPLES = 512
#: the widest range of integer channel sums read from a histogram (above: a sort)
_MAX_BINS = 1 << 22


def image_diagnostics(image: np.ndarray, *, channels_last: bool) -> dict[str, float]:
    """Return the 1st and 99th percentiles of an image's pixel values (channels averaged).

    Parameters
    ----------
    image : ndarray
        YX, YXC, ZYX or ZYXC pixels.
    channels_last : bool
        The last axis holds channels or RGB samples (they are averaged).

    Returns
    -------
    dict
        ``image_p1`` and ``image_p99`` (floats, NaN for an empty image).

    Examples
    --------
    >>> img = np.zeros((100, 100)); img[:, 50:] = 10.0
    >>> image_diagnostics(img, channels_last=False)
    {'image_p1': 0.0, 'image_p99': 10.0}
    """
    arr = np.asarray(image)
    if arr.size == 0:
        return dict.fromkeys(IMAGE_DIAGNOSTICS, float("nan"))
    spatial = arr.ndim - (1 if channels_last else 0)
    steps = []
    for ax in range(arr.ndim):
        if ax < spatial and ax >= spatial - 2:  # Y and X: subsample to ~512 each
            steps.append(slice(None, None, max(1, arr.shape[ax] // _TARGET_SAMPLES)))
        elif ax < spatial:  # Z: a few planes are enough
            steps.append(slice(None, None, max(1, arr.shape[ax] // 8)))
        else:
            steps.append(slice(None))
    sub = arr[tuple(steps)]
    if sub.dtype.kind in "biu" and sub.dtype.itemsize <= 4:
        hist = _integer_percentiles(sub, channels_last, (1.0, 99.0))
        if hist is not None:
            return {"image_p1": hist[0], "image_p99": hist[1]}
    sub = sub.astype(np.float64, copy=False)
    if channels_last:
        sub = sub.mean(axis=-1)
    p1, p99 = np.percentile(sub, [1.0, 99.0])
    return {"image_p1": float(p1), "image_p99": float(p99)}


def _integer_percentiles(
    sub: np.ndarray, channels_last: bool, percents: tuple[float, ...]
) -> list[float] | None:
    """Return ``np.percentile`` of integer pixels (channels averaged), from a histogram.

    The mean of ``C`` integer channels is their integer sum over ``C``, so the sums sort as
    the means do: the two sums around each percentile's rank are read off the cumulative
    histogram and interpolated as ``np.percentile``'s default ("linear") method does, in
    the same float64 operations (same result to the last bit). None when the sums span
    more than `_MAX_BINS` values (e.g. 32-bit counts): the caller sorts instead.
    """
    if channels_last:
        n_ch = sub.shape[-1]
        if n_ch == 0:
            return None
        total = sub[..., 0].astype(np.int64)
        for c in range(1, n_ch):
            total += sub[..., c]
    else:
        n_ch = 1
        total = sub.astype(np.int64)
    lo, hi = int(total.min()), int(total.max())
    if hi - lo > _MAX_BINS:
        return None
    total -= lo
    cum = np.cumsum(np.bincount(total.ravel(), minlength=hi - lo + 1))
    n = int(cum[-1])
    out = []
    for p in percents:
        # np.percentile's "linear" method: virtual index (n - 1) q, then its _lerp
        vi = (n - 1) * (p / 100.0)
        k = max(0, min(int(np.floor(vi)), n - 1))
        gamma = vi - k
        k_next = min(k + 1, n - 1)
        # the k-th smallest sum: the first bin whose cumulative count exceeds k
        a, b = (float(int(np.searchsorted(cum, j, side="right")) + lo) / n_ch for j in (k, k_next))
        diff = b - a
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return out
