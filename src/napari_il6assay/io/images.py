"""Read and write microscope images and plate photos in one canonical form.

`read_image` opens TIFF (plain, LZW/Deflate/JPEG compressed, OME-TIFF, ImageJ hyperstacks),
PNG and JPEG files and returns an `ImageData`: the pixels in a canonical axis order (``YX``,
``YXC``, ``ZYX`` or ``ZYXC``, channels last) with the calibration from the file's metadata in
micrometres. `write_tiff` writes arrays with metadata that `read_image` (and Fiji) read back.

Only numpy and tifffile are imported at module level; PIL and dask are imported when used.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_il6assay.errors import ImageReadError, InputError

__all__ = [
    "ImageData",
    "read_image",
    "write_tiff",
    "decoded_nbytes",
    "DEFAULT_MAX_PIXELS",
    "max_pixels",
    "pixel_limit",
    "CANONICAL_AXES",
    "IMAGE_SUFFIXES",
]

#: The axis orders `read_image` returns.
CANONICAL_AXES = ("YX", "YXC", "ZYX", "ZYXC")
#: File name endings `read_image` reads (lower case).
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")

# Above this many bytes an eager read is refused: it would not fit in memory on a typical
# workstation, and random or damaged headers can claim absurd shapes.
_MAX_EAGER_BYTES = 16 * 1024**3

#: Pixel budget of an eager read (all planes and channels of one file): a 3.9 MB zlib TIFF can
#: announce 61440 x 61440 pixels, and decoding it (then float copies in segmentation) takes
#: tens of GiB. The header is checked before anything is decoded. ``--max-pixels`` or the
#: environment variable `MAX_PIXELS_ENV` raises it (the variable reaches batch workers too).
DEFAULT_MAX_PIXELS = 2**31
MAX_PIXELS_ENV = "IL6ASSAY_MAX_PIXELS"


def max_pixels() -> int:
    """Return the pixel budget: `MAX_PIXELS_ENV` when set to a number >= 1, else the default.

    Returns
    -------
    int
    """
    try:
        v = int(float(os.environ.get(MAX_PIXELS_ENV, "")))
    except (ValueError, OverflowError):
        return DEFAULT_MAX_PIXELS
    return v if v >= 1 else DEFAULT_MAX_PIXELS


@contextlib.contextmanager
def pixel_limit(n: int | None) -> Iterator[None]:
    """Set the pixel budget for the ``with`` block (None: leave it as it is).

    It is kept in the environment so that worker processes started inside the block (the
    local dask cluster of a batch) inherit it.

    Parameters
    ----------
    n : int or None
        Largest number of pixels (Z x Y x X x samples) an eager read accepts.
    """
    if n is None:
        yield
        return
    old = os.environ.get(MAX_PIXELS_ENV)
    os.environ[MAX_PIXELS_ENV] = str(int(n))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(MAX_PIXELS_ENV, None)
        else:
            os.environ[MAX_PIXELS_ENV] = old


def _check_budget(shape: Sequence[int], path: Path, limit: int | None) -> None:
    """Refuse an image whose header announces more pixels than the budget."""
    limit = max_pixels() if limit is None else int(limit)
    n = math.prod(int(v) for v in shape)
    if n > limit:
        dims = " x ".join(str(int(v)) for v in shape)
        raise ImageReadError(
            f"image too large: {dims} = {n:,} pixels, above the limit of {limit:,} "
            "(raise it with --max-pixels N if the machine has the memory)",
            path=path,
        )


# Resolutions that image software writes by default and that say nothing about the sample.
_DEFAULT_DPI = (1.0, 72.0, 96.0)

_UNIT_TO_UM = {
    "pm": 1e-6,
    "å": 1e-4,
    "angstrom": 1e-4,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "nanometre": 1e-3,
    "um": 1.0,
    "µm": 1.0,
    "μm": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
    "m": 1e6,
    "meter": 1e6,
    "in": 25400.0,
    "inch": 25400.0,
}


def unit_to_um(unit: str | None) -> float | None:
    r"""Return micrometres per one `unit`, or None when the unit is not a length (``pixel``).

    Examples
    --------
    >>> unit_to_um("nm")
    0.001
    >>> unit_to_um("\u00B5m")
    1.0
    >>> unit_to_um("pixel") is None
    True
    """
    if unit is None:
        return None
    u = str(unit).strip()
    u = u.replace("\\u00B5", "µ").replace("\\u00b5", "µ")
    return _UNIT_TO_UM.get(u.lower() if u not in ("µm", "μm") else u)


@dataclass
class ImageData:
    """An image in canonical axis order with its calibration.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
        Pixels; the axis order is `axes`. A ``numpy.memmap`` or a dask array when read lazily.
    axes : str
        One of ``"YX"``, ``"YXC"``, ``"ZYX"``, ``"ZYXC"``; C (channels or RGB samples) is last.
    path : Path or None
        The file the image came from.
    pixel_size_um : float or None
        Size of one pixel in Y and X (square pixels assumed), in micrometres.
    z_step_um : float or None
        Distance between z planes of a stack, in micrometres.
    rgb : bool
        True when C holds the red, green and blue samples of one colour photo.
    channel_names : list of str or None
        One name per channel (C axis), when the file names them.
    """

    data: Any
    axes: str
    path: Path | None = None
    pixel_size_um: float | None = None
    z_step_um: float | None = None
    rgb: bool = False
    channel_names: list[str] | None = field(default=None)

    @property
    def voxel_size_um(self) -> tuple[float, float, float] | None:
        """``(z, y, x)`` voxel size in micrometres, or None when the pixel size is unknown.

        None when the pixel size is unknown, or for a z-stack whose z step is unknown. A 2D
        image without a z step gets the pixel size as z (an isotropic voxel).
        """
        if self.pixel_size_um is None:
            return None
        if "Z" in self.axes:
            if self.z_step_um is None:
                return None
            z = self.z_step_um
        else:
            z = self.z_step_um if self.z_step_um is not None else self.pixel_size_um
        return (float(z), float(self.pixel_size_um), float(self.pixel_size_um))

    @property
    def n_channels(self) -> int:
        """Number of channels (RGB samples count as 3), 1 without a C axis."""
        return int(self.data.shape[-1]) if self.axes.endswith("C") else 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of `data`."""
        return tuple(int(s) for s in self.data.shape)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def _kind(path: Path) -> str:
    """``tiff``, ``png`` or ``jpeg`` from the file's first bytes (not from its name)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except IsADirectoryError as exc:
        raise ImageReadError("is a folder, not an image file", path=path) from exc
    except OSError as exc:
        raise ImageReadError(f"cannot open the file ({exc.strerror or exc})", path=path) from exc
    if len(head) == 0:
        raise ImageReadError("the file is empty", path=path)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    raise ImageReadError(
        "not an image this tool reads (expected TIFF, PNG or JPEG content)", path=path
    )


def read_image(path: str | Path, lazy: bool = False, max_pixels: int | None = None) -> ImageData:
    """Read an image file into canonical axes with its calibration.

    Parameters
    ----------
    path : str or Path
        A TIFF (plain, compressed, OME-TIFF, ImageJ hyperstack), PNG or JPEG file. The format
        is recognised from the file's content.
    lazy : bool
        For TIFF: do not load the pixels; return a read-only ``numpy.memmap`` when the data are
        stored uncompressed and contiguous, else a dask array that reads plane by plane.
    max_pixels : int, optional
        Refuse an eager read of more pixels than this (checked from the header, before
        decoding); default `max_pixels()` (2**31 unless raised). Lazy reads have no budget.

    Returns
    -------
    ImageData
        ``axes`` is ``YX``, ``YXC``, ``ZYX`` or ``ZYXC``. Singleton axes (T, Z, C, ...) are
        dropped; a multi-page TIFF without axis metadata is read as a z-stack. RGBA is reduced
        to RGB. Calibration comes from OME ``PhysicalSize*``, ImageJ ``spacing``/``unit`` and
        resolution tags, or plain TIFF resolution tags in cm/inch (screen defaults of 72 and
        96 dpi are ignored).

    Raises
    ------
    ImageReadError
        The file is missing, truncated, not an image, has an unsupported shape (e.g. a time
        series with several time points), or more pixels than ``max_pixels``.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> write_tiff(p, np.zeros((4, 5), np.uint8), axes="YX", pixel_size_um=0.65)
    >>> img = read_image(p)
    >>> img.axes, img.shape, img.pixel_size_um
    ('YX', (4, 5), 0.65)
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError("file not found", path=path)
    kind = _kind(path)
    try:
        if kind == "tiff":
            return _read_tiff(path, lazy, max_pixels)
        return _read_pil(path, max_pixels)
    except InputError:
        raise
    except MemoryError as exc:
        raise ImageReadError("not enough memory to read the image", path=path) from exc
    except _pil_bomb() as exc:
        raise ImageReadError(f"image too large for the PNG/JPEG reader: {exc}", path=path) from exc
    except OverflowError as exc:
        raise ImageReadError("image dimensions out of range (damaged header?)", path=path) from exc
    except Exception as exc:  # decoders raise anything on damaged files: re-raised as ours
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageReadError(
            f"cannot read the {kind.upper()} file (damaged or truncated?): {reason}", path=path
        ) from exc


def _pil_bomb() -> type[Exception]:
    """Return PIL's error for an image over its pixel limit (imported only when needed)."""
    from PIL import Image

    return Image.DecompressionBombError


def decoded_nbytes(path: str | Path) -> int | None:
    """Bytes the pixels of a TIFF take once decoded (from its header; nothing is read).

    Compressed files can be far smaller on disk than in memory, so this, not the file size,
    decides whether to read lazily. None for non-TIFF or unreadable files.
    """
    import tifffile

    try:
        with open(path, "rb") as fh:
            if fh.read(4) not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                return None
        with _TiffWarnings(), tifffile.TiffFile(path) as tif:
            s = tif.series[0]
            return int(math.prod(s.shape)) * np.dtype(s.dtype).itemsize
    except Exception:  # noqa: BLE001 - read_image reports damaged files properly
        return None


def _finite_pos(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


# ---- PNG / JPEG ----------------------------------------------------------------------------


def _read_pil(path: Path, limit: int | None = None) -> ImageData:
    from PIL import Image

    with Image.open(path) as im:
        # the header's size, before decoding (3 samples per pixel for colour)
        _check_budget((im.size[1], im.size[0], len(im.getbands())), path, limit)
        im.load()  # decode now: truncated files fail here, not later
        mode = im.mode
        dpi = im.info.get("dpi")
        if mode in ("1", "L", "I", "F", "I;16", "I;16B", "I;16L"):
            arr = np.asarray(im)
            if mode == "1":
                arr = arr.astype(np.uint8) * 255
            rgb = False
        elif mode in ("LA", "La"):
            arr = np.asarray(im.convert("L"))
            rgb = False
        else:  # RGB, RGBA, P, PA, CMYK, YCbCr, ...: a colour photo
            arr = np.asarray(im.convert("RGB"))
            rgb = True
    if arr.ndim not in (2, 3) or min(arr.shape[:2]) == 0:
        raise ImageReadError(f"unsupported image shape {arr.shape}", path=path)
    pixel = None
    if dpi is not None:
        try:
            d = _finite_pos(dpi[0])
        except (TypeError, IndexError):
            d = None
        if d is not None and round(d, 3) not in _DEFAULT_DPI:
            # PNG stores whole pixels per metre, JPEG whole dots per inch or cm: keep only
            # the digits the file can hold (30 um -> 33333 px/m -> 30.0003 um -> 30.0)
            pixel = float(f"{25400.0 / d:.4g}")
    return ImageData(
        data=np.ascontiguousarray(arr),
        axes="YXC" if rgb else "YX",
        path=path,
        pixel_size_um=_round_um(pixel),
        rgb=rgb,
    )


# ---- TIFF ----------------------------------------------------------------------------------


def _read_tiff(path: Path, lazy: bool, limit: int | None = None) -> ImageData:
    """Read a TIFF (plain, ImageJ or OME) with its calibration; ``lazy`` gives a dask array."""
    import tifffile

    filesize = path.stat().st_size
    open_kw = _tiff_open_kw(path)
    with _TiffWarnings() as warned, tifffile.TiffFile(path, **open_kw) as tif:
        if not tif.series:
            raise ImageReadError("the TIFF holds no image", path=path)
        series = tif.series[0]
        axes = str(series.axes).upper()
        shape = tuple(int(s) for s in series.shape)
        dtype = np.dtype(series.dtype)
        if len(shape) == 0 or any(s == 0 for s in shape) or len(axes) != len(shape):
            raise ImageReadError(f"unsupported image shape {shape}", path=path)
        if dtype.kind not in "biuf":
            raise ImageReadError(f"unsupported pixel type {dtype}", path=path)
        if not lazy:
            _check_budget(shape, path, limit)
        _check_truncated(series, filesize, path)
        _check_tiff_planes(tif, series, shape, warned.messages, filesize, path)
        page = series.keyframe
        photometric = getattr(page, "photometric", None)
        is_rgb_photo = int(photometric) == 2 if photometric is not None else False

        meta = _tiff_calibration(tif, page)
        plan = _plan_axes(axes, shape, is_rgb_photo, path)
        if lazy:
            data = _lazy_tiff(path, series, shape, dtype, open_kw)
        else:
            data = _eager_tiff(series, shape, dtype, filesize, path)

    data = _apply_plan(data, plan)
    if not lazy:
        data = np.ascontiguousarray(data)
        if not data.dtype.isnative:  # big-endian ("MM") files
            data = data.astype(data.dtype.newbyteorder("="))
    names = meta.get("channel_names")
    n_c = int(data.shape[-1]) if plan.out_axes.endswith("C") else 0
    if plan.rgb or not names or len(names) != n_c:
        names = None
    if not plan.out_axes.endswith("C"):
        names = None
    return ImageData(
        data=data,
        axes=plan.out_axes,
        path=path,
        pixel_size_um=_round_um(meta.get("pixel_size_um")),
        z_step_um=_round_um(meta.get("z_step_um")) if "Z" in plan.out_axes else None,
        rgb=plan.rgb,
        channel_names=names,
    )


def _tiff_open_kw(path: Path) -> dict[str, Any]:
    """Return the `tifffile.TiffFile` options that read the file's pages as one stack."""
    import tifffile

    open_kw: dict[str, Any] = {}
    with _TiffWarnings(), tifffile.TiffFile(path) as tif:
        # tifffile writes each page of a plain multi-page file as its own "shaped" series;
        # other software's page stacks come as one generic series: read both as a stack
        # (several equal-shaped series written by tifffile are thus planes of one stack)
        series_list = tif.series
        if (
            len(series_list) > 1
            and tif.is_shaped
            and not (tif.is_ome or tif.is_imagej)
            and len({(tuple(s.shape), str(s.dtype), s.axes) for s in series_list}) == 1
        ):
            open_kw["is_shaped"] = False
    return open_kw


def _check_tiff_planes(
    tif: Any,
    series: Any,
    shape: tuple[int, ...],
    messages: list[str],
    filesize: int,
    path: Path,
) -> None:
    """Refuse a TIFF whose pages lie past its end or that lacks planes its header announces."""
    for msg in messages:
        m = re.search(r"invalid page offset (\d+)", msg)
        if m and int(m.group(1)) >= filesize:
            raise ImageReadError(
                "the TIFF is truncated: a page starts beyond the end of the file", path=path
            )
    ij_meta = tif.imagej_metadata if getattr(tif, "is_imagej", False) else None
    if ij_meta and _finite_pos(ij_meta.get("images")):
        n_planes = math.prod(shape) // max(1, math.prod(series.keyframe.shape))
        if int(ij_meta["images"]) > n_planes and series.kind != "imagej":
            raise ImageReadError(
                f"the ImageJ file announces {int(ij_meta['images'])} planes but holds "
                f"{n_planes} (truncated?)",
                path=path,
            )


def _eager_tiff(
    series: Any, shape: tuple[int, ...], dtype: np.dtype, filesize: int, path: Path
) -> np.ndarray:
    """Read a series into memory, refusing sizes no real file of this size can hold."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > 256 * 1024**2 and nbytes > 5000 * filesize:
        # no codec packs real images this well: a damaged or forged header
        raise ImageReadError(
            f"the header claims {nbytes / 1024**3:.1f} GiB of pixels in a "
            f"{filesize}-byte file (damaged file?)",
            path=path,
        )
    if nbytes > _MAX_EAGER_BYTES:
        raise ImageReadError(
            f"the image needs {nbytes / 1024**3:.1f} GiB in memory; open it lazily", path=path
        )
    data = series.asarray()
    if tuple(data.shape) != shape:
        data = data.reshape(shape)
    return data


class _TiffWarnings(logging.Handler):
    """Collect what tifffile logs while a file is parsed (it logs, not raises, on damage)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> _TiffWarnings:
        logging.getLogger("tifffile").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("tifffile").removeHandler(self)


def _round_um(v: float | None) -> float | None:
    # resolution tags are rationals; 1/(1/0.325) must come back as 0.325
    return None if v is None else float(f"{v:.9g}")


def _check_truncated(series: Any, filesize: int, path: Path) -> None:
    pages = getattr(series, "pages", None) or []
    # checking every page of a huge stack costs time; the first and last pages catch truncation
    sample = [pages[0], pages[-1]] if len(pages) > 2 else list(pages)
    for pg in sample:
        if pg is None:
            continue
        try:
            offsets = pg.dataoffsets
            counts = pg.databytecounts
        except Exception:  # noqa: BLE001 - virtual ImageJ frames have none
            continue
        for off, cnt in zip(offsets, counts, strict=False):
            if off and cnt and off + cnt > filesize:
                raise ImageReadError(
                    "the TIFF is truncated: pixel data end beyond the end of the file", path=path
                )
    try:
        is_contig = series.dataoffset is not None
    except Exception:  # noqa: BLE001
        is_contig = False
    if is_contig:
        need = series.dataoffset + math.prod(series.shape) * np.dtype(series.dtype).itemsize
        if need > filesize:
            raise ImageReadError(
                "the TIFF is truncated: pixel data end beyond the end of the file", path=path
            )


@dataclass
class _AxisPlan:
    squeeze: tuple[int, ...]  # axes (in file order) to index at 0
    order: tuple[int, ...]  # remaining axes (file order positions) in output order
    out_axes: str
    rgb: bool
    drop_alpha: bool


def _plan_axes(axes: str, shape: tuple[int, ...], is_rgb_photo: bool, path: Path) -> _AxisPlan:
    """Map tifffile's axes (e.g. ``TZCYXS``, ``QYX``, ``IYXS``) to canonical ones."""
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(f"unsupported TIFF axes '{axes}' (no Y and X)", path=path)
    squeeze: list[int] = []
    z_pos: list[int] = []
    c_pos: list[int] = []
    s_pos: int | None = None
    for i, (a, n) in enumerate(zip(axes, shape, strict=True)):
        if a in "YX":
            continue
        if n == 1:
            squeeze.append(i)
            continue
        if a == "T":
            raise ImageReadError(
                f"time series with {n} time points are not supported; save one time point",
                path=path,
            )
        if a == "Z":
            z_pos.append(i)
        elif a == "C":
            c_pos.append(i)
        elif a == "S":
            s_pos = i
        elif a in "QIR":
            # plain multi-page TIFFs: pages are planes of a stack
            z_pos.append(i)
        else:
            raise ImageReadError(
                f"unsupported TIFF axis '{a}' of size {n} (axes '{axes}', shape {shape})",
                path=path,
            )
    if len(z_pos) > 1:
        raise ImageReadError(
            f"unsupported TIFF shape {shape} (axes '{axes}'): more than one stack axis",
            path=path,
        )
    rgb = False
    drop_alpha = False
    if s_pos is not None:
        n_s = shape[s_pos]
        if c_pos:
            raise ImageReadError(
                f"unsupported TIFF shape {shape}: both channels and colour samples", path=path
            )
        if n_s in (3, 4) and (is_rgb_photo or n_s == 3):
            rgb = True
            drop_alpha = n_s == 4
        c_pos.append(s_pos)
    if len(c_pos) > 1:
        raise ImageReadError(
            f"unsupported TIFF shape {shape} (axes '{axes}'): more than one channel axis",
            path=path,
        )
    y, x = axes.index("Y"), axes.index("X")
    order = tuple(z_pos) + (y, x) + tuple(c_pos)
    out = ("Z" if z_pos else "") + "YX" + ("C" if c_pos else "")
    return _AxisPlan(tuple(squeeze), order, out, rgb, drop_alpha)


def _apply_plan(data: Any, plan: _AxisPlan) -> Any:
    # index singleton axes away (a view for numpy/memmap/dask), then transpose
    idx = tuple(0 if i in plan.squeeze else slice(None) for i in range(data.ndim))
    data = data[idx]
    kept = [i for i in range(len(idx)) if i not in plan.squeeze]
    perm = tuple(kept.index(i) for i in plan.order)
    if perm != tuple(range(len(perm))):
        data = data.transpose(perm)
    if plan.drop_alpha:
        data = data[..., :3]
    return data


def _lazy_tiff(
    path: Path, series: Any, shape: tuple[int, ...], dtype: np.dtype, open_kw: dict[str, Any]
) -> Any:
    import tifffile

    try:
        if open_kw:
            raise ValueError("page stack")  # pages are separate: no single memory map
        return tifffile.memmap(path, series=0, mode="r")
    except Exception:  # noqa: BLE001 - compressed or non-contiguous: read plane by plane
        pass
    import dask
    import dask.array as da

    page_shape = tuple(int(s) for s in series.keyframe.shape)
    n_pages = math.prod(shape) // max(1, math.prod(page_shape))
    if n_pages <= 1:
        arr = da.from_delayed(
            dask.delayed(_read_tiff_key)(str(path), 0, page_shape, open_kw), page_shape, dtype
        )
        return arr.reshape(shape)
    planes = [
        da.from_delayed(
            dask.delayed(_read_tiff_key)(str(path), i, page_shape, open_kw), page_shape, dtype
        )
        for i in range(n_pages)
    ]
    return da.stack(planes).reshape(shape)


class _OpenTiffs:
    """Open TiffFiles kept per process for plane-by-plane (dask) reads.

    Re-opening a file for every plane re-parses its page chain each time (quadratic in the
    number of pages); one handle per file, with tifffile's lock for threaded reads, avoids it.
    The key holds the modification time, so a rewritten file is opened anew.
    """

    def __init__(self, size: int = 8) -> None:
        import threading

        self.size = size
        self.files: dict[tuple[str, int, tuple[tuple[str, Any], ...]], Any] = {}
        self.lock = threading.Lock()

    def get(self, path: str, open_kw: dict[str, Any]) -> Any:
        import tifffile

        key = (path, os.stat(path).st_mtime_ns, tuple(sorted(open_kw.items())))
        with self.lock:
            tif = self.files.pop(key, None)
            if tif is None:
                tif = tifffile.TiffFile(path, **open_kw)
                tif.filehandle.set_lock(True)
            self.files[key] = tif  # most recently used last
            while len(self.files) > self.size:
                old = self.files.pop(next(iter(self.files)))
                old.close()
            return tif


_OPEN_TIFFS = _OpenTiffs()


def _read_tiff_key(
    path: str, key: int, page_shape: tuple[int, ...], open_kw: dict[str, Any]
) -> np.ndarray:
    try:
        tif = _OPEN_TIFFS.get(path, open_kw)
        with tif.filehandle.lock:
            arr = tif.series[0].asarray(key=key)
    except Exception as exc:  # a damaged plane: re-raised as ours
        raise ImageReadError(f"cannot read plane {key}: {exc}", path=path) from exc
    return np.asarray(arr).reshape(page_shape)


def _tiff_calibration(tif: Any, page: Any) -> dict[str, Any]:
    """Pixel size, z step and channel names from OME, ImageJ or resolution tags."""
    out: dict[str, Any] = {}
    if getattr(tif, "is_ome", False) and tif.ome_metadata:
        try:
            out.update(_ome_calibration(tif.ome_metadata))
        except Exception:  # noqa: BLE001 - malformed XML: fall back to tags
            pass
    ij = tif.imagej_metadata if getattr(tif, "is_imagej", False) else None
    if ij:
        unit_um = unit_to_um(ij.get("unit", "pixel"))
        if unit_um is not None:
            if "z_step_um" not in out:
                sp = _finite_pos(ij.get("spacing"))
                if sp is not None:
                    out["z_step_um"] = sp * unit_um
            if "pixel_size_um" not in out:
                res = _resolution(page)
                if res is not None:
                    out["pixel_size_um"] = unit_um / res
        labels = ij.get("Labels")
        if "channel_names" not in out and isinstance(labels, list | tuple):
            out["channel_names"] = [str(s) for s in labels]
    elif "pixel_size_um" not in out:
        res = _resolution(page)
        unit = _resolution_unit(page)
        if res is not None and unit in ("cm", "inch"):
            if unit == "inch" and round(res, 3) in _DEFAULT_DPI:
                pass
            else:
                out["pixel_size_um"] = (1e4 if unit == "cm" else 25400.0) / res
    return out


def _resolution(page: Any) -> float | None:
    tag = page.tags.get("XResolution") if hasattr(page, "tags") else None
    if tag is None:
        return None
    v = tag.value
    try:
        num, den = (v[0], v[1]) if isinstance(v, tuple | list) else (v, 1)
        r = float(num) / float(den)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return _finite_pos(r)


def _resolution_unit(page: Any) -> str | None:
    tag = page.tags.get("ResolutionUnit") if hasattr(page, "tags") else None
    if tag is None:
        return "inch"  # TIFF default
    try:
        v = int(tag.value)
    except (TypeError, ValueError):
        return None
    return {2: "inch", 3: "cm"}.get(v)


def _ome_calibration(xml: str) -> dict[str, Any]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    pixels = None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Pixels":
            pixels = el
            break
    if pixels is None:
        return {}
    out: dict[str, Any] = {}

    def size(axis: str) -> float | None:
        v = _finite_pos(pixels.get(f"PhysicalSize{axis}"))
        if v is None:
            return None
        f = unit_to_um(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        return None if f is None else v * f

    sx, sy, sz = size("X"), size("Y"), size("Z")
    if sx is not None or sy is not None:
        out["pixel_size_um"] = sx if sx is not None else sy
    if sz is not None:
        out["z_step_um"] = sz
    names = [ch.get("Name") or "" for ch in pixels if ch.tag.rsplit("}", 1)[-1] == "Channel"]
    if names and any(names):
        out["channel_names"] = [n or f"channel {i + 1}" for i, n in enumerate(names)]
    return out


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
_COMPRESSION = {
    None: None,
    "none": None,
    "lzw": "lzw",
    "deflate": "zlib",
    "zlib": "zlib",
    "zstd": "zstd",
    "jpeg": "jpeg",
}


def write_tiff(
    path: str | Path,
    array: Any,
    *,
    axes: str,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
    compression: str | None = None,
    channel_names: Sequence[str] | None = None,
    rgb: bool | None = None,
) -> None:
    """Write an array as a TIFF whose calibration `read_image` and Fiji read back.

    uint8, uint16 and float32 images are written as ImageJ hyperstacks (``spacing``, ``unit``
    and resolution tags); other types (e.g. int32 labels) as OME-TIFF with ``PhysicalSize*``.

    Parameters
    ----------
    path : str or Path
        Output file (``.tif``; parent folders are created).
    array : array_like
        Pixels in the order `axes`.
    axes : str
        ``"YX"``, ``"YXC"``, ``"ZYX"`` or ``"ZYXC"``.
    pixel_size_um, z_step_um : float, optional
        Calibration in micrometres.
    compression : str, optional
        ``"lzw"``, ``"deflate"`` (``"zlib"``), ``"zstd"`` or ``"jpeg"`` (uint8 only); None for
        none.
    channel_names : sequence of str, optional
        One name per channel (ignored for RGB).
    rgb : bool, optional
        Whether C holds RGB samples; by default true for uint8 with 3 channels.

    Raises
    ------
    InputError
        Bad axes, shape or compression.
    """
    arr, axes, comp, rgb = _tiff_array(array, axes, compression, rgb)
    has_c = axes.endswith("C")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {}
    if comp is not None:
        kw["compression"] = comp
    if pixel_size_um is not None:
        px = float(pixel_size_um)
        if not (math.isfinite(px) and px > 0):
            raise InputError(f"pixel_size_um must be positive, not {pixel_size_um}")
    names = list(channel_names) if (channel_names is not None and has_c and not rgb) else None
    write = _write_imagej if arr.dtype in _IMAGEJ_DTYPES else _write_ome
    write(path, _TiffPixels(arr, axes, rgb, pixel_size_um, z_step_um, names), kw)


def _tiff_array(
    array: Any, axes: str, compression: str | None, rgb: bool | None
) -> tuple[np.ndarray, str, str | None, bool]:
    """Check what `write_tiff` got; return the pixels to write, axes, compression and rgb.

    Booleans are written as uint8, float64 as float32; ``rgb`` None becomes true for uint8
    with 3 channels.
    """
    arr = np.asarray(array)
    axes = axes.upper()
    if axes not in CANONICAL_AXES:
        raise InputError(f"axes must be one of {', '.join(CANONICAL_AXES)}, not '{axes}'")
    if arr.ndim != len(axes):
        raise InputError(f"array has {arr.ndim} dimensions but axes '{axes}' has {len(axes)}")
    key = compression.lower() if isinstance(compression, str) else compression
    if key not in _COMPRESSION:
        raise InputError(f"unknown compression '{compression}'")
    comp = _COMPRESSION[key]
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    has_c = axes.endswith("C")
    if rgb is None:
        rgb = bool(has_c and arr.shape[-1] == 3 and arr.dtype == np.uint8)
    if rgb and not (has_c and arr.shape[-1] in (3, 4)):
        raise InputError(f"rgb=True needs 3 or 4 samples on the last axis, shape is {arr.shape}")
    if comp == "jpeg" and arr.dtype != np.uint8:
        raise InputError("JPEG compression needs uint8 pixels")
    return arr, axes, comp, rgb


@dataclass(frozen=True)
class _TiffPixels:
    """What `write_tiff` writes: checked pixels, their axes and calibration (None: unknown)."""

    arr: np.ndarray
    axes: str
    rgb: bool
    pixel_size_um: float | None
    z_step_um: float | None
    names: list[str] | None  # channel names (not for RGB)


def _write_imagej(path: Path, t: _TiffPixels, kw: dict[str, Any]) -> None:
    """Write an ImageJ hyperstack (``spacing``, ``unit`` and resolution tags)."""
    import tifffile

    # ImageJ order is TZCYXS: channels go before YX unless they are RGB samples
    if t.axes.endswith("C") and not t.rgb:
        data = np.moveaxis(t.arr, -1, -3)
        ij_axes = t.axes.replace("YXC", "CYX")
    else:
        data = t.arr
        ij_axes = t.axes.replace("C", "S")
    meta: dict[str, Any] = {"axes": ij_axes}
    if t.pixel_size_um is not None or t.z_step_um is not None:
        meta["unit"] = "um"
    if t.z_step_um is not None:
        meta["spacing"] = float(t.z_step_um)
    if t.names:
        meta["Labels"] = t.names
    if t.pixel_size_um is not None:
        kw["resolution"] = (1.0 / float(t.pixel_size_um), 1.0 / float(t.pixel_size_um))
    tifffile.imwrite(
        path, data, imagej=True, metadata=meta, photometric="rgb" if t.rgb else "minisblack", **kw
    )


def _write_ome(path: Path, t: _TiffPixels, kw: dict[str, Any]) -> None:
    """Write an OME-TIFF with ``PhysicalSize*`` (types ImageJ cannot hold, e.g. int32)."""
    import tifffile

    ome_axes = t.axes.replace("C", "S") if t.rgb else t.axes
    data = t.arr
    if t.axes.endswith("C") and not t.rgb:
        data = np.moveaxis(t.arr, -1, 0)
        ome_axes = "C" + t.axes[:-1]
    meta: dict[str, Any] = {"axes": ome_axes}
    if t.pixel_size_um is not None:
        px = float(t.pixel_size_um)
        meta.update(
            PhysicalSizeX=px, PhysicalSizeXUnit="µm", PhysicalSizeY=px, PhysicalSizeYUnit="µm"
        )
        kw["resolution"] = (1e4 / px, 1e4 / px)
        kw["resolutionunit"] = "CENTIMETER"
    if t.z_step_um is not None:
        meta.update(PhysicalSizeZ=float(t.z_step_um), PhysicalSizeZUnit="µm")
    if t.names:
        meta["Channel"] = {"Name": t.names}
    tifffile.imwrite(
        path, data, ome=True, metadata=meta, photometric="rgb" if t.rgb else "minisblack", **kw
    )
