"""A small sphere-formation experiment with ``cells_seeded`` and passages (the MFE demo).

One cell line (``MCF-7E``) under eribulin, primary and secondary sphere formation
(``passage``), duplicate wells, with a known number of cells seeded per well. Each well's
sphere count follows a 4PL of the dose (IC50 2 nM); secondary spheres form at 60 % of the
primary efficiency; sphere sizes shrink with the dose (median 95 um in the vehicle, 30 %
smaller at the top dose). The truth (counts drawn, cells seeded, MFE, median diameters) is
returned and written to ``truth.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_il6assay.io.plate import well_name

#: (passage, cells seeded per well, doses in nM)
DESIGN = [
    ("primary", 1000, [0.0, 0.3, 1.0, 3.0, 10.0]),
    ("secondary", 500, [0.0, 1.0, 10.0]),
]
IC50_NM = 2.0
VEHICLE_MFE_PCT = 4.0  # spheres per 100 cells seeded, primary vehicle
SECONDARY_FACTOR = 0.6
MEDIAN_DIAMETER_UM = 95.0


def design_wells(seed: int = 0, replicates: int = 2) -> list[dict[str, Any]]:
    """List the wells of the design with their truth (no images)."""
    rng = np.random.default_rng(seed)
    rows = []
    i = 0
    for passage, seeded, doses in DESIGN:
        for dose in doses:
            frac = 1.0 / (1.0 + dose / IC50_NM)
            mfe = VEHICLE_MFE_PCT * frac * (1.0 if passage == "primary" else SECONDARY_FACTOR)
            size = MEDIAN_DIAMETER_UM * (1.0 - 0.3 * dose / 10.0)
            for _ in range(replicates):
                n = int(rng.poisson(mfe / 100.0 * seeded))
                rows.append({
                    "well": well_name(i % 8 + 1, i // 8 + 1), "cell_line": "MCF-7E",
                    "drug": "eribulin", "concentration": dose, "unit": "nM",
                    "role": "vehicle" if dose == 0 else "sample", "cells_seeded": seeded,
                    "passage": passage, "true_count": n, "true_mfe_pct": 100.0 * n / seeded,
                    "median_diameter_um": size, "seed": seed * 1000 + i,
                })  # fmt: skip
                i += 1
    return rows


def make_sphere_mfe_experiment(
    out_dir: str | Path | None = None, *, seed: int = 0, image_size: int = 384
) -> tuple[Any, list[Any]]:
    """Generate the experiment; write images, ``layout.csv`` and ``truth.csv`` when asked.

    Parameters
    ----------
    out_dir : str or Path, optional
        Folder for ``A01.tif`` ..., ``layout.csv`` and ``truth.csv``; nothing is written
        without it.
    seed : int
    image_size : int
        Image width (pixels); the field of view stays the whole well (5.1 mm).

    Returns
    -------
    truth : DataFrame
        One row per well: the layout columns plus ``true_count``, ``true_mfe_pct``,
        ``median_diameter_um``.
    images : list of SyntheticImage
        In the order of ``truth``.
    """
    import pandas as pd

    from napari_il6assay.synthetic.spheres import make_sphere_well

    px = 10.0 * 512 / image_size
    rows = design_wells(seed)
    images = []
    for r in rows:
        s = make_sphere_well(r["seed"], n_spheres=r["true_count"], size=image_size,
                             pixel_size_um=px,
                             median_diameter_um=r["median_diameter_um"])  # fmt: skip
        r["true_count"] = int(s.truth.get("sphere_count", r["true_count"]))
        r["true_mfe_pct"] = 100.0 * r["true_count"] / r["cells_seeded"]
        images.append(s)
    truth = pd.DataFrame(rows).drop(columns="seed")
    if out_dir is not None:
        import tifffile

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for r, s in zip(rows, images, strict=True):
            res = 1.0 / s.pixel_size_um
            tifffile.imwrite(out / f"{r['well']}.tif", s.image, imagej=True,
                             resolution=(res, res), metadata={"axes": "YX", "unit": "um"},
                             compression="zlib")  # fmt: skip
        cols = ["well", "cell_line", "drug", "concentration", "unit", "role", "cells_seeded",
                "passage"]  # fmt: skip
        truth[cols].to_csv(out / "layout.csv", index=False)
        truth.to_csv(out / "truth.csv", index=False)
    return truth, images
