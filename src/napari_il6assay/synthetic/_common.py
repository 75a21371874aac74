"""Shared pieces of the generators: the result type, smooth noise, irregular shapes, text.

Everything here is pure numpy/scipy and takes an explicit ``numpy.random.Generator`` so
that a seed fixes every array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_il6assay.errors import InputError

__all__ = ["SyntheticImage"]


@dataclass
class SyntheticImage:
    """One generated image with its exact ground truth.

    Attributes
    ----------
    image : numpy.ndarray
        Pixels as an instrument saves them: ``uint8`` for RGB photos, ``uint16`` otherwise.
    axes : str
        ``"YX"``, ``"YXC"``, ``"ZYX"`` or ``"ZYXC"``; C (RGB samples or channels) is last.
    labels : numpy.ndarray
        ``int32`` truth labels (YX or ZYX), 0 = background, one id per object.
    pixel_size_um : float
        YX pixel size in micrometres.
    z_step_um : float or None
        z spacing of a stack, None for 2D images.
    truth : dict
        The mode's exact readouts (computed from the drawn masks) and extra masks.
    """

    image: np.ndarray
    axes: str
    labels: np.ndarray
    pixel_size_um: float
    z_step_um: float | None = None
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def rgb(self) -> bool:
        """True when the last axis holds the RGB samples of one colour photo."""
        img = self.image
        return self.axes.endswith("C") and img.dtype == np.uint8 and img.shape[-1] == 3


def check_positive(name: str, value: float) -> float:
    """Return ``float(value)`` or raise `InputError` when it is not a finite number > 0."""
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be a positive number, got {value!r}", column=name)
    return v


def check_nonnegative(name: str, value: float) -> float:
    """Return ``float(value)`` or raise `InputError` when it is not a finite number >= 0."""
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise InputError(f"{name} must be >= 0, got {value!r}", column=name)
    return v


def check_fraction(name: str, value: float) -> float:
    """Return ``float(value)`` or raise `InputError` when it is outside [0, 1]."""
    v = float(value)
    if not np.isfinite(v) or not 0.0 <= v <= 1.0:
        raise InputError(f"{name} must be between 0 and 1, got {value!r}", column=name)
    return v


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], scale_px: float) -> np.ndarray:
    """Zero-mean, unit-SD random field whose features are about ``scale_px`` pixels wide.

    Coarse white noise (one value per ``scale_px``) is up-sampled with separable Gaussian
    weights, one small matrix product per axis: far cheaper than filtering full-resolution
    noise with a wide kernel, or than ``ndimage.zoom`` on a 3D stack.
    """
    scale = max(float(scale_px), 1.0)
    coarse_shape = tuple(max(2, int(np.ceil(s / scale)) + 3) for s in shape)
    field = rng.standard_normal(coarse_shape).astype(np.float32)
    mats = []
    for n_fine, n_coarse in zip(shape, coarse_shape, strict=True):
        pos = (np.arange(n_fine, dtype=np.float64) + 0.5) / scale + 1.0
        w = np.exp(-0.5 * ((pos[:, None] - np.arange(n_coarse)[None, :]) / 0.75) ** 2)
        mats.append((w / w.sum(axis=1, keepdims=True)).astype(np.float32))
    if len(shape) == 2:
        field = mats[0] @ field @ mats[1].T
    else:
        for axis, w in enumerate(mats):
            field = np.moveaxis(np.tensordot(w, np.moveaxis(field, axis, 0), axes=(1, 0)), 0, axis)
    sd = float(field.std())
    return ((field - field.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)


def fine_texture(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: float | tuple[float, ...]
) -> np.ndarray:
    """Zero-mean, unit-SD fine-grained texture.

    White noise blurred by ``sigma`` pixels (per axis when a tuple).
    """
    from scipy import ndimage

    t = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    sd = float(t.std())
    return (t - t.mean()) / (sd if sd > 0 else 1.0)


@dataclass(frozen=True)
class RadialShape:
    """A star-shaped outline: ``r(t) = scale * ellipse(t) * (1 + sum a_k cos(k t + p_k))``.

    Attributes
    ----------
    scale : float
        Radius scale in pixels, chosen so the enclosed area is the requested one.
    aspect : float
        Minor/major axis ratio of the base ellipse (1 = circle).
    angle : float
        Orientation of the ellipse (radians).
    amps, phases : numpy.ndarray
        Harmonic amplitudes and phases for k = 2, 3, ... (lobes).
    """

    scale: float
    aspect: float
    angle: float
    amps: np.ndarray
    phases: np.ndarray

    def unit_radius(self, theta: np.ndarray) -> np.ndarray:
        """Outline radius at ``theta`` for ``scale = 1``."""
        t = theta - self.angle
        ell = self.aspect / np.sqrt((self.aspect * np.cos(t)) ** 2 + np.sin(t) ** 2)
        k = np.arange(2, self.amps.size + 2, dtype=np.float64)
        lobes = np.cos(theta[..., None] * k + self.phases) @ self.amps
        return ell * (1.0 + lobes)

    def radius(self, theta: np.ndarray) -> np.ndarray:
        """Outline radius in pixels at ``theta``."""
        return self.scale * self.unit_radius(theta)

    @property
    def max_radius(self) -> float:
        """Largest radius of the outline (pixels)."""
        # The base ellipse never exceeds 1, so this bounds the outline cheaply.
        return float(self.scale * (1.0 + np.abs(self.amps).sum()))


_THETA = np.linspace(0, 2 * np.pi, 96, endpoint=False)


def random_shape(
    rng: np.random.Generator,
    area_px: float,
    *,
    roughness: float = 0.08,
    n_harmonics: int = 5,
    aspect_range: tuple[float, float] = (0.85, 1.0),
) -> RadialShape:
    """Random lobed ellipse whose enclosed area is ``area_px`` (exact in the continuum).

    Parameters
    ----------
    rng : numpy.random.Generator
    area_px : float
        Enclosed area in square pixels.
    roughness : float
        Size of the lobes: SD of the harmonic amplitudes relative to the radius.
    n_harmonics : int
        Number of harmonics k = 2 .. n_harmonics + 1.
    aspect_range : tuple of float
        Range of the base ellipse's minor/major axis ratio.
    """
    k = np.arange(2, n_harmonics + 2)
    amps = rng.normal(0.0, 1.0, n_harmonics) * roughness / k**0.8
    phases = rng.uniform(0, 2 * np.pi, n_harmonics)
    aspect = float(rng.uniform(*aspect_range))
    angle = float(rng.uniform(0, np.pi))
    shape = RadialShape(1.0, aspect, angle, amps, phases)
    th = _THETA
    unit_area = np.pi * float(np.mean(shape.unit_radius(th) ** 2))  # 1/2 integral of r^2
    scale = float(np.sqrt(max(area_px, 0.0) / unit_area))
    return RadialShape(scale, aspect, angle, amps, phases)


def shape_patch(
    shape: RadialShape, cy: float, cx: float, image_shape: tuple[int, int], margin: int = 0
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Rasterise a `RadialShape` centred at (cy, cx) into its bounding patch.

    Returns
    -------
    slices : tuple of slice
        Where the patch sits in the image (clipped to the image).
    inside : numpy.ndarray of bool
        Pixels whose centre lies inside the outline.
    rho : numpy.ndarray of float
        Distance to the centre divided by the outline radius in that direction
        (0 at the centre, 1 on the outline), for radial intensity profiles.
    """
    rmax = shape.max_radius + 1 + margin
    y0, y1 = max(int(np.floor(cy - rmax)), 0), min(int(np.ceil(cy + rmax)) + 1, image_shape[0])
    x0, x1 = max(int(np.floor(cx - rmax)), 0), min(int(np.ceil(cx + rmax)) + 1, image_shape[1])
    if y1 <= y0 or x1 <= x0:
        empty = np.zeros((0, 0))
        return (slice(0, 0), slice(0, 0)), empty.astype(bool), empty
    yy = np.arange(y0, y1, dtype=np.float64)[:, None] - cy
    xx = np.arange(x0, x1, dtype=np.float64)[None, :] - cx
    d = np.hypot(yy, xx)
    rad = shape.radius(np.arctan2(yy, xx))
    rho = d / np.maximum(rad, 1e-6)
    return (slice(y0, y1), slice(x0, x1)), rho <= 1.0, rho


def disk_mask(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    """Boolean disc of radius ``r`` pixels centred at (cy, cx) over a whole image."""
    yy = np.arange(shape[0])[:, None] - cy
    xx = np.arange(shape[1])[None, :] - cx
    return (yy * yy + xx * xx) <= r * r


def round_well(
    rng: np.random.Generator, size: int, radius_fraction: float, jitter: float
) -> tuple[float, float, float, np.ndarray]:
    """Place a round well near the centre of a square image of ``size`` pixels.

    The centre moves by up to ``jitter * size`` in y, then in x (no well sits exactly in the
    middle of a photo).

    Returns
    -------
    cy, cx, radius : float
        Centre and radius in pixels.
    mask : numpy.ndarray of bool
        The well (`disk_mask`).
    """
    cy = size / 2 + rng.uniform(-jitter, jitter) * size
    cx = size / 2 + rng.uniform(-jitter, jitter) * size
    radius = radius_fraction * size
    return cy, cx, radius, disk_mask((size, size), cy, cx, radius)


def to_uint16(x: np.ndarray) -> np.ndarray:
    """Round and clip counts to ``uint16``."""
    return np.clip(np.rint(x), 0, 65535).astype(np.uint16)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round and clip 0..255 values to ``uint8``."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def equivalent_diameter(area: float) -> float:
    """Diameter of the disc of the given area."""
    return float(2.0 * np.sqrt(max(area, 0.0) / np.pi))


def sphere_volume(diameter: float) -> float:
    """Volume of the sphere of the given diameter."""
    return float(np.pi / 6.0 * diameter**3)


# A 5x7 bitmap font for burned-in annotations (scale bars, objective labels). Drawing the
# glyphs ourselves keeps the pixels identical across Pillow versions and fonts.
_GLYPHS = {
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    "u": ["00000", "00000", "10001", "10001", "10001", "10011", "01101"],
    "\u00b5": ["00000", "00000", "10001", "10001", "10011", "11101", "10000"],
    "m": ["00000", "00000", "11010", "10101", "10101", "10101", "10101"],
    "x": ["00000", "00000", "10001", "01010", "00100", "01010", "10001"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    " ": ["00000"] * 7,
}


def text_mask(text: str, scale: int = 2) -> np.ndarray:
    """Boolean raster of ``text`` in the built-in 5x7 font, each font pixel ``scale`` wide."""
    cols = []
    for ch in text:
        glyph = _GLYPHS.get(ch, _GLYPHS[" "])
        g = np.array([[c == "1" for c in row] for row in glyph], dtype=bool)
        cols.append(g)
        cols.append(np.zeros((7, 1), dtype=bool))
    m = np.concatenate(cols, axis=1) if cols else np.zeros((7, 0), dtype=bool)
    return np.kron(m, np.ones((scale, scale), dtype=bool))


def scale_bar_mask(
    shape: tuple[int, int], pixel_size_um: float, *, corner_margin: int | None = None
) -> tuple[np.ndarray, float]:
    """Burn in a scale bar with its length written above it, in the bottom-right corner.

    The length is the largest of 10/20/50/100/200/500/1000/2000 um that spans at most
    a fifth of the image width.

    Returns
    -------
    mask : numpy.ndarray of bool
        Pixels of the bar and its text.
    length_um : float
        The bar's length.
    """
    h, w = shape
    nice = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
    fits = [n for n in nice if n / pixel_size_um <= 0.2 * w]
    length_um = float(fits[-1] if fits else nice[0])
    length_px = max(int(round(length_um / pixel_size_um)), 4)
    thick = max(h // 100, 3)
    margin = corner_margin if corner_margin is not None else max(h // 32, 4)
    mask = np.zeros(shape, dtype=bool)
    y1 = h - margin
    x1 = w - margin
    mask[max(y1 - thick, 0) : y1, max(x1 - length_px, 0) : x1] = True
    label = f"{int(length_um)} \u00b5m"
    scale = max(1, h // 256)
    t = text_mask(label, scale)
    ty1 = y1 - thick - 2 * scale
    ty0 = ty1 - t.shape[0]
    tx0 = x1 - length_px // 2 - t.shape[1] // 2
    if ty0 >= 0 and tx0 >= 0 and tx0 + t.shape[1] <= w:
        mask[ty0:ty1, tx0 : tx0 + t.shape[1]] |= t
    return mask, length_um
