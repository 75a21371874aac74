"""Settings the plugin's docks share within one napari session (no Qt here).

The pixel-classifier dock and the batch dock are separate widgets that napari creates
independently, so they meet here rather than through each other: "Use in batch" in the
classifier dock stores the saved classifier file in `SHARED`, and the batch dock reads it when
it builds `run_batch`'s keywords. A module-level object was chosen over an attribute on the
viewer because napari hands widgets a proxy of the viewer that refuses new attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class SharedSettings:
    """What one dock hands to another.

    Parameters
    ----------
    classifier_path : Path or None
        A saved pixel classifier (``.npz``) the batch should use for the foreground step
        (``run_batch(..., classifier=...)``, CLI ``--classifier``); None = the mode's own.
    """

    classifier_path: Path | None = None


#: the one instance of the session (napari runs one plugin instance per process)
SHARED = SharedSettings()
