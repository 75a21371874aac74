"""napari sample-data contributions, and the stored sample_data/ experiment."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_il6assay import _sample_data

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"

# function -> (image ndim incl. channels, rgb, channel_axis)
EXPECT = {
    "colony_well": (3, True, None),
    "livedead_well": (3, False, 2),
    "brightfield_spheroid": (2, False, None),
    "spheroid_stack": (3, False, None),
    "sphere_well": (2, False, None),
    "sphere_experiment": (3, False, None),
}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_sample_functions_return_image_and_truth_labels(name: str) -> None:
    layers = getattr(_sample_data, name)()
    assert len(layers) == 2
    (img, ikw, itype), (lab, lkw, ltype) = layers
    ndim, rgb, channel_axis = EXPECT[name]
    assert itype == "image" and ltype == "labels"
    assert img.ndim == ndim
    assert ikw.get("rgb", False) == rgb
    assert ikw.get("channel_axis") == channel_axis
    spatial = img.shape[:-1] if (rgb or channel_axis is not None) else img.shape
    assert lab.shape == spatial and lab.dtype == np.int32 and lab.max() > 0
    assert len(ikw["scale"]) == lab.ndim and lkw["scale"] == ikw["scale"]
    assert all(s > 0.1 for s in ikw["scale"])  # physical (um), not pixels
    if channel_axis is not None:
        assert isinstance(ikw["name"], list) and len(ikw["name"]) == img.shape[channel_axis]
    assert "truth" in lkw["name"]


def test_sample_data_module_does_not_import_napari() -> None:
    import subprocess

    code = (
        "import sys, napari_il6assay._sample_data as m; m.sphere_well(); "
        "print('napari' in sys.modules, 'qtpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_manifest_names_match_functions() -> None:
    text = (REPO / "src" / "napari_il6assay" / "napari.yaml").read_text()
    for name in EXPECT:
        assert f"napari_il6assay._sample_data:{name}" in text


@pytest.mark.gui
def test_open_sample_in_viewer(make_napari_viewer) -> None:
    viewer = make_napari_viewer(show=False)
    viewer.open_sample("napari-il6assay", "spheroid")
    assert len(viewer.layers) == 2
    img, lab = viewer.layers
    assert img.__class__.__name__ == "Image" and lab.__class__.__name__ == "Labels"
    np.testing.assert_allclose(img.scale, lab.scale)
    assert img.scale[-1] == pytest.approx(2.0)


# --- sample_data/ on disk -----------------------------------------------------------------


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "make_sample_data", REPO / "scripts" / "make_sample_data.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sample_data_folder_is_complete_and_small() -> None:
    files = {p.name for p in SAMPLE.iterdir()}
    for f in ("layout.csv", "truth.csv", "truth.json", "README.md", "acquisition.json"):
        assert f in files
    images = sorted(f for f in files if f.endswith(".png"))
    assert len(images) == 96 and images[0] == "A01.png" and images[-1] == "H12.png"
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 20 * 1024**2
    acq = json.loads((SAMPLE / "acquisition.json").read_text())
    meta = json.loads((SAMPLE / "truth.json").read_text())
    assert acq["pixel_size_um"] == pytest.approx(meta["pixel_size_um"])
    assert f"{acq['pixel_size_um']:g} um per pixel" in (SAMPLE / "README.md").read_text()
    assert meta["fold_resistance"]["MDA-MB-231E vs MDA-MB-231"] == pytest.approx(600)


def test_sample_data_is_what_the_script_generates(tmp_path: Path) -> None:
    from PIL import Image

    from napari_il6assay.synthetic.experiment import make_experiment

    script = _load_script()
    wells = ["A01", "A06", "D09", "G04", "B12", "C12"]
    t = make_experiment(
        tmp_path, mode=script.MODE, seed=script.SEED, image_size=script.IMAGE_SIZE, only_wells=wells
    )
    for w in wells:
        # the same generator and seed; float rounding of another numpy/scipy build may move a
        # pixel that sits on a .5 boundary by one grey level, nothing more
        made = np.asarray(Image.open(tmp_path / f"{w}.png")).astype(int)
        kept = np.asarray(Image.open(SAMPLE / f"{w}.png")).astype(int)
        assert made.shape == kept.shape
        diff = np.abs(made - kept)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-4, (w, diff.max(), (diff > 0).sum())
    assert (tmp_path / "layout.csv").read_bytes() == (SAMPLE / "layout.csv").read_bytes()
    stored = pd.read_csv(SAMPLE / "truth.csv").set_index("well").loc[wells]
    np.testing.assert_allclose(
        stored["readout"], t.wells.set_index("well").loc[wells, "readout"], rtol=1e-6
    )
    assert json.loads((SAMPLE / "acquisition.json").read_text())["pixel_size_um"] == (
        pytest.approx(t.pixel_size_um)
    )


def test_sample_images_carry_their_pixel_size() -> None:
    from napari_il6assay.io.images import read_image

    img = read_image(SAMPLE / "A01.png")
    assert img.rgb and img.axes == "YXC"
    acq = json.loads((SAMPLE / "acquisition.json").read_text())
    if img.pixel_size_um is not None:  # PNG pHYs is rounded to whole pixels per metre
        assert img.pixel_size_um == pytest.approx(acq["pixel_size_um"], rel=1e-3)
