"""What one worker process does with one work item: read, segment, measure, draw.

`process_item` runs inside the dask worker. It reads the image files itself (the client
only sends paths), so pixel arrays never travel through the scheduler. It never raises for
a bad image: the failure comes back as ``status="error"`` with the stage and the message, so
one corrupt file cannot stop a plate.

What travels back is small: the measures, the objects table, the QC overlay as PNG bytes, a
thumbnail with the outline for the report, and the label image only when it is to be saved.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_il6assay.batch._outcome import ItemOutcome

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

THUMB_SIZE = 160


def fingerprint(path: str | Path) -> dict[str, Any]:
    """Size, modification time and sha256 of a file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``{"size": int, "mtime_ns": int, "sha256": str}``.
    """
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an RGB(A) uint8 or gray array as PNG."""
    from PIL import Image

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        arr = _to_uint8(arr)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def jpeg_bytes(rgb: np.ndarray, quality: int = 85) -> bytes:
    """Encode an RGB uint8 array as JPEG (thumbnails: a tenth of a PNG of a noisy photo)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float32)
    # the display range from at most ~1 M samples: a 2048^2 image's percentile is the same
    # to the grey level, at a quarter of the sort
    sample = a.ravel()[:: max(1, a.size >> 20)]
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((a - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def display_rgb(data: np.ndarray, axes: str, rgb: bool) -> np.ndarray:
    """Make an RGB uint8 view of an image for thumbnails (stacks: max projection).

    Two-channel fluorescence is shown green (channel 1) and magenta (channel 2).
    """
    a = np.asarray(data)
    if axes.startswith("Z"):
        a = a.max(axis=0)
        axes = axes[1:]
    if axes == "YX":
        g = _to_uint8(a)
        return np.stack([g, g, g], axis=-1)
    # YXC
    if rgb:
        c = a[..., :3]
        return c if c.dtype == np.uint8 else _to_uint8(c)
    chans = [_to_uint8(a[..., i]) for i in range(a.shape[-1])]
    if len(chans) == 1:
        return np.stack([chans[0]] * 3, axis=-1)
    live, dead = chans[0], chans[1]
    return np.stack([dead, live, dead], axis=-1)


def thumbnail(display: np.ndarray, labels: np.ndarray | None, size: int = THUMB_SIZE) -> np.ndarray:
    """Shrink an RGB image to at most ``size`` pixels and draw the object outlines on it.

    The outline is computed at thumbnail scale (labels shrunk by nearest neighbour), so it
    stays one crisp pixel wide instead of vanishing in the downsampling.
    """
    from PIL import Image
    from skimage.segmentation import find_boundaries

    h, w = display.shape[:2]
    scale = min(1.0, size / max(h, w))
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    img = np.asarray(Image.fromarray(display).resize((tw, th), Image.Resampling.BILINEAR))
    img = img.copy()
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim == 3:  # z-stack: outline of the projected mask
            lab = lab.max(axis=0)
        yi = np.minimum((np.arange(th) / scale).astype(int), h - 1)
        xi = np.minimum((np.arange(tw) / scale).astype(int), w - 1)
        small = lab[np.ix_(yi, xi)]
        edge = find_boundaries(small, mode="inner")
        img[edge] = (255, 220, 0)
    return img


def well_thumbnails(
    display: np.ndarray, labels: np.ndarray, wells: list[dict[str, Any]]
) -> dict[str, bytes]:
    """Make a JPEG thumbnail per well of a plate photo, cropped around each well's centre.

    The crop is half the distance to the nearest other well centre on each side, so it
    shows the whole well without its neighbours.
    """
    cy = np.array([float(w.get("well_center_y", np.nan)) for w in wells])
    cx = np.array([float(w.get("well_center_x", np.nan)) for w in wells])
    ok = np.isfinite(cy) & np.isfinite(cx)
    if ok.sum() >= 2:
        d = np.hypot(cy[ok, None] - cy[None, ok], cx[ok, None] - cx[None, ok])
        d[d == 0] = np.inf
        half = max(4.0, float(np.median(d.min(axis=1))) / 2)
    else:
        half = max(display.shape[:2]) / 2
    out: dict[str, bytes] = {}
    h, w = display.shape[:2]
    for well, y, x, good in zip([str(w.get("well")) for w in wells], cy, cx, ok, strict=True):
        if not good:
            continue
        ys = slice(max(0, int(y - half)), min(h, int(y + half) + 1))
        xs = slice(max(0, int(x - half)), min(w, int(x + half) + 1))
        out[well] = jpeg_bytes(thumbnail(display[ys, xs], labels[ys, xs]))
    return out


def read_item(paths: list[str], n_channels: int = 1, n_planes: int = 1) -> Any:
    """Read the file(s) of a work item as one `ImageData`.

    Several files are one plane or channel each, channel-major (see `WorkItem`): planes are
    stacked first (Z), channels last (C).
    """
    from dataclasses import replace

    from napari_il6assay.errors import ImageReadError
    from napari_il6assay.io.images import read_image

    if len(paths) == 1:
        img = read_image(paths[0])
        return replace(img, data=np.asarray(img.data))
    images = [read_image(p) for p in paths]
    for p, img in zip(paths, images, strict=True):
        if img.axes != "YX":
            raise ImageReadError(
                f"expected one gray plane per file to combine {len(paths)} files, "
                f"got axes {img.axes}",
                path=p,
            )
    planes = [np.asarray(img.data) for img in images]
    shapes = {pl.shape for pl in planes}
    if len(shapes) != 1:
        raise ImageReadError(
            f"the files of one site differ in shape: {sorted(shapes)}", path=paths[0]
        )
    arr = np.stack(planes).reshape((n_channels, n_planes, *planes[0].shape))
    first = images[0]
    if n_planes > 1:
        data, axes = np.moveaxis(arr, 0, -1), "ZYXC"  # (Z, Y, X, C)
    else:
        data, axes = np.moveaxis(arr[:, 0], 0, -1), "YXC"
    if n_channels == 1:
        data, axes = data[..., 0], axes[:-1]
    return replace(
        first,
        data=data,
        axes=axes,
        rgb=False,
        channel_names=[Path(p).name for p in paths[::n_planes]] if n_channels > 1 else None,
    )


def _clean_measures(measures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in measures.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
    return out


@dataclass
class WorkerResult(ItemOutcome):
    """What `process_item` sends back for one work item.

    It travels from the worker process by pickle (dask); `napari_il6assay.batch.parts`
    stores its payloads as files and its scalars as the item's `PartRecord`, the JSON form.

    Parameters
    ----------
    id : str
        The work item's id.
    status : str
        ``"ok"`` or ``"error"``.
    inputs : dict
        Path -> `fingerprint` of each input file read.
    seconds : float or None
        Time the worker spent on the item.
    measures : dict
        The image's scalar measures (``readout``, ``n_objects``, ...).
    qc_flag : str
    objects : DataFrame or None
        One row per object.
    overlay_png, thumb_jpg : bytes
        The QC overlay and the report's thumbnail.
    labels : ndarray or None
        The int32 label image, only when it is to be saved.
    pixel_size_um : float or None
    voxel_size_um : list of float or None
    per_well : list of dict or None
        One measures row per well of a whole-plate photo.
    well_thumbs : dict or None
        Well -> JPEG thumbnail of a whole-plate photo.
    stage, error, error_path : str
        Where and why the item failed (``status="error"``).
    """

    id: str
    status: str = "ok"
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float | None = None
    measures: dict[str, Any] = field(default_factory=dict)
    qc_flag: str = ""
    objects: pd.DataFrame | None = None
    overlay_png: bytes = b""
    thumb_jpg: bytes = b""
    labels: np.ndarray | None = None
    pixel_size_um: float | None = None
    voxel_size_um: list[float] | None = None
    per_well: list[dict[str, Any]] | None = None
    well_thumbs: dict[str, bytes] | None = None
    stage: str = ""
    error: str = ""
    error_path: str = ""

    @classmethod
    def failed(cls, item_id: str, stage: str, error: str, error_path: str) -> WorkerResult:
        """Make the result of an item that failed in ``stage``."""
        return cls(id=item_id, status="error", stage=stage, error=error, error_path=error_path)


def process_item(
    item: dict[str, Any],
    mode: str,
    *,
    pixel_size_um: float | None = None,
    voxel_size_um: tuple[float, float, float] | None = None,
    save_labels: bool = False,
    params: dict[str, Any] | None = None,
) -> WorkerResult:
    """Read, segment and measure one work item; never raises for a bad image.

    Parameters
    ----------
    item : dict
        `WorkItem.to_dict()`.
    mode : str
        Segmentation mode.
    pixel_size_um, voxel_size_um : optional
        Calibration given by the user; it wins over the file's metadata.
    save_labels : bool
        Return the label image too.
    params : dict, optional
        Extra keyword arguments of `segment_image`.

    Returns
    -------
    WorkerResult
        ``status`` "ok" with the measures, objects, images; or "error" with the stage, the
        message and the file that failed.
    """
    t0 = time.perf_counter()
    result = WorkerResult(id=item["id"])
    stage = "read"
    current = item["paths"][0]
    try:
        for p in item["paths"]:
            current = p
            result.inputs[p] = fingerprint(p)
        img = read_item(item["paths"], item.get("n_channels", 1), item.get("n_planes", 1))
        current = item["paths"][0]
        stage = "segment"
        seg, px, vox = _segment(img, item, mode, pixel_size_um, voxel_size_um, params)
        stage = "qc"
        _fill(result, img, seg, save_labels)
        result.pixel_size_um = None if px is None else float(px)
        result.voxel_size_um = None if vox is None else [float(v) for v in vox]
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop the plate
        inputs = result.inputs  # the fingerprints read so far (resume compares them)
        result = WorkerResult.failed(item["id"], stage, _error_text(exc), _error_path(exc, current))
        result.inputs = inputs
    result.seconds = time.perf_counter() - t0
    return result


def _segment(
    img: Any,
    item: dict[str, Any],
    mode: str,
    pixel_size_um: float | None,
    voxel_size_um: tuple[float, float, float] | None,
    params: dict[str, Any] | None,
) -> tuple[Any, float | None, tuple[float, float, float] | None]:
    """Segment the image of an item; return the result and the calibration it used."""
    from napari_il6assay.segment import segment_image

    px = pixel_size_um if pixel_size_um is not None else img.pixel_size_um
    vox = voxel_size_um
    if vox is None and img.axes.startswith("Z"):
        vox = img.voxel_size_um
    kwargs = dict(params or {})
    # every mode's segment function takes ``axes`` (the `napari_il6assay.segment.ModeSpec`
    # contract), as `segment_file` passes it
    kwargs.setdefault("axes", img.axes)
    if item.get("plate_format"):
        kwargs["plate_format"] = int(item["plate_format"])
    seg = segment_image(img.data, mode, pixel_size_um=px, voxel_size_um=vox, rgb=img.rgb, **kwargs)
    return seg, px, vox


def _fill(result: WorkerResult, img: Any, seg: Any, save_labels: bool) -> None:
    """Put a segmentation's measures, objects and images into ``result``."""
    from napari_il6assay.segment.qc import png_bytes as overlay_png

    labels = np.asarray(seg.labels)
    disp = display_rgb(img.data, img.axes, img.rgb)
    result.thumb_jpg = jpeg_bytes(thumbnail(disp, labels))
    overlay = seg.overlay
    if overlay is None:  # display size, as `segment.qc.overlay` (labels: --save-labels)
        overlay = thumbnail(disp, labels, size=min(max(disp.shape[:2]), 1024))
    result.overlay_png = overlay_png(np.asarray(overlay))  # fast: level 1, palette
    result.labels = labels.astype(np.int32, copy=False) if save_labels else None
    per_well = seg.per_well
    if per_well is not None and len(per_well):
        # a whole-plate photo: one row and one thumbnail per well found on it
        rows = [_clean_measures(r) for r in per_well.to_dict("records")]
        result.per_well = rows
        result.well_thumbs = well_thumbnails(disp, labels, rows)
    result.measures = _clean_measures(dict(seg.measures))
    result.qc_flag = str(seg.qc_flag or "")
    result.objects = seg.objects


def _error_path(exc: BaseException, current: str) -> str:
    """Return the file an error names (our errors carry a location), else the one being read."""
    loc = getattr(exc, "location", None)
    return str(getattr(loc, "path", None) or current)


def _error_text(exc: BaseException) -> str:
    """``Type: reason``; an unexpected failure keeps the last frame, the one that explains it."""
    text = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}".strip()
    if not hasattr(exc, "location"):
        tb = traceback.extract_tb(exc.__traceback__)
        if tb:
            last = tb[-1]
            text += f" ({Path(last.filename).name}:{last.lineno})"
    return text
