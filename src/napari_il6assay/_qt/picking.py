"""Which wells a click on a figure means.

The figure functions attach well ids to their point artists (``fig.il6assay_wells``), the
synergy heat map dose pairs to its cells.
"""

from __future__ import annotations

from typing import Any

from napari_il6assay.io.cells import is_blank
from napari_il6assay.io.plate import split_well_key as parse_well_id


def well_ids_of(artist: Any) -> list | None:
    """Return the per-point well ids the figure functions attach to a point artist.

    They are in ``fig.il6assay_wells`` of the artist's (sub)figure; None without.
    """
    figs = []
    if hasattr(artist, "get_figure"):
        try:
            figs = [artist.get_figure(root=False), artist.get_figure(root=True)]
        except TypeError:
            figs = [artist.get_figure()]
    for fig in figs:
        ids = getattr(fig, "il6assay_wells", {}).get(artist) if fig is not None else None
        if ids is not None:
            return list(ids)
    return None


def picked_wells(event: Any) -> list[tuple[str, str]]:
    """(plate, well) pairs behind the data points a matplotlib ``pick_event`` hit.

    Points of the dose–response figure carry their wells (``fig.il6assay_wells``: one list of
    `napari_il6assay.io.plate.well_key` ids per point); the wells of the nearest hit point come
    first.
    """
    ids = well_ids_of(event.artist)
    if ids is None:
        return []
    ind = list(getattr(event, "ind", []) or [])
    me = getattr(event, "mouseevent", None)
    offsets = hasattr(event.artist, "get_offsets")
    if len(ind) > 1 and me is not None and me.x is not None and offsets:
        # several points within the pick radius: nearest first (in display pixels)
        import numpy as np

        art = event.artist
        xy = art.get_offset_transform().transform(np.asarray(art.get_offsets())[ind])
        ind = [ind[k] for k in np.argsort(np.hypot(xy[:, 0] - me.x, xy[:, 1] - me.y))]
    out: list[tuple[str, str]] = []
    for i in ind:
        if i >= len(ids):
            continue
        entry = ids[i]
        if isinstance(entry, str):
            entry = [entry]
        if all(isinstance(e, str) for e in entry):
            out.extend(parse_well_id(e) for e in entry if str(e).strip())
    return out


def heatmap_wells(event: Any, wells: Any, synergy: Any) -> list[tuple[str, str]]:
    """Wells of the synergy heat-map cell a ``pick_event`` hit (its cells carry dose pairs).

    Parameters
    ----------
    event : matplotlib.backend_bases.PickEvent
    wells, synergy : pandas.DataFrame or None
        ``wells.csv`` and ``synergy.csv``; the heat map shows the first combination of
        ``synergy``.

    Returns
    -------
    list of (plate, well)
    """
    import numpy as np

    ids = well_ids_of(event.artist)
    me = getattr(event, "mouseevent", None)
    if not ids or me is None or me.xdata is None or wells is None or synergy is None:
        return []
    ncol = event.artist.get_array().shape[1]
    i, j = int(round(me.ydata)), int(round(me.xdata))
    k = i * ncol + j
    if not (0 <= j < ncol and 0 <= k < len(ids)) or not isinstance(ids[k], tuple):
        return []
    a, b = (float(v) for v in ids[k])
    line = str(synergy["cell_line"].iloc[0])
    conc = wells["concentration_M"].astype(float).to_numpy()
    conc_b = wells["concentration_b"].astype(float).to_numpy()
    m = (
        (wells["cell_line"].astype(str) == line).to_numpy()
        & np.isclose(conc, a, rtol=1e-6, atol=0)
        & np.isclose(conc_b, b, rtol=1e-6, atol=0)
    )
    plate = wells["plate"] if "plate" in wells.columns else [""] * len(wells)
    return [
        ("" if is_blank(p) else str(p), str(w))
        for p, w, hit in zip(plate, wells["well"], m, strict=True)
        if hit
    ]
