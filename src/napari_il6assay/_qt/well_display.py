"""Show one well of a batch run in the viewer, the other layers hidden.

Its image (from the input folder) and labels (the person's correction from ``corrections/``,
else saved by the run, else segmented again in a worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import napari

    from napari_il6assay.session.results import Results, WellImage


def show_well(
    viewer: napari.Viewer, results: Results, well: str, plate: str | None = None
) -> tuple[Any, Any]:
    """Open (if needed), show and select a well's image and labels.

    Parameters
    ----------
    viewer : napari.Viewer
    results : Results
        The batch run.
    well : str
    plate : str, optional

    Returns
    -------
    (image layer or None, worker or None)
        The worker segments the well when the run saved no labels; its labels layer appears
        when it is done (main thread).
    """
    from napari.utils.notifications import show_error, show_warning

    info = results.well_image(well, plate)
    if info is None:
        show_warning(f"No image is recorded for well {well}.")
        return None, None
    from napari_il6assay.io.plate import well_key

    prefix = well_key(info.plate, well)
    img_name, lab_name = f"{prefix} image", f"{prefix} labels"
    worker = None
    try:
        if img_name not in viewer.layers:
            open_image(viewer, info, img_name)
        if lab_name not in viewer.layers:
            image_layer = viewer.layers[img_name]
            corrected = corrected_labels(results, info, _spatial_shape(image_layer))
            if corrected is not None:  # a person's correction wins over the automatic labels
                _add_labels(viewer, corrected, lab_name, viewer.layers[img_name])
            elif info.labels is not None:
                open_labels(viewer, info, lab_name, viewer.layers[img_name])
            else:
                worker = segment_well(viewer, results, info, lab_name, img_name)
    except Exception as exc:  # noqa: BLE001 - e.g. the input folder moved
        show_error(f"Cannot open the image of well {well}: {exc}")
        return None, None
    for layer in viewer.layers:
        layer.visible = layer.name in (img_name, lab_name) or layer.name.startswith(
            f"{img_name} (channel"
        )
    image = viewer.layers[img_name]
    viewer.layers.selection.clear()
    viewer.layers.selection.add(image)
    viewer.layers.selection.active = image
    viewer.reset_view()
    return image, worker


def open_image(viewer: napari.Viewer, info: WellImage, name: str) -> Any:
    """Add a well's image with its calibration.

    One layer per channel for channel images (the first named ``name``). Returns the (first)
    image layer.
    """
    import numpy as np

    from napari_il6assay.io.images import read_image

    imgs = [read_image(p) for p in info.paths]
    px = info.pixel_size_um or imgs[0].pixel_size_um
    first = imgs[0]
    if len(imgs) > 1:  # one file per channel (e.g. live/dead)
        data = np.stack([np.asarray(i.data) for i in imgs], axis=-1)
        channels = True
    else:
        data = first.data
        channels = first.axes.endswith("C") and not first.rgb
    n_spatial = data.ndim - (1 if (channels or first.rgb) else 0)
    kw: dict[str, Any] = {"name": name}
    if px:
        scale = (float(first.z_step_um or px),) * (n_spatial - 2) + (float(px),) * 2
        kw.update(scale=scale, units=("um",) * n_spatial)
    if channels:
        n = data.shape[-1]
        kw["name"] = [name] + [f"{name} (channel {i + 1})" for i in range(1, n)]
        kw["blending"] = "additive"
        return viewer.add_image(data, channel_axis=data.ndim - 1, **kw)[0]
    return viewer.add_image(data, rgb=bool(first.rgb), **kw)


def _add_labels(viewer: napari.Viewer, labels: Any, name: str, image: Any) -> Any:
    nd = labels.ndim
    layer = viewer.add_labels(
        labels,
        name=name,
        opacity=0.5,
        scale=image.scale[-nd:],
        units=tuple(str(u) for u in image.units[-nd:]),
    )
    layer.contour = 2
    return layer


def _spatial_shape(layer: Any) -> tuple[int, ...]:
    shape = tuple(layer.data.shape)
    return shape[:-1] if getattr(layer, "rgb", False) else shape


def corrected_labels(
    results: Results, info: WellImage, shape: tuple[int, ...] | None = None
) -> Any:
    """Return the saved corrected labels of a well (``corrections/``), or None.

    A file that cannot be read, or does not fit the image, is reported (naming the file and
    the well) and the automatic labels are shown instead.
    """
    from napari.utils.notifications import show_warning

    from napari_il6assay.batch.corrections import correction_path, read_correction
    from napari_il6assay.errors import Il6AssayError

    if results.out is None:
        return None
    path = correction_path(results.out, info.plate, info.well)
    if not path.is_file():
        return None
    try:
        labels = read_correction(path).labels
    except Il6AssayError as exc:
        show_warning(f"Correction not shown: {exc}")
        return None
    if shape is not None and tuple(labels.shape) != tuple(shape):
        show_warning(f"Correction not shown: {path}, well {info.well}: the labels are "
                     f"{' x '.join(map(str, labels.shape))} but the image is "
                     f"{' x '.join(map(str, shape))} pixels")  # fmt: skip
        return None
    return labels


def open_labels(viewer: napari.Viewer, info: WellImage, name: str, image: Any) -> Any:
    """Add the label image the run saved for this well, on the image's grid."""
    import tifffile

    return _add_labels(viewer, tifffile.imread(info.labels), name, image)


def segment_well(
    viewer: napari.Viewer, results: Results, info: WellImage, name: str, img_name: str
) -> Any:
    """Segment the well again with the run's mode and parameters (the run saved no labels).

    In a worker thread; the labels layer is added when it returns. Returns the worker.
    """
    from napari_il6assay._qt.workers import WorkerSlot
    from napari_il6assay.segment import segment_file

    if results.mode is None or len(info.paths) != 1:
        return None
    params = dict(results.run_info.get("parameters", {}).get("segmentation") or {})

    def done(result: Any) -> None:
        if name in viewer.layers or img_name not in viewer.layers:
            return
        image = viewer.layers[img_name]
        layer = _add_labels(viewer, result.labels, name, image)
        layer.visible = image.visible
        viewer.layers.selection.active = image

    slot = WorkerSlot(f"Cannot segment well {info.well}")
    return slot.start(
        segment_file, info.paths[0], results.mode, desc=f"Segmenting well {info.well}",
        returned=done, pixel_size_um=info.pixel_size_um, **params,
    )  # fmt: skip
