"""read_image / write_tiff: formats, axes, calibration, lazy reading and damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_il6assay.errors import Il6AssayError, ImageReadError, InputError
from napari_il6assay.io.images import read_image, write_tiff

RNG = np.random.default_rng(1234)


def _u8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _u16(*shape: int) -> np.ndarray:
    return RNG.integers(0, 4096, size=shape, dtype=np.uint16)


# ---- TIFF flavours -------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["lzw", "zlib", "zstd", None])
def test_compressed_tiff_gray(tmp_path: Path, compression: str | None) -> None:
    a = _u16(37, 53)
    p = tmp_path / "gray.tif"
    tifffile.imwrite(p, a, compression=compression)
    img = read_image(p)
    assert img.axes == "YX"
    assert img.rgb is False
    assert img.data.dtype == np.uint16
    np.testing.assert_array_equal(img.data, a)
    assert img.pixel_size_um is None  # no resolution tag
    assert img.voxel_size_um is None


def test_lzw_rgb_tiff(tmp_path: Path) -> None:
    a = _u8(20, 30, 3)
    p = tmp_path / "rgb.tif"
    tifffile.imwrite(p, a, photometric="rgb", compression="lzw")
    img = read_image(p)
    assert (img.axes, img.rgb) == ("YXC", True)
    np.testing.assert_array_equal(img.data, a)


def test_jpeg_compressed_tiff(tmp_path: Path) -> None:
    # smooth image: JPEG is lossy, so compare within a tolerance
    yy, xx = np.mgrid[0:64, 0:64]
    a = np.stack([(yy * 3) % 256, (xx * 3) % 256, ((yy + xx) * 2) % 256], -1).astype(np.uint8)
    p = tmp_path / "jpeg.tif"
    tifffile.imwrite(p, a, photometric="rgb", compression="jpeg")
    img = read_image(p)
    assert (img.axes, img.shape, img.rgb) == ("YXC", (64, 64, 3), True)
    assert np.abs(img.data.astype(int) - a.astype(int)).mean() < 6


def test_rgba_tiff_drops_alpha(tmp_path: Path) -> None:
    a = _u8(10, 12, 4)
    p = tmp_path / "rgba.tif"
    tifffile.imwrite(p, a, photometric="rgb", extrasamples=["unassalpha"])
    img = read_image(p)
    assert (img.axes, img.rgb) == ("YXC", True)
    np.testing.assert_array_equal(img.data, a[..., :3])


def test_ome_tiff_physical_size(tmp_path: Path) -> None:
    a = _u16(2, 5, 24, 32)  # C Z Y X
    p = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        p,
        a,
        ome=True,
        metadata={
            "axes": "CZYX",
            "PhysicalSizeX": 0.65,
            "PhysicalSizeY": 0.65,
            "PhysicalSizeZ": 2.5,
            "Channel": {"Name": ["calcein", "PI"]},
        },
    )
    img = read_image(p)
    assert img.axes == "ZYXC"
    assert img.shape == (5, 24, 32, 2)
    assert img.pixel_size_um == pytest.approx(0.65)
    assert img.z_step_um == pytest.approx(2.5)
    assert img.voxel_size_um == pytest.approx((2.5, 0.65, 0.65))
    assert img.channel_names == ["calcein", "PI"]
    np.testing.assert_array_equal(img.data, np.moveaxis(a, 0, -1))


@pytest.mark.parametrize(("value", "unit", "um"), [(650.0, "nm", 0.65), (0.00065, "mm", 0.65)])
def test_ome_units_converted_to_um(tmp_path: Path, value: float, unit: str, um: float) -> None:
    p = tmp_path / "u.ome.tif"
    tifffile.imwrite(
        p,
        _u8(8, 8),
        ome=True,
        metadata={"axes": "YX", "PhysicalSizeX": value, "PhysicalSizeXUnit": unit},
    )
    assert read_image(p).pixel_size_um == pytest.approx(um)


def test_ome_time_series_singleton_squeezed_and_many_rejected(tmp_path: Path) -> None:
    p1 = tmp_path / "t1.ome.tif"
    tifffile.imwrite(p1, _u8(1, 3, 8, 9), ome=True, metadata={"axes": "TZYX"})
    assert read_image(p1).axes == "ZYX"
    p3 = tmp_path / "t3.ome.tif"
    tifffile.imwrite(p3, _u8(3, 8, 9), ome=True, metadata={"axes": "TYX"})
    with pytest.raises(ImageReadError, match="time series"):
        read_image(p3)


def test_imagej_zstack_spacing(tmp_path: Path) -> None:
    a = _u8(9, 20, 30)
    p = tmp_path / "ij.tif"
    tifffile.imwrite(
        p,
        a,
        imagej=True,
        resolution=(1 / 0.4, 1 / 0.4),
        metadata={"spacing": 3.0, "unit": "micron", "axes": "ZYX"},
    )
    img = read_image(p)
    assert img.axes == "ZYX"
    assert img.z_step_um == pytest.approx(3.0)
    assert img.pixel_size_um == pytest.approx(0.4)
    assert img.voxel_size_um == pytest.approx((3.0, 0.4, 0.4))
    np.testing.assert_array_equal(img.data, a)


def test_imagej_nm_unit_and_channels(tmp_path: Path) -> None:
    a = _u16(4, 2, 16, 18)  # Z C Y X
    p = tmp_path / "ijc.tif"
    tifffile.imwrite(
        p,
        a,
        imagej=True,
        resolution=(1 / 325.0, 1 / 325.0),
        metadata={"spacing": 1500.0, "unit": "nm", "axes": "ZCYX", "Labels": ["live", "dead"] * 4},
    )
    img = read_image(p)
    assert img.axes == "ZYXC"
    assert img.pixel_size_um == pytest.approx(0.325)
    assert img.z_step_um == pytest.approx(1.5)
    np.testing.assert_array_equal(img.data, np.moveaxis(a, 1, -1))


def test_plain_tiff_resolution_tags(tmp_path: Path) -> None:
    p = tmp_path / "cm.tif"
    tifffile.imwrite(p, _u8(8, 8), resolution=(1e4 / 0.65, 1e4 / 0.65), resolutionunit="CENTIMETER")
    assert read_image(p).pixel_size_um == pytest.approx(0.65)
    p = tmp_path / "scan.tif"  # a 600 dpi flatbed scan of a plate
    tifffile.imwrite(p, _u8(8, 8), resolution=(600, 600), resolutionunit="INCH")
    assert read_image(p).pixel_size_um == pytest.approx(25400 / 600)
    p = tmp_path / "dpi72.tif"  # software default: says nothing about the sample
    tifffile.imwrite(p, _u8(8, 8), resolution=(72, 72), resolutionunit="INCH")
    assert read_image(p).pixel_size_um is None


def test_multipage_plain_tiff_is_a_stack(tmp_path: Path) -> None:
    a = _u8(4, 10, 11)
    p = tmp_path / "pages.tif"
    with tifffile.TiffWriter(p) as tw:
        for plane in a:
            tw.write(plane, compression="zlib")
    img = read_image(p)
    assert img.axes == "ZYX"
    assert img.z_step_um is None
    np.testing.assert_array_equal(img.data, a)


# ---- write_tiff round trips ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("arr", "axes"),
    [
        (_u8(20, 30), "YX"),
        (_u16(5, 20, 30), "ZYX"),
        (_u8(20, 30, 3), "YXC"),
        (_u16(20, 30, 2), "YXC"),
        (_u16(4, 20, 30, 3), "ZYXC"),
        (np.arange(600, dtype=np.int32).reshape(20, 30), "YX"),  # labels: OME
        (RNG.integers(0, 50, (3, 20, 30)).astype(np.int32), "ZYX"),
        (RNG.random((20, 30)).astype(np.float32), "YX"),
    ],
)
@pytest.mark.parametrize("compression", [None, "lzw"])
def test_write_tiff_round_trip(
    tmp_path: Path, arr: np.ndarray, axes: str, compression: str | None
) -> None:
    p = tmp_path / "w.tif"
    rgb = axes.endswith("C") and arr.shape[-1] == 3 and arr.dtype == np.uint8
    names = None if rgb or not axes.endswith("C") else [f"c{i}" for i in range(arr.shape[-1])]
    write_tiff(
        p,
        arr,
        axes=axes,
        pixel_size_um=0.325,
        z_step_um=2.0 if "Z" in axes else None,
        compression=compression,
        channel_names=names,
    )
    img = read_image(p)
    assert img.axes == axes
    assert img.rgb is rgb
    assert img.data.dtype == arr.dtype
    np.testing.assert_array_equal(img.data, arr)
    assert img.pixel_size_um == 0.325
    assert img.z_step_um == (2.0 if "Z" in axes else None)
    assert img.channel_names == names


def test_write_tiff_rejects_bad_axes(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="axes"):
        write_tiff(tmp_path / "x.tif", _u8(4, 4), axes="XY")
    with pytest.raises(InputError, match="dimensions"):
        write_tiff(tmp_path / "x.tif", _u8(4, 4, 4), axes="YX")


# ---- PNG / JPEG ----------------------------------------------------------------------------


def test_rgb_png(tmp_path: Path) -> None:
    a = _u8(25, 35, 3)
    p = tmp_path / "plate.png"
    Image.fromarray(a).save(p)
    img = read_image(p)
    assert (img.axes, img.rgb) == ("YXC", True)
    np.testing.assert_array_equal(img.data, a)


def test_rgba_png_to_rgb(tmp_path: Path) -> None:
    a = _u8(25, 35, 4)
    p = tmp_path / "rgba.png"
    Image.fromarray(a, mode="RGBA").save(p)
    img = read_image(p)
    assert img.shape == (25, 35, 3)
    np.testing.assert_array_equal(img.data, a[..., :3])


def test_gray_16bit_png(tmp_path: Path) -> None:
    a = _u16(25, 35)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    img = read_image(p)
    assert img.axes == "YX"
    np.testing.assert_array_equal(img.data, a)


def test_jpeg_photo(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:48, 0:64]
    a = np.stack([yy * 4, xx * 3, (yy + xx) * 2], -1).astype(np.uint8)
    p = tmp_path / "photo.jpg"
    Image.fromarray(a).save(p, quality=95)
    img = read_image(p)
    assert (img.axes, img.shape, img.rgb) == ("YXC", (48, 64, 3), True)
    assert np.abs(img.data.astype(int) - a.astype(int)).mean() < 4


def test_png_dpi_calibration(tmp_path: Path) -> None:
    p = tmp_path / "scan.png"
    Image.fromarray(_u8(8, 8)).save(p, dpi=(1200, 1200))
    assert read_image(p).pixel_size_um == pytest.approx(25400 / 1200, rel=1e-3)


# ---- lazy ----------------------------------------------------------------------------------


def test_lazy_uncompressed_is_memmap(tmp_path: Path) -> None:
    a = _u16(6, 40, 50)
    p = tmp_path / "big.tif"
    write_tiff(p, a, axes="ZYX", pixel_size_um=1.0, z_step_um=4.0)
    img = read_image(p, lazy=True)
    assert isinstance(img.data, np.memmap)
    assert img.voxel_size_um == (4.0, 1.0, 1.0)
    np.testing.assert_array_equal(np.asarray(img.data), a)


def test_lazy_compressed_is_dask(tmp_path: Path) -> None:
    import dask.array as da

    a = _u16(6, 40, 50, 2)
    p = tmp_path / "big_lzw.tif"
    write_tiff(p, a, axes="ZYXC", compression="lzw")
    img = read_image(p, lazy=True)
    assert isinstance(img.data, da.Array)
    assert img.axes == "ZYXC"
    assert img.data.shape == a.shape
    np.testing.assert_array_equal(img.data[2].compute(), a[2])
    np.testing.assert_array_equal(img.data.compute(), a)


# ---- damaged and foreign files -------------------------------------------------------------


def _truncate(src: Path, dst: Path, keep: float) -> Path:
    raw = src.read_bytes()
    dst.write_bytes(raw[: int(len(raw) * keep)])
    return dst


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
@pytest.mark.parametrize("compression", [None, "lzw"])
def test_truncated_tiff(tmp_path: Path, keep: float, compression: str | None) -> None:
    good = tmp_path / "good.tif"
    write_tiff(good, _u16(5, 64, 64), axes="ZYX", z_step_um=1.0, compression=compression)
    bad = _truncate(good, tmp_path / "bad.tif", keep)
    with pytest.raises(ImageReadError) as ei:
        read_image(bad)
    assert "bad.tif" in str(ei.value)
    assert ei.value.location.path == bad


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_png_jpeg(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    Image.fromarray(_u8(64, 64, 3)).save(good)
    bad = _truncate(good, tmp_path / f"bad{suffix}", 0.5)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(bad)


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.tif"
    p.write_text("well,cell_line\nA1,MDA-MB-231\n")
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(p)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(empty)
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "missing.tif")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_errors_are_package_errors() -> None:
    assert issubclass(ImageReadError, Il6AssayError)


def test_multipage_plain_tiff_lazy(tmp_path: Path) -> None:
    a = _u8(4, 10, 11)
    p = tmp_path / "pages.tif"
    with tifffile.TiffWriter(p) as tw:
        for plane in a:
            tw.write(plane)
    img = read_image(p, lazy=True)
    assert img.axes == "ZYX"
    np.testing.assert_array_equal(np.asarray(img.data), a)


def test_big_endian_tiff(tmp_path: Path) -> None:
    a = _u16(12, 14)
    p = tmp_path / "be.tif"
    tifffile.imwrite(p, a, byteorder=">")
    img = read_image(p)
    assert img.data.dtype.isnative
    np.testing.assert_array_equal(img.data, a)


def test_imagej_rgb_stack(tmp_path: Path) -> None:
    a = _u8(3, 16, 18, 3)
    p = tmp_path / "rgbstack.tif"
    tifffile.imwrite(p, a, imagej=True, photometric="rgb", metadata={"axes": "ZYXS"})
    img = read_image(p)
    assert (img.axes, img.rgb) == ("ZYXC", True)
    np.testing.assert_array_equal(img.data, a)


def test_png_pixel_size_from_whole_pixels_per_metre(tmp_path: Path) -> None:
    p = tmp_path / "well.png"
    Image.fromarray(_u8(8, 8)).save(p, dpi=(25400 / 30.0, 25400 / 30.0))  # 30 um pixels
    assert read_image(p).pixel_size_um == 30.0
