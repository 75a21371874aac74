"""Segmentation and measurement of wells, spheroids and spheres (no Qt).

``segment_image(image, mode, ...)`` dispatches to one module per mode. `MODES` is the mode
registry: every other part of the package (CLI choices, batch planning, GUI forms, synthetic
experiments, the pixel classifier) reads its mode facts from there.

========== ===================== ==============================================
mode       module                readout (``measures["readout"]``)
========== ===================== ==============================================
colony     ``segment.colony``     ``area_fraction`` (stained area / well area)
livedead   ``segment.livedead``   ``live_fraction`` = live / (live + dead area)
spheroid   ``segment.spheroid``   ``volume_um3`` (sphere of the equivalent diameter)
spheroid3d ``segment.spheroid3d`` ``volume_um3`` (voxel count x voxel volume)
spheres    ``segment.spheres``    ``sphere_count`` (objects >= ``min_diameter_um``)
========== ===================== ==============================================

Adding a mode
-------------
Write ``segment/<mode>.py`` with a ``segment(image, *, pixel_size_um, voxel_size_um, rgb,
axes, channel_names, **its own keyword parameters) -> SegmentationResult`` function and add
one `ModeSpec` to `MODES`; nothing else names the modes. DEVELOPERS.md has the checklist.

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

The module imports nothing heavy; each mode module is imported on first use
(`ModeSpec.segment`), so the CLI and the widgets can list the modes for free.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import inspect

    import numpy as np

    # The registry names each mode's module as a string, so that listing the modes stays
    # cheap; these imports let "go to definition" and type checkers follow the names.
    from napari_il6assay.segment import (  # noqa: F401
        colony,
        livedead,
        spheres,
        spheroid,
        spheroid3d,
    )
    from napari_il6assay.segment.result import SegmentationResult

#: keywords of a mode's ``segment`` function that `segment_image` / the callers fill in
#: (image, calibration, axes, the classifier's mask): never offered as mode parameters
CALLER_KEYWORDS = (
    "image", "mode", "pixel_size_um", "voxel_size_um", "rgb", "axes", "channel_names",
    "foreground",
)  # fmt: skip


@dataclass(frozen=True)
class ModeSpec:
    """What the package knows about one segmentation mode.

    Parameters
    ----------
    name : str
        The mode's name (``--mode``), also its key in `MODES`.
    module : str
        Dotted path of the module holding the segment function.
    readout : str
        ``readout_name`` of the mode's ``images.csv`` rows (``measures["readout"]``).
    function : str
        Name of the segment function in ``module``: called as ``function(image, *,
        pixel_size_um, voxel_size_um, rgb, axes, channel_names, **params)``.
    multichannel : bool
        The image is built from several channel files of one site (batch planning), and
        needs at least two channels.
    plate_photo : bool
        The mode can measure every well of a photo of a whole plate (``plate_format``).
    is_3d : bool
        The mode takes ZYX(C) stacks and a ``voxel_size_um``; 2D modes take YX(C) planes.
    accepts_classifier : bool
        A pixel classifier (``classifier=``) can replace the mode's foreground step; the
        function then takes a ``foreground`` mask.
    object_choice : bool
        The user says whether the object is dark or bright (``--object``, the batch dock's
        dark/bright choice), which sets ``polarity``; other modes with a ``polarity`` take it
        from ``--polarity`` of ``il6assay segment`` and the segment dock's form only.
    form_functions : tuple of str
        Functions of ``module`` whose keyword parameters (with defaults) are the mode's
        parameters in the GUI form, the first being ``function``; later ones serve a
        function that passes its ``**params`` on (spheroid's ``detect``).
    """

    name: str
    module: str
    readout: str
    function: str = "segment"
    multichannel: bool = False
    plate_photo: bool = False
    is_3d: bool = False
    accepts_classifier: bool = False
    object_choice: bool = False
    form_functions: tuple[str, ...] = ("segment",)

    @property
    def segment(self) -> Callable[..., SegmentationResult]:
        """The mode's segment function (imports its module on first use)."""
        return getattr(importlib.import_module(self.module), self.function)

    @property
    def trainable(self) -> bool:
        """A 2D pixel classifier can be trained for the mode (``il6assay train``)."""
        return not self.is_3d

    def form_callables(self) -> list[Callable[..., Any]]:
        """Return the functions named by `form_functions` (imports the module)."""
        module = importlib.import_module(self.module)
        return [getattr(module, name) for name in self.form_functions]

    def parameters(self) -> list[inspect.Parameter]:
        """Return the mode's own keyword parameters with defaults, in `form_functions` order.

        Without the `CALLER_KEYWORDS` and ``**params``; the first definition of a name wins.
        """
        import inspect

        seen: dict[str, inspect.Parameter] = {}
        for func in self.form_callables():
            for p in inspect.signature(func).parameters.values():
                if p.default is p.empty or p.name in CALLER_KEYWORDS:
                    continue
                seen.setdefault(p.name, p)
        return list(seen.values())

    def takes(self, name: str) -> bool:
        """Whether the mode has a keyword parameter ``name`` (e.g. ``"well"``, ``"haze"``)."""
        return any(p.name == name for p in self.parameters())


#: the mode registry, in the order the CLI and the GUI list them
MODES: dict[str, ModeSpec] = {
    spec.name: spec
    for spec in (
        ModeSpec("colony", "napari_il6assay.segment.colony", "area_fraction",
                 plate_photo=True, accepts_classifier=True),
        ModeSpec("livedead", "napari_il6assay.segment.livedead", "live_fraction",
                 multichannel=True),
        ModeSpec("spheroid", "napari_il6assay.segment.spheroid", "volume_um3",
                 accepts_classifier=True, object_choice=True,
                 form_functions=("segment", "detect")),
        ModeSpec("spheroid3d", "napari_il6assay.segment.spheroid3d", "volume_um3", is_3d=True),
        ModeSpec("spheres", "napari_il6assay.segment.spheres", "sphere_count",
                 accepts_classifier=True),
    )
}  # fmt: skip

#: modes whose foreground step a pixel classifier can replace
CLASSIFIER_MODES = tuple(m for m, spec in MODES.items() if spec.accepts_classifier)

__all__ = ["CLASSIFIER_MODES", "MODES", "ModeSpec", "get_mode", "modes_taking", "segment_file",
           "segment_image"]  # fmt: skip


def get_mode(mode: str) -> ModeSpec:
    """Return the `ModeSpec` of ``mode``.

    Raises
    ------
    SegmentationError
        For a name that is not in `MODES` (the message lists them).
    """
    spec = MODES.get(mode)
    if spec is None:
        from napari_il6assay.errors import SegmentationError

        raise SegmentationError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    return spec


def modes_taking(name: str) -> list[str]:
    """List the modes that have keyword parameter ``name`` (for "applies to ..." messages)."""
    return [m for m, spec in MODES.items() if spec.takes(name)]


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

    spec = get_mode(mode)
    arr = np.asarray(image)
    _check_min_size(arr, mode, params.get("axes"))
    if arr.size == 0:
        raise SegmentationError(f"mode '{mode}': the image is empty (shape {arr.shape})")
    if arr.dtype.kind not in "biuf":
        raise SegmentationError(f"mode '{mode}': unsupported pixel type {arr.dtype}")
    if pixel_size_um is None and voxel_size_um is not None and not spec.is_3d:
        pixel_size_um = float(voxel_size_um[-1])
    classifier = params.pop("classifier", None)
    if classifier is not None:
        params["foreground"] = _classifier_mask(classifier, arr, spec, pixel_size_um)
    result = spec.segment(
        arr, pixel_size_um=pixel_size_um, voxel_size_um=voxel_size_um, rgb=rgb, **params
    )
    from napari_il6assay.segment._util import is_multichannel_2d
    from napari_il6assay.segment.diagnostics import image_diagnostics

    if spec.is_3d:
        channels_last = str(params.get("axes", "")).endswith("C") or arr.ndim == 4
    else:
        channels_last = is_multichannel_2d(arr, rgb)
    for key, value in image_diagnostics(arr, channels_last=channels_last).items():
        result.measures.setdefault(key, value)
    return result


def _classifier_mask(
    classifier: Any, image: np.ndarray, spec: ModeSpec, pixel_size_um: float | None
) -> np.ndarray:
    """Compute the object mask of a pixel classifier (object or path) for ``segment_image``."""
    from napari_il6assay.errors import SegmentationError
    from napari_il6assay.segment import classifier as C

    mode = spec.name
    if not spec.accepts_classifier:
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
    spec = MODES.get(mode)  # an unknown mode is refused by segment_image, naming the file
    if voxel_size_um is None and spec is not None and spec.is_3d:
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
