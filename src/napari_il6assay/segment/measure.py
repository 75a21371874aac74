"""Per-object measurements (the ``objects.csv`` table) in 2D and 3D.

Physical columns (``*_um``, ``*_um2``, ``*_um3``) are in micrometres when a pixel/voxel
size is given, else in pixels/voxels (the caller records ``calibrated=False``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

BASE_COLUMNS_2D = [
    "label",
    "area_px",
    "area_um2",
    "equivalent_diameter_um",
    "mean_intensity",
    "integrated_intensity",
    "circularity",
    "solidity",
    "perimeter_um",
    "major_axis_um",
    "minor_axis_um",
]
BASE_COLUMNS_3D = [
    "label",
    "area_px",
    "area_um2",
    "equivalent_diameter_um",
    "mean_intensity",
    "integrated_intensity",
    "circularity",
    "solidity",
    "volume_um3",
    "surface_um2",
    "sphericity",
]


def _channel_names(n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None and len(names) == n:
        out = []
        for i, nm in enumerate(names):
            s = "".join(ch if ch.isalnum() else "_" for ch in str(nm)).strip("_").lower()
            out.append(s or f"ch{i}")
        if len(set(out)) == n:
            return out
    return [f"ch{i}" for i in range(n)]


def _empty(columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    df["label"] = df["label"].astype("int64")
    df["area_px"] = df["area_px"].astype("int64")
    return df


def measure_objects(
    labels: np.ndarray,
    intensity: np.ndarray | None = None,
    *,
    pixel_size_um: float | None = None,
    channels: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Measure every labelled object of a 2D label image.

    Parameters
    ----------
    labels : ndarray of int
        2D label image, 0 = background.
    intensity : ndarray, optional
        2D image whose mean/integrated intensity is reported (the segmented plane,
        e.g. the luminance of an RGB photo).
    pixel_size_um : float, optional
        Pixel size; physical columns are in pixels when None.
    channels : ndarray, optional
        YXC array; adds ``mean_intensity_<ch>`` and ``integrated_intensity_<ch>`` per channel.
    channel_names : sequence of str, optional
        Names for the channel columns (``ch0``, ``ch1``... otherwise).

    Returns
    -------
    DataFrame
        One row per object: ``label, area_px, area_um2, equivalent_diameter_um,
        mean_intensity, integrated_intensity, circularity, solidity, perimeter_um,
        major_axis_um, minor_axis_um`` (+ per-channel columns).

    Examples
    --------
    >>> lab = np.zeros((50, 50), int); lab[10:30, 10:30] = 1
    >>> measure_objects(lab, pixel_size_um=2.0)["area_um2"].tolist()
    [1600.0]
    """
    from skimage.measure import regionprops_table

    lab = np.asarray(labels)
    n_ch = 0 if channels is None else channels.shape[-1]
    names = _channel_names(n_ch, channel_names)
    columns = list(BASE_COLUMNS_2D)
    for nm in names:
        columns += [f"mean_intensity_{nm}", f"integrated_intensity_{nm}"]
    if lab.max() == 0:
        return _empty(columns)
    s = 1.0 if pixel_size_um is None else float(pixel_size_um)
    props = ["label", "area", "perimeter", "axis_major_length", "axis_minor_length", "solidity"]
    img = None
    if intensity is not None or channels is not None:
        stack = []
        if intensity is not None:
            stack.append(np.asarray(intensity, dtype=np.float32))
        if channels is not None:
            stack.extend(np.asarray(channels[..., i], dtype=np.float32) for i in range(n_ch))
        img = np.stack(stack, axis=-1)
        props.append("intensity_mean")
    t = regionprops_table(lab, intensity_image=img, properties=props)
    area = np.asarray(t["area"], dtype=np.float64)
    perim = np.asarray(t["perimeter"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        circ = np.where(perim > 0, 4 * math.pi * area / perim**2, np.nan)
    circ = np.minimum(circ, 1.0)
    out = {
        "label": np.asarray(t["label"], dtype=np.int64),
        "area_px": area.astype(np.int64),
        "area_um2": area * s * s,
        "equivalent_diameter_um": np.sqrt(4 * area / math.pi) * s,
        "mean_intensity": np.full(area.shape, np.nan),
        "integrated_intensity": np.full(area.shape, np.nan),
        "circularity": circ,
        "solidity": np.asarray(t["solidity"], dtype=np.float64),
        "perimeter_um": perim * s,
        "major_axis_um": np.asarray(t["axis_major_length"], dtype=np.float64) * s,
        "minor_axis_um": np.asarray(t["axis_minor_length"], dtype=np.float64) * s,
    }
    k = 0
    if intensity is not None:
        out["mean_intensity"] = np.asarray(t["intensity_mean-0"], dtype=np.float64)
        out["integrated_intensity"] = out["mean_intensity"] * area
        k = 1
    for i, nm in enumerate(names):
        m = np.asarray(t[f"intensity_mean-{k + i}"], dtype=np.float64)
        out[f"mean_intensity_{nm}"] = m
        out[f"integrated_intensity_{nm}"] = m * area
    if intensity is None and n_ch:
        out["mean_intensity"] = out[f"mean_intensity_{names[0]}"]
        out["integrated_intensity"] = out[f"integrated_intensity_{names[0]}"]
    return pd.DataFrame(out, columns=columns)


def surface_area(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Surface area of a 3D binary mask by marching cubes (physical units of ``spacing``)."""
    from skimage.measure import marching_cubes, mesh_surface_area

    m = np.pad(np.asarray(mask, dtype=np.float32), 1)
    if m.max() <= 0:
        return 0.0
    verts, faces, _, _ = marching_cubes(m, level=0.5, spacing=tuple(float(x) for x in spacing))
    return float(mesh_surface_area(verts, faces))


def measure_objects_3d(
    labels: np.ndarray,
    intensity: np.ndarray | None = None,
    *,
    voxel_size_um: Sequence[float] | None = None,
    channels: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
    surface_step: int = 1,
) -> pd.DataFrame:
    """Measure every labelled object of a 3D (ZYX) label image.

    Parameters
    ----------
    labels : ndarray of int
        ZYX label image.
    intensity : ndarray, optional
        ZYX image for ``mean_intensity``/``integrated_intensity``.
    voxel_size_um : (z, y, x), optional
        Voxel size; voxel units when None.
    channels : ndarray, optional
        ZYXC array for per-channel intensity columns.
    channel_names : sequence of str, optional
        Names for the channel columns.
    surface_step : int
        Marching-cubes step (1 = full resolution; 0 = leave ``surface_um2`` NaN for
        the caller to fill).

    Returns
    -------
    DataFrame
        ``label, area_px`` (voxel count), ``area_um2`` (largest cross-section in the YX
        plane), ``equivalent_diameter_um`` (of the sphere of the same volume),
        ``mean_intensity, integrated_intensity``, ``circularity`` and ``solidity`` (of
        the largest cross-section), ``volume_um3``, ``surface_um2`` (marching cubes
        with the anisotropic spacing), ``sphericity`` (pi^(1/3) (6V)^(2/3) / A) and
        per-channel intensities.
    """
    from scipy import ndimage as ndi

    lab = np.asarray(labels)
    vz, vy, vx = (1.0, 1.0, 1.0) if voxel_size_um is None else map(float, voxel_size_um)
    n_ch = 0 if channels is None else channels.shape[-1]
    names = _channel_names(n_ch, channel_names)
    columns = list(BASE_COLUMNS_3D)
    for nm in names:
        columns += [f"mean_intensity_{nm}", f"integrated_intensity_{nm}"]
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        return _empty(columns)
    rows = []
    slices = ndi.find_objects(lab)
    for i, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        m = lab[sl] == i
        nvox = int(m.sum())
        vol = nvox * vz * vy * vx
        step = int(surface_step)
        if step <= 0:
            surf = float("nan")  # the caller computes it (e.g. from a smooth field)
        else:
            surf = surface_area(m[:, ::step, ::step] if step > 1 else m, (vz, vy * step, vx * step))
        sph = (math.pi ** (1 / 3)) * (6 * vol) ** (2 / 3) / surf if surf > 0 else np.nan
        zarea = m.sum(axis=(1, 2))
        zmax = int(np.argmax(zarea))
        sec = m[zmax]
        from skimage.measure import regionprops

        rp = regionprops(sec.astype(np.uint8))[0]
        per = rp.perimeter
        circ = min(1.0, 4 * math.pi * rp.area / per**2) if per > 0 else np.nan
        row = {
            "label": i,
            "area_px": nvox,
            "area_um2": float(zarea[zmax]) * vy * vx,
            "equivalent_diameter_um": (6 * vol / math.pi) ** (1 / 3),
            "mean_intensity": np.nan,
            "integrated_intensity": np.nan,
            "circularity": circ,
            "solidity": float(rp.solidity),
            "volume_um3": vol,
            "surface_um2": surf,
            "sphericity": min(1.0, sph) if np.isfinite(sph) else np.nan,
        }
        if intensity is not None:
            v = np.asarray(intensity[sl], dtype=np.float64)[m]
            row["mean_intensity"] = float(v.mean())
            row["integrated_intensity"] = float(v.sum())
        for c, nm in enumerate(names):
            v = np.asarray(channels[sl + (c,)], dtype=np.float64)[m]
            row[f"mean_intensity_{nm}"] = float(v.mean())
            row[f"integrated_intensity_{nm}"] = float(v.sum())
        if intensity is None and n_ch:
            row["mean_intensity"] = row[f"mean_intensity_{names[0]}"]
            row["integrated_intensity"] = row[f"integrated_intensity_{names[0]}"]
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
