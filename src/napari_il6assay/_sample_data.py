"""napari sample-data contributions: synthetic images with their ground-truth labels.

Each function generates its data (no files, no download) and returns napari ``LayerData``
tuples ``(data, kwargs, layer_type)``: the image, then the truth labels at the same scale.
No napari import here, so the module is cheap and testable without a display.
"""

from __future__ import annotations

from typing import Any

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


def _truth_layer(s, name: str, scale: tuple[float, ...]) -> LayerData:
    return (s.labels, {"name": name, "scale": scale, "units": "um", "opacity": 0.5}, "labels")


def colony_well() -> list[LayerData]:
    """Crystal-violet well photo (RGB) and its colony labels."""
    from napari_il6assay.synthetic import make_colony_well

    s = make_colony_well(_SEED)
    scale = (s.pixel_size_um, s.pixel_size_um)
    meta = {
        "pixel_size_um": s.pixel_size_um,
        "area_fraction": s.truth["area_fraction"],
        "colony_count": s.truth["colony_count"],
    }
    return [
        (
            s.image,
            {
                "name": "crystal violet well",
                "rgb": True,
                "scale": scale,
                "units": "um",
                "metadata": meta,
            },
            "image",
        ),
        _truth_layer(s, "colonies (truth)", scale),
    ]


def livedead_well() -> list[LayerData]:
    """Two-channel live (calcein) / dead (PI) image and its cell labels."""
    from napari_il6assay.synthetic import make_livedead_well

    s = make_livedead_well(_SEED)
    scale = (s.pixel_size_um, s.pixel_size_um)
    meta = {"pixel_size_um": s.pixel_size_um, "live_fraction": s.truth["live_fraction"]}
    return [
        (
            s.image,
            {
                "name": ["live (calcein)", "dead (PI)"],
                "channel_axis": 2,
                "colormap": ["green", "magenta"],
                "blending": "additive",
                "scale": scale,
                "units": "um",
                "metadata": meta,
            },
            "image",
        ),
        _truth_layer(s, "cells (truth)", scale),
    ]


def brightfield_spheroid() -> list[LayerData]:
    """Brightfield spheroid photo (debris, halo, well shadow, scale bar) and its mask."""
    from napari_il6assay.synthetic import make_spheroid_2d

    s = make_spheroid_2d(_SEED, kind="brightfield")
    scale = (s.pixel_size_um, s.pixel_size_um)
    meta = {
        "pixel_size_um": s.pixel_size_um,
        "volume_um3": s.truth["volume_um3"],
        "equivalent_diameter_um": s.truth["equivalent_diameter_um"],
    }
    return [
        (
            s.image,
            {
                "name": "brightfield spheroid",
                "colormap": "gray",
                "scale": scale,
                "units": "um",
                "metadata": meta,
            },
            "image",
        ),
        _truth_layer(s, "spheroid (truth)", scale),
    ]


def spheroid_stack() -> list[LayerData]:
    """Anisotropic z-stack of a spheroid and its 3D mask."""
    from napari_il6assay.synthetic import make_spheroid_3d

    s = make_spheroid_3d(_SEED)
    if s.z_step_um is None:  # a 3D sample always has a z step; without one the scale is wrong
        raise ValueError("make_spheroid_3d returned a sample without z_step_um")
    scale = (s.z_step_um, s.pixel_size_um, s.pixel_size_um)
    meta = {"voxel_size_um": scale, "volume_um3": s.truth["volume_um3"]}
    return [
        (
            s.image,
            {
                "name": "spheroid stack",
                "colormap": "gray",
                "scale": scale,
                "units": "um",
                "metadata": meta,
            },
            "image",
        ),
        _truth_layer(s, "spheroid (truth)", scale),
    ]


def sphere_well() -> list[LayerData]:
    """Mammosphere well (brightfield) and its sphere labels."""
    from napari_il6assay.synthetic import make_sphere_well

    s = make_sphere_well(_SEED)
    scale = (s.pixel_size_um, s.pixel_size_um)
    meta = {
        "pixel_size_um": s.pixel_size_um,
        "sphere_count": s.truth["sphere_count"],
        "min_diameter_um": s.truth["min_diameter_um"],
    }
    return [
        (
            s.image,
            {
                "name": "mammosphere well",
                "colormap": "gray",
                "scale": scale,
                "units": "um",
                "metadata": meta,
            },
            "image",
        ),
        _truth_layer(s, "spheres (truth)", scale),
    ]


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
    return [
        (
            np.stack([s.image for s in images]),
            {
                "name": "sphere experiment (1 plane per well)",
                "colormap": "gray",
                "scale": scale,
                "units": "um",
                "metadata": meta,
            },
            "image",
        ),
        (
            np.stack([s.labels for s in images]),
            {"name": "spheres (truth)", "scale": scale, "units": "um", "opacity": 0.5},
            "labels",
        ),
    ]
