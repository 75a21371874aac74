"""Turn a plate folder into work items: one item per (plate, well, site) image.

A work item is what one worker process reads, segments and measures. It holds file paths,
never pixels, so submitting thousands of them to a dask cluster costs next to nothing and
the images are read where they are processed.

Channels of one site that sit in separate files (ImageXpress ``_w1``/``_w2``) are combined
into one multichannel image in the modes that need several channels (`ModeSpec.multichannel`:
``livedead``). The other modes measure one channel: the lowest channel number of the site (the
others are listed in `Plan.ignored`).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from napari_il6assay.io.cells import cell_text
from napari_il6assay.segment import get_mode


@dataclass(frozen=True)
class WorkItem:
    """One image to segment: a site of a well, possibly made of several channel files.

    Parameters
    ----------
    id : str
        File-system safe identifier, unique in the run (names the part files).
    plate : str
        Plate id ("" when the folder holds one plate).
    well : str
        Canonical well id such as ``A01``.
    site : int
        Site (field) number within the well, 1 when the name has none.
    paths : tuple of str
        Absolute paths of the files, in channel order.
    image : str
        Human-readable image name: the paths relative to the folder, joined by ``+``.
    n_channels, n_planes : int
        How ``paths`` is arranged: channel-major, then z plane (Operetta writes one file per
        plane and channel); 1 and 1 for the usual one-file image.
    plate_format : int, optional
        Set for a photo of a whole plate (``colony`` mode): the wells are found on the
        photo's grid, ``well`` is then empty and ``plate`` is the photo's name.
    """

    id: str
    plate: str
    well: str
    site: int
    paths: tuple[str, ...]
    image: str
    n_channels: int = 1
    n_planes: int = 1
    plate_format: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON and pickle friendly)."""
        d = asdict(self)
        d["paths"] = list(self.paths)
        return d


@dataclass
class Plan:
    """All work items of a folder, plus the files that will not be measured and why."""

    folder: Path
    items: list[WorkItem]
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-") or "x"


def _int_or(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        if isinstance(value, float) and math.isnan(value):
            return default
        return int(value)
    except (TypeError, ValueError):
        return default


def plan_from_table(files: Any, folder: str | Path, mode: str) -> Plan:
    """Group the files of a discovered plate folder into work items.

    Parameters
    ----------
    files : pandas.DataFrame
        One row per image file with columns ``plate, well, site, channel, path``, as
        returned by `napari_il6assay.io.plate_folder.discover_plate_folder`.
    folder : str or Path
        The plate folder (image names are given relative to it).
    mode : str
        Segmentation mode; a `ModeSpec.multichannel` mode combines the channel files of a site.

    Returns
    -------
    Plan
        Items sorted by plate, well and site.
    """
    folder = Path(folder)
    multichannel = get_mode(mode).multichannel
    groups: dict[tuple[str, str, int], dict[int, list[tuple[int, str]]]] = {}
    for row in files.itertuples(index=False):
        plate = cell_text(getattr(row, "plate", ""))
        well = str(row.well)
        site = _int_or(getattr(row, "site", None), 1)
        channel = _int_or(getattr(row, "channel", None), 0)
        plane = _int_or(getattr(row, "plane", None), 0)
        chans = groups.setdefault((plate, well, site), {})
        chans.setdefault(channel, []).append((plane, str(row.path)))

    items: list[WorkItem] = []
    ignored: list[tuple[str, str]] = []
    for (plate, well, site), chans in sorted(groups.items()):
        order = sorted(chans)
        if not multichannel:
            for ch in order[1:]:
                for _pl, p in chans[ch]:
                    ignored.append((p, f"mode '{mode}' measures one channel per site"))
            order = order[:1]
        n_planes = {len(chans[ch]) for ch in order}
        if len(n_planes) != 1:
            from napari_il6assay.errors import InputError

            raise InputError(
                f"the channels of {well} site {site} have different numbers of z planes",
                path=chans[order[0]][0][1],
                well=well,
            )
        paths = tuple(str(Path(p).resolve()) for ch in order for _pl, p in sorted(chans[ch]))
        names = []
        for p in paths:
            try:
                names.append(Path(p).relative_to(folder.resolve()).as_posix())
            except ValueError:
                names.append(Path(p).name)
        prefix = f"{_safe(plate)}_" if plate else ""
        item_id = f"{prefix}{well}_s{site}"
        items.append(
            WorkItem(
                id=item_id,
                plate=plate,
                well=well,
                site=site,
                paths=paths,
                image=(
                    "+".join(names) if len(names) <= 2 else f"{names[0]} (+{len(names) - 1} files)"
                ),
                n_channels=len(order),
                n_planes=n_planes.pop(),
            )
        )
    return Plan(folder=folder, items=items, ignored=ignored)


def plan_plate_photos(paths: list[str], folder: str | Path, plate_format: int) -> Plan:
    """One work item per photo of a whole plate; the plate id is the file name (stem).

    Parameters
    ----------
    paths : list of str
        The photos.
    folder : str or Path
        Their folder (photos in sub-folders are named ``<sub-folder>/<stem>``).
    plate_format : int
        Wells per plate (6, 12, 24, 48 or 96).
    """
    folder = Path(folder)
    items = []
    for p in sorted(paths):
        rel = Path(p).resolve().relative_to(folder.resolve())
        plate = rel.with_suffix("").as_posix()
        items.append(
            WorkItem(
                id=_safe(plate),
                plate=plate,
                well="",
                site=1,
                paths=(str(Path(p).resolve()),),
                image=rel.as_posix(),
                plate_format=int(plate_format),
            )
        )
    if len({it.id for it in items}) != len(items):
        from napari_il6assay.errors import InputError

        raise InputError("two plate photos map to the same name", path=folder)
    return Plan(folder=folder, items=items)


def plan_folder(folder: str | Path, mode: str, plate_format: int = 96) -> Plan:
    """Discover the images of a plate folder and group them into work items.

    In a `ModeSpec.plate_photo` mode (``colony``), a folder whose images have no well id in
    their names holds photos of whole plates: each photo is one work item whose wells are
    found on the plate grid (``plate_format``).

    Parameters
    ----------
    folder : str or Path
        Folder of plate images (sub-folders are plates when there are several).
    mode : str
        Segmentation mode.
    plate_format : int
        Wells per plate, for photos of whole plates.

    Returns
    -------
    Plan

    Raises
    ------
    InputError
        When the folder does not exist or holds no image with a well id in its name.
    """
    from napari_il6assay.errors import InputError
    from napari_il6assay.io.plate_folder import discover_plate_folder

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder", path=folder)
    if get_mode(mode).plate_photo:
        from napari_il6assay.io.plate_folder import scan_plate_folder

        pf = scan_plate_folder(folder)
        no_id = "no well id in the file name"
        if len(pf.images) == 0 and len(pf.unmatched) and set(pf.unmatched["reason"]) == {no_id}:
            return plan_plate_photos(list(pf.unmatched["path"]), folder, plate_format)
    files = discover_plate_folder(folder)
    if len(files) == 0:
        raise InputError("no image file with a well id in its name (e.g. A01.tif)", path=folder)
    return plan_from_table(files, folder, mode)
