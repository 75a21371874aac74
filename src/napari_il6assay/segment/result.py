"""The result of segmenting one image (`SegmentationResult`), and the empty one (`empty_result`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd


@dataclass
class SegmentationResult:
    """Labels, per-object table and per-image measures of one segmented image.

    Parameters
    ----------
    labels : ndarray of int32
        Same YX (2D modes) or ZYX (``spheroid3d``) shape as the input plane or stack;
        0 is background, objects are numbered 1..n.
    objects : DataFrame
        One row per object with the ``objects.csv`` columns (without ``image``/``well``,
        which callers add).
    measures : dict
        The ``images.csv`` row: ``readout``, ``readout_name``, ``n_objects``, ``calibrated``
        and the mode's own measures.
    qc_flag : str
        ``""`` when fine, else a short reason such as ``"no_object"`` or ``"constant_image"``.
    overlay : ndarray of uint8, optional
        RGB QC image: the outline drawn on the input (downsampled for large images).
    per_well : DataFrame, optional
        A whole-plate photo's wells (colony mode): one row per well found on the photo, with
        the ``wells.csv`` measures of each; None for a photo of one well.
    """

    labels: np.ndarray
    objects: pd.DataFrame
    measures: dict[str, Any] = field(default_factory=dict)
    qc_flag: str = ""
    overlay: np.ndarray | None = None
    per_well: pd.DataFrame | None = None

    @property
    def readout(self) -> float:
        """The mode's primary number (``measures["readout"]``)."""
        return float(self.measures.get("readout", float("nan")))


def empty_result(
    shape: tuple[int, ...],
    *,
    readout_name: str,
    qc_flag: str,
    calibrated: bool,
    columns: list[str] | None = None,
    overlay: np.ndarray | None = None,
    readout: float = float("nan"),
    extra: dict | None = None,
) -> SegmentationResult:
    """Build an explicit empty result: all-zero labels, no objects, NaN (or given) readout.

    For well-formed input that holds nothing to measure (``qc_flag`` ``"constant_image"``,
    ``"no_object"``, ...): ``n_objects`` 0 and the ``objects`` table with its columns but no
    row, so that callers and tables need no special case.
    """
    import numpy as np
    import pandas as pd

    from napari_il6assay.segment.measure import BASE_COLUMNS_2D

    cols = columns or BASE_COLUMNS_2D
    measures = {
        "readout": readout,
        "readout_name": readout_name,
        "n_objects": 0,
        "calibrated": calibrated,
        readout_name: readout,
    }
    if extra:
        measures.update(extra)
    return SegmentationResult(
        labels=np.zeros(shape, dtype=np.int32),
        objects=pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}),
        measures=measures,
        qc_flag=qc_flag,
        overlay=overlay,
    )
