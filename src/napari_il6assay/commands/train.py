"""``il6assay train IMAGE... --scribbles LABELS... --mode MODE --out FILE``.

Trains a pixel classifier (`napari_il6assay.segment.classifier`) from scribbles: one labels
TIFF per image, of the image's YX shape, with 0 = not labelled, 1 = background, 2 = object and
optional further classes. The file it writes holds no pickle; use it with ``--classifier FILE``
on ``segment`` and ``batch``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_il6assay.segment import MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` command's arguments."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="training images")
    parser.add_argument(
        "--scribbles",
        nargs="+",
        required=True,
        metavar="LABELS",
        help="one labels TIFF per image: 0 none, 1 background, 2 object",
    )
    trainable = [m for m, spec in MODES.items() if spec.trainable]
    parser.add_argument(
        "--mode",
        required=True,
        choices=trainable,
        help="the segmentation mode the classifier is for",
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="classifier file to write (.npz)"
    )
    parser.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        metavar="UM",
        help="YX pixel size in um (overrides the files' metadata)",
    )
    parser.add_argument("--trees", type=int, default=100, help="trees of the forest (default 100)")


def run(args: argparse.Namespace) -> int:
    """Read the images and scribbles, train, save; print what was learned."""
    import math

    import numpy as np

    from napari_il6assay.errors import InputError
    from napari_il6assay.io.images import read_image
    from napari_il6assay.segment import classifier as clf_mod

    if len(args.images) != len(args.scribbles):
        raise InputError(
            f"{len(args.images)} images but {len(args.scribbles)} scribble files: give one "
            "--scribbles file per image, in the same order",
            column="--scribbles",
        )
    if args.pixel_size is not None and not (math.isfinite(args.pixel_size) and args.pixel_size > 0):
        raise InputError(f"--pixel-size must be a finite positive number, got {args.pixel_size}",
                         column="--pixel-size")  # fmt: skip
    if not 1 <= args.trees <= 1000:
        raise InputError(f"--trees must be between 1 and 1000, got {args.trees}", column="--trees")
    out = Path(args.out)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    images, scribbles, sizes = [], [], []
    for img_path, scr_path in zip(args.images, args.scribbles, strict=True):
        img = read_image(img_path)
        if "Z" in img.axes:
            raise InputError("the pixel classifier takes 2D images, this is a z-stack",
                             path=img_path)  # fmt: skip
        scr = read_image(scr_path)
        s = np.asarray(scr.data)
        if s.ndim == 3 and s.shape[-1] == 1:
            s = s[..., 0]
        if s.shape != np.asarray(img.data).shape[:2]:
            raise InputError(f"scribbles of shape {s.shape} do not match the image's "
                             f"{np.asarray(img.data).shape[:2]}", path=scr_path)  # fmt: skip
        if s.dtype.kind not in "iu":
            raise InputError(f"scribbles must be integer labels, got {s.dtype}", path=scr_path)
        images.append(np.asarray(img.data))
        scribbles.append(s.astype(np.int64))
        sizes.append(args.pixel_size if args.pixel_size is not None else img.pixel_size_um)
    try:
        clf = clf_mod.train(images, scribbles, mode=args.mode, pixel_sizes_um=sizes,
                            n_estimators=args.trees)  # fmt: skip
    except clf_mod.ClassifierError as exc:
        raise InputError(str(exc), path=args.scribbles[0]) from exc
    try:
        path = clf.save(out)
    except OSError as exc:
        raise InputError(f"cannot write the classifier: {exc.strerror or exc}", path=out) from exc
    counts = {int(c): int((clf.y == c).sum()) for c in clf.classes}
    unit = "um" if clf.params.sigma_unit == "um" else "px"
    print(f"trained on {len(images)} image(s): "
          + ", ".join(f"class {c}: {n} px" for c, n in counts.items())
          + f"; {clf.X.shape[1]} features, scales {clf.params.sigma_min:g}-"
          f"{clf.params.sigma_max:g} {unit}")  # fmt: skip
    print(f"classifier: {path}  (use it with --classifier {path})")
    return 0
