"""Synthetic plate images and experiments with exact ground truth (seeded, deterministic).

Every generator takes a ``seed`` for ``numpy.random.default_rng``: the same seed gives
identical arrays. Truth is computed from the masks that were drawn, so it is exact for the
pixels (segmentations can be scored by Dice, area-fraction error and counts).

``make_experiment`` (in `napari_il6assay.synthetic.experiment`) writes a whole plate of
per-well images, a layout and the true dose-response parameters.
"""

from ._common import SyntheticImage
from .colony import make_colony_plate, make_colony_well
from .livedead import make_livedead_well
from .spheres import make_sphere_well
from .spheroid import make_spheroid_2d, make_spheroid_3d

__all__ = [
    "SyntheticImage",
    "make_colony_plate",
    "make_colony_well",
    "make_experiment",
    "make_livedead_well",
    "make_sphere_well",
    "make_spheroid_2d",
    "make_spheroid_3d",
]


def __getattr__(name: str):  # pandas/tifffile are only needed to write experiments
    if name in ("make_experiment", "ExperimentTruth"):
        from . import experiment

        return getattr(experiment, name)
    raise AttributeError(name)
