"""napari widgets: the only sub-package that imports Qt."""
