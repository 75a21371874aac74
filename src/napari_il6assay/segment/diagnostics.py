"""Image-level diagnostics that every mode reports, for plate-level consistency checks.

Within one plate, images of one assay share their optics, stain and exposure. The darkest and
brightest pixels are the background on one side and the densest stain or brightest cells on
the other, so they barely move with the dose while the readout (and the median, which follows
the covered area) does. An
image of another assay dropped into the folder, a different exposure, a well photographed out
of focus or half out of frame shifts them far from the plate's other wells; ``batch`` compares
them across the plate (`napari_il6assay.batch.plate_consistency`). They are computed on a
strided subsample (about 512 x 512 samples), so they cost well under 1 % of a segmentation.

Columns (``images.csv``/``wells.csv``): ``image_p1`` and ``image_p99``, the 1st and 99th
percentiles of the pixel values (channels averaged).
"""

from __future__ import annotations

import numpy as np

#: diagnostic columns this module adds to every image's measures
IMAGE_DIAGNOSTICS = ("image_p1", "image_p99")

_TARGET_SAMPLES = 512


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
    sub = arr[tuple(steps)].astype(np.float64, copy=False)
    if channels_last:
        sub = sub.mean(axis=-1)
    p1, p99 = np.percentile(sub, [1.0, 99.0])
    return {"image_p1": float(p1), "image_p99": float(p99)}
