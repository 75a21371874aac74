"""Flat-field helpers: smooth background models of uneven illumination.

The object of interest (spheroid, colonies, cells) is excluded from the fit as a
robust outlier, so the background model follows the illumination, not the object.
"""

from __future__ import annotations

import numpy as np


def _poly_terms(yy: np.ndarray, xx: np.ndarray, degree: int) -> np.ndarray:
    cols = [yy**i * xx**j for i in range(degree + 1) for j in range(degree + 1 - i)]
    return np.stack(cols, axis=-1)


def _mode_and_width(v: np.ndarray) -> tuple[float, float]:
    """Mode of the grey-level histogram and the robust width of its peak.

    Unlike the median, the mode stays on the background when a large dark object and
    a shadow together cover a big part of the image.
    """
    lo, hi = np.percentile(v, (0.5, 99.5))
    if hi <= lo:
        return float(np.median(v)), 1e-12
    hist, edges = np.histogram(v, bins=128, range=(lo, hi))
    hist = np.convolve(hist, np.ones(5) / 5, mode="same")
    k = int(np.argmax(hist))
    mode = 0.5 * (edges[k] + edges[k + 1])
    half = hist[k] / 2
    left = k
    while left > 0 and hist[left] > half:
        left -= 1
    right = k
    while right < len(hist) - 1 and hist[right] > half:
        right += 1
    hwhm = 0.5 * (edges[right] - edges[left])
    width = max(hwhm / 1.1774, (edges[1] - edges[0]))
    return float(mode), float(width)


def polynomial_background(
    image: np.ndarray,
    *,
    degree: int = 2,
    n_iter: int = 6,
    k: float = 2.5,
    valid: np.ndarray | None = None,
    max_samples: int = 8000,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Robust polynomial surface fitted to the background of a 2D image.

    Pixels further than ``k`` robust standard deviations from the surface are
    excluded and the fit repeated, so objects darker or brighter than the background
    do not pull the surface.

    Parameters
    ----------
    image : ndarray
        2D float image.
    degree : int
        Total degree of the polynomial in y and x (2 = vignetting/gradient).
    n_iter : int
        Reweighting iterations.
    k : float
        Outlier cut in robust sigmas.
    valid : ndarray of bool, optional
        Pixels allowed in the fit (e.g. inside the well).
    max_samples : int
        The fit uses a regular subsample of at most this many pixels.

    Returns
    -------
    background : ndarray
        The fitted surface, same shape as ``image`` (float32).
    sigma : float
        Robust standard deviation of the residual over background pixels.
    inliers : ndarray of bool
        Background pixels of the final fit.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:64, :64]
    >>> img = 100 + 0.5 * xx
    >>> img[20:40, 20:40] = 10
    >>> bg, sigma, inl = polynomial_background(img.astype(float))
    >>> bool(abs(bg[30, 30] - 115) < 1)
    True
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / max_samples))))
    ys = np.arange(0, h, step)
    xs = np.arange(0, w, step)
    sub = img[np.ix_(ys, xs)].ravel().astype(np.float64)
    yy, xx = np.meshgrid((ys - h / 2) / (h / 2), (xs - w / 2) / (w / 2), indexing="ij")
    A = _poly_terms(yy.ravel(), xx.ravel(), degree)
    ok = np.ones(sub.shape, dtype=bool)
    if valid is not None:
        ok &= np.asarray(valid)[np.ix_(ys, xs)].ravel()
    # start from the pixels near the dominant grey level (the background mode)
    base = sub[ok] if ok.any() else sub
    med, mad = _mode_and_width(base)
    inl = ok & (np.abs(sub - med) < 2.5 * mad)
    if inl.sum() < A.shape[1] * 4:
        inl = ok.copy()
    coef = np.zeros(A.shape[1])
    sigma = mad
    for _ in range(n_iter):
        if inl.sum() < A.shape[1] * 2:
            break
        Ai = A[inl]
        # normal equations: a handful of terms, well conditioned on the [-1, 1] grid
        try:
            coef = np.linalg.solve(Ai.T @ Ai, Ai.T @ sub[inl])
        except np.linalg.LinAlgError:
            coef, *_ = np.linalg.lstsq(Ai, sub[inl], rcond=None)
        res = sub - A @ coef
        new_sigma = 1.4826 * np.median(np.abs(res[inl] - np.median(res[inl]))) + 1e-12
        # the inlier set may shrink freely but not grow into the objects
        sigma = min(new_sigma, 1.25 * sigma) if _ else new_sigma
        new = ok & (np.abs(res) < k * sigma)
        if np.array_equal(new, inl):
            break
        inl = new
    # evaluate the surface on the full grid separably cheap enough at working scale
    fy, fx = np.meshgrid(
        ((np.arange(h) - h / 2) / (h / 2)).astype(np.float32),
        ((np.arange(w) - w / 2) / (w / 2)).astype(np.float32),
        indexing="ij",
        sparse=True,
    )
    bg = np.zeros((h, w), dtype=np.float32)
    idx = 0
    for i in range(degree + 1):
        for j in range(degree + 1 - i):
            bg += np.float32(coef[idx]) * (fy**i * fx**j)
            idx += 1
    res_full = img - bg
    inliers = np.abs(res_full) < k * sigma
    if valid is not None:
        inliers &= valid
    return bg, float(sigma), inliers


def gaussian_background(image: np.ndarray, sigma: float) -> np.ndarray:
    """Large-scale Gaussian background (for images whose objects are small)."""
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(np.asarray(image, dtype=np.float32), sigma, mode="reflect")


def flatten(image: np.ndarray, background: np.ndarray, how: str = "divide") -> np.ndarray:
    """Remove a background model by division (transmitted light) or subtraction.

    Parameters
    ----------
    image, background : ndarray
        Same shape.
    how : {"divide", "subtract"}
        Divide for brightfield/absorbance (illumination multiplies the signal),
        subtract for fluorescence (offset plus additive background).

    Returns
    -------
    ndarray
        float32; ``image / background`` (1 = background) or ``image - background``.
    """
    img = np.asarray(image, dtype=np.float32)
    bg = np.asarray(background, dtype=np.float32)
    if how == "divide":
        return img / np.maximum(bg, 1e-6 * max(float(np.abs(bg).max()), 1e-12))
    if how == "subtract":
        return img - bg
    raise ValueError(f"how must be 'divide' or 'subtract', not {how!r}")


def masked_gaussian_background(image: np.ndarray, exclude: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian background that ignores excluded pixels (normalised convolution).

    Parameters
    ----------
    image : ndarray
        2D image.
    exclude : ndarray of bool
        Foreground pixels left out of the average (cells, colonies).
    sigma : float
        Gaussian sigma in pixels; larger than the objects.

    Returns
    -------
    ndarray
        float32 background; where everything nearby is excluded it is interpolated
        from further away.
    """
    from scipy import ndimage as ndi

    w = (~np.asarray(exclude, bool)).astype(np.float32)
    img = np.asarray(image, dtype=np.float32)
    k = int(sigma // 4)
    if k >= 2:
        # a wide Gaussian is smooth: compute it on k x k block sums, interpolate back
        from napari_il6assay.segment._util import block_mean, upsample_field

        wl = block_mean(w, k)
        il = block_mean(img * w, k)
        bl = masked_gaussian_background(
            np.where(wl > 0, il / np.maximum(wl, 1e-6), 0), wl <= 0.2, sigma / k
        )
        up, _ = upsample_field(bl, k, img.shape, None)
        return up[: img.shape[0], : img.shape[1]].astype(np.float32)
    num = ndi.gaussian_filter(img * w, sigma, mode="reflect")
    den = ndi.gaussian_filter(w, sigma, mode="reflect")
    ok = den > 1e-3
    if ok.all():
        return num / den
    out = np.where(ok, num / np.maximum(den, 1e-3), np.nan).astype(np.float32)
    num2 = ndi.gaussian_filter(img * w, 4 * sigma, mode="reflect")
    den2 = ndi.gaussian_filter(w, 4 * sigma, mode="reflect")
    fill = num2 / np.maximum(den2, 1e-6)
    return np.where(ok, out, fill).astype(np.float32)
