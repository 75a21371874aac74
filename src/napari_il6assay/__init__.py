"""Plate images of drug-resistance assays to IC50s, fold resistance and synergy.

The package is a napari plugin and a batch command line (``il6assay``). Importing it is
cheap: every heavy dependency (scikit-image, scipy, dask, Qt) is imported by the module
that needs it, when it is first used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
