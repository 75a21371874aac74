"""``--resume`` continues a results folder that an earlier version of the package wrote.

``tests/data/parts_v0/sample_data_A01_s1.json`` is a part record exactly as the batch wrote it
before parts became `PartRecord` (``il6assay demo`` of sample_data/A01.png, colony mode, 30 um
pixels); only its absolute image path is moved to this test's copy of the image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from napari_il6assay.batch import parts
from napari_il6assay.batch.run import run_batch

DATA = Path(__file__).parents[1] / "data" / "parts_v0"
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
OLD_PATH = "/work/main/sample_data/A01.png"


@pytest.fixture
def old_results(tmp_path: Path) -> tuple[Path, Path, Path, dict]:
    """A plate folder with A01.png, a layout, and a results folder holding the old part."""
    folder = tmp_path / "sample_data"  # the part's id and plate come from the folder name
    folder.mkdir()
    image = folder / "A01.png"
    shutil.copy(SAMPLE / "A01.png", image)  # a new mtime: resume must compare the sha256
    layout = tmp_path / "layout.csv"
    layout.write_text("well,cell_line,drug,concentration,unit,role\n"
                      "A01,MDA-MB-231,eribulin,0,nM,vehicle\n")  # fmt: skip
    out = tmp_path / "out"
    (out / "_parts").mkdir(parents=True)
    text = (DATA / "sample_data_A01_s1.json").read_text(encoding="utf-8")
    record = json.loads(text.replace(OLD_PATH, str(image)))
    # a part made by another package version is measured again on purpose; this test is
    # about the file format, so the record claims the running version
    from napari_il6assay import __version__

    record["settings"]["version"] = __version__
    (out / "_parts" / "sample_data_A01_s1.json").write_text(json.dumps(record, indent=1))
    objects = pd.DataFrame({"label": [1, 2, 3], "area_px": [10, 20, 30]})
    objects.to_parquet(out / "_parts" / "sample_data_A01_s1.objects.parquet", index=False)
    (out / "_parts" / "sample_data_A01_s1.thumb.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    return folder, layout, out, record


def test_old_part_record_reads_back_field_by_field(old_results) -> None:
    _folder, _layout, out, record = old_results
    rec = parts.load_record(out, "sample_data_A01_s1")
    assert rec is not None and rec.ok
    assert rec.measures == record["measures"] and rec.measures["readout"] == 0.46310197482388266
    assert (rec.plate, rec.well, rec.site, rec.image) == ("sample_data", "A01", 1, "A01.png")
    assert rec.pixel_size_um == 30.0 and rec.has_objects and rec.per_well is None
    # and writes back the same JSON object, key order included
    assert list(rec.to_json()) == list(record)
    assert rec.to_json() == record


def test_resume_reuses_a_part_written_by_an_earlier_version(old_results) -> None:
    folder, layout, out, record = old_results
    res = run_batch(folder, layout, "colony", out, resume=True, pixel_size_um=30.0,
                    quiet=True, report=False)  # fmt: skip
    # reused, not measured again: no dask cluster was needed and the old numbers are used
    assert (res.n_images, res.n_skipped, res.n_ok, res.n_failed) == (1, 1, 1, 0)
    images = pd.read_csv(out / "images.csv")
    assert images.loc[0, "readout"] == pytest.approx(record["measures"]["readout"], rel=1e-15)
    assert images.loc[0, "n_objects"] == 243
    assert len(pd.read_csv(out / "objects.csv")) == 3
    wells = pd.read_csv(out / "wells.csv")
    assert list(wells["well"]) == ["A01"] and wells.loc[0, "role"] == "vehicle"
    # the record on disk is left as it was
    again = json.loads((out / "_parts" / "sample_data_A01_s1.json").read_text())
    assert again["measures"] == record["measures"]


def test_part_without_status_is_not_done(old_results) -> None:
    folder, _layout, out, record = old_results
    del record["status"]
    (out / "_parts" / "sample_data_A01_s1.json").write_text(json.dumps(record))
    item = {"id": "sample_data_A01_s1", "paths": [str(folder / "A01.png")], "plate_format": None}
    assert not parts.is_done(out, item)
