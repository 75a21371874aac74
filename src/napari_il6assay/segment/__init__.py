"""Segmentation and measurement of wells, spheroids and spheres (no Qt).

``segment_image(image, mode, ...)`` dispatches to one module per mode:

========== ===================== ==============================================
mode       module                readout (``measures["readout"]``)
========== ===================== ==============================================
colony     ``segment.colony``     ``area_fraction`` (stained area / well area)
livedead   ``segment.livedead``   ``live_fraction`` = live / (live + dead area)
spheroid   ``segment.spheroid``   ``volume_um3`` (sphere of the equivalent diameter)
spheroid3d ``segment.spheroid3d`` ``volume_um3`` (voxel count x voxel volume)
spheres    ``segment.spheres``    ``sphere_count`` (objects >= ``min_diameter_um``)
========== ===================== ==============================================

Bad input
---------
Input that cannot be segmented at all raises `napari_il6assay.errors.SegmentationError`:
an empty array, a z-stack given to a 2D mode, a 2D plane given to ``spheroid3d``, a
``livedead`` image without at least two channels, an unknown mode. Input that is
well-formed but holds nothing to measure returns an explicit empty result instead:
``qc_flag="constant_image"`` (every pixel equal) or ``"no_object"`` (no spheroid / no
well found), with ``readout`` NaN, ``n_objects`` 0 and an all-zero label image. A
count of zero spheres or colonies in a real well is a measurement, not a failure:
readout 0 and an empty ``qc_flag``.

The module imports nothing heavy; each mode module is imported on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from napari_il6assay.segment.result import SegmentationResult

MODES = ("colony", "livedead", "spheroid", "spheroid3d", "spheres")

__all__ = ["MODES", "segment_image", "segment_file"]


#: smallest Y and X extent segmented: a 1 x 200 strip has no background to threshold against
#: and read as area_fraction 0 (an invented result); anything smaller is refused
MIN_SIDE = 16


def _check_min_size(arr: Any, mode: str, axes: Any) -> None:
    """Raise `SegmentationError` for an image whose Y or X side is below `MIN_SIDE`."""
    from napari_il6assay.errors import SegmentationError

    shape = getattr(arr, "shape", ())
    if isinstance(axes, str) and len(axes) == len(shape) and "Y" in axes and "X" in axes:
        yx = (shape[axes.index("Y")], shape[axes.index("X")])
    elif len(shape) == 2:
        yx = tuple(shape)
    else:
        return
    if 0 < min(yx) < MIN_SIDE:
        raise SegmentationError(
            f"mode '{mode}': image too small to segment ({yx[0]} x {yx[1]} pixels; "
            f"at least {MIN_SIDE} x {MIN_SIDE})"
        )


def segment_image(
    image: np.ndarray,
    mode: str,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: tuple[float, float, float] | None = None,
    rgb: bool | None = None,
    **params: Any,
) -> SegmentationResult:
    """Segment one image and measure its objects.

    Parameters
    ----------
    image : ndarray
        YX or YXC (channels last) for 2D modes; ZYX or ZYXC for ``spheroid3d``.
    mode : str
        One of `MODES`.
    pixel_size_um : float, optional
        YX pixel size; physical columns are in pixels when None (``calibrated`` False).
    voxel_size_um : (z, y, x), optional
        Voxel size for ``spheroid3d`` (its y/x also serve as the pixel size of 2D modes
        when ``pixel_size_um`` is not given).
    rgb : bool, optional
        The last axis holds RGB samples of one colour photo (guessed from a uint8 array
        with 3 or 4 samples when None).
    **params
        Mode parameters, e.g. ``axes="ZYX"``, ``polarity="dark"``, ``min_diameter_um=50``,
        ``plate_format=96``; see each mode module's ``segment`` function.
        ``classifier`` (a `napari_il6assay.segment.classifier.PixelClassifier` or the path
        of its file) replaces the foreground step of the modes in `CLASSIFIER_MODES`: the
        mode keeps its own well finding, object choice or splitting, measurement and checks.

    Returns
    -------
    SegmentationResult

    Raises
    ------
    SegmentationError
        For input no mode can segment (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((128, 128), 200.0)
    >>> yy, xx = np.mgrid[:128, :128]
    >>> img[(yy - 64) ** 2 + (xx - 64) ** 2 < 30 ** 2] = 50.0
    >>> res = segment_image(img, "spheroid", pixel_size_um=2.0)
    >>> res.measures["n_objects"], res.qc_flag
    (1, '')
    """
    import numpy as np

    from napari_il6assay.errors import SegmentationError

    if mode not in MODES:
        raise SegmentationError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    arr = np.asarray(image)
    _check_min_size(arr, mode, params.get("axes"))
    if arr.size == 0:
        raise SegmentationError(f"mode '{mode}': the image is empty (shape {arr.shape})")
    if arr.dtype.kind not in "biuf":
        raise SegmentationError(f"mode '{mode}': unsupported pixel type {arr.dtype}")
    module = importlib.import_module(f"napari_il6assay.segment.{mode}")
    if pixel_size_um is None and voxel_size_um is not None and mode != "spheroid3d":
        pixel_size_um = float(voxel_size_um[-1])
    classifier = params.pop("classifier", None)
    if classifier is not None:
        params["foreground"] = _classifier_mask(classifier, arr, mode, pixel_size_um)
    result = module.segment(
        arr, pixel_size_um=pixel_size_um, voxel_size_um=voxel_size_um, rgb=rgb, **params
    )
    from napari_il6assay.segment._util import is_multichannel_2d
    from napari_il6assay.segment.diagnostics import image_diagnostics

    if mode == "spheroid3d":
        channels_last = str(params.get("axes", "")).endswith("C") or arr.ndim == 4
    else:
        channels_last = is_multichannel_2d(arr, rgb)
    for key, value in image_diagnostics(arr, channels_last=channels_last).items():
        result.measures.setdefault(key, value)
    return result


#: modes whose foreground step a pixel classifier can replace
CLASSIFIER_MODES = ("colony", "spheroid", "spheres")


def _classifier_mask(
    classifier: Any, image: np.ndarray, mode: str, pixel_size_um: float | None
) -> np.ndarray:
    """The object mask of a pixel classifier (object or path) for ``segment_image``."""
    from napari_il6assay.errors import SegmentationError
    from napari_il6assay.segment import classifier as C

    if mode not in CLASSIFIER_MODES:
        raise SegmentationError(
            f"a pixel classifier replaces the foreground of modes {', '.join(CLASSIFIER_MODES)}; "
            f"mode '{mode}' has two stains (live/dead) or a z-stack and keeps its own"
        )
    try:
        clf = classifier if isinstance(classifier, C.PixelClassifier) else C.load_cached(classifier)
        if clf.params.mode != mode:
            raise C.ClassifierError(
                f"the classifier was trained for mode '{clf.params.mode}', not '{mode}'"
            )
        return clf.object_mask(image, pixel_size_um)
    except C.ClassifierError as exc:
        raise SegmentationError(str(exc)) from exc


def segment_file(
    path: str | Path,
    mode: str,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: tuple[float, float, float] | None = None,
    **params: Any,
) -> SegmentationResult:
    """Read an image with `napari_il6assay.io.images.read_image` and segment it.

    Calibration comes from the file's metadata unless ``pixel_size_um`` /
    ``voxel_size_um`` override it. Errors name the file.

    Parameters
    ----------
    path : str or Path
        Image file.
    mode : str
        One of `MODES`.
    pixel_size_um, voxel_size_um : optional
        Calibration overrides.
    **params
        Passed to `segment_image`.

    Returns
    -------
    SegmentationResult
    """
    import numpy as np

    from napari_il6assay.errors import SegmentationError
    from napari_il6assay.io.images import read_image

    img = read_image(path)
    data = np.asarray(img.data)
    axes = img.axes
    if pixel_size_um is None:
        pixel_size_um = img.pixel_size_um
    if voxel_size_um is None and mode == "spheroid3d":
        vs = img.voxel_size_um
        if vs is not None and all(v is not None for v in vs):
            voxel_size_um = tuple(float(v) for v in vs)  # type: ignore[assignment]
        elif pixel_size_um is not None and img.z_step_um is not None:
            voxel_size_um = (float(img.z_step_um), float(pixel_size_um), float(pixel_size_um))
    params.setdefault("axes", axes)
    if img.channel_names and "channel_names" not in params:
        params["channel_names"] = list(img.channel_names)
    try:
        return segment_image(
            data,
            mode,
            pixel_size_um=pixel_size_um,
            voxel_size_um=voxel_size_um,
            rgb=bool(img.rgb),
            **params,
        )
    except SegmentationError as exc:
        if str(path) in str(exc):
            raise
        raise SegmentationError(f"{path}: {exc}") from exc
