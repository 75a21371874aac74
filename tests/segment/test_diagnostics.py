"""Image diagnostics: the histogram path gives ``np.percentile``'s values to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from napari_il6assay.segment.diagnostics import image_diagnostics


def _reference(arr: np.ndarray, channels_last: bool) -> dict[str, float]:
    """The definition: percentiles of the (strided) float64 channel means."""
    spatial = arr.ndim - (1 if channels_last else 0)
    steps = []
    for ax in range(arr.ndim):
        if spatial - 2 <= ax < spatial:
            steps.append(slice(None, None, max(1, arr.shape[ax] // 512)))
        elif ax < spatial:
            steps.append(slice(None, None, max(1, arr.shape[ax] // 8)))
        else:
            steps.append(slice(None))
    sub = arr[tuple(steps)].astype(np.float64)
    if channels_last:
        sub = sub.mean(axis=-1)
    p1, p99 = np.percentile(sub, [1.0, 99.0])
    return {"image_p1": float(p1), "image_p99": float(p99)}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.uint32, bool])
@pytest.mark.parametrize(
    ("shape", "channels_last"),
    [
        ((37, 53), False),
        ((300, 310, 3), True),
        ((5, 64, 70), False),
        ((1030, 70), False),
        ((4, 40, 50, 2), True),
        ((1, 1), False),
    ],
)
def test_integer_images_equal_np_percentile(dtype, shape, channels_last):
    rng = np.random.default_rng(len(shape) * 7 + shape[0])
    for top in (3, 255, 4095, 70000):
        if dtype is bool:
            arr = rng.random(shape) < 0.3
        else:
            info = np.iinfo(dtype)
            arr = rng.integers(
                max(info.min, -500), min(info.max, top), size=shape, endpoint=True
            ).astype(dtype)
        assert image_diagnostics(arr, channels_last=channels_last) == _reference(arr, channels_last)


def test_float_constant_and_wide_integer_images():
    rng = np.random.default_rng(3)
    f = rng.normal(100, 20, (64, 64, 3)).astype(np.float32)
    assert image_diagnostics(f, channels_last=True) == _reference(f, True)
    wide = rng.integers(0, 2**40, (50, 60)).astype(np.int64)  # sorted, not histogrammed
    assert image_diagnostics(wide, channels_last=False) == _reference(wide, False)
    const = np.full((20, 20, 3), 7, np.uint8)
    assert image_diagnostics(const, channels_last=True) == {"image_p1": 7.0, "image_p99": 7.0}
