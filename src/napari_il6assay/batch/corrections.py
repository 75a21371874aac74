"""Corrected labels of a batch results folder: saved, read back, and measured into the tables.

A person who fixes a well's segmentation in napari (paint, erase, "Re-measure") leaves the
corrected label image in the *results* folder, never in the input folder::

    out/corrections/<plate>_<well>_labels.tif     (<well>_labels.tif when plates have no name)

The TIFF is lossless (zlib) ``int32``, the shape of the well's first-site image (YX, or ZYX
for ``spheroid3d``), and carries its record as JSON in the image description: ``plate``,
``well``, ``site``, ``image`` (the site's image name), ``mode`` and ``time`` (ISO 8601, UTC).
The plate part of the file name goes through `napari_il6assay.batch.exports.safe_name`; the
record inside the file is what counts, the name is for people.

Who uses it: ``batch --resume`` (and any batch run into a folder that holds corrections), the
dose–response panel when it opens the folder, and the refit. Each measures the well again from
the corrected labels with `napari_il6assay.segment.remeasure.remeasure` and the rows change as
follows (the same code in every path, so they agree):

- ``images.csv``: the corrected site's measures and ``qc_flag`` from the corrected labels;
  ``qc_flag_auto`` keeps the automatic flag; ``label_source`` is the correction file
  (``corrections/...tif``) or ``automatic``; ``corrected`` True/False;
- ``wells.csv``: aggregated from the sites as usual, plus ``corrected``, ``label_source`` and
  ``qc_flag_auto`` (the automatic flags of the corrected sites; empty for other wells);
- ``objects.csv``: the corrected site's objects replace the automatic ones.

These columns appear only when the folder has at least one correction, so runs without
corrections keep their tables unchanged.

A corrections file that cannot be used (unreadable, wrong shape, not whole numbers, a well the
run did not measure) is reported naming the file and the well, and the well keeps its
automatic labels; it never stops the run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

from napari_il6assay.errors import Il6AssayError, InputError
from napari_il6assay.io.cells import cell_text, is_blank, text_column
from napari_il6assay.io.plate import canonical_well

if TYPE_CHECKING:  # pragma: no cover
    from napari_il6assay.batch.parts import PartRecord

#: the sub-folder of a results folder that holds corrected labels
CORRECTIONS = "corrections"
SUFFIX = "_labels.tif"
#: columns the corrections add to images.csv and wells.csv
COLUMNS = ("corrected", "label_source", "qc_flag_auto")
AUTOMATIC = "automatic"


@dataclass
class Correction:
    """One corrected label image of a results folder.

    Parameters
    ----------
    plate : str
        Plate id ("" when the run has no plate names).
    well : str
        Canonical well id (``A01``).
    path : Path
        The TIFF.
    labels : ndarray of int32
    time : str
        When it was saved (ISO 8601).
    site : int
        The site of the well whose image was corrected (the first site by default).
    image : str
        The image name as ``images.csv`` has it ("" when unknown).
    mode : str
        The mode of the run it was drawn for.
    saved : bool
        The labels are the file's (read from it or written to it); False for labels just
        drawn.
    """

    plate: str
    well: str
    path: Path
    labels: np.ndarray
    time: str = ""
    site: int = 1
    image: str = ""
    mode: str = ""
    saved: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """``(plate, well)``."""
        return (self.plate, self.well)

    def relative(self, out: Path | None) -> str:
        """Return the file name relative to the results folder (``corrections/...tif``)."""
        if out is not None:
            try:
                return self.path.relative_to(out).as_posix()
            except ValueError:
                pass
        return f"{CORRECTIONS}/{self.path.name}"

    def record(self, out: Path | None = None) -> dict[str, Any]:
        """Return the ``run.json`` entry: plate, well, site, file, time."""
        return {"plate": self.plate, "well": self.well, "site": self.site,
                "file": self.relative(out), "time": self.time}  # fmt: skip


def correction_path(out: str | Path, plate: Any, well: str) -> Path:
    """Where the corrected labels of a well go: ``out/corrections/<plate>_<well>_labels.tif``.

    Examples
    --------
    >>> correction_path("res", "../P 1", "B3").as_posix()
    'res/corrections/P_1_B03_labels.tif'
    >>> correction_path("res", "", "B03").name
    'B03_labels.tif'
    """
    from napari_il6assay.batch.exports import safe_name

    w = canonical_well(str(well))
    p = cell_text(plate)
    stem = f"{safe_name(p)}_{w}" if p else w
    return Path(out) / CORRECTIONS / f"{stem}{SUFFIX}"


def write_correction(
    out: str | Path,
    plate: Any,
    well: str,
    labels: np.ndarray,
    *,
    site: int = 1,
    image: str = "",
    mode: str = "",
    time: str | None = None,
    input_folder: str | Path | None = None,
) -> Correction:
    """Save a well's corrected labels into the results folder, atomically and losslessly.

    Parameters
    ----------
    out : str or Path
        The results folder (it must hold ``wells.csv``).
    plate, well : str
        The well.
    labels : ndarray of int
        YX (or ZYX) labels as measured (`napari_il6assay.segment.remeasure.relabel_regions`).
    site, image, mode : optional
        Kept in the file's record.
    time : str, optional
        ISO 8601; now when None.
    input_folder : str or Path, optional
        The run's input folder: refused as a destination (inputs are never written).

    Returns
    -------
    Correction

    Raises
    ------
    InputError
        No results folder, the input folder, or labels that are not whole numbers.
    """
    import tifffile

    from napari_il6assay.batch.parts import atomic_write
    from napari_il6assay.io.exclusions import now_iso

    out = Path(out)
    w = canonical_well(str(well))
    if not (out / "wells.csv").is_file():
        raise InputError("not a results folder (no wells.csv); correction not saved", path=out,
                         well=w)  # fmt: skip
    if input_folder is not None and _within(out, Path(input_folder)):
        raise InputError("will not write corrections into the input folder", path=out, well=w)
    lab = np.asarray(labels)
    if lab.dtype.kind not in "biu" or lab.ndim not in (2, 3):
        raise InputError(f"labels must be a 2D or 3D image of whole numbers, got "
                         f"{lab.dtype} {lab.shape}", path=out, well=w)  # fmt: skip
    lab = lab.astype(np.int32, copy=False)
    p = cell_text(plate)
    corr = Correction(plate=p, well=w, path=correction_path(out, p, w), labels=lab,
                      time=time or now_iso(), site=int(site), image=str(image or ""),
                      mode=str(mode or ""), saved=True)  # fmt: skip
    meta = {"plate": corr.plate, "well": corr.well, "site": corr.site, "image": corr.image,
            "mode": corr.mode, "time": corr.time}  # fmt: skip

    def _tif(fh: Any) -> None:
        buf = io.BytesIO()  # tifffile needs a named file or a BytesIO, not an fd object
        tifffile.imwrite(buf, lab, compression="zlib", metadata=meta)
        fh.write(buf.getvalue())

    atomic_write(corr.path, _tif)
    return corr


def read_correction(path: str | Path) -> Correction:
    """Read one corrections TIFF (its labels and record).

    Raises
    ------
    InputError
        The file cannot be read, or holds no label image; the message names the file and, when
        it can be told from the name, the well.
    """
    import tifffile

    path = Path(path)
    plate, well = _from_name(path.name)
    try:
        with tifffile.TiffFile(path) as tif:
            labels = tif.asarray()
            meta = {}
            shaped = tif.shaped_metadata
            if shaped:
                meta = dict(shaped[0])
    except Exception as exc:
        raise InputError(f"cannot read the corrected labels ({type(exc).__name__}: {exc})",
                         path=path, well=well or None) from exc  # fmt: skip
    plate = str(meta.get("plate", plate or "") or "")
    well = str(meta.get("well", well or "") or "")
    try:
        well = canonical_well(str(well))
    except ValueError:
        raise InputError("the corrected labels name no well (expected <plate>_<well>_labels.tif)",
                         path=path) from None  # fmt: skip
    lab = np.asarray(labels)
    if lab.dtype.kind not in "biu":
        raise InputError(f"the corrected labels must be whole numbers, got pixel type {lab.dtype}",
                         path=path, well=well)  # fmt: skip
    if lab.ndim not in (2, 3) or lab.size == 0:
        raise InputError(f"the corrected labels must be one 2D (or 3D) label image, got shape "
                         f"{lab.shape}", path=path, well=well)  # fmt: skip
    try:
        site = int(meta.get("site", 1))
    except (TypeError, ValueError):
        site = 1
    return Correction(plate=plate, well=well, path=path, labels=lab.astype(np.int32, copy=False),
                      time=str(meta.get("time", "") or ""), site=site,
                      image=str(meta.get("image", "") or ""),
                      mode=str(meta.get("mode", "") or ""), saved=True)  # fmt: skip


def find_corrections(out: str | Path | None) -> tuple[list[Correction], list[InputError]]:
    """Every corrections file of a results folder, and the problems of those that cannot be read.

    Returns
    -------
    corrections : list of Correction
        Sorted by plate and well.
    problems : list of InputError
        One per unusable file (naming it and the well).
    """
    if out is None:
        return [], []
    folder = Path(out) / CORRECTIONS
    if not folder.is_dir():
        return [], []
    found, problems = [], []
    for p in sorted(folder.glob(f"*{SUFFIX}")):
        if p.name.startswith("."):  # a temporary file of an interrupted save
            continue
        try:
            found.append(read_correction(p))
        except InputError as exc:
            problems.append(exc)
    found.sort(key=lambda c: (c.plate, c.well))
    return found, problems


def measure_correction(
    corr: Correction,
    paths: list[str] | list[Path],
    mode: str,
    *,
    params: dict[str, Any] | None = None,
    pixel_size_um: float | None = None,
    voxel_size_um: Any = None,
    auto_measures: dict[str, Any] | None = None,
    auto_flag: str = "",
    n_channels: int | None = None,
    n_planes: int = 1,
) -> Any:
    """Measure a well again from its corrected labels (reads the image from the input folder).

    Parameters
    ----------
    corr : Correction
    paths : list of path
        The image file(s) of the corrected site, as the run read them.
    mode : str
        The run's mode.
    params : dict, optional
        The run's segmentation parameters.
    pixel_size_um, voxel_size_um : optional
        The calibration the run used for this image (file metadata otherwise).
    auto_measures : dict, optional
        The automatic ``images.csv`` row of the site.
    auto_flag : str
        Its automatic ``qc_flag``.
    n_channels, n_planes : int
        How several files make one image (one file per channel by default).

    Returns
    -------
    SegmentationResult

    Raises
    ------
    InputError
        The image cannot be read, or the labels do not fit it (naming the corrections file and
        the well).
    """
    from napari_il6assay.batch.worker import read_item
    from napari_il6assay.segment.remeasure import remeasure

    try:
        img = read_item([str(p) for p in paths], n_channels or (1 if n_planes > 1 else len(paths)),
                        n_planes)  # fmt: skip
    except Il6AssayError as exc:
        raise InputError(f"cannot read the image of the corrected well: {exc}", path=corr.path,
                         well=corr.well) from exc  # fmt: skip
    except OSError as exc:
        raise InputError(f"cannot read the image of the corrected well: {exc}", path=corr.path,
                         well=corr.well) from exc  # fmt: skip
    px = pixel_size_um if not is_blank(pixel_size_um) else img.pixel_size_um
    vox = voxel_size_um if voxel_size_um is not None else (
        img.voxel_size_um if img.axes.startswith("Z") else None)  # fmt: skip
    kw = {k: v for k, v in (params or {}).items() if k not in ("classifier", "axes")}
    if img.channel_names and "channel_names" not in kw:
        kw["channel_names"] = list(img.channel_names)
    try:
        return remeasure(corr.labels, np.asarray(img.data), mode, pixel_size_um=px,
                         voxel_size_um=vox, rgb=bool(img.rgb), auto_measures=auto_measures,
                         auto_flag=auto_flag, **kw)  # fmt: skip
    except Il6AssayError as exc:
        raise InputError(str(getattr(exc, "reason", None) or exc), path=corr.path,
                         well=corr.well) from exc  # fmt: skip
    except (ValueError, TypeError) as exc:  # a parameter the remeasure cannot use
        raise InputError(f"cannot measure the corrected labels: {exc}", path=corr.path,
                         well=corr.well) from exc  # fmt: skip


def measure_run_corrections(
    out: Path,
    records: list[PartRecord],
    mode: str,
    *,
    items: dict[str, dict[str, Any]] | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[dict[str, tuple[Any, Correction]], list[dict[str, str]]]:
    """Measure every correction of a results folder against the run's measured images.

    Parameters
    ----------
    out : Path
        The results folder.
    records : list of PartRecord
        The part records of the measured images (`napari_il6assay.batch.parts`).
    mode : str
        The run's mode.
    items : dict, optional
        Work items by id (how several files make one image).
    params : dict, optional
        The run's segmentation parameters.

    Returns
    -------
    corrected : dict
        Image id -> (`SegmentationResult`, `Correction`).
    problems : list of dict
        ``path, stage, error`` (stage ``correction``) of each correction left unused; the
        error names the well.
    """
    found, bad = find_corrections(out)
    problems = [_problem(e) for e in bad]
    by_well: dict[tuple[str, str], list[PartRecord]] = {}
    for rec in records:
        key = (cell_text(rec.plate), str(rec.well))
        by_well.setdefault(key, []).append(rec)
    corrected: dict[str, tuple[Any, Correction]] = {}
    for corr in found:
        recs = sorted(by_well.get(corr.key, []), key=lambda r: int(r.site))
        if not recs:
            where = f"{corr.plate}/{corr.well}" if corr.plate else corr.well
            problems.append(_problem(InputError(
                f"the run measured no image of well {where}; the correction is not used",
                path=corr.path, well=corr.well)))  # fmt: skip
            continue
        rec = next((r for r in recs if int(r.site) == corr.site), recs[0])
        item = (items or {}).get(rec.id, {})
        try:
            res = measure_correction(
                corr, rec.paths, mode, params=params,
                pixel_size_um=rec.pixel_size_um,
                voxel_size_um=rec.voxel_size_um,
                auto_measures={**rec.measures, **({"per_well": True} if rec.per_well else {})},
                auto_flag=rec.qc_flag,
                n_channels=item.get("n_channels"), n_planes=int(item.get("n_planes", 1) or 1),
            )  # fmt: skip
        except InputError as exc:
            problems.append(_problem(exc))
            continue
        corrected[str(rec.id)] = (res, corr)
    return corrected, problems


def _problem(exc: InputError) -> dict[str, str]:
    loc = exc.location
    well = f"well {loc.well}: " if loc.well else ""
    return {"path": str(loc.path or ""), "stage": "correction",
            "error": f"{well}{exc.reason}; the automatic labels are used"}  # fmt: skip


# -- tables ---------------------------------------------------------------------------------------
def correct_images(
    images: pd.DataFrame, corrected: dict[str, tuple[Any, Correction]], out: Path | None = None
) -> pd.DataFrame:
    """``images.csv`` with the corrected sites measured from their corrected labels.

    Parameters
    ----------
    images : DataFrame
        ``images.csv`` (automatic, or already corrected: then ``qc_flag_auto`` is kept).
    corrected : dict
        Image ``id`` -> (`SegmentationResult` of `measure_correction`, `Correction`).
    out : Path, optional
        The results folder (``label_source`` is relative to it).

    Returns
    -------
    DataFrame
        A copy; with the `COLUMNS` added when ``corrected`` is not empty or the table had them.
    """
    img = images.copy()
    had = "corrected" in img.columns
    if not corrected and not had:
        return img
    if not had:
        img["corrected"] = False
        img["label_source"] = AUTOMATIC
        img["qc_flag_auto"] = ""
    img["qc_flag_auto"] = img["qc_flag_auto"].astype(object).where(img["qc_flag_auto"].notna(), "")
    img["corrected"] = img["corrected"].fillna(False).astype(bool)
    ids = img["id"].astype(str) if "id" in img.columns else pd.Series("", index=img.index)
    for pid, (res, corr) in corrected.items():
        rows = np.flatnonzero((ids == str(pid)).to_numpy()).tolist()
        for i in rows:
            idx = img.index[i]
            was = bool(img.at[idx, "corrected"])
            auto_flag = str(img.at[idx, "qc_flag_auto"] if was else img.at[idx, "qc_flag"])
            for k, v in res.measures.items():
                if isinstance(v, np.generic):
                    v = v.item()
                if not isinstance(v, (int, float, str, bool)) and v is not None:
                    continue  # tables (per_well) do not go into a cell
                if k not in img.columns:
                    img[k] = np.nan
                if isinstance(v, str) and img[k].dtype != object:
                    img[k] = img[k].astype(object)
                img.at[idx, k] = v
            img.at[idx, "qc_flag"] = res.qc_flag
            img.at[idx, "qc_flag_auto"] = "" if is_blank(auto_flag) else auto_flag
            img.at[idx, "label_source"] = corr.relative(out)
            img.at[idx, "corrected"] = True
    return img


def mark_wells(wells: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """Add ``corrected``, ``label_source``, ``qc_flag_auto`` to wells from their sites' rows.

    A well is corrected when one of its sites is; ``label_source`` names the correction
    file(s); ``qc_flag_auto`` holds the automatic flags of the corrected sites.
    """
    from napari_il6assay.qc_flags import join_flags

    if "corrected" not in images.columns or wells is None:
        return wells
    w = wells.copy()
    plate_i = _plates(images)
    info: dict[tuple[str, str], tuple[bool, str, str]] = {}
    for (p, well), g in images.assign(_p=plate_i).groupby(["_p", "well"], sort=False):
        hit = g[g["corrected"].fillna(False).astype(bool)]
        if len(hit):
            info[(str(p), str(well))] = (
                True,
                ";".join(dict.fromkeys(hit["label_source"].astype(str))),
                join_flags(*text_column(hit["qc_flag_auto"])),
            )
    plate_w = _plates(w)
    vals = [info.get((p, str(x)), (False, AUTOMATIC, ""))
            for p, x in zip(plate_w, w["well"], strict=True)]  # fmt: skip
    w["corrected"] = [v[0] for v in vals]
    w["label_source"] = [v[1] for v in vals]
    w["qc_flag_auto"] = [v[2] for v in vals]
    return w


@overload
def replace_objects(
    objects: pd.DataFrame, images: pd.DataFrame, corrected: dict[str, tuple[Any, Correction]]
) -> pd.DataFrame: ...
@overload
def replace_objects(
    objects: None, images: pd.DataFrame, corrected: dict[str, tuple[Any, Correction]]
) -> None: ...
def replace_objects(
    objects: pd.DataFrame | None, images: pd.DataFrame, corrected: dict[str, tuple[Any, Correction]]
) -> pd.DataFrame | None:
    """``objects.csv`` with the corrected sites' objects in place of the automatic ones."""
    if objects is None or not corrected:
        return objects
    frames = [objects]
    drop = np.zeros(len(objects), bool)
    for pid, (res, _corr) in corrected.items():
        rows = images[images["id"].astype(str) == str(pid)]
        if not len(rows):
            continue
        r = rows.iloc[0]
        m = objects["image"].astype(str) == str(r["image"])
        if "site" in objects.columns:
            m &= pd.to_numeric(objects["site"], errors="coerce") == int(r["site"])
        drop |= m.to_numpy()
        new = res.objects.copy()
        for col in ("image", "well", "plate", "site"):
            if col in new.columns:
                new = new.drop(columns=col)
        new.insert(0, "image", r["image"])
        new.insert(1, "well", r["well"])
        new["plate"] = r["plate"]
        new["site"] = int(r["site"])
        frames.append(new)
    frames[0] = objects[~drop]
    frames = [f for f in frames if len(f)] or [objects.iloc[:0]]
    return pd.concat(frames, ignore_index=True)


def update_wells(
    wells: pd.DataFrame, images: pd.DataFrame, keys: set[tuple[str, str]]
) -> pd.DataFrame:
    """``wells.csv`` of a finished run with the given wells aggregated again from ``images``.

    What the panel does after a correction (``batch`` builds the wells from the corrected
    images directly): the wells' measures, ``readout``, ``n_objects`` and ``qc_flag`` come
    from their sites again; the plate-level flags (``plate_outlier``, which judges the image
    diagnostics a correction does not change) stay, and ``blank_not_empty`` is judged again on
    the new readout.

    Parameters
    ----------
    wells : DataFrame
        ``wells.csv`` as the run wrote it.
    images : DataFrame
        ``images.csv`` after `correct_images`.
    keys : set of (plate, well)
        The wells to update.

    Returns
    -------
    DataFrame
        A copy with `COLUMNS` added (see `mark_wells`).
    """
    from napari_il6assay.batch.wells import aggregate_sites, flag_nonempty_blanks
    from napari_il6assay.qc_flags import join_flags, split_flags

    w = wells.copy()
    plate_w = _plates(w)
    img = images.assign(plate=_plates(images))
    for plate, well in sorted(keys):
        sites = img[(img["plate"] == plate) & (img["well"].astype(str) == well)]
        rows = np.flatnonzero(((plate_w == plate) & (w["well"].astype(str) == well)).to_numpy())
        if not len(sites) or not len(rows):
            continue
        agg = aggregate_sites(sites.drop(columns=[c for c in COLUMNS if c in sites.columns]))
        a = agg.iloc[0]
        for i in rows.tolist():
            idx = w.index[i]
            old = split_flags(w.at[idx, "qc_flag"]) if "qc_flag" in w.columns else []
            for col, v in a.items():
                if col in ("plate", "well", "image", "qc_flag"):
                    continue
                if col not in w.columns:
                    w[col] = np.nan
                if isinstance(v, str) and w[col].dtype != object:
                    w[col] = w[col].astype(object)
                w.at[idx, col] = v
            plate_flags = [f for f in old if f == "plate_outlier"]
            w.at[idx, "qc_flag"] = join_flags(a["qc_flag"], plate_flags)
    # blank_not_empty: judged on the readouts as they are now (the helper only adds the flag)
    if "qc_flag" in w.columns:
        w["qc_flag"] = [join_flags([f for f in split_flags(v) if f != "blank_not_empty"])
                        for v in w["qc_flag"]]  # fmt: skip
    w = flag_nonempty_blanks(w)
    return mark_wells(w, img)


# -- helpers --------------------------------------------------------------------------------------
def _plates(table: pd.DataFrame) -> pd.Series:
    """Return the ``plate`` column as text ("" for a run without plate names)."""
    if "plate" not in table.columns:
        return pd.Series("", index=table.index)
    return text_column(table["plate"])


def _from_name(name: str) -> tuple[str, str]:
    """(plate, well) from ``<plate>_<well>_labels.tif`` / ``<well>_labels.tif`` ('' if none)."""
    if not name.endswith(SUFFIX):
        return "", ""
    stem = name[: -len(SUFFIX)]
    plate, _, well = stem.rpartition("_")
    try:
        return plate, canonical_well(str(well))
    except ValueError:
        return "", ""


def _within(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except (ValueError, OSError):
        return False


def records_for_run_json(corrections: list[Correction], out: Path | None) -> list[dict[str, Any]]:
    """``run.json`` ``corrections``: plate, well, site, file, time of each applied correction."""
    return [c.record(out) for c in corrections]
