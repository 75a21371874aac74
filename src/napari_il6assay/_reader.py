"""The napari reader: plate images with their calibration as napari layers.

Opens what `napari_il6assay.io.images.read_image` reads (TIFF, OME-TIFF, ImageJ hyperstacks,
PNG, JPEG). Each image becomes one image layer, or one layer per channel for multichannel
images (``channel_axis``); RGB photos stay one RGB layer. ``scale`` is the pixel/voxel size
in micrometres when the file has it. Big files are opened lazily (memory map or dask), so a
several-GB stack is not loaded at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari_il6assay.errors import ImageReadError

PathLike = str | os.PathLike[str]
LayerData = tuple[Any, dict[str, Any], str]

#: images larger than this once decoded are opened lazily
LAZY_BYTES = 256 * 1024**2
_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def _napari_has_units() -> bool:
    """Whether napari's layers take ``units`` (0.6 and later); asked without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(x) for x in version("napari").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (0, 6)


def _ours(path: PathLike) -> bool:
    p = Path(path)
    return p.suffix.lower() in _SUFFIXES and p.is_file()


def napari_get_reader(path: PathLike | Sequence[PathLike]) -> Callable[..., list] | None:
    """Return a reader function for `path` (a file or a list of files), or None.

    Parameters
    ----------
    path : str, path or list of them
        Image files. None is returned unless every one has a suffix this reader handles and
        exists, so napari can try other readers.

    Returns
    -------
    callable or None
        ``reader(path) -> list of (data, kwargs, "image")``.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths or not all(isinstance(p, str | os.PathLike) and _ours(p) for p in paths):
        return None
    return read_layers


def read_layers(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """Layer data tuples for one image file or a list of them.

    Raises
    ------
    ImageReadError
        A file cannot be read (napari shows the message).
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        layers.extend(_layers_of(Path(p)))
    return layers


def _layers_of(path: Path) -> list[LayerData]:
    from napari_il6assay.io.images import decoded_nbytes, read_image

    size = decoded_nbytes(path)
    lazy = max(size or 0, path.stat().st_size) > LAZY_BYTES
    img = read_image(path, lazy=lazy)
    name = path.name
    spatial = img.axes.rstrip("C")  # "YX" or "ZYX"
    kwargs: dict[str, Any] = {"name": name, "metadata": {"path": str(path), "axes": img.axes}}
    if img.pixel_size_um is not None:
        if "Z" in spatial:
            z = img.z_step_um if img.z_step_um is not None else img.pixel_size_um
            kwargs["scale"] = (z, img.pixel_size_um, img.pixel_size_um)
        else:
            kwargs["scale"] = (img.pixel_size_um, img.pixel_size_um)
        if _napari_has_units():
            kwargs["units"] = ("um",) * len(spatial)
        kwargs["metadata"]["pixel_size_um"] = img.pixel_size_um
        kwargs["metadata"]["z_step_um"] = img.z_step_um
    data = img.data
    if img.rgb:
        kwargs["rgb"] = True
        return [(data, kwargs, "image")]
    if img.axes.endswith("C"):
        n = int(data.shape[-1])
        if n == 1:
            data = data[..., 0]
        else:
            names = img.channel_names or [f"ch{i + 1}" for i in range(n)]
            kwargs["channel_axis"] = data.ndim - 1
            kwargs["name"] = [f"{name} [{c}]" for c in names]
            kwargs["blending"] = "additive"
            if n <= 3:
                kwargs["colormap"] = ["green", "magenta", "cyan"][:n] if n > 1 else None
    kwargs["rgb"] = False
    return [(data, kwargs, "image")]


__all__ = ["napari_get_reader", "read_layers", "ImageReadError"]
