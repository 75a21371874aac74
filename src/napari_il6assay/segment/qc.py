"""QC overlays: the segmentation outline drawn on the input image (RGB uint8).

Overlays are for looking at, so they are made at display size (``max_size``, default 1024 px,
by nearest-block subsampling: the full-resolution labels go to ``labels/`` with
``--save-labels``) and encoded for speed: PNG (lossless, so 1-px outlines stay crisp, and the
``qc/*.png`` names stay) at zlib level 1, as a palette image when the overlay is a gray picture
with coloured outlines (1 byte per pixel instead of 3). At 2048^2 the old full-effort RGB PNG
encode was about 60 % of `il6assay segment`'s time per image; level 1 palette PNGs are 5-10x
faster to write and smaller too (JPEG would be faster still but blurs the outlines).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

OUTLINE_COLOR = (255, 255, 0)
EXTRA_COLORS = ((0, 200, 255), (255, 0, 255), (0, 255, 0))


def _display_rgb(image: np.ndarray, rgb: bool) -> np.ndarray:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and not rgb:
        # channels -> false colour: ch0 green, ch1 magenta, ch2 blue
        c = a.shape[-1]
        out = np.zeros(a.shape[:2] + (3,), np.float32)
        cols = [(0, 1, 0), (1, 0, 1), (0, 0.5, 1), (1, 1, 0)]
        for i in range(c):
            ch = a[..., i]
            lo, hi = np.percentile(ch[::8, ::8], (0.5, 99.8))
            chn = np.clip((ch - lo) / (hi - lo + 1e-12), 0, 1)
            out += chn[..., None] * np.asarray(cols[i % 4], np.float32)
        return np.clip(out, 0, 1)
    if a.ndim == 3:
        a = a[..., :3]
    lo, hi = np.percentile(a[::8, ::8], (0.5, 99.8))
    a = np.clip((a - lo) / (hi - lo + 1e-12), 0, 1)
    return a  # gray stays 2-D here: `overlay` makes it RGB after the uint8 conversion


def _boundary(lab: np.ndarray) -> np.ndarray:
    b = np.zeros(lab.shape, bool)
    b[:-1] |= lab[:-1] != lab[1:]
    b[1:] |= lab[:-1] != lab[1:]
    b[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    b[:, 1:] |= lab[:, :-1] != lab[:, 1:]
    return b


def overlay(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    rgb: bool = False,
    max_size: int = 1024,
    extra: Sequence[np.ndarray] = (),
    thickness: int = 1,
) -> np.ndarray:
    """Draw label outlines (yellow) and extra masks' outlines on the image.

    Parameters
    ----------
    image : ndarray
        YX, YXC (channels or RGB) or ZYX(C) (the plane where the labels are largest
        is shown).
    labels : ndarray
        Label image of the same YX (ZYX) shape.
    rgb : bool
        ``image`` is an RGB photo.
    max_size : int
        Larger images are downsampled (nearest block) to about this size.
    extra : sequence of ndarray
        Boolean masks (e.g. the detected well) drawn in other colours.
    thickness : int
        Outline thickness in output pixels.

    Returns
    -------
    ndarray
        ``(H, W, 3)`` uint8.
    """
    img = np.asarray(image)
    lab = np.asarray(labels)
    extra = [np.asarray(e) for e in extra]
    if lab.ndim == 3:
        z = int(np.argmax((lab > 0).sum(axis=(1, 2)))) if lab.any() else lab.shape[0] // 2
        lab = lab[z]
        img = img[z]
        extra = [e[z] if e.ndim == 3 else e for e in extra]
    step = max(1, int(np.ceil(max(lab.shape) / max_size)))
    if step > 1:
        img = img[::step, ::step]
        lab = lab[::step, ::step]
        extra = [e[::step, ::step] for e in extra]
    disp = _display_rgb(img, rgb)
    out = (disp * 255).astype(np.uint8)
    if out.ndim == 2:  # gray: three uint8 copies are cheaper than float RGB arithmetic
        out = np.repeat(out[..., None], 3, axis=-1)
    layers = [(lab, OUTLINE_COLOR)] + [
        (e.astype(np.int32), EXTRA_COLORS[i % len(EXTRA_COLORS)]) for i, e in enumerate(extra)
    ]
    for lb, color in layers:
        b = _boundary(lb)
        if thickness > 1:
            from scipy import ndimage as ndi

            b = ndi.binary_dilation(b, iterations=thickness - 1)
        out[b] = color
    return out


def png_bytes(rgb_image: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode an overlay (RGB uint8) as PNG, fast.

    A gray picture whose only coloured pixels are outline colours (`OUTLINE_COLOR`,
    `EXTRA_COLORS`) is written as a palette PNG: 252 gray levels + the outline colours, one
    byte per pixel; anything else as RGB. zlib level 1: most of the size gain of higher levels
    at a fraction of the time.

    Parameters
    ----------
    rgb_image : ndarray
        ``(H, W, 3)`` uint8.
    compress_level : int
        zlib level 0-9.

    Returns
    -------
    bytes
        The PNG file.
    """
    import io

    from PIL import Image

    a = np.ascontiguousarray(rgb_image)
    img = None
    if a.ndim == 3 and a.shape[-1] == 3 and a.dtype == np.uint8:
        r, g, b = a[..., 0], a[..., 1], a[..., 2]
        gray = (r == g) & (g == b)
        colors = (OUTLINE_COLOR, *EXTRA_COLORS)
        idx = ((r.astype(np.uint16) * 251 + 127) // 255).astype(np.uint8)  # 0..251
        covered = gray.copy()
        if not gray.all():
            for k, col in enumerate(colors):
                m = ~gray & (r == col[0]) & (g == col[1]) & (b == col[2])
                idx[m] = 252 + k
                covered |= m
        if covered.all():
            levels = (np.arange(252) * 255 + 125) // 251
            pal = np.zeros((256, 3), np.uint8)
            pal[:252] = levels[:, None]
            pal[252 : 252 + len(colors)] = colors
            img = Image.fromarray(idx, mode="P")
            img.putpalette(pal.ravel().tolist())
    if img is None:
        img = Image.fromarray(a)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=compress_level)
    return buf.getvalue()


def save_png(rgb_image: np.ndarray, path) -> None:
    """Write an RGB uint8 overlay as PNG with `png_bytes` (fast, palette when it can)."""
    from pathlib import Path

    Path(path).write_bytes(png_bytes(rgb_image))
