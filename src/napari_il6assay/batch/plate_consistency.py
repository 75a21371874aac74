"""Plate-level consistency: one badly segmented well must not move an IC50 silently.

Each well carries diagnostics that the plate's biology does not move: the well radius the
segmentation found (``well_radius_px``), its background level (``background_level``) and the
darkest and brightest pixel levels of the image (``image_p1``, ``image_p99``; see
`napari_il6assay.segment.diagnostics`). Within one plate these should agree across wells,
whatever the dose. A well whose diagnostic lies far from the plate's others (robust z-score,
median and MAD) gets ``plate_outlier``, which keeps it out of the fits by default
(`napari_il6assay.qc_flags.UNTRUSTED`).

Why these and not the object count or size: those follow the dose (a top-dose well has few
cells), so a plate-wide z-score would flag the wells that carry the IC50. Among replicates of
one condition they are covered by the viability ``outlier`` flag instead.

Scales: the MAD of a clean plate can be tiny (identical optics), so each diagnostic's scale
has a floor: 5 % of the median for the well radius, and 10 % of the plate's dynamic range
(median ``image_p99`` minus median ``image_p1``) for intensity levels. With the default
threshold of 5, a well is flagged when its radius is off by more than 25 % or an intensity
level by more than half the plate's range, and more than 5 robust SDs from the others.
Blank, ``exclude`` wells and plates with fewer than `MIN_WELLS` wells are not judged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_il6assay.qc_flags import join_flags

#: diagnostic column -> (kind of scale floor, fraction)
DIAGNOSTICS: dict[str, tuple[str, float]] = {
    "well_radius_px": ("relative", 0.05),
    "well_radius_um": ("relative", 0.05),
    "background_level": ("range", 0.10),
    "image_p1": ("range", 0.10),
    "image_p99": ("range", 0.10),
}
MIN_WELLS = 8
Z_THRESHOLD = 5.0


def _role(wells: pd.DataFrame) -> pd.Series:
    if "role" not in wells.columns:
        return pd.Series("sample", index=wells.index)
    return wells["role"].astype(object).where(wells["role"].notna(), "").astype(str).str.lower()


def plate_outliers(
    wells: pd.DataFrame, *, z_threshold: float = Z_THRESHOLD, min_wells: int = MIN_WELLS
) -> pd.DataFrame:
    """Robust z-scores of the well diagnostics within each plate.

    Parameters
    ----------
    wells : DataFrame
        One row per well with ``plate`` and any of the `DIAGNOSTICS` columns (``role``
        optional).
    z_threshold : float
        Absolute robust z-score above which a well is an outlier.
    min_wells : int
        Plates with fewer judged wells are not judged.

    Returns
    -------
    DataFrame
        Same index as ``wells``: ``plate_outlier`` (bool) and ``plate_outlier_why`` (e.g.
        ``"image_p99 z=+12.3"``; empty when not an outlier).

    Examples
    --------
    >>> df = pd.DataFrame({"plate": "p", "image_p1": [10.0] * 11 + [900.0],
    ...                    "image_p99": [1000.0] * 12})
    >>> plate_outliers(df)["plate_outlier"].tolist()[-2:]
    [False, True]
    """
    out = pd.DataFrame({"plate_outlier": False, "plate_outlier_why": ""}, index=wells.index).astype(
        {"plate_outlier": bool, "plate_outlier_why": object}
    )
    present = [c for c in DIAGNOSTICS if c in wells.columns]
    if not present or wells.empty:
        return out
    plate = wells["plate"].astype(str) if "plate" in wells.columns else pd.Series("", wells.index)
    judged = ~_role(wells).isin(["blank", "exclude"])
    for _, idx in wells[judged].groupby(plate[judged], sort=False).groups.items():
        if len(idx) < min_wells:
            continue
        values = {c: pd.to_numeric(wells.loc[idx, c], errors="coerce") for c in present}
        span = np.nan
        if "image_p1" in values and "image_p99" in values:
            span = float(values["image_p99"].median() - values["image_p1"].median())
        for col in present:
            v = values[col]
            if v.notna().sum() < min_wells:
                continue
            med = float(v.median())
            mad = 1.4826 * float((v - med).abs().median())
            kind, frac = DIAGNOSTICS[col]
            ref = abs(med) if kind == "relative" or not np.isfinite(span) else abs(span)
            scale = max(mad, frac * ref, 1e-12)
            z = (v - med) / scale
            bad = z.abs() > z_threshold
            for i in v.index[bad.fillna(False).to_numpy()]:
                out.at[i, "plate_outlier"] = True
                note = f"{col} z={float(z[i]):+.1f}"
                prev = str(out.at[i, "plate_outlier_why"])  # text: the column starts as ""
                out.at[i, "plate_outlier_why"] = f"{prev}; {note}" if prev else note
    return out


def flag_plate_outliers(wells: pd.DataFrame, **kwargs: float) -> pd.DataFrame:
    """Return a copy of ``wells`` with ``plate_outlier`` added to ``qc_flag`` where it applies.

    Also adds the column ``plate_outlier_why`` (which diagnostic, and its z-score).
    Keyword arguments go to `plate_outliers`.
    """
    res = plate_outliers(wells, **kwargs)  # type: ignore[arg-type]
    d = wells.copy()
    flags = d["qc_flag"] if "qc_flag" in d.columns else pd.Series("", index=d.index)
    d["qc_flag"] = [
        join_flags(f, "plate_outlier") if bad else join_flags(f)
        for f, bad in zip(flags, res["plate_outlier"], strict=True)
    ]
    d["plate_outlier_why"] = res["plate_outlier_why"]
    return d
