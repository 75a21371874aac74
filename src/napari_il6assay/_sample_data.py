"""napari sample-data contributions: synthetic images with their ground-truth labels.

Each function generates its data (no files, no download) and returns napari ``LayerData``
tuples ``(data, kwargs, layer_type)``: the image, then the truth labels at the same scale.
No napari import here, so the module is cheap and testable without a display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the generators are imported when a sample is made, not with the module
    from napari_il6assay.synthetic import SyntheticImage

LayerData = tuple[Any, dict[str, Any], str]

__all__ = [
    "colony_well",
    "livedead_well",
    "brightfield_spheroid",
    "spheroid_stack",
    "sphere_well",
    "sphere_experiment",
]

_SEED = 0


def _layers(
    image: Any,
    labels: Any,
    scale: tuple[float, ...],
    meta: dict[str, Any],
    *,
    name: str | list[str],
    truth: str,
    **image_kwargs: Any,
) -> list[LayerData]:
    """Pair an image layer with its truth-labels layer, both on ``scale`` in µm."""
    kwargs = {"name": name, **image_kwargs, "scale": scale, "units": "um", "metadata": meta}
    truth_kwargs = {"name": truth, "scale": scale, "units": "um", "opacity": 0.5}
    return [(image, kwargs, "image"), (labels, truth_kwargs, "labels")]


def _well_layers(
    s: SyntheticImage, keys: tuple[str, ...], name: str | list[str], truth: str, **image_kwargs: Any
) -> list[LayerData]:
    """Lay out one 2D well: its pixel size and the ``keys`` of its truth go in the metadata."""
    meta = {"pixel_size_um": s.pixel_size_um, **{k: s.truth[k] for k in keys}}
    scale = (s.pixel_size_um, s.pixel_size_um)
    return _layers(s.image, s.labels, scale, meta, name=name, truth=truth, **image_kwargs)


def colony_well() -> list[LayerData]:
    """Crystal-violet well photo (RGB) and its colony labels."""
    from napari_il6assay.synthetic import make_colony_well

    s = make_colony_well(_SEED)
    keys = ("area_fraction", "colony_count")
    return _well_layers(s, keys, "crystal violet well", "colonies (truth)", rgb=True)


def livedead_well() -> list[LayerData]:
    """Two-channel live (calcein) / dead (PI) image and its cell labels."""
    from napari_il6assay.synthetic import make_livedead_well

    s = make_livedead_well(_SEED)
    channels = {"channel_axis": 2, "colormap": ["green", "magenta"], "blending": "additive"}
    names = ["live (calcein)", "dead (PI)"]
    return _well_layers(s, ("live_fraction",), names, "cells (truth)", **channels)


def brightfield_spheroid() -> list[LayerData]:
    """Brightfield spheroid photo (debris, halo, well shadow, scale bar) and its mask."""
    from napari_il6assay.synthetic import make_spheroid_2d

    s = make_spheroid_2d(_SEED, kind="brightfield")
    keys = ("volume_um3", "equivalent_diameter_um")
    return _well_layers(s, keys, "brightfield spheroid", "spheroid (truth)", colormap="gray")


def spheroid_stack() -> list[LayerData]:
    """Anisotropic z-stack of a spheroid and its 3D mask."""
    from napari_il6assay.synthetic import make_spheroid_3d

    s = make_spheroid_3d(_SEED)
    if s.z_step_um is None:  # a 3D sample always has a z step; without one the scale is wrong
        raise ValueError("make_spheroid_3d returned a sample without z_step_um")
    scale = (s.z_step_um, s.pixel_size_um, s.pixel_size_um)
    meta = {"voxel_size_um": scale, "volume_um3": s.truth["volume_um3"]}
    return _layers(
        s.image,
        s.labels,
        scale,
        meta,
        name="spheroid stack",
        truth="spheroid (truth)",
        colormap="gray",
    )


def sphere_well() -> list[LayerData]:
    """Mammosphere well (brightfield) and its sphere labels."""
    from napari_il6assay.synthetic import make_sphere_well

    s = make_sphere_well(_SEED)
    keys = ("sphere_count", "min_diameter_um")
    return _well_layers(s, keys, "mammosphere well", "spheres (truth)", colormap="gray")


def sphere_experiment() -> list[LayerData]:
    """Make a 16-well sphere-forming experiment (primary and secondary passage, cells seeded).

    The wells are stacked along the first axis (one plane per well); ``metadata["layout"]``
    holds the layout rows (well, dose, ``cells_seeded``, ``passage``) and ``metadata["truth"]``
    the drawn counts and efficiencies, so the layout can be saved and the batch run on it.
    """
    import numpy as np

    from napari_il6assay.synthetic.sphere_mfe import make_sphere_mfe_experiment

    truth, images = make_sphere_mfe_experiment(None, seed=_SEED, image_size=384)
    px = images[0].pixel_size_um
    scale = (1.0, px, px)
    cols = ["well", "cell_line", "drug", "concentration", "unit", "role", "cells_seeded", "passage"]
    meta = {
        "pixel_size_um": px,
        "wells": truth["well"].tolist(),
        "layout": truth[cols].to_dict("records"),
        "truth": truth[["well", "true_count", "true_mfe_pct"]].to_dict("records"),
    }
    image = np.stack([s.image for s in images])
    labels = np.stack([s.labels for s in images])
    return _layers(
        image,
        labels,
        scale,
        meta,
        name="sphere experiment (1 plane per well)",
        truth="spheres (truth)",
        colormap="gray",
    )
