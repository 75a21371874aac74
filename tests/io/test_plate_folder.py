"""Well ids from file names, and plate folders as tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_il6assay.errors import InputError
from napari_il6assay.io.plate_folder import (
    WellId,
    discover_plate_folder,
    parse_well_id,
    scan_plate_folder,
    split_well,
    well_name,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A1.tif", WellId("A01")),
        ("A01.png", WellId("A01")),
        ("a01.tif", WellId("A01")),
        ("h12.jpg", WellId("H12")),
        ("plate1_B07.tif", WellId("B07")),
        ("plate1_B7.tiff", WellId("B07")),
        ("P24.tif", WellId("P24")),  # 384-well corner
        ("exp 2024-05-01 C3.tif", WellId("C03")),
        ("D1_B07.tif", WellId("B07")),  # the last upper-case token wins
        # ImageXpress
        ("x_A01_s2_w1.tif", WellId("A01", site=2, channel=1)),
        ("MyPlate_H12_s4_w3_0A1B2C3D.TIF", WellId("H12", site=4, channel=3)),
        ("Plate_C05_w2.tif", WellId("C05", site=1, channel=2)),
        ("Plate_C05_s3.tif", WellId("C05", site=3)),
        ("run1_P24_s1_w1.tif", WellId("P24", site=1, channel=1)),
        # Operetta / Opera Phenix
        ("r01c01f01p01-ch1sk1fk1fl1.tiff", WellId("A01", site=1, channel=1, plane=1)),
        ("r02c05f03p02-ch2sk1fk1fl1.tiff", WellId("B05", site=3, channel=2, plane=2)),
        ("r16c24f09p01-ch4sk1fk1fl1.tiff", WellId("P24", site=9, channel=4, plane=1)),
        ("r03c11.tif", WellId("C11")),
        # other site/channel spellings
        ("2024-05-01_B03_f02_ch1.tif", WellId("B03", site=2, channel=1)),
        ("well_b7_c1.tif", WellId("B07", channel=1)),
        ("exp_c1_A01.tif", WellId("A01", channel=1)),
    ],
)
def test_parse_well_id(name: str, expected: WellId) -> None:
    assert parse_well_id(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "IMG_0001.tif",
        "plate1.tif",
        "Q01.tif",  # row beyond P
        "A25.tif",  # column beyond 24
        "A0.tif",
        "r17c01f01.tif",  # Operetta row beyond 16
        "r01c25f01.tif",
        "layout.csv",
        "AB12.tif",  # glued letters: not a well
        "A123.tif",
    ],
)
def test_parse_well_id_none(name: str) -> None:
    assert parse_well_id(name) is None


def test_parse_well_id_uses_only_the_name() -> None:
    assert parse_well_id("/data/B02_run/A03.tif") == WellId("A03")
    assert parse_well_id(Path("plates") / "x_B12_s1_w2.tif") == WellId("B12", 1, 2)


def test_well_name_and_split_round_trip() -> None:
    for r in range(1, 17):
        for c in range(1, 25):
            w = well_name(r, c)
            assert len(w) == 3
            assert split_well(w) == (r, c)
    assert split_well("a1") == (1, 1)
    with pytest.raises(ValueError):
        split_well("11")


def test_row_letters_and_number_are_inverse() -> None:
    from napari_il6assay.io.plate import row_letters, row_number

    assert [row_letters(n) for n in (1, 8, 16, 26, 27, 52, 703)] == [
        "A", "H", "P", "Z", "AA", "AZ", "AAA"]  # fmt: skip
    assert all(row_number(row_letters(n)) == n for n in range(1, 800))
    assert row_number(" p ") == 16


def _touch(folder: Path, *names: str) -> None:
    for n in names:
        p = folder / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def test_discover_single_plate(tmp_path: Path) -> None:
    plate = tmp_path / "plateA"
    _touch(
        plate,
        "P_B02_s2_w1.tif",
        "P_B02_s1_w2.tif",
        "P_B02_s1_w1.tif",
        "P_A10_s1_w1.tif",
        "P_A02_s1_w1.tif",
        "layout.csv",
        "notes.txt",
        ".DS_Store",
        ".hidden/P_C01_s1_w1.tif",
    )
    df = discover_plate_folder(plate)
    assert list(df.columns) == ["plate", "well", "site", "channel", "path", "plane"]
    assert df["plate"].unique().tolist() == ["plateA"]
    # sorted by row, then column (A02 before A10), then site and channel
    assert df[["well", "site", "channel"]].values.tolist() == [
        ["A02", 1, 1],
        ["A10", 1, 1],
        ["B02", 1, 1],
        ["B02", 1, 2],
        ["B02", 2, 1],
    ]
    assert all(Path(p).parent == plate for p in df["path"])


def test_discover_plates_from_subfolders(tmp_path: Path) -> None:
    _touch(tmp_path, "plate1/A01.tif", "plate1/A02.tif", "plate2/A01.tif", "plate2/Images/B03.png")
    df = discover_plate_folder(tmp_path)
    got = sorted(zip(df["plate"], df["well"], strict=True))
    assert got == [("plate1", "A01"), ("plate1", "A02"), ("plate2", "A01"), ("plate2", "B03")]
    assert df["channel"].isna().all()
    assert (df["site"] == 1).all()


def test_single_subfolder_is_one_plate(tmp_path: Path) -> None:
    root = tmp_path / "exp7"
    _touch(root, "Images/r01c01f01p01-ch1sk1fk1fl1.tiff", "Images/r01c01f02p01-ch1sk1fk1fl1.tiff")
    df = discover_plate_folder(root)
    assert df["plate"].tolist() == ["exp7", "exp7"]
    assert df["site"].tolist() == [1, 2]


def test_unmatched_files_are_reported(tmp_path: Path) -> None:
    _touch(tmp_path, "A01.tif", "overview.tif", "B02.tif", "thumb_B02.tif")
    pf = scan_plate_folder(tmp_path)
    assert pf.images["well"].tolist() == ["A01", "B02"]
    reasons = dict(
        zip([Path(p).name for p in pf.unmatched["path"]], pf.unmatched["reason"], strict=True)
    )
    assert reasons["overview.tif"] == "no well id in the file name"
    assert "same plate/well" in reasons["thumb_B02.tif"]
    with pytest.raises(InputError) as ei:
        discover_plate_folder(tmp_path)
    msg = str(ei.value)
    assert "overview.tif" in msg and "thumb_B02.tif" in msg and str(tmp_path) in msg


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        discover_plate_folder(tmp_path / "nope")
    _touch(tmp_path, "layout.csv")
    with pytest.raises(InputError, match="no image files"):
        discover_plate_folder(tmp_path)
