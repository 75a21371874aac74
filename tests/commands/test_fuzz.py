"""Random and damaged input: only the package's own errors may come out, never a traceback."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from napari_il6assay.cli import main as cli_main
from napari_il6assay.errors import Il6AssayError
from napari_il6assay.io.images import read_image, write_tiff
from napari_il6assay.io.layout import read_layout

# IL6ASSAY_FUZZ_EXAMPLES raises the count for a longer local hunt; CI keeps it modest
FUZZ = settings(
    max_examples=int(os.environ.get("IL6ASSAY_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_TMP = Path(tempfile.mkdtemp(prefix="il6fuzz-"))


def _seed_files() -> dict[str, bytes]:
    """Valid small files whose bytes the mutation strategies damage."""
    rng = np.random.default_rng(0)
    out: dict[str, bytes] = {}
    specs = [
        ("plain.tif", dict(axes="YX", compression=None), (16, 16)),
        ("lzw.tif", dict(axes="ZYX", compression="lzw", z_step_um=2.0), (3, 16, 16)),
        ("rgb.tif", dict(axes="YXC", compression="zlib", pixel_size_um=0.5), (16, 16, 3)),
        ("labels.tif", dict(axes="YX", pixel_size_um=0.65), (16, 16)),
    ]
    for name, kw, shape in specs:
        p = _TMP / f"seed_{name}"
        dtype = np.int32 if name == "labels.tif" else np.uint8
        write_tiff(p, rng.integers(0, 200, shape).astype(dtype), **kw)
        out[name] = p.read_bytes()
    p = _TMP / "seed_ome.tif"
    tifffile.imwrite(
        p,
        rng.integers(0, 255, (2, 8, 8), dtype=np.uint8),
        ome=True,
        metadata={"axes": "CYX", "PhysicalSizeX": 0.65},
    )
    out["ome.tif"] = p.read_bytes()
    for name in ("photo.png", "photo.jpg"):
        p = _TMP / f"seed_{name}"
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(p)
        out[name] = p.read_bytes()
    return out


SEEDS = _seed_files()


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    raw = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return name, bytes(raw)


MAGIC = st.sampled_from(
    [b"", b"II*\x00", b"MM\x00*", b"II+\x00", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]
)


def _read_must_fail_cleanly(name: str, raw: bytes) -> None:
    p = _TMP / f"case_{os.getpid()}_{Path(name).name}"
    p.write_bytes(raw)
    try:
        img = read_image(p)
    except Il6AssayError:
        return
    # a damaged file may still decode (a changed pixel): it must then be a proper image
    assert img.axes in ("YX", "YXC", "ZYX", "ZYXC")
    assert img.data.ndim == len(img.axes)


@FUZZ
@given(magic=MAGIC, body=st.binary(max_size=2048), suffix=st.sampled_from([".tif", ".png", ".jpg"]))
def test_random_bytes_to_read_image(magic: bytes, body: bytes, suffix: str) -> None:
    _read_must_fail_cleanly(f"rand{suffix}", magic + body)


@FUZZ
@given(case=damaged())
def test_damaged_images_to_read_image(case: tuple[str, bytes]) -> None:
    _read_must_fail_cleanly(*case)


TOKENS = st.sampled_from(
    [
        "A1",
        "A01",
        "I13",
        "P24",
        "Z99",
        "",
        " ",
        "0",
        "-1",
        "1e400",
        "nan",
        "10 nM",
        "nM",
        "uM",
        "µg/mL",
        "ug/mL",
        "furlong",
        "vehicle",
        "blank",
        "exclude",
        "sample",
        "weird",
        "L1",
        "eribulin",
        '"',
        '""',
        ",",
        ";",
        "\t",
        "\n",
        "#",
        "\x00",
        "é",
        "1,5",
        "0.1",
    ]
)
HEADERS = st.lists(
    st.sampled_from(
        [
            "well",
            "cell_line",
            "drug",
            "concentration",
            "unit",
            "role",
            "drug_b",
            "concentration_b",
            "unit_b",
            "plate",
            "replicate",
            "parental",
            "x",
            "",
        ]
    ),
    min_size=1,
    max_size=8,
)


@st.composite
def csv_text(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(max_size=400))
    header = draw(HEADERS)
    sep = draw(st.sampled_from([",", ";", "\t"]))
    lines = [sep.join(header)]
    for _ in range(draw(st.integers(0, 8))):
        cells = draw(st.lists(TOKENS, min_size=0, max_size=len(header) + 1))
        lines.append(sep.join(cells))
    return "\n".join(lines)


@FUZZ
@given(text=csv_text(), suffix=st.sampled_from([".csv", ".tsv"]))
def test_random_csv_to_read_layout(text: str, suffix: str) -> None:
    p = _TMP / f"layout_{os.getpid()}{suffix}"
    p.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        lay = read_layout(p)
    except Il6AssayError:
        return
    t = lay.table
    assert len(t) > 0
    assert t["well"].str.fullmatch(r"[A-H](0[1-9]|1[0-2])").all()
    assert (t["concentration_M"].dropna() >= 0).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=csv_text(),
    raw=st.one_of(st.none(), st.binary(max_size=512)),
    suffix=st.sampled_from([".csv", ".tsv", ".xlsx", ".xls", ".dat"]),
)
def test_cli_layout_never_tracebacks(text: str, raw: bytes | None, suffix: str) -> None:
    p = _TMP / f"cli_{os.getpid()}{suffix}"
    p.write_bytes(raw if raw is not None else text.encode("utf-8", errors="replace"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["layout", str(p)])
    assert code in (0, 2)
    if code == 2:
        lines = err.getvalue().splitlines()
        assert lines and lines[0].startswith("error: ") and str(p) in lines[0]
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cli_layout_subprocess_random_file(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = tmp_path / "random.csv"
    p.write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    r = subprocess.run(
        [sys.executable, "-m", "napari_il6assay", "layout", str(p)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.stderr
