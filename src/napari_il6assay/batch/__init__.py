"""Batch processing of plate folders and exports (no Qt).

``run.run_batch(folder, layout, mode, out, ...)`` is the entry point (``il6assay batch``,
``il6assay demo`` and the napari batch widget call it). The parts:

========== =============================================================================
module     holds
========== =============================================================================
plan       plate folder -> work items (one per plate/well/site; channel and z-plane files
           of a site combined; photos of whole plates in colony mode)
worker     what a dask worker does with one item: read, segment, measure, draw thumbnails
parts      per-image result files written atomically as results arrive; resume checks
tables     parts -> images, objects, wells (sites aggregated, layout joined), conditions,
           fits, synergy and potentiation
exports    CSV / parquet tables, results.xlsx, Prism tables, plots, run.json
report     report.html: one self-contained page with curves, fits and a plate-map montage
run        orchestration on dask.distributed (local processes or a remote scheduler)
========== =============================================================================

Nothing heavy is imported here.
"""
