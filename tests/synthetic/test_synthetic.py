"""Synthetic generators: determinism, and truth that agrees with the pixels and the design."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from napari_il6assay.errors import InputError
from napari_il6assay.synthetic import (
    SyntheticImage,
    make_colony_plate,
    make_colony_well,
    make_livedead_well,
    make_sphere_well,
    make_spheroid_2d,
    make_spheroid_3d,
)
from napari_il6assay.synthetic.experiment import MODES, READOUT_TOP, four_pl, make_experiment

# small, fast versions of every generator
GENERATORS = {
    "colony_rgb": lambda seed: make_colony_well(seed, size=160, area_fraction=0.25),
    "colony_gray": lambda seed: make_colony_well(seed, size=160, rgb=False),
    "livedead": lambda seed: make_livedead_well(seed, size=160),
    "spheroid_bf": lambda seed: make_spheroid_2d(seed, size=192, pixel_size_um=5.0),
    "spheroid_fl": lambda seed: make_spheroid_2d(
        seed, kind="fluorescence", size=192, pixel_size_um=5.0
    ),
    "spheroid_rgb": lambda seed: make_spheroid_2d(seed, rgb=True, size=192, pixel_size_um=5.0),
    "spheroid_3d": lambda seed: make_spheroid_3d(
        seed, diameter_um=150, shape=(24, 96, 96), voxel_size_um=(8.0, 2.5, 2.5)
    ),
    "spheres": lambda seed: make_sphere_well(seed, n_spheres=10, size=384),
    "plate": lambda seed: make_colony_plate(seed, plate_format=6, width_px=300),
}

AXES_DTYPE = {
    "colony_rgb": ("YXC", np.uint8),
    "colony_gray": ("YX", np.uint8),
    "livedead": ("YXC", np.uint16),
    "spheroid_bf": ("YX", np.uint16),
    "spheroid_fl": ("YX", np.uint16),
    "spheroid_rgb": ("YXC", np.uint8),
    "spheroid_3d": ("ZYX", np.uint16),
    "spheres": ("YX", np.uint16),
    "plate": ("YXC", np.uint8),
}


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def pair(request):
    """(name, image with seed 1, again with seed 1, with seed 2)."""
    gen = GENERATORS[request.param]
    return request.param, gen(1), gen(1), gen(2)


def test_same_seed_identical_other_seed_different(pair) -> None:
    name, a, b, c = pair
    assert isinstance(a, SyntheticImage)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.labels, c.labels)


def test_axes_dtype_and_label_shape(pair) -> None:
    name, a, _, _ = pair
    axes, dtype = AXES_DTYPE[name]
    assert a.axes == axes
    assert a.image.dtype == dtype
    assert a.image.ndim == len(axes)
    spatial = a.image.shape[:-1] if axes.endswith("C") else a.image.shape
    assert a.labels.shape == spatial
    assert a.labels.dtype == np.int32
    assert a.labels.min() == 0 and a.labels.max() > 0
    assert a.pixel_size_um > 0
    assert (a.z_step_um is not None) == axes.startswith("Z")


def _gray(img: np.ndarray) -> np.ndarray:
    return img.astype(float).mean(axis=-1) if img.ndim == 3 else img.astype(float)


@pytest.mark.parametrize("af", [0.0, 0.05, 0.3, 0.6])
def test_colony_truth_matches_masks_and_pixels(af: float) -> None:
    s = make_colony_well(3, area_fraction=af, size=200)
    well = s.truth["well_mask"]
    stained = s.labels > 0
    assert not (stained & ~well).any()
    assert s.truth["area_fraction"] == pytest.approx(stained.sum() / well.sum(), abs=0)
    assert s.truth["area_fraction"] == pytest.approx(af, abs=0.01)
    assert s.truth["colony_count"] == len(np.unique(s.labels)) - 1
    iw = s.truth["intensity_weighted_area_fraction"]
    assert 0.25 * af - 1e-12 <= iw <= af + 1e-12
    if af == 0:
        assert s.truth["colony_count"] == 0
        return
    g = _gray(s.image)
    colony = g[stained].mean()
    bottom = g[well & ~stained].mean()
    assert colony < bottom - 40  # stained pixels are clearly darker
    rgb = s.image[stained].astype(float).mean(axis=0)
    assert rgb[2] > rgb[0] + 20 and rgb[2] > rgb[1] + 20  # crystal violet is blue-violet
    outside = g[~well].mean()
    assert outside < bottom  # plastic and wall around the well are darker than its bottom


def test_colony_touching_colonies_keep_separate_ids() -> None:
    from scipy import ndimage

    s = make_colony_well(0, area_fraction=0.5, size=256)
    n_components = ndimage.label(s.labels > 0)[1]
    assert s.truth["colony_count"] > n_components  # some colonies touch


def test_colony_plate_per_well_truth() -> None:
    afs = {"A01": 0.1, "A02": 0.4, "B03": 0.25}
    s = make_colony_plate(2, plate_format=6, area_fractions=afs, width_px=360)
    wells = s.truth["wells"]
    assert list(wells["well"]) == ["A01", "A02", "A03", "B01", "B02", "B03"]
    for i, row in wells.iterrows():
        m = s.truth["well_labels"] == i + 1
        assert row["area_fraction"] == pytest.approx((s.labels[m] > 0).mean(), abs=0)
        assert row["area_fraction"] == pytest.approx(afs.get(row["well"], 0.0), abs=0.01)
        assert row["radius_px"] == pytest.approx(np.sqrt(m.sum() / np.pi), rel=0.02)
    with pytest.raises(InputError):
        make_colony_plate(0, plate_format=384)
    with pytest.raises(InputError):
        make_colony_plate(0, plate_format=6, area_fractions=[0.1, 0.2])


@pytest.mark.parametrize("lf", [0.0, 0.3, 0.85, 1.0])
def test_livedead_truth(lf: float) -> None:
    s = make_livedead_well(5, live_fraction=lf, size=192)
    live, dead = s.truth["live_mask"], s.truth["dead_mask"]
    assert not (live & dead).any()
    np.testing.assert_array_equal(live | dead, s.labels > 0)
    px2 = s.pixel_size_um**2
    assert s.truth["live_area_um2"] == pytest.approx(live.sum() * px2)
    assert s.truth["dead_area_um2"] == pytest.approx(dead.sum() * px2)
    assert s.truth["live_fraction"] == pytest.approx(live.sum() / (live.sum() + dead.sum()))
    assert s.truth["live_fraction"] == pytest.approx(lf, abs=0.02)
    cal, pi = s.image[..., 0].astype(float), s.image[..., 1].astype(float)
    bg = s.labels == 0
    if live.any():
        assert cal[live].mean() > 5 * np.median(cal[bg])
    if dead.any():
        assert pi[dead].mean() > 5 * np.median(pi[bg])
        assert cal[dead].mean() < 0.5 * cal[live].mean() if live.any() else True
    assert s.image.min() >= 50  # camera offset


@pytest.mark.parametrize("kind", ["brightfield", "fluorescence"])
def test_spheroid_2d_truth(kind: str) -> None:
    s = make_spheroid_2d(4, kind=kind, diameter_um=300, size=256, pixel_size_um=3.0)
    mask = s.labels == 1
    area = mask.sum() * 9.0
    assert s.truth["area_um2"] == pytest.approx(area)
    d = 2 * np.sqrt(area / np.pi)
    assert s.truth["equivalent_diameter_um"] == pytest.approx(d)
    assert s.truth["volume_um3"] == pytest.approx(np.pi / 6 * d**3)
    assert d == pytest.approx(300, rel=0.02)
    g = s.image.astype(float)
    bar = s.truth["scale_bar_mask"]
    assert bar.any() and not (bar & mask).any()
    assert (g[bar] == g.max()).all()  # burned in, saturated
    bg = np.median(g[~mask & ~bar])
    if kind == "brightfield":
        assert g[mask].mean() < 0.7 * bg
    else:
        assert g[mask].mean() > 5 * bg
    # not a perfect disc: the outline is lobed / elliptical
    from skimage.measure import regionprops

    p = regionprops(mask.astype(np.uint8))[0]
    assert p.axis_minor_length / p.axis_major_length < 0.99


def test_brightfield_spheroid_has_halo_debris_and_well_shadow() -> None:
    from scipy import ndimage

    kw = dict(diameter_um=300, size=256, pixel_size_um=3.0, illumination=0.0)
    clean = make_spheroid_2d(8, debris=False, well_shadow=False, **kw)
    dirty = make_spheroid_2d(8, debris=True, well_shadow=True, **kw)
    g = clean.image.astype(float)
    mask = clean.labels == 1
    dist = ndimage.distance_transform_edt(~mask)
    far = (dist > 20) & ~clean.truth["scale_bar_mask"]
    bg = np.median(g[far])
    assert g[(dist >= 2) & (dist <= 5)].mean() > bg * 1.04  # bright halo around the edge
    assert (g[far] < 0.8 * bg).mean() < 1e-3  # no debris, no shadow
    gd = dirty.image.astype(float)
    yy, xx = np.indices(g.shape)
    mid = far & (np.hypot(yy - 128, xx - 128) < 100)
    assert (gd[mid] < 0.8 * bg).sum() > 20  # debris particles
    border = np.zeros_like(mask)
    border[:8], border[-8:], border[:, :8], border[:, -8:] = True, True, True, True
    assert np.percentile(gd[border & ~dirty.truth["scale_bar_mask"]], 5) < 0.6 * bg  # arc


def test_spheroid_2d_empty_and_bad_kind() -> None:
    s = make_spheroid_2d(0, diameter_um=0, size=128)
    assert s.labels.max() == 0 and s.truth["volume_um3"] == 0
    with pytest.raises(InputError):
        make_spheroid_2d(0, kind="phase")


def test_spheroid_3d_truth() -> None:
    vox = (8.0, 2.5, 2.5)
    s = make_spheroid_3d(6, diameter_um=160, shape=(32, 96, 96), voxel_size_um=vox, flattening=0.8)
    n = int((s.labels == 1).sum())
    assert s.truth["volume_um3"] == pytest.approx(n * 8.0 * 2.5 * 2.5)
    nominal = np.pi / 6 * 160**3 * 0.8
    assert abs(s.truth["volume_um3"] - nominal) <= 8.0 * 2.5 * 2.5
    assert s.z_step_um == 8.0 and s.pixel_size_um == 2.5
    img = s.image.astype(float)
    zs = np.flatnonzero((s.labels == 1).any(axis=(1, 2)))
    lo, hi = zs[: len(zs) // 3], zs[-len(zs) // 3 :]
    m = s.labels == 1
    # signal falls off with depth into the tissue
    assert img[lo][m[lo]].mean() > 1.3 * img[hi][m[hi]].mean()
    assert img[m].mean() > 3 * np.median(img[~m])


def test_sphere_well_truth() -> None:
    s = make_sphere_well(7, n_spheres=25, size=768, min_diameter_um=50.0)
    ids = np.arange(1, s.labels.max() + 1)
    areas = np.bincount(s.labels.ravel())[1:]
    d = 2 * np.sqrt(areas * s.pixel_size_um**2 / np.pi)
    np.testing.assert_allclose(s.truth["diameters_um"], d)
    assert s.truth["n_objects"] == ids.size
    assert s.truth["sphere_count"] == int((d >= 50.0).sum()) == 25
    assert (d < 50.0).sum() >= 3  # sub-threshold spheres are there to be rejected
    g = s.image.astype(float)
    obj = s.labels > 0
    assert g[obj].mean() < 0.8 * np.median(g[s.truth["well_mask"] & ~obj])


def test_bad_inputs_raise_package_errors() -> None:
    with pytest.raises(InputError):
        make_colony_well(0, area_fraction=1.5)
    with pytest.raises(InputError):
        make_livedead_well(0, pixel_size_um=0)
    with pytest.raises(InputError):
        make_sphere_well(0, n_spheres=-1)
    with pytest.raises(InputError):
        make_experiment("unused", mode="nope")


# --- whole experiments ------------------------------------------------------------------

SMALL = {"colony": 64, "livedead": 96, "spheroid": 64, "spheroid3d": (12, 48, 48), "spheres": 512}


@pytest.fixture(scope="module")
def colony_experiment(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp_colony")
    return make_experiment(out, mode="colony", seed=11, image_size=SMALL["colony"])


def _fit_4pl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.optimize import curve_fit

    def f(c, log_ic50, hill, top, bottom):
        return bottom + (top - bottom) / (1 + (c / 10.0**log_ic50) ** hill)

    p0 = [np.log10(np.median(x[x > 0])), 1.0, 1.0, 0.05]
    p, _ = curve_fit(f, x, y, p0=p0, maxfev=20000)
    return p


def test_experiment_layout_is_valid(colony_experiment) -> None:
    from napari_il6assay.io.layout import read_layout

    out = colony_experiment.out_dir
    t = read_layout(out / "layout.csv").table
    assert len(t) == 96
    roles = t["role"].value_counts().to_dict()
    assert roles == {"sample": 81, "vehicle": 9, "blank": 6}
    res = t[t["cell_line"] == "MDA-MB-231E"]
    assert set(res["parental"]) == {"MDA-MB-231"}
    combo = t[t["drug_b"] == "tocilizumab"]
    assert len(combo) == 30 and set(combo["concentration_b"]) == {10.0}
    for line, g in t[t["role"] == "sample"].groupby("cell_line"):
        counts = g.groupby("concentration_M").size()
        assert (counts >= 3).all(), line  # triplicates
        assert counts.index.size == 9
    files = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert len(files) == 96 and all(re.fullmatch(r"[A-H]\d\d\.png", f) for f in files)


def test_experiment_readouts_follow_4pl(colony_experiment) -> None:
    w = colony_experiment.wells
    top = READOUT_TOP["colony"]
    cells = w[w["role"] != "blank"]
    # readout from the drawn masks = top * (4PL viability + replicate noise)
    v_from_pixels = cells["readout"] / top
    resid = v_from_pixels - cells["viability_true"]
    assert resid.std() < 0.05 and abs(resid.mean()) < 0.02
    assert (cells["readout"] - cells["readout_target"]).abs().max() < 0.01
    assert (w.loc[w["role"] == "blank", "readout"] == 0).all()
    # fitting the pixel readouts recovers the generating IC50s and the fold resistance
    ic50 = {}
    for curve, g in cells.groupby("curve"):
        p = _fit_4pl(g["concentration_M"].to_numpy(), (g["readout"] / top).to_numpy())
        ic50[curve] = 10 ** p[0]
        assert ic50[curve] == pytest.approx(colony_experiment.curves[curve]["ic50_M"], rel=0.35)
    fold = ic50["MDA-MB-231E"] / ic50["MDA-MB-231"]
    assert colony_experiment.fold_resistance == pytest.approx(600)
    assert 400 < fold < 900


def test_experiment_truth_files(colony_experiment) -> None:
    out = colony_experiment.out_dir
    meta = json.loads((out / "truth.json").read_text())
    assert meta["curves"]["MDA-MB-231"]["ic50_M"] == pytest.approx(1e-9)
    assert meta["fold_resistance"]["MDA-MB-231E vs MDA-MB-231"] == pytest.approx(600)
    assert meta["pixel_size_um"] == pytest.approx(30.0 * 256 / 64)
    per_dose = meta["combination"]["per_dose"]
    assert all(d["bliss"] >= 0 and d["bliss"] == pytest.approx(d["hsa"]) for d in per_dose)
    t = pd.read_csv(out / "truth.csv")
    assert len(t) == 96
    np.testing.assert_allclose(t["readout"], colony_experiment.wells["readout"], rtol=1e-6)
    # the per-well truth is the curve evaluated at the layout's concentrations
    s = t[(t["role"] != "blank") & (t["curve"] == "MDA-MB-231")]
    c = meta["curves"]["MDA-MB-231"]
    expect = four_pl(s["concentration_M"], c["ic50_M"], c["hill"], c["top"], c["bottom"])
    np.testing.assert_allclose(s["viability_true"], expect, rtol=1e-6)


def test_experiment_is_reproducible(tmp_path, colony_experiment) -> None:
    again = make_experiment(
        tmp_path,
        mode="colony",
        seed=11,
        image_size=SMALL["colony"],
        only_wells=["A01", "D07", "H11"],
    )
    from PIL import Image

    for w in ("A01", "D07", "H11"):
        a = np.asarray(Image.open(tmp_path / f"{w}.png"))
        b = np.asarray(Image.open(colony_experiment.out_dir / f"{w}.png"))
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "layout.csv").read_bytes() == (
        colony_experiment.out_dir / "layout.csv"
    ).read_bytes()
    sel = again.wells["readout"].notna()
    assert sel.sum() == 3
    np.testing.assert_allclose(
        again.wells.loc[sel, "readout"], colony_experiment.wells.loc[sel, "readout"]
    )


@pytest.mark.parametrize("style", ["A1", "r01c01", "imagexpress"])
def test_experiment_file_names_parse_to_their_wells(tmp_path, style: str) -> None:
    from napari_il6assay.io.plate_folder import parse_well_id

    wells = ["A01", "B07", "H12"]
    t = make_experiment(
        tmp_path, mode="colony", seed=1, image_size=48, only_wells=wells, name_style=style
    )
    written = t.wells.set_index("well").loc[wells, "image"]
    for well, name in written.items():
        assert (tmp_path / name).is_file()
        assert parse_well_id(name).well == well
    with pytest.raises(InputError):
        make_experiment(tmp_path, name_style="A-01")


@pytest.mark.parametrize("mode", [m for m in MODES if m != "colony"])
def test_experiment_other_modes(tmp_path, mode: str) -> None:
    from napari_il6assay.io.images import read_image

    wells = ["A01", "A06", "A10", "D01", "D08", "G03", "C12"]
    t = make_experiment(tmp_path, mode=mode, seed=2, image_size=SMALL[mode], only_wells=wells)
    w = t.wells.set_index("well").loc[wells]
    top = READOUT_TOP[mode]
    cells = w[w["role"] != "blank"]
    resid = cells["readout"] / top - cells["viability"]
    tol = 0.6 / top if mode == "spheres" else 0.02  # whole spheres: rounding to one sphere
    assert resid.abs().max() <= tol + 1e-9
    assert w.loc["C12", "readout"] == 0
    assert w.loc["A01", "readout"] > w.loc["A10", "readout"]  # vehicle > top dose
    img = read_image(tmp_path / "A01.tif")
    expect_axes = {"livedead": "YXC", "spheroid": "YXC", "spheroid3d": "ZYX", "spheres": "YX"}
    assert img.axes == expect_axes[mode]
    assert img.pixel_size_um == pytest.approx(t.pixel_size_um, rel=1e-3)
    if mode == "spheroid3d":
        assert img.z_step_um == pytest.approx(t.z_step_um, rel=1e-3)
