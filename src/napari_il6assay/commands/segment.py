"""``il6assay segment IMAGE... --mode MODE``: segment and measure single images.

Writes into ``--out`` (default ``./il6assay-segment``):

- ``objects.csv``: one row per object, ``image`` and ``well`` first (the well from the
  file name when it carries one, else empty);
- ``images.csv``: one row per image, ``image, mode, readout, n_objects, qc_flag`` and
  the mode's measures;
- ``plate_wells.csv``: with ``--plate-format``, one row per well of each plate photo;
- ``qc/<stem>_qc.png``: the outline drawn on the image;
- ``labels/<stem>_labels.tif`` with ``--save-labels``: int32 labels, same YX(Z) shape;
- ``errors.csv``: ``path, stage, error`` for every image that failed (header only when
  none did).

Exit code 0 when every image was measured, 1 when some failed (listed in
``errors.csv``), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from napari_il6assay.cli import check_out_dir, pixel_budget, positive_float
from napari_il6assay.io.images import pixel_limit

MODES = ("colony", "livedead", "spheroid", "spheroid3d", "spheres")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``segment`` command's arguments."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument("--mode", required=True, choices=MODES, help="assay / segmentation mode")
    parser.add_argument("--out", default="il6assay-segment",
                        help="output folder (default ./il6assay-segment)")
    parser.add_argument("--save-labels", action="store_true",
                        help="write labels/<stem>_labels.tif (int32, 0 = background)")
    parser.add_argument("--pixel-size", type=positive_float, default=None, metavar="UM",
                        help="YX pixel size in um (overrides the file's metadata)")
    parser.add_argument("--voxel-size", default=None, metavar="Z,Y,X",
                        help="voxel size in um for z-stacks, e.g. 4,0.75,0.75")
    parser.add_argument("--min-diameter", type=positive_float, default=None, metavar="UM",
                        help="spheres: smallest counted equivalent diameter (default 50 um)")
    parser.add_argument("--plate-format", type=int, default=None, choices=[6, 12, 24, 48, 96],
                        help="colony: the image is a whole plate of this format")
    parser.add_argument("--max-pixels", type=pixel_budget, default=None, metavar="N",
                        help="refuse images with more pixels than this, from the file header "
                             "before decoding (default 2**31 per image or stack)")
    parser.add_argument("--polarity", default=None, choices=["auto", "dark", "bright"],
                        help="spheroid/spheres/spheroid3d: object darker or brighter than "
                             "the background")


def _voxel_size(text: str | None) -> tuple[float, float, float] | None:
    from napari_il6assay.errors import InputError

    if text is None:
        return None
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(math.isfinite(v) and v > 0 for v in vals):
        raise InputError(
            f"--voxel-size must be three positive numbers Z,Y,X in um, got {text!r}",
            column="--voxel-size",
        )
    return vals  # type: ignore[return-value]


def _well_of(path: Path) -> str:
    try:
        from napari_il6assay.io.plate_folder import parse_well_id
    except ImportError:
        return ""
    try:
        wid = parse_well_id(path.name)
    except Exception:  # noqa: BLE001 - a name that is no well id
        return ""
    return "" if wid is None else str(wid.well)


def _unique_stem(path: Path, used: set[str]) -> str:
    stem = path.stem
    if stem.endswith(".ome"):
        stem = stem[:-4]
    cand, k = stem, 2
    while cand in used:
        cand = f"{stem}_{k}"
        k += 1
    used.add(cand)
    return cand


def _scalar(v: Any) -> bool:
    import numpy as np

    return isinstance(v, (int, float, str, bool, np.generic)) or v is None


def run(args: argparse.Namespace) -> int:
    """Segment every image; write the tables, QC images and labels. Returns the exit code."""
    import numpy as np
    import pandas as pd

    from napari_il6assay.errors import Il6AssayError, InputError
    from napari_il6assay.segment import segment_file
    from napari_il6assay.segment.qc import save_png

    if args.pixel_size is not None and not args.pixel_size > 0:
        raise InputError(f"--pixel-size must be positive, got {args.pixel_size}",
                         column="--pixel-size")
    voxel = _voxel_size(args.voxel_size)
    params: dict[str, Any] = {}
    if args.min_diameter is not None:
        if args.mode != "spheres":
            raise InputError("--min-diameter applies to --mode spheres only",
                             column="--min-diameter")
        params["min_diameter_um"] = float(args.min_diameter)
    if args.plate_format is not None:
        if args.mode != "colony":
            raise InputError("--plate-format applies to --mode colony only",
                             column="--plate-format")
        params["plate_format"] = int(args.plate_format)
    if args.polarity is not None:
        if args.mode not in ("spheroid", "spheres", "spheroid3d"):
            raise InputError(f"--polarity does not apply to --mode {args.mode}",
                             column="--polarity")
        params["polarity"] = args.polarity

    out = check_out_dir(args.out, create=True)
    (out / "qc").mkdir(exist_ok=True)
    if args.save_labels:
        (out / "labels").mkdir(exist_ok=True)

    object_tables: list[pd.DataFrame] = []
    image_rows: list[dict[str, Any]] = []
    well_tables: list[pd.DataFrame] = []
    errors: list[dict[str, str]] = []
    used: set[str] = set()
    for name in args.images:
        path = Path(name)
        stage = "read"
        try:
            if not path.is_file():
                raise InputError("no such image file", path=path)
            stage = "segment"
            with pixel_limit(getattr(args, "max_pixels", None)):
                res = segment_file(path, args.mode, pixel_size_um=args.pixel_size,
                                   voxel_size_um=voxel, **params)
            stage = "write"
            stem = _unique_stem(path, used)
            well = _well_of(path)
            obj = res.objects.copy()
            obj.insert(0, "image", path.name)
            obj.insert(1, "well", well)
            object_tables.append(obj)
            row: dict[str, Any] = {
                "image": path.name,
                "well": well,
                "mode": args.mode,
                "readout": res.measures.get("readout"),
                "n_objects": res.measures.get("n_objects"),
                "qc_flag": res.qc_flag,
            }
            for k, v in res.measures.items():
                if k not in row and _scalar(v):
                    row[k] = v.item() if isinstance(v, np.generic) else v
            image_rows.append(row)
            per_well = res.measures.get("per_well")
            if isinstance(per_well, pd.DataFrame):
                pw = per_well.copy()
                pw.insert(0, "image", path.name)
                well_tables.append(pw)
            if res.overlay is not None:
                save_png(res.overlay, out / "qc" / f"{stem}_qc.png")
            if args.save_labels:
                import tifffile

                tifffile.imwrite(out / "labels" / f"{stem}_labels.tif",
                                 np.asarray(res.labels, dtype=np.int32), compression="zlib")
        except Il6AssayError as exc:
            from napari_il6assay.errors import ImageReadError

            if isinstance(exc, ImageReadError) or (stage == "read"):
                stage = "read"
            errors.append({"path": str(path), "stage": stage,
                           "error": getattr(exc, "reason", None) or str(exc)})
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop the others
            errors.append({"path": str(path), "stage": stage,
                           "error": f"{type(exc).__name__}: {exc}"})

    first = ["image", "well"]
    if object_tables:
        objects = pd.concat(object_tables, ignore_index=True, sort=False)
    else:
        objects = pd.DataFrame(columns=first + ["label", "area_px", "area_um2",
                                                "equivalent_diameter_um", "mean_intensity",
                                                "integrated_intensity", "circularity",
                                                "solidity"])
    objects.to_csv(out / "objects.csv", index=False)
    img_cols = ["image", "mode", "readout", "n_objects"]
    images = pd.DataFrame(image_rows)
    if images.empty:
        images = pd.DataFrame(columns=img_cols)
    else:
        images = images[img_cols + [c for c in images.columns if c not in img_cols]]
    images.to_csv(out / "images.csv", index=False)
    if well_tables:
        pd.concat(well_tables, ignore_index=True).to_csv(out / "plate_wells.csv", index=False)
    pd.DataFrame(errors, columns=["path", "stage", "error"]).to_csv(out / "errors.csv",
                                                                    index=False)
    import sys

    n_ok = len(image_rows)
    print(f"segmented {n_ok} of {len(args.images)} image(s) ({args.mode}) -> {out}",
          file=sys.stderr)
    for e in errors:
        print(f"failed: {e['path']} ({e['stage']}): {e['error']}", file=sys.stderr)
    return 1 if errors else 0
