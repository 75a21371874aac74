"""The npe2 reader: files opened through napari get the right layers, scale and channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_il6assay import _reader
from napari_il6assay._reader import napari_get_reader, read_layers
from napari_il6assay.errors import ImageReadError
from napari_il6assay.io.images import write_tiff

RNG = np.random.default_rng(7)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    out["lzw"] = tmp_path / "gray_lzw.tif"
    tifffile.imwrite(
        out["lzw"], RNG.integers(0, 4000, (40, 50), dtype=np.uint16), compression="lzw"
    )
    out["ome"] = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        out["ome"],
        RNG.integers(0, 255, (2, 40, 50), dtype=np.uint8),
        ome=True,
        metadata={
            "axes": "CYX",
            "PhysicalSizeX": 0.65,
            "PhysicalSizeY": 0.65,
            "Channel": {"Name": ["calcein", "PI"]},
        },
    )
    out["ij"] = tmp_path / "spheroid_ij.tif"
    tifffile.imwrite(
        out["ij"],
        RNG.integers(0, 255, (7, 40, 50), dtype=np.uint8),
        imagej=True,
        resolution=(1 / 1.3, 1 / 1.3),
        metadata={"spacing": 5.0, "unit": "um", "axes": "ZYX"},
    )
    out["png"] = tmp_path / "plate.png"
    Image.fromarray(RNG.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(out["png"])
    return out


def test_get_reader_accepts_ours_only(files: dict[str, Path], tmp_path: Path) -> None:
    assert napari_get_reader(str(files["lzw"])) is read_layers
    assert napari_get_reader([str(files["ome"]), str(files["png"])]) is read_layers
    (tmp_path / "x.csv").write_text("a,b\n")
    assert napari_get_reader(str(tmp_path / "x.csv")) is None
    assert napari_get_reader(str(tmp_path / "missing.tif")) is None
    assert napari_get_reader(str(tmp_path)) is None
    assert napari_get_reader([]) is None


def test_layer_data_without_viewer(files: dict[str, Path]) -> None:
    ((data, kw, kind),) = read_layers(str(files["ome"]))
    assert kind == "image"
    assert data.shape == (40, 50, 2)
    assert kw["channel_axis"] == 2
    assert kw["scale"] == pytest.approx((0.65, 0.65))
    assert kw["name"] == ["cells.ome.tif [calcein]", "cells.ome.tif [PI]"]
    ((data, kw, _),) = read_layers(files["ij"])
    assert kw["scale"] == pytest.approx((5.0, 1.3, 1.3))
    assert "channel_axis" not in kw
    ((data, kw, _),) = read_layers(files["png"])
    assert kw["rgb"] is True and data.shape == (40, 50, 3)


def test_big_files_are_lazy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dask.array as da

    a = np.zeros((6, 128, 128), np.uint8)  # compresses well: small file, big image
    a[:, ::9, ::7] = 200
    plain, packed = tmp_path / "plain.tif", tmp_path / "packed.tif"
    write_tiff(plain, a, axes="ZYX", pixel_size_um=0.5, z_step_um=2.0)
    write_tiff(packed, a, axes="ZYX", pixel_size_um=0.5, z_step_um=2.0, compression="zlib")
    monkeypatch.setattr(_reader, "LAZY_BYTES", a.nbytes - 1)  # decoded size, not file size
    assert packed.stat().st_size < _reader.LAZY_BYTES
    ((data, kw, _),) = read_layers(plain)
    assert isinstance(data, np.memmap)
    ((data, kw, _),) = read_layers(packed)
    assert isinstance(data, da.Array)
    assert kw["scale"] == (2.0, 0.5, 0.5)
    np.testing.assert_array_equal(data.compute(), a)


def test_unreadable_file_raises_package_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 10)
    reader = napari_get_reader(str(bad))
    assert reader is not None
    with pytest.raises(ImageReadError):
        reader(str(bad))


@pytest.mark.gui
def test_open_through_napari(make_napari_viewer, files: dict[str, Path]) -> None:
    viewer = make_napari_viewer(show=False)

    layers = viewer.open(str(files["lzw"]), plugin="napari-il6assay")
    assert len(layers) == 1
    assert layers[0].data.shape == (40, 50)
    assert tuple(layers[0].scale) == (1.0, 1.0)

    layers = viewer.open(str(files["ome"]), plugin="napari-il6assay")
    assert [ly.name for ly in layers] == ["cells.ome.tif [calcein]", "cells.ome.tif [PI]"]
    for ly in layers:
        assert ly.data.shape == (40, 50)
        assert tuple(ly.scale) == pytest.approx((0.65, 0.65))

    layers = viewer.open(str(files["ij"]), plugin="napari-il6assay")
    assert layers[0].data.shape == (7, 40, 50)
    assert tuple(layers[0].scale) == pytest.approx((5.0, 1.3, 1.3))

    layers = viewer.open(str(files["png"]), plugin="napari-il6assay")
    assert layers[0].rgb is True
    assert layers[0].data.shape == (40, 50, 3)
    assert len(viewer.layers) == 5
