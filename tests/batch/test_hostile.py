"""Hostile and broken input, one known failure each (issue 12): formula text in workbooks, a
full disk mid-run, an unwritable --out, a decompression-bomb TIFF, nonsense options, unit-less
doses, unknown parental lines, hostile file names. Each asserts the exact outcome."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fuzz_support import check_exit, in_process_cluster, run_cli

REPO = Path(__file__).resolve().parents[2]
RYEGRASS = REPO / "tests" / "data" / "ryegrass.csv"
FORMULAS = [
    '=HYPERLINK("http://evil.example","click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd",
    "-2+3",
]
WELLS = [f"{r}{c:02d}" for r in "AD" for c in range(1, 11)] + ["G01", "G05", "G09", "C12"]
TABLES = ("wells", "conditions", "fits", "synergy", "potentiation", "images", "objects")


def _py(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from napari_il6assay.synthetic.experiment import make_experiment

    root = tmp_path_factory.mktemp("hostile")
    make_experiment(
        root / "all", mode="spheroid", seed=4, image_size=48, rgb=False, only_wells=WELLS
    )
    folder = root / "plate"
    folder.mkdir()
    for w in WELLS:
        (folder / f"{w}.tif").write_bytes((root / "all" / f"{w}.tif").read_bytes())
    layout = pd.read_csv(root / "all" / "layout.csv", dtype=str, keep_default_na=False)
    return {"root": root, "folder": folder, "layout": layout}


# ---------------------------------------------------------------- results.xlsx


def test_write_xlsx_text_is_never_a_formula(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from napari_il6assay.batch.exports import write_xlsx

    df = pd.DataFrame(
        {"cell_line": FORMULAS + ["ok\x07bell"], "x": [1.5, -2.0, 0.0, 3, 4], "n": [1, 2, 3, 4, 5]}
    )
    write_xlsx(tmp_path / "r.xlsx", {"wells": df})
    ws = load_workbook(tmp_path / "r.xlsx")["wells"]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    assert [ws.cell(i, 1).value for i in range(2, 7)] == FORMULAS + ["okbell"]
    # numbers stay numbers (also negative ones, which must not be text)
    assert [ws.cell(i, 2).value for i in range(2, 7)] == [1.5, -2.0, 0.0, 3, 4]
    assert all(ws.cell(i, 2).data_type == "n" for i in range(2, 7))


def test_batch_with_formula_layout_subprocess(experiment: dict, tmp_path: Path) -> None:
    """A real run (dask cluster, subprocess): 0 formula cells, safe visible prism names."""
    from openpyxl import load_workbook

    lay = experiment["layout"].copy()
    lines = sorted(set(lay["cell_line"]) - {""})
    mapping = dict(zip(lines, FORMULAS, strict=False))
    lay = lay.replace({"cell_line": mapping, "parental": mapping})
    lay["drug"] = lay["drug"].replace({"eribulin": "../../=evil drug"})
    lay.to_csv(tmp_path / "layout.csv", index=False)
    out = tmp_path / "out"
    r = _py(
        "-m",
        "napari_il6assay",
        "batch",
        str(experiment["folder"]),
        "--layout",
        str(tmp_path / "layout.csv"),
        "--mode",
        "spheroid",
        "--out",
        str(out),
        "--workers",
        "1",
        "--quiet",
        "--no-report",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    wb = load_workbook(out / "results.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if c.data_type == "s"}
    assert set(mapping.values()) <= texts  # kept verbatim, as text
    wells = wb["wells"]
    header = [c.value for c in wells[1]]
    conc = [row[header.index("concentration_M")] for row in wells.iter_rows(min_row=2)]
    assert all(c.data_type == "n" for c in conc if c.value is not None)
    prism = sorted(p.name for p in (out / "prism").iterdir())
    assert prism and all(not n.startswith((".", "-")) and ".." not in n for n in prism)
    assert all(p.parent == out / "prism" for p in (out / "prism").rglob("*"))
    assert not list(tmp_path.glob("x*")) and not (tmp_path / "evil drug").exists()


def test_safe_name_is_safe_and_visible() -> None:
    from napari_il6assay.batch.exports import safe_name, unique_name

    assert safe_name("../../x") == "x"
    assert safe_name(".hidden") == "hidden"
    assert safe_name("-rf /") == "rf"
    assert safe_name("a..b") == "a.b"
    assert safe_name("") == safe_name("..") == safe_name("///") == "none"
    assert len(safe_name("y" * 500)) == 80
    assert safe_name("eribulin+tocilizumab_10ug/mL") == "eribulin+tocilizumab_10ug_mL"
    used: set[str] = set()
    assert [unique_name(n, used) for n in ("a", "A", "a", "b")] == ["a", "A_2", "a_3", "b"]


# ---------------------------------------------------------------- --out and the disk


def test_full_disk_mid_run_then_resume(
    experiment: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC after a few images: exit 2, one error line, no temp files, --resume == clean."""
    from napari_il6assay.batch import parts

    in_process_cluster(monkeypatch)
    lay = tmp_path / "layout.csv"
    experiment["layout"].to_csv(lay, index=False)
    base = [
        "batch",
        str(experiment["folder"]),
        "--layout",
        str(lay),
        "--mode",
        "spheroid",
        "--quiet",
        "--no-report",
    ]
    clean = tmp_path / "clean"
    assert run_cli([*base, "--out", str(clean)], "hostile")[0] == 0

    real_fsync, calls = os.fsync, {"n": 0}

    def fsync_full(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] > 20:  # a few images are written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    out = tmp_path / "out"
    monkeypatch.setattr(parts.os, "fsync", fsync_full)
    code, _, err = run_cli([*base, "--out", str(out)], "hostile")
    monkeypatch.setattr(parts.os, "fsync", real_fsync)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "No space left on device" in err and "--resume" in err and str(out) in err
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    done = list((out / "_parts").glob("*.json"))
    assert 0 < len(done) < len(WELLS)

    code, _, err = run_cli([*base, "--out", str(out), "--resume"], "hostile")
    assert code == 0, err
    for name in TABLES:
        a, b = clean / f"{name}.csv", out / f"{name}.csv"
        assert a.is_file() == b.is_file(), name
        if a.is_file():
            pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), obj=name)


@pytest.mark.parametrize("command", ["batch", "segment", "fit", "synergy", "demo"])
def test_unwritable_out_is_one_error_line(
    command: str, experiment: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lay = tmp_path / "layout.csv"
    experiment["layout"].to_csv(lay, index=False)
    table = tmp_path / "t.csv"
    pd.DataFrame(
        {
            "concentration_M": [0, 1e-9],
            "viability": [1, 0.5],
            "drug_b": ["", "B"],
            "concentration_b": [0, 1],
        }
    ).to_csv(table, index=False)
    args = {
        "batch": ["batch", str(experiment["folder"]), "--layout", str(lay), "--mode", "spheroid"],
        "segment": ["segment", str(experiment["folder"] / "A01.tif"), "--mode", "spheroid"],
        "fit": ["fit", str(table)],
        "synergy": ["synergy", str(table)],
        "demo": ["demo"],
    }
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    # a file where a folder should be, and a folder without write permission (root ignores
    # permission bits, so the permission check is simulated)
    code, _, err = run_cli([*args[command], "--out", str(blocker / "out")], "hostile")
    assert code == 2 and err.count("error:") == 1 and str(blocker) in err, err
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m, **kw: False if Path(p) == ro else real_access(p, m, **kw)
    )
    code, _, err = run_cli([*args[command], "--out", str(ro / "out")], "hostile")
    assert code == 2 and "not writable" in err and str(ro) in err, err
    assert list(ro.iterdir()) == []


# ---------------------------------------------------------------- pixel budget


def _bomb_tiff(path: Path, side: int = 61440, tile: int = 1024) -> None:
    """A 3.8 MB zlib TIFF announcing side x side pixels (every tile the same zeros)."""
    import tifffile

    data = zlib.compress(bytes(tile * tile))
    tiles = (side // tile) ** 2
    tifffile.imwrite(
        path,
        (data for _ in range(tiles)),
        shape=(side, side),
        dtype="uint8",
        tile=(tile, tile),
        compression="zlib",
    )


def test_pixel_bomb_refused_fast_and_small(tmp_path: Path) -> None:
    p = tmp_path / "A01_bomb.tif"
    _bomb_tiff(p)
    assert p.stat().st_size < 5_000_000
    code = (
        "import resource, sys, time\n"
        "import numpy, tifffile\n"
        "from napari_il6assay.io.images import read_image\n"
        "from napari_il6assay.errors import ImageReadError\n"
        "t = time.perf_counter()  # the refusal itself, not the interpreter start\n"
        "try:\n"
        f"    read_image({str(p)!r})\n"
        "    print('READ')\n"
        "except ImageReadError as e:\n"
        "    print(str(e))\n"
        "print(time.perf_counter() - t)\n"
        "# VmHWM: this process's peak RSS (ru_maxrss would carry pytest's over the exec)\n"
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
        "print(int(hwm[0].split()[1]) if hwm else "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    r = _py("-c", code)
    assert r.returncode == 0, r.stderr
    msg, seconds, rss_kb = r.stdout.strip().splitlines()
    assert "61440 x 61440" in msg and "--max-pixels" in msg and str(p) in msg
    assert float(seconds) < 1.0
    assert int(rss_kb) < 300 * 1024
    # the CLI reports it as a failed input (exit 1, errors.csv) naming size and option
    code, _, err = run_cli(
        ["segment", str(p), "--mode", "colony", "--out", str(tmp_path / "o")], "hostile"
    )
    assert code == 1
    e = pd.read_csv(tmp_path / "o" / "errors.csv")
    assert "3,774,873,600 pixels" in e.loc[0, "error"] and "--max-pixels" in e.loc[0, "error"]


def test_max_pixels_option(tmp_path: Path) -> None:
    import tifffile

    p = tmp_path / "small.tif"
    yy, xx = np.mgrid[:64, :64]
    tifffile.imwrite(p, np.where((yy - 32) ** 2 + (xx - 32) ** 2 < 400, 40, 200).astype("uint8"))
    assert (
        run_cli(
            [
                "segment",
                str(p),
                "--mode",
                "spheroid",
                "--out",
                str(tmp_path / "a"),
                "--max-pixels",
                "4095",
            ],
            "hostile",
        )[0]
        == 1
    )
    assert (
        run_cli(
            [
                "segment",
                str(p),
                "--mode",
                "spheroid",
                "--out",
                str(tmp_path / "b"),
                "--max-pixels",
                "4096",
            ],
            "hostile",
        )[0]
        == 0
    )
    assert "IL6ASSAY_MAX_PIXELS" not in os.environ  # the option does not leak


# ---------------------------------------------------------------- options and tables


@pytest.mark.parametrize(
    "argv",
    [
        ["segment", "x.tif", "--mode", "colony", "--pixel-size", "inf"],
        ["segment", "x.tif", "--mode", "colony", "--pixel-size", "nan"],
        [
            "batch",
            "f",
            "--layout",
            "l",
            "--mode",
            "colony",
            "--out",
            "o",
            "--workers",
            "999999999999",
        ],
        [
            "batch",
            "f",
            "--layout",
            "l",
            "--mode",
            "colony",
            "--out",
            "o",
            "--voxel-size",
            "inf,1,1",
        ],
        ["demo", "--workers", "0"],
        ["layout"],
        ["fit", "t.csv", "--out", "o", "--unit", "parsec"],
    ],
)
def test_nonsense_options_exit_2(argv: list[str]) -> None:
    code, _, err = run_cli(argv, "hostile")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_argparse_error_is_one_line_subprocess() -> None:
    r = _py("-m", "napari_il6assay", "layout")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: il6assay layout: the following arguments are required: FILE "
        "(see 'il6assay layout --help')"
    ]
    r = _py(
        "-m",
        "napari_il6assay",
        "batch",
        "f",
        "--layout",
        "l",
        "--mode",
        "colony",
        "--out",
        "o",
        "--workers",
        "999999999999",
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and "between 1 and 1024" in r.stderr


def test_fit_units_and_dose_is_response(tmp_path: Path) -> None:
    d = pd.read_csv(RYEGRASS)
    code, _, err = run_cli(
        [
            "fit",
            str(RYEGRASS),
            "--out",
            str(tmp_path / "a"),
            "--response",
            "rootl",
            "--dose",
            "rootl",
        ],
        "hostile",
    )
    assert code == 2 and "column 'rootl'" in err and "response" in err
    code, _, err = run_cli(
        ["fit", str(RYEGRASS), "--out", str(tmp_path / "b"), "--response", "rootl"], "hostile"
    )
    assert code == 2 and "--unit" in err and "column 'conc'" in err
    code, out, _ = run_cli(
        [
            "fit",
            str(RYEGRASS),
            "--out",
            str(tmp_path / "c"),
            "--response",
            "rootl",
            "--unit",
            "nM",
            "--no-plots",
            "--ci",
            "delta",
        ],
        "hostile",
    )
    assert code == 0 and "'conc' in nM, converted to M" in out
    fits = pd.read_csv(tmp_path / "c" / "fits.csv")
    assert fits.loc[0, "ic50_rel_M"] == pytest.approx(3.058e-9, rel=1e-3)
    # values near 1e300: one curve reported as bad input, no LinAlgError
    big = d.assign(rootl=d["rootl"] * 1e299, drug="A")
    big.to_csv(tmp_path / "big.csv", index=False)
    code, _, err = run_cli(
        [
            "fit",
            str(tmp_path / "big.csv"),
            "--out",
            str(tmp_path / "d"),
            "--response",
            "rootl",
            "--unit",
            "none",
            "--no-plots",
        ],
        "hostile",
    )
    assert code == 0, err
    f = pd.read_csv(tmp_path / "d" / "fits.csv")
    assert f.loc[0, "status"] == "bad_input" and "rescale" in f.loc[0, "note"]


def test_no_effect_is_truthful() -> None:
    from napari_il6assay.doseresponse.fit import fit_arrays

    x = np.repeat(np.r_[0.0, np.logspace(-9, -6, 7)], 3)
    # a clear, significant fall of 0.48 over the doses with the bottom (fixed) far below:
    # the old rule (0.1 x max(|top|, |bottom|) = 0.5) called it "no effect"
    top, bottom, ic50 = 1.0, -5.0, 9.4e-6
    y = bottom + (top - bottom) / (1 + x / ic50)
    y = y + np.random.default_rng(0).normal(0, 0.005, x.size)
    r = fit_arrays([(x, y, None)], "4pl", bounds={"bottom": (-5.0, -5.0)})
    assert r.status[0] != "no_effect", r.note[0]
    # a fall of 0.03: no effect, and the note states the threshold actually used
    y2 = 1 - 0.03 * x / (x + 1e-7) + np.random.default_rng(1).normal(0, 0.001, x.size)
    r2 = fit_arrays([(x, y2, None)], "4pl")
    assert r2.status[0] == "no_effect"
    note = r2.note[0]
    assert "below 0.1 x" in note and "larger fitted response" in note


def test_potentiation_open_fold_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fold CI reaching 0 (seen on a well-formed table) gives an open shift CI, no crash."""
    from napari_il6assay.doseresponse import fold

    rows = []
    for b in (0.0, 10.0):
        for c in np.r_[0.0, np.logspace(-10, -6, 9)]:
            for rep in range(2):
                v = 1 / (1 + (c * (4 if b else 1) / 1e-8) ** 1.2) + 0.01 * rep
                rows.append(
                    {
                        "cell_line": "L",
                        "drug": "A" if c else "",
                        "concentration_M": c,
                        "drug_b": "B" if b else "",
                        "concentration_b": b,
                        "viability": v,
                    }
                )
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    real = fold.fold_test
    monkeypatch.setattr(fold, "fold_test", lambda *a, **k: {**real(*a, **k), "ci_low": 0.0})
    code, _, err = run_cli(
        ["synergy", str(tmp_path / "t.csv"), "--out", str(tmp_path / "o"), "--no-plots"], "hostile"
    )
    assert code == 0, err
    pot = pd.read_csv(tmp_path / "o" / "potentiation.csv")
    assert np.isinf(pot.loc[0, "shift_ci_high"]) and pot.loc[0, "shift"] == pytest.approx(
        4.0, rel=0.1
    )


def test_layout_parental_and_extra_fields(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_text(
        "well,cell_line,drug,concentration,unit,parental\n"
        "A1,P,eribulin,0,nM,\nA2,R,eribulin,1,nM,Q\nA3,R,eribulin,2,nM,P,extra\n"
    )
    code, _, err = run_cli(["layout", str(p)], "hostile")
    assert code == 2
    assert err.startswith(f"error: {p}, row 3, column 'parental', well A02: parental line 'Q'")
    p.write_text(
        "well,cell_line,drug,concentration,unit,parental\n"
        "A1,P,eribulin,0,nM,\nA2,R,eribulin,1,nM,P\nA3,R,eribulin,2,nM,P,extra\n"
    )
    code, out, err = run_cli(["layout", str(p)], "hostile")
    assert code == 0 and err.startswith("warning: ") and "rows 4" in err and "extra" in err
    check_exit(code, err)


def test_strip_image_is_refused(tmp_path: Path) -> None:
    import tifffile

    p = tmp_path / "A01.tif"
    tifffile.imwrite(p, np.full((1, 200), 9, np.uint8))
    code, _, err = run_cli(
        ["segment", str(p), "--mode", "colony", "--out", str(tmp_path / "o")], "hostile"
    )
    assert code == 1 and "too small to segment (1 x 200 pixels" in err
    assert pd.read_csv(tmp_path / "o" / "images.csv").empty


def test_infinite_pixel_size_writes_nothing(tmp_path: Path) -> None:
    """--pixel-size inf never reaches a run: nothing is written at all."""
    code, _, _ = run_cli(
        [
            "segment",
            "x.tif",
            "--mode",
            "colony",
            "--pixel-size",
            "inf",
            "--out",
            str(tmp_path / "o"),
        ],
        "hostile",
    )
    assert code == 2 and not (tmp_path / "o").exists()
