"""Whole synthetic experiments: one 96-well plate of per-well images with a known answer.

Design (`make_experiment`): parental MDA-MB-231 and eribulin-resistant MDA-MB-231E, each an
eribulin half-log dilution series (9 doses) + vehicle in triplicate; a combination block of
the resistant line with eribulin x a fixed dose of tocilizumab (which alone does nothing but
divides eribulin's IC50 by a known factor), also in triplicate with its tocilizumab-alone
wells; and 6 blank wells. Each well's true viability follows a 4PL curve; the well's image
readout is ``readout_top * (viability + noise)`` (0 at viability 0, the blank), so the
relative IC50 of the viability recovered from the pixels is the generating IC50.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_il6assay.errors import InputError
from napari_il6assay.io.layout import INPUT_COLUMNS
from napari_il6assay.io.plate import row_letters, split_well, well_name, well_names
from napari_il6assay.segment import MODES as SEGMENT_MODES

__all__ = ["ExperimentTruth", "make_experiment", "MODES", "four_pl"]

PARENTAL = "MDA-MB-231"
RESISTANT = "MDA-MB-231E"
DRUG = "eribulin"
DRUG_B = "tocilizumab"

#: Readout at viability 1 (vehicle) for each mode; the readout at viability 0 is 0.
READOUT_TOP = {
    "colony": 0.45,  # area fraction
    "livedead": 0.92,  # live fraction
    "spheroid": float(np.pi / 6 * 450.0**3),  # volume um^3 of a 450 um spheroid
    "spheroid3d": float(np.pi / 6 * 300.0**3 * 0.8),  # oblate 300 um spheroid
    "spheres": 40,  # sphere count
}
#: the segmentation modes `make_experiment` can draw (one generator each, `_make_well_image`);
#: their readout names come from the mode registry (`napari_il6assay.segment.MODES`)
MODES = tuple(m for m in SEGMENT_MODES if m in READOUT_TOP)


def four_pl(conc_m: np.ndarray | float, ic50_m: float, hill: float, top: float, bottom: float):
    """Four-parameter logistic: ``bottom + (top - bottom) / (1 + (c / ic50) ** hill)``."""
    c = np.asarray(conc_m, dtype=float)
    with np.errstate(divide="ignore"):
        return bottom + (top - bottom) / (1.0 + (c / ic50_m) ** hill)


@dataclass
class ExperimentTruth:
    """What `make_experiment` wrote, and the true answer.

    Attributes
    ----------
    out_dir : pathlib.Path
    mode : str
    wells : pandas.DataFrame
        One row per well: layout columns, ``image``, ``viability_true`` (the 4PL value),
        ``viability`` (with replicate noise), ``readout_target`` and ``readout`` (exact,
        measured on the drawn masks).
    curves : dict
        Per curve (``"MDA-MB-231"``, ``"MDA-MB-231E"``, ``"MDA-MB-231E + tocilizumab"``):
        ``ic50_M, hill, top, bottom`` of the viability.
    fold_resistance : float
        IC50(resistant) / IC50(parental).
    combination : dict
        Combination truth: the second agent, its dose, the IC50 shift and per-dose Bliss/HSA
        excess on the viability-loss scale.
    pixel_size_um : float
    z_step_um : float or None
    """

    out_dir: Path
    mode: str
    wells: Any
    curves: dict
    fold_resistance: float
    combination: dict
    pixel_size_um: float
    z_step_um: float | None = None
    extra: dict = field(default_factory=dict)


def _dose_series(low_nm: float, n: int = 9, step_log10: float = 0.5) -> list[float]:
    """Half-log series in nM rounded to 4 significant digits (as a person would write it)."""
    return [float(f"{low_nm * 10 ** (i * step_log10):.4g}") for i in range(n)]


def _design(combo_shift: float, b_conc: float) -> tuple[list[dict], dict]:
    """Plate map rows (without images) and the true curves."""
    curves = {
        PARENTAL: {"ic50_M": 1e-9, "hill": 1.2, "top": 1.0, "bottom": 0.05},
        RESISTANT: {"ic50_M": 6e-7, "hill": 1.0, "top": 1.0, "bottom": 0.10},
    }
    curves[f"{RESISTANT} + {DRUG_B}"] = dict(curves[RESISTANT])
    curves[f"{RESISTANT} + {DRUG_B}"]["ic50_M"] = curves[RESISTANT]["ic50_M"] / combo_shift
    doses = {
        PARENTAL: [0.0] + _dose_series(0.01),  # 0.01 nM .. 100 nM
        RESISTANT: [0.0] + _dose_series(1.0),  # 1 nM .. 10 uM
    }
    rows_by_block: list[tuple[str, str, list[str], int]] = []  # line, curve, wells, rep
    # A-C parental, D-F resistant: column 1 vehicle, 2-10 ascending doses
    blocks = [(PARENTAL, PARENTAL, (1, 2, 3)), (RESISTANT, RESISTANT, (4, 5, 6))]
    for line, key, rows in blocks:
        for rep, r in enumerate(rows, start=1):
            rows_by_block.append((line, key, [well_name(r, c) for c in range(1, 11)], rep))
    combo_key = f"{RESISTANT} + {DRUG_B}"
    # combination: replicates 1-2 in G-H columns 1-10, replicate 3 down column 11 + A12, B12
    rows_by_block.append((RESISTANT, combo_key, [well_name(7, c) for c in range(1, 11)], 1))
    rows_by_block.append((RESISTANT, combo_key, [well_name(8, c) for c in range(1, 11)], 2))
    column_11 = [well_name(r, 11) for r in range(1, 9)]
    rows_by_block.append((RESISTANT, combo_key, [*column_11, "A12", "B12"], 3))
    records: list[dict] = []
    for line, key, wells, rep in rows_by_block:
        for well, dose in zip(wells, doses[line], strict=True):
            combo = key == combo_key
            records.append(
                {
                    "well": well,
                    "cell_line": line,
                    "drug": DRUG,
                    "concentration": dose,
                    "unit": "nM",
                    "drug_b": DRUG_B if combo else "",
                    "concentration_b": b_conc if combo else math.nan,
                    "unit_b": "ug/mL" if combo else "",
                    "role": "vehicle" if dose == 0 else "sample",
                    "replicate": rep,
                    "parental": PARENTAL if line == RESISTANT else "",
                    "curve": key,
                }
            )
    for well in [well_name(r, 12) for r in range(3, 9)]:  # C12-H12
        records.append(
            {
                "well": well,
                "cell_line": "",
                "drug": "",
                "concentration": math.nan,
                "unit": "",
                "drug_b": "",
                "concentration_b": math.nan,
                "unit_b": "",
                "role": "blank",
                "replicate": "",
                "parental": "",
                "curve": "",
            }
        )
    order = {w: i for i, w in enumerate(well_names(96))}
    records.sort(key=lambda d: order[d["well"]])
    return records, curves


def _as_float(v: float | None) -> float:
    """Return ``v`` as a float, NaN for None (a well image without calibration)."""
    return float(v) if v is not None else math.nan


def _defaults(mode: str, image_size: Any) -> dict:
    """Return the per-mode image geometry for a 96-well plate.

    A smaller image keeps the field of view (larger pixels), so the objects still fit
    (live/dead keeps its pixel size instead).
    """
    base = {
        "colony": (256, 30.0),
        "livedead": (256, 1.3),
        "spheroid": (256, 4.0),
        "spheres": (512, 10.0),
    }
    if SEGMENT_MODES[mode].is_3d:
        if isinstance(image_size, (tuple, list)):
            shp = tuple(int(v) for v in image_size)
        elif image_size:
            shp = (max(int(image_size) // 4, 8), int(image_size), int(image_size))
        else:
            shp = (32, 128, 128)
        f = 128 / shp[1]
        return {"shape": shp, "voxel_size_um": (10.0 * 32 / shp[0], 3.5 * f, 3.5 * f)}
    size0, px0 = base[mode]
    size = int(image_size or size0)
    px = px0 if mode == "livedead" else px0 * size0 / size
    return {"size": size, "pixel_size_um": px}


def _make_well_image(mode: str, seed: int, level: float, geo: dict, rgb: bool):
    """Generate one well whose readout is ``level`` (the mode's readout units)."""
    from . import (
        make_colony_well,
        make_livedead_well,
        make_sphere_well,
        make_spheroid_2d,
        make_spheroid_3d,
    )

    if mode == "colony":
        return make_colony_well(
            seed, area_fraction=float(np.clip(level, 0, 1)), rgb=rgb, colony_radius_um=90.0, **geo
        )
    if mode == "livedead":
        return make_livedead_well(seed, live_fraction=float(np.clip(level, 0, 1)), **geo)
    if mode == "spheroid":
        d = (6.0 * max(level, 0.0) / np.pi) ** (1 / 3)
        return make_spheroid_2d(seed, diameter_um=d, rgb=rgb, **geo)
    if mode == "spheroid3d":
        # volume of the oblate ellipsoid = pi/6 * d^3 * flattening
        d = (6.0 * max(level, 0.0) / (np.pi * 0.8)) ** (1 / 3)
        return make_spheroid_3d(seed, diameter_um=d, flattening=0.8, **geo)
    return make_sphere_well(seed, n_spheres=int(round(max(level, 0))), **geo)


def _write_image(path: Path, s) -> None:
    """PNG for RGB/8-bit photos (with pHYs), ImageJ TIFF with calibration otherwise."""
    if path.suffix == ".png":
        from PIL import Image

        dpi = 25400.0 / s.pixel_size_um
        Image.fromarray(s.image).save(path, dpi=(dpi, dpi), compress_level=6)
        return
    import tifffile

    data, axes = s.image, s.axes
    kw: dict[str, Any] = {}
    if s.rgb:
        axes = "YXS"
        kw["photometric"] = "rgb"
    elif axes == "YXC":  # ImageJ hyperstacks keep channels before YX
        data, axes = np.moveaxis(data, -1, 0), "CYX"
    meta: dict[str, Any] = {"axes": axes, "unit": "um"}
    if s.z_step_um is not None:
        meta["spacing"] = s.z_step_um
    res = 1.0 / s.pixel_size_um
    tifffile.imwrite(
        path, data, imagej=True, resolution=(res, res), metadata=meta, compression="zlib", **kw
    )


def make_experiment(
    out_dir: str | Path,
    *,
    mode: str = "colony",
    seed: int = 0,
    plate_format: int = 96,
    image_size: Any = None,
    rgb: bool = True,
    noise_sd: float = 0.03,
    combination_shift: float = 10.0,
    concentration_b: float = 10.0,
    file_format: str | None = None,
    only_wells: Any = None,
    name_style: str = "A01",
) -> ExperimentTruth:
    """Write a whole synthetic 96-well experiment: per-well images, layout and truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created; existing files of the same names are replaced).
    mode : {"colony", "livedead", "spheroid", "spheroid3d", "spheres"}
        Assay and so image type and readout (the mode's `ModeSpec.readout`:
        ``area_fraction``, ``live_fraction``, ``volume_um3``, ``volume_um3``,
        ``sphere_count``); one of `MODES`.
    seed : int
        Seed; the same seed writes identical pixels and tables.
    plate_format : int
        Only 96 is supported (the design fills one 96-well plate).
    image_size : int or tuple, optional
        Image width in pixels (3D: the ``(z, y, x)`` shape); per-mode defaults.
    rgb : bool
        Colony and 2D spheroid images as RGB photos (PNG for colony) instead of gray.
    noise_sd : float
        SD of the replicate noise added to each well's viability before drawing it.
    combination_shift : float
        Factor by which the second agent divides eribulin's IC50 in the resistant line.
    concentration_b : float
        Dose of the second agent (tocilizumab) in ug/mL.
    file_format : {"png", "tif"}, optional
        Image file type; PNG for RGB colony photos, TIFF otherwise by default.
    only_wells : iterable of str, optional
        Draw and write only these wells (e.g. to check a few files of a stored experiment);
        every other well keeps its design and noise but gets no image (``readout`` NaN).
    name_style : {"A01", "A1", "r01c01", "imagexpress"}
        File names: ``A01.png``, ``A1.png``, Operetta ``r01c01f01.tif`` or ImageXpress
        ``plate1_A01_s1_w1.tif`` (the layout always uses ``A01``).

    Returns
    -------
    ExperimentTruth
        Also written as ``truth.csv`` (per well) and ``truth.json`` (curves, fold, synergy,
        calibration) next to ``layout.csv`` and the images ``A01.png``/``A01.tif`` ...

    Examples
    --------
    >>> import tempfile
    >>> t = make_experiment(tempfile.mkdtemp(), mode="colony", image_size=96)
    >>> round(t.fold_resistance)
    600
    """
    import pandas as pd

    ext, use_rgb = _check_request(mode, plate_format, file_format, rgb, name_style)
    spec = SEGMENT_MODES[mode]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records, curves = _design(float(combination_shift), float(concentration_b))
    drawing = _Drawing(
        out=out,
        mode=mode,
        geo=_defaults(mode, image_size),
        rgb=use_rgb,
        ext=ext,
        name_style=name_style,
        only=None if only_wells is None else frozenset(str(w).upper() for w in only_wells),
    )
    seeds = rng.integers(0, 2**31 - 1, size=len(records))
    noise = rng.normal(0.0, noise_sd, size=len(records))
    rows, px, z = _draw_wells(drawing, records, curves, seeds, noise)
    wells = pd.DataFrame(rows)
    _write_tables(wells, out)

    combination = _combination_truth(records, curves, concentration_b, combination_shift)
    fold = curves[RESISTANT]["ic50_M"] / curves[PARENTAL]["ic50_M"]
    meta = {
        "mode": mode,
        "seed": int(seed),
        "readout": spec.readout,
        "readout_at_viability_1": READOUT_TOP[mode],
        "readout_at_viability_0": 0.0,
        "noise_sd_viability": float(noise_sd),
        "pixel_size_um": px,
        "z_step_um": z,
        "curves": curves,
        "fold_resistance": {f"{RESISTANT} vs {PARENTAL}": fold},
        "combination": combination,
        "image_format": ext,
        "design": "96-well: A-C parental, D-F resistant (col 1 vehicle, cols 2-10 eribulin "
        "half-log doses), G-H + column 11 + A12/B12 resistant + tocilizumab, "
        "C12-H12 blanks",
    }
    if mode == "livedead":
        meta["note"] = (
            "live/dead blank wells hold only dead cells (a killed control), so "
            "their live_fraction is 0 rather than undefined"
        )
    (out / "truth.json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
    return ExperimentTruth(
        out, mode, wells, curves, fold, combination, _as_float(px), z, {"meta": meta}
    )


def _check_request(
    mode: str, plate_format: int, file_format: str | None, rgb: bool, name_style: str
) -> tuple[str, bool]:
    """Check `make_experiment`'s choices before anything is written.

    Returns
    -------
    ext : str
        ``"png"`` or ``"tif"``.
    use_rgb : bool
        Whether the images are RGB photos (colony and 2D spheroid only).
    """
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", column="mode")
    spec = SEGMENT_MODES[mode]
    if int(plate_format) != 96:
        raise InputError(
            f"make_experiment designs one 96-well plate; plate_format {plate_format} is not "
            "supported",
            column="plate_format",
        )
    use_rgb = bool(rgb) and mode in ("colony", "spheroid")
    ext = file_format or ("png" if (mode == "colony" and use_rgb) else "tif")
    if ext not in ("png", "tif"):
        raise InputError(
            f"file_format must be 'png' or 'tif', got {file_format!r}", column="file_format"
        )
    if ext == "png" and (spec.multichannel or spec.is_3d):
        raise InputError(f"{mode} images need TIFF (16-bit channels/stacks)", column="file_format")
    _file_stem("A01", name_style)  # reject an unknown style before writing anything
    return ext, use_rgb


@dataclass(frozen=True)
class _Drawing:
    """How `make_experiment` draws and writes its wells."""

    out: Path
    mode: str
    geo: dict
    rgb: bool
    ext: str
    name_style: str
    only: frozenset[str] | None  # the wells to draw; None: all


def _viability(rec: dict, curves: dict, eps: float) -> tuple[float, float]:
    """Return a well's true 4PL viability and the viability drawn (with replicate noise)."""
    if rec["role"] == "blank":
        # no cells: nothing drawn, readout exactly 0 (live/dead: only dead cells, a
        # killed control, as a live fraction needs cells)
        return 0.0, 0.0
    c = curves[rec["curve"]]
    conc_m = rec["concentration"] * 1e-9
    v_true = float(four_pl(conc_m, c["ic50_M"], c["hill"], c["top"], c["bottom"]))
    return v_true, max(v_true + float(eps), 0.0)


def _draw_wells(
    drawing: _Drawing, records: list[dict], curves: dict, seeds: np.ndarray, noise: np.ndarray
) -> tuple[list[dict], float | None, float | None]:
    """Draw and write every well's image; return the truth rows and the calibration.

    Returns
    -------
    rows : list of dict
        Per well: the design record, ``image``, ``concentration_M``, ``viability_true``,
        ``viability``, ``readout_target``, ``readout`` (NaN for a well not drawn) and
        ``readout_name``.
    pixel_size_um, z_step_um : float or None
        As drawn (the geometry's values when no well was drawn).
    """
    spec = SEGMENT_MODES[drawing.mode]
    geo = drawing.geo
    px: float | None = geo.get("pixel_size_um", geo.get("voxel_size_um", (0, 0, 0))[1])
    z: float | None = geo["voxel_size_um"][0] if spec.is_3d else None
    rows = []
    for rec, wseed, eps in zip(records, seeds, noise, strict=True):
        v_true, v = _viability(rec, curves, eps)
        level = READOUT_TOP[drawing.mode] * v
        name = f"{_file_stem(rec['well'], drawing.name_style)}.{drawing.ext}"
        if drawing.only is not None and rec["well"] not in drawing.only:
            readout = math.nan
        else:
            s = _make_well_image(drawing.mode, int(wseed), level, geo, drawing.rgb)
            _write_image(drawing.out / name, s)
            px, z = s.pixel_size_um, s.z_step_um
            readout = s.truth[spec.readout]
        rows.append(
            {
                **rec,
                "image": name,
                "concentration_M": (
                    rec["concentration"] * 1e-9 if rec["role"] != "blank" else math.nan
                ),
                "viability_true": v_true,
                "viability": v,
                "readout_target": level,
                "readout": float(readout),
                "readout_name": spec.readout,
            }
        )
    return rows, px, z


def _write_tables(wells: Any, out: Path) -> None:
    """Write ``layout.csv`` (the layout file's columns) and ``truth.csv`` (per well)."""
    layout_cols = [c for c in INPUT_COLUMNS if c in wells.columns]
    wells[layout_cols].to_csv(out / "layout.csv", index=False, float_format="%.6g")
    truth_cols = ["well", "image", "cell_line", "drug", "concentration_M", "drug_b",
                  "concentration_b", "unit_b", "role", "replicate", "curve", "viability_true",
                  "viability", "readout_target", "readout", "readout_name"]  # fmt: skip
    wells[truth_cols].to_csv(out / "truth.csv", index=False, float_format="%.8g")


def _combination_truth(
    records: list[dict], curves: dict, concentration_b: float, combination_shift: float
) -> dict:
    """Return the combination block's truth: the IC50 shift and per-dose Bliss/HSA excess."""
    combo_key = f"{RESISTANT} + {DRUG_B}"
    doses = sorted({r["concentration"] for r in records if r["curve"] == combo_key} - {0.0})
    syn = []
    for d in doses:
        va = float(four_pl(d * 1e-9, **_p(curves[RESISTANT])))
        vab = float(four_pl(d * 1e-9, **_p(curves[combo_key])))
        vb = 1.0  # tocilizumab alone does nothing
        syn.append(
            {
                "concentration_M": d * 1e-9,
                "viability_a": va,
                "viability_b": vb,
                "viability_ab": vab,
                "bliss": va * vb - vab,
                "hsa": min(va, vb) - vab,
            }
        )
    return {
        "cell_line": RESISTANT,
        "drug": DRUG,
        "drug_b": DRUG_B,
        "concentration_b": float(concentration_b),
        "unit_b": "ug/mL",
        "ic50_shift_factor": float(combination_shift),
        "ic50_M_alone": curves[RESISTANT]["ic50_M"],
        "ic50_M_with_b": curves[combo_key]["ic50_M"],
        "viability_b_alone": 1.0,
        "note": "bliss/hsa are true excess over the reference on the viability-loss scale "
        "(> 0 = synergy); Loewe is undefined as tocilizumab alone has no effect",
        "per_dose": syn,
    }


def _file_stem(well: str, style: str) -> str:
    """File name stem of a well in one of the naming styles plate readers use."""
    row, col = split_well(well)
    if style == "A01":
        return well
    if style == "A1":
        return f"{row_letters(row)}{col}"
    if style == "r01c01":
        return f"r{row:02d}c{col:02d}f01"
    if style == "imagexpress":
        return f"plate1_{well}_s1_w1"
    raise InputError(
        f"name_style must be 'A01', 'A1', 'r01c01' or 'imagexpress', got {style!r}",
        column="name_style",
    )


def _p(c: dict) -> dict:
    return {"ic50_m": c["ic50_M"], "hill": c["hill"], "top": c["top"], "bottom": c["bottom"]}
