"""Fuzz ``il6assay segment``: odd, tiny, damaged and hostile images and options.

Images are small (at most 48 x 48, a few planes) so that hundreds of cases run in seconds:
strips (1 x 200), constant and NaN images, every pixel type, RGB, two channels, z-stacks,
damaged bytes, folders and missing files, with every mode and odd options (infinite pixel
sizes, a pixel budget of 10, an --out that is a file or under /proc). `fuzz_support` holds
the contract each case is checked against.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from fuzz_support import FUZZ, run_cli
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

_CASE = itertools.count()
MODES = ["colony", "livedead", "spheroid", "spheroid3d", "spheres"]
SIZES = [24, 48, 16, 15, 2, 1]  # hypothesis favours the first: usable sizes first


@st.composite
def image_file(draw: st.DrawFn, tmp: Path) -> Path:
    n = next(_CASE)
    kind = draw(st.sampled_from(["tif"] * 6 + ["png", "bytes", "missing", "folder", "strip"]))
    if kind == "missing":
        return tmp / f"nope{n}.tif"
    if kind == "folder":
        d = tmp / f"dir{n}.tif"
        d.mkdir()
        return d
    if kind == "bytes":
        p = tmp / f"junk{n}.{draw(st.sampled_from(['tif', 'png', 'jpg']))}"
        p.write_bytes(
            draw(st.sampled_from([b"II*\x00", b"\x89PNG\r\n\x1a\n", b""]))
            + draw(st.binary(max_size=200))
        )
        return p
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "strip":
        shape: tuple[int, ...] = draw(st.sampled_from([(1, 200), (200, 1), (3, 64)]))
    else:
        h, w = draw(st.sampled_from(SIZES)), draw(st.sampled_from(SIZES))
        extra = draw(st.sampled_from([(), (), (3,), (2,), ("z",)]))
        shape = (h, w) if not extra else ((3, h, w) if extra == ("z",) else (h, w, *extra))
    content = draw(st.sampled_from(["noise", "constant", "disk", "nan", "extreme"]))
    dtype = draw(st.sampled_from(["uint8", "uint8", "uint16", "float32", "int32"]))
    if kind == "png":
        dtype = "uint8"
        shape = shape if len(shape) == 2 or shape[-1] == 3 else shape[-2:]
    arr = rng.random(shape) * 200
    if content == "constant":
        arr[...] = draw(st.sampled_from([0.0, 7.0, 255.0]))
    elif content == "disk":
        h_, w_ = (shape[0], shape[1]) if len(shape) != 3 or shape[-1] in (2, 3) else shape[1:]
        yy, xx = np.mgrid[:h_, :w_]
        disk = (yy - h_ / 2) ** 2 + (xx - w_ / 2) ** 2 < (min(h_, w_) / 3) ** 2
        arr = np.where(
            np.broadcast_to(
                disk[..., None] if arr.ndim == 3 and shape[-1] in (2, 3) else disk, arr.shape
            ),
            40.0,
            180.0,
        )
    if dtype == "float32" and content in ("nan", "extreme"):
        arr = arr.astype(np.float32)
        arr.flat[:: max(1, arr.size // 5)] = np.nan if content == "nan" else np.inf
    elif content == "extreme":
        arr[...] = np.iinfo(np.dtype(dtype)).max if dtype != "float32" else 3e38
    data = arr.astype(dtype)
    if kind == "png":
        p = tmp / f"img{n}.png"
        Image.fromarray(data).save(p)
        return p
    p = tmp / f"A{(n % 12) + 1:02d}_img{n}.tif"
    kw = {}
    if draw(st.booleans()):
        kw["resolution"] = (draw(st.sampled_from([1e-9, 1.0, 1e9, 2.0])),) * 2
    if data.ndim == 3 and data.shape[-1] == 3 and dtype == "uint8":
        kw["photometric"] = "rgb"
    elif data.ndim == 3:
        kw["photometric"] = "minisblack"
    tifffile.imwrite(p, data, **kw)
    return p


def _argv(draw: st.DrawFn, images: list[Path], out: Path) -> list[str]:
    mode = draw(st.sampled_from(MODES))
    argv = ["segment", *map(str, images), "--mode", mode, "--out", str(out)]
    if draw(st.integers(0, 2)) < 2:  # two cases in three: no odd option
        return argv
    opts = draw(
        st.lists(
            st.sampled_from(
                [
                    ["--pixel-size", "0.65"],
                    ["--pixel-size", "inf"],
                    ["--pixel-size", "nan"],
                    ["--pixel-size", "0"],
                    ["--pixel-size", "-2"],
                    ["--pixel-size", "1e-300"],
                    ["--voxel-size", "2,0.5,0.5"],
                    ["--voxel-size", "inf,1,1"],
                    ["--voxel-size", "1,2"],
                    ["--min-diameter", "50"],
                    ["--min-diameter", "-1"],
                    ["--plate-format", "6"],
                    ["--polarity", "dark"],
                    ["--polarity", "bright"],
                    ["--save-labels"],
                    ["--max-pixels", "10"],
                    ["--max-pixels", "0"],
                    ["--max-pixels", "1e12"],
                ]
            ),
            max_size=3,
        )
    )
    for o in opts:
        argv += o
    return argv


@FUZZ
@given(data=st.data())
def test_fuzz_segment(tmp_path_factory, data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("seg", numbered=True)
    images = [data.draw(image_file(tmp)) for _ in range(data.draw(st.integers(1, 2)))]
    out_kind = (
        "new" if data.draw(st.integers(0, 9)) < 9 else data.draw(st.sampled_from(["file", "proc"]))
    )
    out = {"new": tmp / "out", "file": images[0], "proc": Path("/proc/il6assay/out")}[out_kind]
    argv = _argv(data.draw, images, out)
    code, _, err = run_cli(argv, "segment")
    if code in (0, 1):
        images_csv = pd.read_csv(out / "images.csv")
        errors = pd.read_csv(out / "errors.csv")
        assert len(images_csv) + len(errors) == len(images)
        assert (code == 1) == (len(errors) > 0)
        # a strip is never measured as if it were an image
        strips = [p.name for p in images if p.name.startswith("A") and _is_strip(p)]
        assert not set(strips) & set(images_csv["image"].astype(str))


def _is_strip(p: Path) -> bool:
    """A 2D TIFF with a side below 16 pixels (too small to segment)."""
    with tifffile.TiffFile(p) as tif:
        shape = tif.series[0].shape
    return len(shape) == 2 and min(shape) < 16
