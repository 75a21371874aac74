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

``--well auto|circle|none``, ``--roi X,Y,W,H`` and ``--well-diameter-um`` choose how colony
and spheres modes find the well (see `add_well_arguments`).

Exit code 0 when every image was measured, 1 when some failed (listed in
``errors.csv``), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from napari_il6assay.cli import check_out_dir, parse_voxel_size, pixel_budget, positive_float
from napari_il6assay.io.images import pixel_limit
from napari_il6assay.segment import MODES
from napari_il6assay.segment.plate_grid import PHOTO_FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``segment`` command's arguments."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument("--mode", required=True, choices=MODES, help="assay / segmentation mode")
    parser.add_argument(
        "--out", default="il6assay-segment", help="output folder (default ./il6assay-segment)"
    )
    parser.add_argument(
        "--save-labels",
        action="store_true",
        help="write labels/<stem>_labels.tif (int32, 0 = background)",
    )
    parser.add_argument(
        "--plate-format",
        type=int,
        default=None,
        choices=PHOTO_FORMATS,
        help="colony: the image is a whole plate of this format",
    )
    parser.add_argument(
        "--polarity",
        default=None,
        choices=["auto", "dark", "bright"],
        help="spheroid/spheres/spheroid3d: object darker or brighter than the background",
    )
    add_mode_arguments(parser)


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options ``segment`` and ``batch`` share: calibration, mode parameters, pixel cap.

    `mode_params` checks them against the ``--mode``.
    """
    parser.add_argument(
        "--pixel-size",
        type=positive_float,
        default=None,
        metavar="UM",
        help="YX pixel size in µm (overrides the file's metadata)",
    )
    parser.add_argument(
        "--voxel-size",
        default=None,
        metavar="Z,Y,X",
        help="voxel size in µm for z-stacks, e.g. 4,0.75,0.75",
    )
    parser.add_argument(
        "--min-diameter",
        type=positive_float,
        default=None,
        metavar="UM",
        help="spheres: smallest counted equivalent diameter (default 50 µm)",
    )
    parser.add_argument(
        "--object",
        default=None,
        choices=["auto", "dark", "bright"],
        dest="object_polarity",
        help="spheroid: the spheroid is dark (brightfield) or bright (fluorescence); auto "
        "(default) decides from its contrast against its own surround",
    )
    add_well_arguments(parser)
    add_classifier_argument(parser)
    parser.add_argument(
        "--haze",
        default=None,
        choices=["reject", "keep"],
        help="livedead: drop out-of-focus blobs (reject, default) or count them as cells (keep)",
    )
    parser.add_argument(
        "--no-split", action="store_true", help="spheres: do not split touching spheres by shape"
    )
    parser.add_argument(
        "--max-pixels",
        type=pixel_budget,
        default=None,
        metavar="N",
        help="refuse images with more pixels than this, from the file header before "
        "decoding (default 2**31 per image or stack)",
    )


def mode_params(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Check the options of `add_mode_arguments`; return the voxel size and the mode keywords.

    Raises
    ------
    InputError
        An option the ``--mode`` does not take, or a bad value (naming the option).
    """
    from napari_il6assay.errors import InputError

    if args.pixel_size is not None and not args.pixel_size > 0:
        raise InputError(
            f"--pixel-size must be positive, got {args.pixel_size}", column="--pixel-size"
        )
    voxel = parse_voxel_size(args.voxel_size)
    params: dict[str, Any] = {}
    if args.min_diameter is not None:
        check_option("--min-diameter", args.mode, "min_diameter_um")
        params["min_diameter_um"] = float(args.min_diameter)
    obj = getattr(args, "object_polarity", None)
    if obj is not None:
        check_object_option(args.mode)
        polarity = getattr(args, "polarity", None)  # segment only
        if polarity is not None and polarity != obj:
            raise InputError(f"--object {obj} contradicts --polarity {polarity}",
                             column="--object")  # fmt: skip
        if obj != "auto":  # auto is the modes' default
            params["polarity"] = obj
    params.update(well_params(args, args.mode))
    params.update(classifier_params(args, args.mode))
    if getattr(args, "haze", None) is not None:
        check_option("--haze", args.mode, "haze")
        params["haze"] = args.haze
    if getattr(args, "no_split", False):
        check_option("--no-split", args.mode, "split")
        params["split"] = False
    return voxel, params


def check_option(option: str, mode: str, param: str) -> None:
    """Refuse a mode option for a mode without the keyword parameter it sets.

    Which mode takes which option follows from the modes' signatures (`ModeSpec.takes`), so a
    new mode with e.g. a ``well`` parameter takes ``--well`` without a change here.

    Parameters
    ----------
    option : str
        The option as typed, e.g. ``"--haze"`` (named in the error).
    mode : str
        The ``--mode``.
    param : str
        The keyword parameter of the mode's segment function that the option sets.

    Raises
    ------
    InputError
        Naming the option and the modes it applies to.
    """
    from napari_il6assay.errors import InputError
    from napari_il6assay.segment import get_mode, modes_taking

    if not get_mode(mode).takes(param):
        raise InputError(f"{option} applies to --mode {' or '.join(modes_taking(param))} only",
                         column=option)  # fmt: skip


def check_object_option(mode: str) -> None:
    """Refuse ``--object`` for a mode whose `ModeSpec.object_choice` is off."""
    from napari_il6assay.errors import InputError
    from napari_il6assay.segment import MODES, get_mode

    if not get_mode(mode).object_choice:
        names = " or ".join(m for m, spec in MODES.items() if spec.object_choice)
        raise InputError(f"--object applies to --mode {names} only", column="--object")


def add_classifier_argument(parser: argparse.ArgumentParser) -> None:
    """``--classifier FILE`` (shared with batch)."""
    parser.add_argument(
        "--classifier",
        default=None,
        metavar="FILE",
        help="pixel classifier from 'il6assay train' (colony, spheroid, spheres): its object "
        "mask replaces the mode's own foreground step",
    )


def classifier_params(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """``{"classifier": path}`` after checking that the file loads and fits the mode."""
    from napari_il6assay.errors import InputError

    path = getattr(args, "classifier", None)
    if path is None:
        return {}
    from napari_il6assay.segment import CLASSIFIER_MODES, get_mode
    from napari_il6assay.segment.classifier import ClassifierError, load_cached

    if not get_mode(mode).accepts_classifier:
        raise InputError(f"--classifier applies to --mode {', '.join(CLASSIFIER_MODES)}",
                         column="--classifier")  # fmt: skip
    try:
        clf = load_cached(path)
    except ClassifierError as exc:
        raise InputError(str(exc), column="--classifier") from exc
    if clf.params.mode != mode:
        raise InputError(f"the classifier was trained for --mode {clf.params.mode}, not {mode}",
                         path=path)  # fmt: skip
    return {"classifier": str(Path(path).resolve())}


def add_well_arguments(parser: argparse.ArgumentParser) -> None:
    """``--well``, ``--roi`` and ``--well-diameter-um`` (colony and spheres; shared with batch)."""
    parser.add_argument(
        "--well",
        default=None,
        choices=["auto", "circle", "none"],
        help="colony/spheres: auto = find the round well and flag well_implausible when it "
        "is not plausible (default); circle = always measure inside the circle found; "
        "none = no well: measure the whole image (or --roi)",
    )
    parser.add_argument(
        "--roi",
        default=None,
        metavar="X,Y,W,H",
        help="colony/spheres with --well none: measure only this rectangle (pixels)",
    )
    parser.add_argument(
        "--well-diameter-um",
        type=float,
        default=None,
        metavar="UM",
        help="colony/spheres: known well floor diameter; the well found must match it "
        "(+-12 %%); needs a pixel size",
    )


def well_params(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """Mode parameters from ``--well``, ``--roi``, ``--well-diameter-um`` (checked).

    Raises
    ------
    InputError
        For an option the mode does not take or a bad value (names the option).
    """
    from napari_il6assay.errors import InputError

    params: dict[str, Any] = {}
    given = {
        "--well": getattr(args, "well", None),
        "--roi": getattr(args, "roi", None),
        "--well-diameter-um": getattr(args, "well_diameter_um", None),
    }
    for opt, val in given.items():
        if val is not None:
            check_option(opt, mode, "well")
    if given["--well"] is not None:
        params["well"] = given["--well"]
    if given["--roi"] is not None:
        if given["--well"] != "none":
            raise InputError("--roi needs --well none", column="--roi")
        parts = given["--roi"].replace(" ", "").split(",")
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            vals = []
        if len(vals) != 4 or vals[2] <= 0 or vals[3] <= 0 or vals[0] < 0 or vals[1] < 0:
            raise InputError(
                f"--roi must be X,Y,W,H (integers, W and H > 0), got {given['--roi']!r}",
                column="--roi",
            )
        params["roi"] = ",".join(str(v) for v in vals)
    d = given["--well-diameter-um"]
    if d is not None:
        if not d > 0:
            raise InputError(
                f"--well-diameter-um must be positive, got {d}", column="--well-diameter-um"
            )
        params["well_diameter_um"] = float(d)
    return params


def _well_of(path: Path) -> str:
    """Return the well a file name carries (``""`` when it names none)."""
    from napari_il6assay.io.plate_folder import parse_well_id

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
    import sys

    voxel, params = segment_options(args)
    out = check_out_dir(args.out, create=True)
    (out / "qc").mkdir(exist_ok=True)
    if args.save_labels:
        (out / "labels").mkdir(exist_ok=True)
    col = _Collected(out)
    try:
        for name in args.images:
            col.segment(Path(name), args, voxel, params)
    finally:
        col.close()
    images = col.write_tables()
    print(
        f"segmented {len(col.image_rows)} of {len(args.images)} image(s) ({args.mode}) -> {out}",
        file=sys.stderr,
    )
    for e in col.errors:
        print(f"failed: {e['path']} ({e['stage']}): {e['error']}", file=sys.stderr)
    for line in segment_summary_lines(images):
        print(line)
    return 1 if col.errors else 0


def segment_options(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Check the calibration and mode options; return the voxel size and `segment_file` keywords.

    Raises
    ------
    InputError
        An option the mode does not take, or a bad value.
    """
    voxel, params = mode_params(args)
    if args.plate_format is not None:
        check_option("--plate-format", args.mode, "plate_format")
        params["plate_format"] = int(args.plate_format)
    if args.polarity is not None:
        check_option("--polarity", args.mode, "polarity")
        params.setdefault("polarity", args.polarity)  # --object, when given, agrees
    return voxel, params


_IMAGE_COLUMNS = ["image", "mode", "readout", "n_objects"]


class _Collected:
    """The rows of the ``segment`` command's tables, gathered image by image.

    QC overlays are encoded on a writer thread (PIL releases the GIL while compressing), off
    the critical path: the next image is read and segmented meanwhile. At most one overlay
    waits, so memory stays bounded; a failed write is reported for its own image.
    """

    def __init__(self, out: Path) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.out = out
        self.object_tables: list[Any] = []
        self.image_rows: list[dict[str, Any]] = []
        self.well_tables: list[Any] = []
        self.errors: list[dict[str, str]] = []
        self.used: set[str] = set()
        self.writer = ThreadPoolExecutor(max_workers=1)
        self.pending: list[tuple[Future[Any], Path]] = []

    def drain(self) -> None:
        """Wait for the overlay being written; a failure becomes an ``errors.csv`` row."""
        while self.pending:
            fut, src = self.pending.pop()
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - reported in errors.csv like any failure
                why = f"QC overlay: {type(exc).__name__}: {exc}"
                self.errors.append({"path": str(src), "stage": "write", "error": why})

    def close(self) -> None:
        """Finish the overlay writes."""
        self.drain()
        self.writer.shutdown()

    def segment(
        self, path: Path, args: argparse.Namespace, voxel: Any, params: dict[str, Any]
    ) -> None:
        """Segment one image and keep its rows; a failure becomes an ``errors.csv`` row."""
        from napari_il6assay.errors import Il6AssayError, ImageReadError, InputError
        from napari_il6assay.segment import segment_file

        stage = "read"
        try:
            if not path.is_file():
                raise InputError("no such image file", path=path)
            stage = "segment"
            with pixel_limit(getattr(args, "max_pixels", None)):
                res = segment_file(
                    path, args.mode, pixel_size_um=args.pixel_size, voxel_size_um=voxel, **params
                )
            stage = "write"
            self._keep(path, args, res)
        except Il6AssayError as exc:
            if isinstance(exc, ImageReadError):
                stage = "read"
            self.errors.append({"path": str(path), "stage": stage,
                                "error": getattr(exc, "reason", None) or str(exc)})  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop the others
            self.errors.append(
                {"path": str(path), "stage": stage, "error": f"{type(exc).__name__}: {exc}"}
            )

    def _keep(self, path: Path, args: argparse.Namespace, res: Any) -> None:
        """Keep an image's rows and write its QC overlay and labels."""
        import numpy as np

        from napari_il6assay.segment.qc import save_png

        stem = _unique_stem(path, self.used)
        well = _well_of(path)
        obj = res.objects.copy()
        obj.insert(0, "image", path.name)
        obj.insert(1, "well", well)
        self.object_tables.append(obj)
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
        self.image_rows.append(row)
        per_well = res.per_well
        if per_well is not None:
            pw = per_well.copy()
            pw.insert(0, "image", path.name)
            self.well_tables.append(pw)
        if res.overlay is not None:
            self.drain()
            qc = self.out / "qc" / f"{stem}_qc.png"
            self.pending.append((self.writer.submit(save_png, res.overlay, qc), path))
        if args.save_labels:
            import tifffile

            labels = np.asarray(res.labels, dtype=np.int32)
            tif = self.out / "labels" / f"{stem}_labels.tif"
            tifffile.imwrite(tif, labels, compression="zlib")

    def write_tables(self) -> Any:
        """Write ``objects.csv``, ``images.csv``, ``plate_wells.csv``, ``errors.csv``.

        Returns
        -------
        DataFrame
            ``images.csv`` as written.
        """
        import pandas as pd

        from napari_il6assay.segment.measure import OBJECT_COLUMNS

        out = self.out
        if self.object_tables:
            objects = pd.concat(self.object_tables, ignore_index=True, sort=False)
        else:
            # the columns every mode fills, so an empty table still has its header
            objects = pd.DataFrame(columns=["image", "well", *OBJECT_COLUMNS])
        objects.to_csv(out / "objects.csv", index=False)
        images = pd.DataFrame(self.image_rows)
        if images.empty:
            images = pd.DataFrame(columns=_IMAGE_COLUMNS)
        else:
            rest = [c for c in images.columns if c not in _IMAGE_COLUMNS]
            images = images[_IMAGE_COLUMNS + rest]
        images.to_csv(out / "images.csv", index=False)
        if self.well_tables:
            wells = pd.concat(self.well_tables, ignore_index=True)
            wells.to_csv(out / "plate_wells.csv", index=False)
        errors = pd.DataFrame(self.errors, columns=["path", "stage", "error"])
        errors.to_csv(out / "errors.csv", index=False)
        return images


def segment_summary_lines(images: Any, limit: int = 20) -> list[str]:
    """Summarise the result: the readout per image (first ``limit``), its range, and flags.

    Parameters
    ----------
    images : DataFrame
        ``images.csv`` rows.
    limit : int

    Returns
    -------
    list of str
    """
    import pandas as pd

    from napari_il6assay.io.cells import is_blank
    from napari_il6assay.qc_flags import split_flags

    if images is None or images.empty:
        return []
    name = str(images["readout_name"].iloc[0]) if "readout_name" in images else "readout"
    vals = pd.to_numeric(images["readout"], errors="coerce")
    lines = []
    for (_, r), v in list(zip(images.iterrows(), vals, strict=True))[:limit]:
        flag = "" if is_blank(r.get("qc_flag")) else f"  [{r['qc_flag']}]"
        lines.append(f"  {r['image']}: {name} {v:.4g}, {int(r['n_objects'] or 0)} object(s){flag}")
    if len(images) > limit:
        lines.append(f"  ... {len(images) - limit} more image(s) in images.csv")
    ok = vals.dropna()
    if len(ok) > 1:
        lines.append(
            f"  {name}: mean {ok.mean():.4g}, median {ok.median():.4g}, "
            f"range {ok.min():.4g} - {ok.max():.4g} over {len(ok)} image(s)"
        )
    counts: dict[str, int] = {}
    for f in images.get("qc_flag", []):
        for x in split_flags(f):
            counts[x] = counts.get(x, 0) + 1
    if counts:
        lines.append("  flagged: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return lines
