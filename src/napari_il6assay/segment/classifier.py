"""A trainable pixel classifier: scribbles in, an object mask out (no Qt, no pickle).

When a lab's images defeat a mode's automatic foreground step, a few strokes of "this is
background" and "this is object" on one image teach a random forest to tell them apart, in
the manner of ilastik's pixel classification and napari-APOC:

- features: `skimage.feature.multiscale_basic_features` (Gaussian-smoothed intensity,
  gradient magnitude and Hessian eigenvalues at ``num_sigma`` scales between ``sigma_min``
  and ``sigma_max``), per channel for RGB and multichannel images. Scales are kept in µm when
  the training images are calibrated, so a classifier applies to images of another pixel size;
- images larger than `WORK_SIDE` pixels are block-averaged to that size first: the scales
  that tell a spheroid or a colony from its background are several pixels wide, and the
  features of a 2048² image would otherwise cost ~10x more for the same mask;
- classes: 1 = background, 2 = object, 3+ = anything else the user wants kept apart from
  the object (dead cells, debris); the object mask is where class 2 is the most probable;
- the classifier: scikit-learn's ``RandomForestClassifier`` with a fixed ``random_state``.
- `scribble_from_truth` paints, from a known truth mask, the 250 + 250 pixels a user of
  "Train & preview" would (background half on the preview's false objects): what the
  accuracy tests train on. Drawn all at random they never touch the background just outside
  an object, and the forest then puts every outline about a pixel too far out.

Files hold no pickle. A ``.npz`` read with ``allow_pickle=False`` stores the training
samples (feature vectors and classes) and the parameters as JSON, with a SHA-256 of the
three; the forest is retrained on load, deterministically, so the same file gives the same
masks everywhere, and a tampered or truncated file is refused (`ClassifierError`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_il6assay.errors import Il6AssayError

#: the largest image side features are computed at (bigger images are block-averaged)
WORK_SIDE = 1024
FORMAT = "napari-il6assay pixel classifier"
FORMAT_VERSION = 1
BACKGROUND, OBJECT = 1, 2
_MAX_SAMPLES = 200_000
_MAX_FEATURES = 1024
#: `PixelClassifier.object_mask` runs the forest on every COARSE_STEP-th pixel first ...
COARSE_STEP = 2
#: ... and exactly wherever a 3 x 3 coarse neighbourhood is not all beyond this margin
COARSE_CONFIDENT = 0.3


class ClassifierError(Il6AssayError):
    """A classifier file that cannot be used (tampered, truncated, pickled, wrong shape)."""


@dataclass
class ClassifierParams:
    """What a classifier was trained on and how its features are computed.

    Parameters
    ----------
    mode : str
        Segmentation mode the classifier serves.
    n_channels : int
        Channels of the images (1 gray, 3 RGB, 2 live/dead...).
    sigma_min, sigma_max : float
        Smallest and largest feature scale, in ``sigma_unit``.
    sigma_unit : {"um", "px"}
        ``um`` when the training images were calibrated.
    num_sigma : int
        Scales between ``sigma_min`` and ``sigma_max`` (log-spaced).
    n_estimators : int
        Trees of the forest.
    random_state : int
        Seed of the forest (retraining on load gives the same forest).
    """

    mode: str
    n_channels: int = 1
    sigma_min: float = 0.5
    sigma_max: float = 24.0
    sigma_unit: str = "px"
    num_sigma: int = 6
    n_estimators: int = 100
    random_state: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, d: Any, path: str | Path | None = None) -> ClassifierParams:
        """Validate and build from `to_json`'s dict (`ClassifierError` on anything odd)."""
        kinds = {"mode": str, "n_channels": int, "sigma_min": float, "sigma_max": float,
                 "sigma_unit": str, "num_sigma": int, "n_estimators": int,
                 "random_state": int}  # fmt: skip
        if not isinstance(d, dict) or set(d) != set(kinds):
            raise ClassifierError(f"{path}: the classifier parameters are not as expected")
        vals: dict[str, Any] = {}
        for k, t in kinds.items():
            v = d[k]
            if t is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, t) or isinstance(v, bool):
                raise ClassifierError(f"{path}: classifier parameter {k!r} has a wrong type")
            vals[k] = v
        p = cls(**vals)
        ok = (
            1 <= p.n_channels <= 8
            and 0 < p.sigma_min <= p.sigma_max < 1e4
            and math.isfinite(p.sigma_max)
            and 1 <= p.num_sigma <= 12
            and 1 <= p.n_estimators <= 1000
            and 0 <= p.random_state < 2**32
            and p.sigma_unit in ("um", "px")
        )
        if not ok:
            raise ClassifierError(f"{path}: classifier parameters out of range: {d}")
        return p


def _as_channels(image: np.ndarray, n_channels: int | None = None) -> np.ndarray:
    """YX or YXC -> float32 YXC (channels last)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] > 8:
        raise ClassifierError(
            f"the pixel classifier needs a 2D image (YX or YXC), got shape {np.shape(image)}"
        )
    if n_channels == 1 and a.shape[-1] in (3, 4):
        # a classifier trained on gray images reads a colour photo by its luminance
        rgb = a[..., :3].astype(np.float32)
        a = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])[..., None]
    if n_channels is not None and a.shape[-1] != n_channels:
        raise ClassifierError(
            f"the classifier was trained on {n_channels}-channel images, this one has {a.shape[-1]}"
        )
    return a.astype(np.float32, copy=False)


def _work_factor(shape: tuple[int, ...]) -> int:
    return max(1, math.ceil(max(shape[:2]) / WORK_SIDE))


def _sigmas_px(
    params: ClassifierParams, pixel_size_um: float | None, f: int
) -> tuple[float, float]:
    lo, hi = params.sigma_min, params.sigma_max
    if params.sigma_unit == "um" and pixel_size_um:
        lo, hi = lo / pixel_size_um, hi / pixel_size_um
    # the scales are defined on the full-resolution image; features are taken at 1/f
    lo, hi = max(lo / f, 0.5), max(hi / f, 0.5)
    return lo, max(hi, lo)


def pixel_features(
    image: np.ndarray, params: ClassifierParams, pixel_size_um: float | None = None
) -> tuple[np.ndarray, int]:
    """Features of every pixel of the (block-averaged) image.

    Parameters
    ----------
    image : ndarray
        YX or YXC.
    params : ClassifierParams
        Feature scales.
    pixel_size_um : float, optional
        Calibration of ``image`` (used when the scales are in µm).

    Returns
    -------
    features : ndarray of float32, shape (H, W, F)
        At the working resolution (the image divided by the factor below).
    factor : int
        Block-averaging factor from the image to the feature grid.
    """
    from skimage.feature import multiscale_basic_features

    from napari_il6assay.segment._util import block_mean

    a = _as_channels(image, params.n_channels)
    f = _work_factor(a.shape)
    work = np.moveaxis(block_mean(np.moveaxis(a, -1, 0), f), 0, -1) if f > 1 else a
    # scale each channel to [0, 1] by robust limits, so exposure differences between images
    # of one kind do not move every intensity feature
    lo = np.percentile(work, 0.5, axis=(0, 1))
    hi = np.percentile(work, 99.5, axis=(0, 1))
    work = (work - lo) / np.where(hi > lo, hi - lo, 1.0)
    smin, smax = _sigmas_px(params, pixel_size_um, f)
    feats = multiscale_basic_features(
        work, intensity=True, edges=True, texture=True, sigma_min=smin, sigma_max=smax,
        num_sigma=params.num_sigma, channel_axis=-1, workers=os.cpu_count(),
    )  # fmt: skip
    feats = feats.astype(np.float32, copy=False)
    if f > 1:
        # per scale: intensity, gradient, two Hessian eigenvalues, in working pixels; in
        # full-resolution units a gradient is 1/f and a curvature 1/f^2 of that, so a
        # classifier trained at one working size applies at another
        kind = np.arange(feats.shape[-1]) % 4
        scale = np.where(kind == 1, 1.0 / f, np.where(kind >= 2, 1.0 / f**2, 1.0))
        feats *= scale.astype(np.float32)
    return feats, f


def scribble_samples(
    image: np.ndarray,
    scribbles: np.ndarray,
    params: ClassifierParams,
    pixel_size_um: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature vectors and classes of the scribbled pixels of one image.

    Parameters
    ----------
    image : ndarray
        YX or YXC.
    scribbles : ndarray of int
        YX labels of the image's shape: 0 not labelled, 1 background, 2 object, 3+ other.
    params, pixel_size_um
        As for `pixel_features`.

    Returns
    -------
    X : ndarray (N, F) float32
    y : ndarray (N,) int16
    """
    s = np.asarray(scribbles)
    if s.shape != np.shape(image)[:2]:
        raise ClassifierError(
            f"scribbles have shape {s.shape}, the image {np.shape(image)[:2]}: they must match"
        )
    if s.dtype.kind not in "biu" or (s < 0).any():
        raise ClassifierError("scribbles must be non-negative integer labels")
    feats, f = pixel_features(image, params, pixel_size_um)
    yy, xx = np.nonzero(s)
    cls = s[yy, xx].astype(np.int16)
    wy = np.minimum(yy // f, feats.shape[0] - 1)
    wx = np.minimum(xx // f, feats.shape[1] - 1)
    return feats[wy, wx], cls


@dataclass
class PixelClassifier:
    """Training samples, parameters and the forest retrained from them.

    Build one with `train`, save it with `save`, read it with `load`.
    """

    params: ClassifierParams
    X: np.ndarray
    y: np.ndarray
    _forest: Any = field(default=None, repr=False)

    @property
    def classes(self) -> list[int]:
        """The classes present in the training samples."""
        return sorted(int(c) for c in np.unique(self.y))

    def forest(self) -> Any:
        """Return the fitted ``RandomForestClassifier`` (trained on first use)."""
        if self._forest is None:
            from sklearn.ensemble import RandomForestClassifier

            rf = RandomForestClassifier(
                n_estimators=self.params.n_estimators,
                random_state=self.params.random_state,
                n_jobs=-1,
                max_features="sqrt",
            )
            rf.fit(self.X, self.y)
            self._forest = rf
        return self._forest

    def _work_probabilities(
        self, image: np.ndarray, pixel_size_um: float | None
    ) -> tuple[np.ndarray, int]:
        feats, f = pixel_features(image, self.params, pixel_size_um)
        h, w, nf = feats.shape
        if nf != self.X.shape[1]:
            raise ClassifierError(
                f"the image gives {nf} features per pixel, the classifier expects {self.X.shape[1]}"
            )
        proba = self.forest().predict_proba(feats.reshape(-1, nf)).astype(np.float32)
        return proba.reshape(h, w, -1), f

    def probabilities(self, image: np.ndarray, pixel_size_um: float | None = None) -> np.ndarray:
        """Per-class probabilities at full resolution, shape (Y, X, n_classes), float32."""
        proba, f = self._work_probabilities(image, pixel_size_um)
        shape = np.shape(image)[:2]
        return np.stack([_upsample(proba[..., k], shape, f) for k in range(proba.shape[-1])], -1)

    def _margin(self, X: np.ndarray) -> np.ndarray:
        """Object probability minus the best other class's, per feature vector."""
        proba = self.forest().predict_proba(X).astype(np.float32)
        k = self.classes.index(OBJECT)
        return proba[:, k] - np.delete(proba, k, axis=1).max(axis=1)

    def _work_margin(
        self, image: np.ndarray, pixel_size_um: float | None
    ) -> tuple[np.ndarray, int]:
        """Evaluate the object margin on the feature grid, coarse to fine.

        The forest is the cost of a prediction (a 1024² grid is a million pixels through
        every tree), and most pixels sit deep inside the object or the background. So the
        forest first runs on every `COARSE_STEP`-th pixel of each axis; a pixel is then
        re-evaluated exactly wherever its coarse neighbourhood (3 x 3 coarse samples) is
        not unanimously confident (all margins above `COARSE_CONFIDENT`, or all below
        its negative), i.e. along every boundary and in every uncertain region. Elsewhere
        it takes its coarse sample's margin. An object can only be missed if it fits
        between coarse samples whose every tree-vote majority is confidently background.
        """
        from scipy import ndimage as ndi

        feats, f = pixel_features(image, self.params, pixel_size_um)
        h, w, nf = feats.shape
        if nf != self.X.shape[1]:
            raise ClassifierError(
                f"the image gives {nf} features per pixel, the classifier expects {self.X.shape[1]}"
            )
        st = COARSE_STEP
        sub = feats[::st, ::st]
        coarse = self._margin(sub.reshape(-1, nf)).reshape(sub.shape[:2])
        hi = ndi.maximum_filter(coarse, size=3, mode="nearest")
        lo = ndi.minimum_filter(coarse, size=3, mode="nearest")
        unsure = (hi >= -COARSE_CONFIDENT) & (lo <= COARSE_CONFIDENT)
        margin = np.repeat(np.repeat(coarse, st, 0), st, 1)[:h, :w]
        redo = np.repeat(np.repeat(unsure, st, 0), st, 1)[:h, :w]
        if redo.any():
            margin[redo] = self._margin(feats[redo])
        return margin, f

    def object_mask(self, image: np.ndarray, pixel_size_um: float | None = None) -> np.ndarray:
        """Boolean YX mask of the pixels whose most probable class is the object (2)."""
        if OBJECT not in self.classes:
            raise ClassifierError("the classifier has no object class (2) in its scribbles")
        # the object wins where its probability beats the best other class: one smooth
        # margin upsampled instead of every class (half the cost at two classes)
        margin, f = self._work_margin(image, pixel_size_um)
        return _upsample(margin, np.shape(image)[:2], f) > 0

    # --- files -------------------------------------------------------------------------
    def _digest(self, params_json: str) -> str:
        h = hashlib.sha256()
        h.update(params_json.encode())
        h.update(np.ascontiguousarray(self.X, dtype="<f4").tobytes())
        h.update(np.ascontiguousarray(self.y, dtype="<i2").tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the classifier as a pickle-free ``.npz`` (see the module docstring)."""
        path = Path(path)
        params_json = json.dumps(self.params.to_json(), sort_keys=True)
        header = {"format": FORMAT, "version": FORMAT_VERSION, "params": self.params.to_json(),
                  "sha256": self._digest(params_json)}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                X=np.ascontiguousarray(self.X, dtype="<f4"),
                y=np.ascontiguousarray(self.y, dtype="<i2"),
                header=np.array(json.dumps(header, sort_keys=True)),
            )
        tmp.replace(path)
        return path


def _upsample(a: np.ndarray, shape: tuple[int, ...], f: int) -> np.ndarray:
    """Bilinear upsampling of a working-grid field to the image's shape (float32)."""
    if f == 1:
        return a.astype(np.float32, copy=False)
    from napari_il6assay.segment._util import upsample_field

    up, _ = upsample_field(a.astype(np.float32), f, (int(shape[0]), int(shape[1])), None)
    return up


def train(
    images: list[np.ndarray],
    scribbles: list[np.ndarray],
    *,
    mode: str,
    pixel_sizes_um: list[float | None] | None = None,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    num_sigma: int = 6,
    n_estimators: int = 100,
    random_state: int = 0,
) -> PixelClassifier:
    """Train a pixel classifier on scribbled images.

    Parameters
    ----------
    images : list of ndarray
        YX or YXC images of one kind (same number of channels).
    scribbles : list of ndarray
        One YX label image per image: 0 unlabelled, 1 background, 2 object, 3+ other.
    mode : str
        The segmentation mode the classifier serves.
    pixel_sizes_um : list of float or None, optional
        Calibration per image. When every image is calibrated the scales are kept in µm.
    sigma_min, sigma_max : float, optional
        Feature scales in pixels of the first image (defaults 0.5 and 24 pixels at the
        working resolution of the first image: from edges to the context of an object's rim).
    num_sigma, n_estimators, random_state
        See `ClassifierParams`.

    Returns
    -------
    PixelClassifier

    Raises
    ------
    ClassifierError
        No images, mismatched shapes, or scribbles without both background (1) and object (2).
    """
    if not images or len(images) != len(scribbles):
        raise ClassifierError("give one scribble image per image (and at least one image)")
    sizes = list(pixel_sizes_um) if pixel_sizes_um is not None else [None] * len(images)
    first = _as_channels(images[0])
    f0 = _work_factor(first.shape)
    # 0.5 working pixel, the finest scale a Gaussian resolves: at 1 pixel every feature is
    # blurred across an object's edge, and a scribble (few background pixels near edges)
    # taught the forest to call the first pixel outside every edge object (+1 px all round:
    # Dice 0.87-0.95 on the hard-case spheres, 0.93-0.98 at 0.5)
    smin = float(sigma_min) if sigma_min is not None else 0.5 * f0
    smax = float(sigma_max) if sigma_max is not None else 24.0 * f0
    unit = "px"
    if all(s is not None and s > 0 for s in sizes):
        unit, smin, smax = "um", smin * float(sizes[0]), smax * float(sizes[0])  # type: ignore[arg-type]
    params = ClassifierParams(mode=mode, n_channels=first.shape[-1], sigma_min=smin,
                              sigma_max=smax, sigma_unit=unit, num_sigma=int(num_sigma),
                              n_estimators=int(n_estimators),
                              random_state=int(random_state))  # fmt: skip
    Xs, ys = [], []
    for img, scr, ps in zip(images, scribbles, sizes, strict=True):
        X, y = scribble_samples(img, scr, params, ps if unit == "um" else None)
        Xs.append(X)
        ys.append(y)
    X = np.concatenate(Xs)
    y = np.concatenate(ys)
    if not {BACKGROUND, OBJECT} <= {int(c) for c in np.unique(y)}:
        raise ClassifierError("the scribbles need both background (1) and object (2) pixels")
    if len(y) > _MAX_SAMPLES:  # a flood-filled "scribble": keep a seeded, class-stratified subset
        rng = np.random.default_rng(random_state)
        keep = np.sort(rng.choice(len(y), _MAX_SAMPLES, replace=False))
        X, y = X[keep], y[keep]
    return PixelClassifier(params=params, X=X, y=y)


def scribble_from_truth(
    image: np.ndarray,
    truth: np.ndarray,
    *,
    mode: str,
    n: int = 250,
    seed: int = 0,
    pixel_size_um: float | None = None,
) -> np.ndarray:
    """Draw the scribble a user of "Train & preview" paints, from a known truth mask.

    A user strokes the inside of objects and the background, looks at the live preview,
    and paints background over what it wrongly shows as object. Pixels drawn uniformly at
    random from the truth almost never fall on the background just outside an object, nor
    on the rare look-alikes (single-cell specks, dust) a user would paint over, so the
    forest is never shown where an object ends and takes the first ring outside it. This
    draws the object pixels and half of the background at random, trains, previews the same
    image, and draws the other half of the background from the preview's false objects (at
    random where there are too few). Used by the accuracy tests and scripts.

    Parameters
    ----------
    image : ndarray
        YX or YXC image the scribble is painted on.
    truth : ndarray of bool
        Its true object mask.
    mode : str
        The mode the preview classifier is trained for.
    n : int
        Pixels per class (background and object): ``2 * n`` truth pixels in all.
    seed : int
        Seed of the random draws.
    pixel_size_um : float, optional
        Calibration of ``image``.

    Returns
    -------
    ndarray of uint8
        0 unlabelled, 1 background, 2 object; exactly ``n`` pixels of each class.
    """
    t = np.asarray(truth, bool)
    if t.shape != np.shape(image)[:2] or min(t.sum(), (~t).sum()) < n:
        raise ClassifierError(
            f"the truth mask must match the image and hold {n} pixels of each class"
        )
    rng = np.random.default_rng(seed)
    s = np.zeros(t.shape, np.uint8)

    def draw(where: np.ndarray, k: int, cls: int) -> int:
        yy, xx = np.nonzero(where & (s == 0))
        k = min(k, len(yy))
        i = rng.choice(len(yy), k, replace=False)
        s[yy[i], xx[i]] = cls
        return k

    first = n // 2
    draw(t, n, OBJECT)
    draw(~t, first, BACKGROUND)
    sizes: list[float | None] | None = [pixel_size_um] if pixel_size_um else None
    preview = train([image], [s], mode=mode, pixel_sizes_um=sizes).object_mask(image, pixel_size_um)
    k = draw(~t & preview, n - first, BACKGROUND)
    draw(~t, n - first - k, BACKGROUND)
    return s


def load(path: str | Path) -> PixelClassifier:
    """Read a classifier written by `PixelClassifier.save`.

    Raises
    ------
    ClassifierError
        Not such a file, a pickle payload, a checksum that does not match (tampered), or
        arrays of the wrong shape or type. The message names the file.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise ClassifierError(f"{path}: classifier file not found")
    try:
        # our own handle: np.load(path) leaves the file open when a truncated zip fails to parse
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
            if set(z.files) != {"X", "y", "header"}:
                raise ClassifierError(f"{path}: not a napari-il6assay classifier file")
            X, y, header_txt = z["X"], z["y"], z["header"]
    except ClassifierError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        # np.load refuses object arrays and raw pickles with allow_pickle=False
        raise ClassifierError(
            f"{path}: cannot be read as a classifier (pickled or corrupt file: {exc})"
        ) from exc
    try:
        header = json.loads(str(header_txt))
    except (TypeError, ValueError) as exc:
        raise ClassifierError(f"{path}: the classifier header is not valid JSON") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ClassifierError(f"{path}: not a napari-il6assay classifier file")
    if header.get("version") != FORMAT_VERSION:
        raise ClassifierError(f"{path}: classifier format version {header.get('version')} "
                              f"is not supported (expected {FORMAT_VERSION})")  # fmt: skip
    params = ClassifierParams.from_json(header.get("params"), path)
    if (
        X.dtype != np.dtype("<f4") or y.dtype != np.dtype("<i2") or X.ndim != 2
        or y.shape != (X.shape[0],) or not 0 < X.shape[1] <= _MAX_FEATURES
        or not 0 < X.shape[0] <= _MAX_SAMPLES or not np.isfinite(X).all() or (y < 1).any()
    ):  # fmt: skip
        raise ClassifierError(f"{path}: the classifier's training samples are malformed")
    clf = PixelClassifier(params=params, X=X, y=y)
    params_json = json.dumps(params.to_json(), sort_keys=True)
    if header.get("sha256") != clf._digest(params_json):
        raise ClassifierError(
            f"{path}: checksum mismatch: the classifier file was changed after it was saved"
        )
    return clf


_CACHE: dict[tuple[str, float, int], PixelClassifier] = {}


def load_cached(path: str | Path) -> PixelClassifier:
    """`load`, once per file version and process (batch workers segment many images)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ClassifierError(f"{p}: classifier file not found") from exc
    key = (str(p.resolve()), st.st_mtime, st.st_size)
    clf = _CACHE.get(key)
    if clf is None:
        clf = load(p)
        _CACHE.clear()  # one classifier per run; do not keep old forests alive
        _CACHE[key] = clf
    return clf


def to_grid(mask: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Put a full-resolution mask on a mode's working grid (block majority), cut to ``shape``."""
    from napari_il6assay.segment._util import block_mean

    m = np.asarray(mask, bool)
    if factor > 1:
        m = block_mean(m.astype(np.float32), factor) > 0.5
    if m.shape[:2] != tuple(shape):
        out = np.zeros(shape, bool)
        h, w = min(shape[0], m.shape[0]), min(shape[1], m.shape[1])
        out[:h, :w] = m[:h, :w]
        m = out
    return m


def main_object(mask: np.ndarray) -> np.ndarray:
    """Pick the spheroid mode's choice among a mask's objects, holes filled.

    The same rule as the automatic mode (`napari_il6assay.segment._util.select_central`):
    large and central wins, and an object lying along the image border (a well-edge region a
    classifier may call "dark object") only when nothing else is there.
    """
    from scipy import ndimage as ndi

    from napari_il6assay.segment._util import select_central

    m = np.asarray(mask, bool)
    min_area = max(16.0, 1e-4 * m.size)
    return ndi.binary_fill_holes(select_central(ndi.binary_opening(m), min_area))
