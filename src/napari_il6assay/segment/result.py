"""The result of segmenting one image."""

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
    """

    labels: np.ndarray
    objects: pd.DataFrame
    measures: dict[str, Any] = field(default_factory=dict)
    qc_flag: str = ""
    overlay: np.ndarray | None = None

    @property
    def readout(self) -> float:
        """The mode's primary number (``measures["readout"]``)."""
        return float(self.measures.get("readout", float("nan")))
