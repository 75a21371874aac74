"""The results of a batch run as the panel uses them.

Its tables, and where each well's image and label image are.

No Qt here: the dose–response panel, its `napari_il6assay.session.doseresponse` session and
the tests use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_il6assay.io.cells import cell_text, is_blank, text_column
from napari_il6assay.io.layout import TEXT_COLUMNS
from napari_il6assay.io.plate import well_key

#: tables the panel reads from a batch output folder (``<name>.csv``)
TABLES = (
    "wells",
    "images",
    "conditions",
    "fits",
    "synergy",
    "potentiation",
    "objects",
    "synergy_summary",
    "plate_qc",
    "cross_resistance",
)


@dataclass
class WellImage:
    """Where one well's (first site's) image and labels are.

    Parameters
    ----------
    well : str
    plate : str
    paths : list of Path
        The image files (several for a multi-file, e.g. live/dead, image), in channel order.
    labels : Path or None
        ``labels/<id>.tif`` of the run, when it saved labels.
    pixel_size_um : float or None
    image_id : str
        The run's id of the image (names its label and QC files).
    site : int
        The site shown (the first).
    image : str
        The image name as ``images.csv`` has it.
    """

    well: str
    plate: str
    paths: list[Path]
    labels: Path | None
    pixel_size_um: float | None
    image_id: str = ""
    site: int = 1
    image: str = ""


@dataclass
class Results:
    """A batch run's output folder, read back.

    Parameters
    ----------
    out : Path or None
        The output folder (None for tables handed over in memory without one).
    tables : dict of str -> DataFrame
    run_info : dict
        ``run.json``.
    """

    out: Path | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path | None:
        """The input plate folder of the run (from ``run.json``)."""
        f = self.run_info.get("folder")
        return Path(f) if f else None

    @property
    def mode(self) -> str | None:
        """The segmentation mode of the run."""
        return self.run_info.get("mode")

    def table_options(self) -> dict[str, Any]:
        """Return how the run made its curve and plate tables, as `refit_tables` keywords.

        Returns
        -------
        dict
            ``model``, ``include_flagged`` (the run's ``--include-flagged``) and
            ``plate_format`` from ``run.json`` ``parameters``; a setting the run did not
            record is left out (`napari_il6assay.batch.stages.refit_tables` defaults).
        """
        p = self.run_info.get("parameters") or {}
        opts: dict[str, Any] = {}
        if p.get("model"):
            opts["model"] = str(p["model"])
        if p.get("include_flagged"):
            opts["include_flagged"] = tuple(str(f) for f in p["include_flagged"])
        if p.get("plate_format"):
            opts["plate_format"] = int(p["plate_format"])
        return opts

    def table(self, name: str) -> pd.DataFrame:
        """One table (empty if the run did not write it)."""
        t = self.tables.get(name)
        return t if t is not None else pd.DataFrame()

    def well_image(
        self, well: str, plate: str | None = None, site: int | None = None
    ) -> WellImage | None:
        """Return the image files and labels of a well's first site (or of ``site``), or None."""
        images = self.table("images")
        wells = self.table("wells")
        plate_s = cell_text(plate)
        row = None
        if len(images) and "well" in images.columns:
            m = images["well"].astype(str) == well
            if plate_s and "plate" in images.columns:
                m &= text_column(images["plate"]) == plate_s
            if (
                site is not None
                and "site" in images.columns
                and (m & (pd.to_numeric(images["site"], errors="coerce") == int(site))).any()
            ):
                m &= pd.to_numeric(images["site"], errors="coerce") == int(site)
            if m.any():
                row = images[m].iloc[0]
        if row is None and len(wells) and "image" in wells.columns:
            m = wells["well"].astype(str) == well
            if plate_s and "plate" in wells.columns:
                m &= text_column(wells["plate"]) == plate_s
            if m.any():
                row = wells[m].iloc[0]
        if row is None or is_blank(row.get("image")):
            return None
        first_site = str(row["image"]).split(";")[0]
        base = self.folder
        paths = []
        for name in first_site.split("+"):
            p = Path(name.strip())
            if not p.is_absolute() and base is not None:
                p = base / p
            paths.append(p)
        image_id = "" if is_blank(row.get("id")) else str(row.get("id"))
        labels = None
        if image_id and self.out is not None:
            cand = self.out / "labels" / f"{image_id}.tif"
            labels = cand if cand.is_file() else None
        px = row.get("pixel_size_um")
        if is_blank(px):
            px = self.run_info.get("parameters", {}).get("pixel_size_um")
        return WellImage(
            well=well,
            plate=plate_s,
            paths=paths,
            labels=labels,
            pixel_size_um=None if px is None or is_blank(px) else float(px),
            image_id=image_id,
            site=int(row["site"]) if not is_blank(row.get("site")) else 1,
            image=first_site,
        )

    def measure_corrections(
        self, corrections: list[Any], images: pd.DataFrame | None = None
    ) -> tuple[dict[str, tuple[Any, Any]], list[Any]]:
        """Measure wells again from corrected labels (a worker runs this; no Qt).

        Parameters
        ----------
        corrections : list of Correction
            `napari_il6assay.batch.corrections.Correction` (saved or just drawn).
        images : DataFrame, optional
            ``images.csv`` whose rows give the automatic measures and flags (default: the
            run's).

        Returns
        -------
        corrected : dict
            Image id -> (`SegmentationResult`, `Correction`).
        problems : list of InputError
            One per correction that cannot be measured, naming its file and well.
        """
        from napari_il6assay.batch.corrections import measure_correction
        from napari_il6assay.errors import InputError

        images = self.table("images") if images is None else images
        params = dict((self.run_info.get("parameters") or {}).get("segmentation") or {})
        vox = (self.run_info.get("parameters") or {}).get("voxel_size_um")
        corrected: dict[str, tuple[Any, Any]] = {}
        problems: list[Any] = []
        for corr in corrections:
            info = self.well_image(corr.well, corr.plate, corr.site)
            if info is None or self.mode is None:
                problems.append(InputError("the run recorded no image of this well",
                                           path=corr.path, well=corr.well))  # fmt: skip
                continue
            row: dict[str, Any] = {}
            if len(images) and "id" in images.columns:
                hit = images[images["id"].astype(str) == info.image_id]
                if len(hit) > 1:  # one photo, many wells: a label image holds them all
                    problems.append(InputError(
                        "a whole-plate photo holds many wells in one label image; its wells "
                        "cannot be corrected one by one", path=corr.path,
                        well=corr.well))  # fmt: skip
                    continue
                if len(hit):
                    row = {str(k): v for k, v in hit.iloc[0].items()}
            # the automatic values: a row corrected earlier keeps them in qc_flag_auto
            auto_flag = row.get("qc_flag_auto") if _truthy(row.get("corrected")) else row.get(
                "qc_flag")  # fmt: skip
            try:
                res = measure_correction(
                    corr, info.paths, self.mode, params=params,
                    pixel_size_um=info.pixel_size_um, voxel_size_um=vox,
                    auto_measures={k: v for k, v in row.items()
                                   if k not in _NOT_MEASURES and not is_blank(v)},
                    auto_flag="" if is_blank(auto_flag) else str(auto_flag),
                    n_planes=len(info.paths) if self.mode == "spheroid3d" else 1,
                )  # fmt: skip
            except InputError as exc:
                problems.append(exc)
                continue
            corrected[info.image_id] = (res, corr)
        return corrected, problems


#: images.csv columns that say which image a row is, not what was measured in it
_NOT_MEASURES = frozenset({"image", "mode", "plate", "well", "site", "qc_flag", "pixel_size_um",
                           "id", "corrected", "label_source", "qc_flag_auto"})  # fmt: skip


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("true", "1", "yes")


def load_results(out: str | Path) -> Results:
    """Read a batch output folder (``wells.csv`` at least).

    Parameters
    ----------
    out : str or Path
        Folder written by ``il6assay batch`` / `run_batch`.

    Returns
    -------
    Results

    Raises
    ------
    InputError
        When the folder has no ``wells.csv``.
    """
    from napari_il6assay.errors import InputError

    out = Path(out)
    if not (out / "wells.csv").is_file():
        raise InputError("not a batch output folder (no wells.csv)", path=out)
    tables = {}
    for name in TABLES:
        p = out / f"{name}.csv"
        if p.is_file():
            t = pd.read_csv(p, keep_default_na=True, dtype=dict.fromkeys(TEXT_COLUMNS, "str"))
            # Marker columns ("", ">" or "<") must stay text: an empty cell is "", not NaN.
            for col in t.columns:
                if col.endswith("_censored") or col in (
                    "note",
                    "status",
                    "qc_flag",
                    "qc_flag_auto",
                    "label_source",
                ):
                    t[col] = t[col].astype(object).where(t[col].notna(), "")
            tables[name] = t
    info: dict[str, Any] = {}
    if (out / "run.json").is_file():
        info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return Results(out=out, tables=tables, run_info=info)


# Flags the normalization derives from roles and replicates; recomputed on every refit.
_DERIVED_FLAGS = {"excluded", "outlier", "no_vehicle", "vehicle_equals_blank"}


def mark_excluded(wells: pd.DataFrame, keys: set[str]) -> pd.DataFrame:
    """Wells with the given keys set to ``role = exclude`` (others keep their original role).

    Parameters
    ----------
    wells : pandas.DataFrame
        ``wells.csv`` as the run wrote it.
    keys : set of str
        `well_key` of the wells to exclude.

    Returns
    -------
    pandas.DataFrame
        A copy with ``role`` updated, the run's role in ``role_original`` (added when a well
        is excluded), and the flags that normalization derives (``excluded``, ``outlier``...)
        removed from ``qc_flag`` so that the refit recomputes them.
    """
    w = wells.copy()
    plate = w["plate"] if "plate" in w.columns else pd.Series([""] * len(w), index=w.index)
    k = np.array([well_key(p, x) for p, x in zip(plate, w["well"], strict=True)])
    hit = np.isin(k, list(keys))
    # nothing excluded in a run without exclusions: its columns stay as the batch wrote them
    if hit.any() or "role_original" in w.columns:
        if "role_original" not in w.columns:
            w["role_original"] = w["role"] if "role" in w.columns else "sample"
        w["role"] = w["role_original"].astype(object).where(~hit, "exclude")
    if "qc_flag" in w.columns:
        flags = w["qc_flag"].astype(object).where(w["qc_flag"].notna(), "")
        w["qc_flag"] = [
            ";".join(f for f in str(v).split(";") if f and f not in _DERIVED_FLAGS) for v in flags
        ]
    return w
