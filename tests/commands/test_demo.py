"""``il6assay demo`` on the repository's sample experiment: every output, and the fold
resistance against the experiment's ground truth (sample_data/truth.json)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"

pytestmark = pytest.mark.skipif(
    not (SAMPLE / "acquisition.json").is_file(), reason="sample_data/ not in this checkout"
)


def _demo(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "napari_il6assay", "demo", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=out.parent,
    )


@pytest.mark.slow
def test_demo_matches_the_sample_truth(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    r = _demo(out)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in (
        "wells.csv",
        "conditions.csv",
        "fits.csv",
        "synergy.csv",
        "potentiation.csv",
        "images.csv",
        "objects.csv",
        "errors.csv",
        "results.xlsx",
        "run.json",
        "report.html",
    ):
        assert (out / name).is_file(), name
    n_images = len(list(SAMPLE.glob("[A-H][01][0-9].*")))
    assert len(list((out / "qc").glob("*.png"))) == n_images
    assert list((out / "prism").glob("eribulin*.csv"))
    assert list((out / "plots").glob("dose_response_eribulin.png"))
    assert list((out / "plots").glob("dose_response_eribulin.svg"))
    assert list((out / "plots").glob("synergy_*.png"))

    truth = json.loads((SAMPLE / "truth.json").read_text())
    ((pair, true_fold),) = truth["fold_resistance"].items()
    resistant, parental = pair.split(" vs ")
    fits = pd.read_csv(out / "fits.csv")
    row = fits[(fits["cell_line"] == resistant) & fits["drug_b"].isna()].iloc[0]
    assert row["parental"] == parental
    err = abs(math.log10(row["fold_resistance"] / true_fold))
    assert err < 0.1, f"fold {row['fold_resistance']:.1f} vs truth {true_fold:.1f}"
    assert row["fold_ci_low"] < row["fold_resistance"] < row["fold_ci_high"]
    # the IC50 of each line too (the truth's curves)
    for line in (parental, resistant):
        fit = fits[(fits["cell_line"] == line) & fits["drug_b"].isna()].iloc[0]
        true_ic50 = truth["curves"][line]["ic50_M"]
        assert abs(math.log10(fit["ic50_rel_M"] / true_ic50)) < 0.15, line

    # what the terminal shows: where the results are and the key numbers
    assert str(out.resolve()) in r.stdout
    assert "fold" in r.stdout and "IC50" in r.stdout
    info = json.loads((out / "run.json").read_text())
    acq = json.loads((SAMPLE / "acquisition.json").read_text())
    assert info["mode"] == acq["mode"]
    assert info["calibration"]["pixel_size_um"] == pytest.approx(acq["pixel_size_um"])
    assert info["n_failed"] == 0


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    r = _demo(out)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "not empty" in r.stderr
    assert (out / "thesis.docx").read_text() == "precious"


def test_demo_without_sample_data_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from napari_il6assay import cli
    from napari_il6assay.commands import demo

    monkeypatch.setattr(demo, "sample_data_dir", lambda: tmp_path / "nowhere")
    assert cli.main(["demo", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "sample_data" in err and "source checkout" in err
    assert not (tmp_path / "o").exists()
