"""The wells table: from the site rows of ``images.csv`` to the rows of ``wells.csv``.

Sites of a well are aggregated into the well's row of ``wells.csv`` like this:

- ``readout`` and every other per-image measure: the mean over the well's sites. Sites
  of one well have the same size, so for fractions (``area_fraction``) the mean is the
  area-weighted value; for counts (``sphere_count``) it is the count per field, which keeps
  wells comparable when a site failed.
- ``live_fraction``: area-weighted over the sites, sum(live area) / sum(live + dead area),
  when the images report those areas; the mean otherwise.
- ``n_objects``: the sum over sites (objects measured in the well).
- ``image``: the site image names joined by ``;``; ``qc_flag``: the distinct site flags
  joined by ``;``; ``n_sites``: sites measured.

Both the batch (`napari_il6assay.batch.tables`) and the corrections of a finished run
(`napari_il6assay.batch.corrections`) build wells with these functions, so a corrected well
is aggregated exactly as the batch aggregates it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from napari_il6assay.doseresponse.normalize import CONDITIONS_COLUMNS
from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.layout import OPTIONAL_COLUMNS

#: wells.csv columns of docs/interface.md, in order
WELL_COLUMNS = [
    "plate",
    "well",
    "image",
    "cell_line",
    "drug",
    "concentration_M",
    "drug_b",
    "concentration_b",
    "role",
    "readout",
    "viability",
    "qc_flag",
]
#: conditions.csv columns of docs/interface.md (made by `summarize_conditions`)
CONDITION_COLUMNS = CONDITIONS_COLUMNS
#: layout columns carried into wells.csv after the interface ones
LAYOUT_EXTRA = [
    "concentration",
    "unit",
    "unit_b",
    "concentration_b_M",
    "replicate",
    "parental",
    "row",
    "column",
]
#: optional layout columns that wells.csv leaves out when the layout leaves them empty
OPTIONAL_LAYOUT = OPTIONAL_COLUMNS
_LIVE_AREA = ("live_area_um2", "live_area_px", "live_area")
_DEAD_AREA = ("dead_area_um2", "dead_area_px", "dead_area")

#: a blank reads "clearly non-zero" above this share of its plate's vehicle median ...
BLANK_VS_VEHICLE = 0.1
#: ... and above this absolute readout (colony: the area-fraction accuracy budget)
BLANK_FLOOR = {"area_fraction": 0.02}


def _first(cols: Any, names: tuple[str, ...]) -> str | None:
    """Return the first of ``names`` that is in ``cols``."""
    return next((n for n in names if n in cols), None)


def aggregate_sites(images: pd.DataFrame) -> pd.DataFrame:
    """Aggregate the site rows of ``images.csv`` into one row per (plate, well).

    Parameters
    ----------
    images : DataFrame
        ``images.csv`` rows (``plate, well, image, readout, n_objects, qc_flag`` and the
        mode's measures).

    Returns
    -------
    DataFrame
        One row per well, aggregated as the module notes say.
    """
    if images.empty:
        return pd.DataFrame(columns=["plate", "well", "image", "readout", "n_objects", "qc_flag"])
    numeric = [
        c
        for c in images.columns
        if c not in {"site", "pixel_size_um", "n_objects"}
        and pd.api.types.is_numeric_dtype(images[c])
        and not pd.api.types.is_bool_dtype(images[c])
    ]
    live = _first(images.columns, _LIVE_AREA)
    dead = _first(images.columns, _DEAD_AREA)
    rows = []
    for (plate, well), g in images.groupby(["plate", "well"], sort=True):
        row: dict[str, Any] = {"plate": plate, "well": well}
        row["image"] = ";".join(g["image"].astype(str))
        for c in numeric:
            row[c] = float(g[c].mean()) if g[c].notna().any() else math.nan
        if "readout_name" in g.columns:
            row["readout_name"] = str(g["readout_name"].iloc[0])
        if "calibrated" in g.columns:
            row["calibrated"] = bool(g["calibrated"].astype(bool).all())
        if live and dead and "live_fraction" in g.columns and len(g) > 1:
            _area_weighted_live(row, g, live, dead)
        row["n_objects"] = int(g["n_objects"].fillna(0).sum()) if "n_objects" in g else 0
        flags = sorted({f for f in g["qc_flag"].astype(str) if f and f != "nan"})
        row["qc_flag"] = ";".join(flags)
        row["n_sites"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows)


def _area_weighted_live(row: dict[str, Any], sites: pd.DataFrame, live: str, dead: str) -> None:
    """Set ``live_fraction`` (and the readout when it is that) from the summed areas."""
    tot = sites[live].sum() + sites[dead].sum()
    lf = float(sites[live].sum() / tot) if tot > 0 else math.nan
    row["live_fraction"] = lf
    name = sites.get("readout_name", pd.Series(["live_fraction"]))
    if str(name.iloc[0]) == "live_fraction":
        row["readout"] = lf


def order_wells(wells: pd.DataFrame) -> pd.DataFrame:
    """Put the interface columns first, then the layout extras, then the mode's measures.

    Parameters
    ----------
    wells : DataFrame
        Wells joined with the layout; interface columns it lacks are added as NaN (in place).

    Returns
    -------
    DataFrame
    """
    extra = [c for c in LAYOUT_EXTRA if c in wells.columns]
    rest = [c for c in wells.columns if c not in WELL_COLUMNS and c not in extra]
    for c in WELL_COLUMNS:
        if c not in wells.columns:
            wells[c] = math.nan
    return wells[[*WELL_COLUMNS, *extra, *rest]]


def sort_wells(wells: pd.DataFrame) -> pd.DataFrame:
    """Sort wells by plate, then plate row and column (``A2`` before ``A10``)."""
    from napari_il6assay.io.plate_folder import split_well

    rc = wells["well"].map(split_well)
    return (
        wells.assign(_r=rc.map(lambda t: t[0]), _c=rc.map(lambda t: t[1]))
        .sort_values(["plate", "_r", "_c"], kind="stable")
        .drop(columns=["_r", "_c"])
        .reset_index(drop=True)
    )


def drop_empty_layout_columns(wells: pd.DataFrame) -> pd.DataFrame:
    """Leave the optional layout columns (`OPTIONAL_LAYOUT`) out when they are empty."""
    empty = [c for c in OPTIONAL_LAYOUT if c in wells.columns and not wells[c].notna().any()]
    return wells.drop(columns=empty)


def has_combinations(wells: pd.DataFrame) -> bool:
    """Tell whether any sample well holds a second agent at a non-zero concentration."""
    if "drug_b" not in wells.columns or "concentration_b" not in wells.columns:
        return False
    drug_b = np.array([not is_blank(v) for v in wells["drug_b"]], dtype=bool)
    conc = pd.to_numeric(wells["concentration_b"], errors="coerce").fillna(0).to_numpy() > 0
    return bool((drug_b & conc).any())


def by_passage(
    wells: pd.DataFrame, fn: Callable[[pd.DataFrame], pd.DataFrame], tag: bool = False
) -> pd.DataFrame:
    """Apply ``fn`` to each ``passage`` of the wells and concatenate the results.

    Passages (primary, secondary spheres) are separate experiments: each is scaled to its own
    vehicle, summarized and fitted on its own.

    Parameters
    ----------
    wells : DataFrame
    fn : callable
        DataFrame -> DataFrame.
    tag : bool
        Add the ``passage`` column to each result.

    Returns
    -------
    DataFrame
        ``fn(wells)`` when the wells have no ``passage`` column.
    """
    if "passage" not in wells.columns:
        return fn(wells)
    key = wells["passage"].map(lambda v: "" if is_blank(v) else str(v))
    parts = []
    for p, g in wells.groupby(key, sort=True):
        r = fn(g)
        parts.append(r.assign(passage=p) if tag else r)
    return pd.concat(parts, ignore_index=True)


def flag_nonempty_blanks(wells: pd.DataFrame) -> pd.DataFrame:
    """Add ``blank_not_empty`` to blank wells (role ``blank``) whose readout is clearly not 0.

    Clearly: above `BLANK_VS_VEHICLE` x the median vehicle readout of the same plate (when
    the plate has vehicles) and above the readout's floor (`BLANK_FLOOR`, 0 otherwise).
    Segmentation alone cannot know a well is blank (rim shading, debris and stain haze
    look like a little stain); the layout can.

    Parameters
    ----------
    wells : DataFrame
        Wells joined with the layout: ``plate, role, readout, qc_flag`` (+ ``readout_name``).

    Returns
    -------
    DataFrame
        A copy with the flag added where it applies.
    """
    from napari_il6assay.qc_flags import join_flags

    if "role" not in wells.columns or "readout" not in wells.columns:
        return wells
    d = wells.copy()
    role = d["role"].astype(str).str.lower()
    value = pd.to_numeric(d["readout"], errors="coerce")
    plate = d["plate"].astype(str) if "plate" in d.columns else pd.Series("", index=d.index)
    if "qc_flag" not in d.columns:
        d["qc_flag"] = ""
    col = list(d.columns).index("qc_flag")
    for i in np.flatnonzero((role == "blank").to_numpy()).tolist():
        v = value.iloc[i]
        if not np.isfinite(v):
            continue
        name = str(d["readout_name"].iloc[i]) if "readout_name" in d.columns else ""
        limit = BLANK_FLOOR.get(name, 0.0)
        veh = value[(role == "vehicle") & (plate == plate.iloc[i])].dropna()
        if len(veh):
            limit = max(limit, BLANK_VS_VEHICLE * float(veh.median()))
        if v > limit:
            d.iat[i, col] = join_flags(d.iat[i, col], "blank_not_empty")
    return d
