"""Well ids from image file names, and plate folders as tables.

Microscopes name their files in a few ways, all understood here:

- plain well ids: ``A1.tif``, ``A01.png``, ``a01.tif``, ``plate1_B07.tif``;
- Operetta / Opera Phenix: ``r02c05f03p01-ch1sk1fk1fl1.tiff`` (row 2 = B, column 5, field 3,
  plane 1, channel 1);
- ImageXpress: ``Plate1_B05_s3_w1_<uuid>.tif`` (site 3, wavelength 1).

Wells are canonical, zero-padded and upper case (``B05``); 384-well plates (rows A-P, columns
1-24) are covered.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from napari_il6assay.errors import InputError

# split_well and well_name are re-exported: they used to live here
from napari_il6assay.io.plate import PLATE_FORMATS, row_number, split_well, well_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "WellId",
    "PlateFolder",
    "parse_well_id",
    "well_name",
    "split_well",
    "scan_plate_folder",
    "discover_plate_folder",
    "IMAGE_SUFFIXES",
]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
_MAX_ROWS, _MAX_COLS = PLATE_FORMATS[384]  # A-P, 1-24: the largest plate

_OPERETTA = re.compile(
    r"(?<![a-z0-9])r(\d{1,2})c(\d{1,2})(?:f(\d{1,4}))?(?:p(\d{1,4}))?(?:-?ch(\d{1,2}))?",
    re.IGNORECASE,
)
# a well token: one row letter and 1-2 column digits, not glued to other letters or digits
_WELL = re.compile(r"(?<![A-Za-z0-9])([A-Pa-p])(\d{1,2})(?![0-9])")
_IXM_TAIL = re.compile(r"^(?:_s(\d{1,4}))?(?:_w(\d{1,2}))?", re.IGNORECASE)
_SITE = re.compile(r"(?<![A-Za-z0-9])(?:s|site|f|field|fld)(\d{1,4})(?![0-9])", re.IGNORECASE)
_CHANNEL = re.compile(r"(?<![A-Za-z0-9])(?:w|ch|c|channel)(\d{1,2})(?![0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class WellId:
    """What a file name says about its image.

    Parameters
    ----------
    well : str
        Canonical well id such as ``A01``.
    site : int
        Site (field of view) within the well, 1 when the name has none.
    channel : int or None
        Channel (wavelength) number, None when the name has none (the file then holds all
        channels of the site).
    plane : int or None
        z plane number (Operetta ``p01``), None when the name has none.
    """

    well: str
    site: int = 1
    channel: int | None = None
    plane: int | None = None


def _int(s: str | None) -> int | None:
    return int(s) if s else None


def parse_well_id(name: str | os.PathLike[str]) -> WellId | None:
    """Well, site and channel from a file name, or None when the name holds no well id.

    Parameters
    ----------
    name : str or path
        A file name or path; only the name (without its extension) is looked at.

    Returns
    -------
    WellId or None

    Notes
    -----
    When a name holds several well-like tokens, an upper-case one wins over lower-case ones
    (``c1`` is usually a channel), one followed by ImageXpress ``_s``/``_w`` parts wins next,
    then the last upper-case one (``D1_B07`` -> ``B07``), or the first lower-case one
    (``well_b7_c1`` -> ``B07``, channel 1).

    Examples
    --------
    >>> parse_well_id("x_A01_s2_w1.tif")
    WellId(well='A01', site=2, channel=1, plane=None)
    >>> parse_well_id("r02c05f03p01-ch1sk1fk1fl1.tiff")
    WellId(well='B05', site=3, channel=1, plane=1)
    >>> parse_well_id("plate1_B7.tif").well
    'B07'
    >>> parse_well_id("IMG_0001.tif") is None
    True
    """
    stem = Path(name).name
    for suffix in (".ome.tiff", ".ome.tif", *IMAGE_SUFFIXES):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break

    m = _OPERETTA.search(stem)
    if m:
        row, col = int(m.group(1)), int(m.group(2))
        if 1 <= row <= _MAX_ROWS and 1 <= col <= _MAX_COLS:
            return WellId(
                well=well_name(row, col),
                site=_int(m.group(3)) or 1,
                channel=_int(m.group(5)),
                plane=_int(m.group(4)),
            )

    cands = [c for c in _WELL.finditer(stem) if 1 <= int(c.group(2)) <= _MAX_COLS]
    if not cands:
        return None
    upper = [c for c in cands if c.group(1).isupper()]
    pool = upper or cands
    # _IXM_TAIL matches any text (every part is optional): a non-empty match is a tail
    with_tail = [c for c in pool if (t := _IXM_TAIL.match(stem[c.end() :])) and t.group(0)]
    best = with_tail[0] if with_tail else (pool[-1] if upper else pool[0])
    well = well_name(row_number(best.group(1)), int(best.group(2)))

    site: int | None = None
    channel: int | None = None
    tail = _IXM_TAIL.match(stem[best.end() :])
    if tail and tail.group(0):
        site, channel = _int(tail.group(1)), _int(tail.group(2))
    rest = stem[: best.start()] + " " + stem[best.end() :]
    if site is None:
        s = _SITE.search(rest)
        site = _int(s.group(1)) if s else None
    if channel is None:
        c = _CHANNEL.search(rest)
        channel = _int(c.group(1)) if c else None
    return WellId(well=well, site=site or 1, channel=channel)


@dataclass
class PlateFolder:
    """The images of a plate folder, and the image files whose names hold no well id.

    Parameters
    ----------
    images : pandas.DataFrame
        One row per image: ``plate, well, site, channel, path, plane``.
    unmatched : pandas.DataFrame
        ``path, reason`` for image files that cannot be placed (no well id in the name, or a
        second file for the same plate/well/site/channel/plane).
    """

    images: pd.DataFrame
    unmatched: pd.DataFrame


def _image_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or not f.lower().endswith(IMAGE_SUFFIXES):
                continue
            out.append(Path(root) / f)
    return out


def scan_plate_folder(folder: str | os.PathLike[str]) -> PlateFolder:
    """Find the image files of a plate folder and place them by well, site and channel.

    Parameters
    ----------
    folder : str or path
        A folder of images, searched recursively (hidden files and folders are skipped). When
        its images sit in two or more sub-folders, each sub-folder is a plate named after it
        (images directly in `folder` then belong to a plate named after `folder`); otherwise
        the whole folder is one plate named after `folder`.

    Returns
    -------
    PlateFolder
        ``images`` sorted by plate, well, site, channel, plane, and the ``unmatched`` files.

    Raises
    ------
    InputError
        The folder does not exist or is not a folder.
    """
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder" if folder.exists() else "folder not found", path=folder)
    files = _image_files(folder)
    tops = {f.relative_to(folder).parts[0] for f in files if len(f.relative_to(folder).parts) > 1}
    several = len(tops) >= 2
    name = folder.resolve().name or str(folder)

    rows: list[dict[str, object]] = []
    bad: list[dict[str, str]] = []
    seen: dict[tuple[object, ...], Path] = {}
    for f in files:
        rel = f.relative_to(folder).parts
        plate = rel[0] if several and len(rel) > 1 else name
        wid = parse_well_id(f.name)
        if wid is None:
            bad.append({"path": str(f), "reason": "no well id in the file name"})
            continue
        key = (plate, wid.well, wid.site, wid.channel, wid.plane)
        if key in seen:
            bad.append(
                {
                    "path": str(f),
                    "reason": f"same plate/well/site/channel as {seen[key]}",
                }
            )
            continue
        seen[key] = f
        rows.append(
            {
                "plate": plate,
                "well": wid.well,
                "site": wid.site,
                "channel": wid.channel,
                "plane": wid.plane,
                "path": str(f),
            }
        )
    images = pd.DataFrame(rows, columns=["plate", "well", "site", "channel", "path", "plane"])
    images = images.astype(
        {
            "plate": "str",
            "well": "str",
            "site": "int64",
            "channel": "Int64",
            "plane": "Int64",
            "path": "str",
        }
    )
    if len(images):
        rc = images["well"].map(split_well)
        images = (
            images.assign(_r=rc.map(lambda t: t[0]), _c=rc.map(lambda t: t[1]))
            .sort_values(["plate", "_r", "_c", "site", "channel", "plane"], na_position="first")
            .drop(columns=["_r", "_c"])
            .reset_index(drop=True)
        )
    unmatched = pd.DataFrame(bad, columns=["path", "reason"]).astype("str")
    return PlateFolder(images=images, unmatched=unmatched)


def discover_plate_folder(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per image file of a plate folder: ``plate, well, site, channel, path, plane``.

    Like `scan_plate_folder`, but strict: image files that cannot be placed are an error
    rather than skipped. Non-image files (layouts, notes) are ignored. Use `scan_plate_folder`
    to get the unplaced files as a table instead.

    Parameters
    ----------
    folder : str or path
        The plate folder (see `scan_plate_folder` for plates from sub-folders).

    Returns
    -------
    pandas.DataFrame
        ``site`` is 1 when names have none; ``channel`` and ``plane`` are nullable integers
        (``<NA>`` when the name has none: the file holds all channels).

    Raises
    ------
    InputError
        The folder is missing, holds no image, or holds image files without a well id in
        their names, or two files for the same well/site/channel (the message lists them).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for n in ["P_A01_s1_w1.tif", "P_A01_s1_w2.tif", "P_B12_s1_w1.tif"]:
    ...     _ = (d / n).write_bytes(b"")
    >>> discover_plate_folder(d)[["well", "site", "channel"]].values.tolist()
    [['A01', 1, 1], ['A01', 1, 2], ['B12', 1, 1]]
    """
    pf = scan_plate_folder(folder)
    if len(pf.unmatched):
        n = len(pf.unmatched)
        shown = "; ".join(
            f"{Path(p).name} ({r})"
            for p, r in zip(pf.unmatched["path"][:5], pf.unmatched["reason"][:5], strict=True)
        )
        more = f" and {n - 5} more" if n > 5 else ""
        raise InputError(
            f"{n} image file(s) cannot be placed on the plate: {shown}{more}", path=Path(folder)
        )
    if len(pf.images) == 0:
        raise InputError(
            f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder", path=Path(folder)
        )
    return pf.images
