"""``il6assay segment``: files written, exit codes, error reporting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_il6assay.cli import main
from napari_il6assay.io.images import write_tiff
from napari_il6assay.synthetic.spheroid import make_spheroid_2d, make_spheroid_3d


@pytest.fixture()
def images(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    s = make_spheroid_2d(1, size=256, pixel_size_um=4.0, diameter_um=400)
    write_tiff(src / "plate1_B03_s1.tif", s.image, axes=s.axes, pixel_size_um=s.pixel_size_um)
    s2 = make_spheroid_2d(2, size=256, pixel_size_um=4.0, diameter_um=300)
    write_tiff(src / "other.tif", s2.image, axes=s2.axes, pixel_size_um=s2.pixel_size_um)
    (src / "broken.tif").write_bytes(b"this is not a tiff")
    st = make_spheroid_3d(1, shape=(24, 96, 96), voxel_size_um=(6.0, 2.5, 2.5), diameter_um=150)
    write_tiff(src / "stack.tif", st.image, axes="ZYX", pixel_size_um=2.5, z_step_um=6.0)
    return src, s, s2, st


def test_spheroid_outputs(images, tmp_path):
    src, s, s2, _ = images
    out = tmp_path / "out"
    rc = main(
        [
            "segment",
            str(src / "plate1_B03_s1.tif"),
            str(src / "other.tif"),
            "--mode",
            "spheroid",
            "--out",
            str(out),
            "--save-labels",
        ]
    )
    assert rc == 0
    objects = pd.read_csv(out / "objects.csv")
    assert list(objects.columns[:2]) == ["image", "well"]
    assert objects["well"].fillna("").tolist() == ["B03", ""]
    imgs = pd.read_csv(out / "images.csv")
    assert list(imgs.columns[:4]) == ["image", "mode", "readout", "n_objects"]
    assert imgs["mode"].tolist() == ["spheroid", "spheroid"]
    # calibration came from the files' metadata
    assert imgs["calibrated"].tolist() == [True, True]
    assert imgs.loc[0, "equivalent_diameter_um"] == pytest.approx(
        s.truth["equivalent_diameter_um"], rel=0.03
    )
    assert (out / "qc" / "plate1_B03_s1_qc.png").is_file()
    lab = tifffile.imread(out / "labels" / "plate1_B03_s1_labels.tif")
    assert lab.shape == s.image.shape and lab.dtype == np.int32
    assert set(np.unique(lab)) == {0, 1}
    errors = pd.read_csv(out / "errors.csv")
    assert len(errors) == 0 and list(errors.columns) == ["path", "stage", "error"]
    # input folder untouched
    assert sorted(p.name for p in src.iterdir()) == [
        "broken.tif",
        "other.tif",
        "plate1_B03_s1.tif",
        "stack.tif",
    ]


def test_bad_image_is_reported_and_others_continue(images, tmp_path, capsys):
    src, *_ = images
    out = tmp_path / "out"
    rc = main(
        [
            "segment",
            str(src / "broken.tif"),
            str(src / "other.tif"),
            str(src / "stack.tif"),
            str(src / "missing.tif"),
            "--mode",
            "spheroid",
            "--out",
            str(out),
        ]
    )
    assert rc == 1
    errors = pd.read_csv(out / "errors.csv")
    assert len(errors) == 3
    by_name = {p.split("/")[-1]: (st, e) for p, st, e in errors.itertuples(index=False)}
    assert by_name["broken.tif"][0] == "read"
    assert "spheroid3d" in by_name["stack.tif"][1]  # a stack given to a 2D mode
    assert by_name["missing.tif"][0] == "read"
    assert pd.read_csv(out / "images.csv")["image"].tolist() == ["other.tif"]
    assert "failed" in capsys.readouterr().err


def test_stack_mode_and_labels_shape(images, tmp_path):
    src, _, _, st = images
    out = tmp_path / "out3"
    rc = main(
        [
            "segment",
            str(src / "stack.tif"),
            "--mode",
            "spheroid3d",
            "--out",
            str(out),
            "--save-labels",
            "--voxel-size",
            "6,2.5,2.5",
        ]
    )
    assert rc == 0
    lab = tifffile.imread(out / "labels" / "stack_labels.tif")
    assert lab.shape == st.image.shape
    imgs = pd.read_csv(out / "images.csv")
    assert imgs.loc[0, "readout"] == pytest.approx(st.truth["volume_um3"], rel=0.12)
    assert {"surface_um2", "sphericity"} <= set(imgs.columns)


def test_usage_errors_exit_2(images, tmp_path, capsys):
    src, *_ = images
    rc = main(
        [
            "segment",
            str(src / "stack.tif"),
            "--mode",
            "spheroid3d",
            "--voxel-size",
            "1,2",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--voxel-size" in err
    rc = main(
        [
            "segment",
            str(src / "other.tif"),
            "--mode",
            "spheroid",
            "--min-diameter",
            "40",
            "--out",
            str(tmp_path / "o2"),
        ]
    )
    assert rc == 2
    assert main(["segment", str(src / "other.tif"), "--mode", "nonsense"]) == 2


@pytest.mark.parametrize(
    ("opts", "want"),
    [
        (["--object", "dark"], {"polarity": "dark"}),
        (["--object", "auto"], {}),  # auto is the mode's default: nothing to pass
        (["--min-diameter", "40"], None),  # spheroid takes no min_diameter_um
        (["--haze", "keep"], None),
    ],
)
def test_segment_and_batch_read_the_shared_mode_options_alike(opts, want):
    from napari_il6assay.cli import build_parser
    from napari_il6assay.commands.batch import batch_kwargs
    from napari_il6assay.commands.segment import segment_options
    from napari_il6assay.errors import InputError

    seg = build_parser(["segment"]).parse_args(
        ["segment", "x.tif", "--mode", "spheroid", "--voxel-size", "4,1,1", *opts]
    )
    batch_argv = ["batch", "F", "--layout", "L", "--mode", "spheroid", "--out", "O"]
    bat = build_parser(["batch"]).parse_args([*batch_argv, "--voxel-size", "4,1,1", *opts])
    if want is None:
        for args, read in ((seg, segment_options), (bat, batch_kwargs)):
            with pytest.raises(InputError) as ei:
                read(args)
            assert opts[0] in str(ei.value)
        return
    voxel, params = segment_options(seg)
    kw = batch_kwargs(bat)
    assert voxel == kw["voxel_size_um"] == (4.0, 1.0, 1.0)
    assert params == want
    assert {k: kw[k] for k in ("polarity",) if k in kw} == want
