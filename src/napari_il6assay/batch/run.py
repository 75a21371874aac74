"""Run a plate folder end to end: segment in parallel, then tables, fits, exports, report.

The parallel part runs on dask.distributed: a `LocalCluster` of worker *processes* on this
machine by default (one thread each, so the GIL-bound parts of segmentation do not
serialise), or any running scheduler given as ``scheduler="tcp://host:8786"``. The client
submits work items (file paths); workers read, segment and measure; results come back as
they complete and are written at once, atomically, to ``out/_parts`` (see `parts`). With a
remote scheduler the workers must see the input paths (shared file system) and have this
package installed; the client writes all output files.

After the images: join the layout -> ``wells.csv`` -> normalise -> ``conditions.csv`` ->
``fits.csv`` (with fold resistance) -> ``synergy.csv`` when the layout has combinations ->
exports and ``report.html``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_il6assay.errors import InputError

#: names this package writes in an output folder; `overwrite` removes only these
PRODUCTS = (
    "_parts",
    "qc",
    "labels",
    "plots",
    "prism",
    "objects.csv",
    "images.csv",
    "wells.csv",
    "conditions.csv",
    "fits.csv",
    "synergy.csv",
    "potentiation.csv",
    "errors.csv",
    *(
        f"{t}.parquet"
        for t in (
            "objects",
            "images",
            "wells",
            "conditions",
            "fits",
            "synergy",
            "potentiation",
            "errors",
        )
    ),
    "results.xlsx",
    "run.json",
    "report.html",
)

Progress = Callable[[int, int], None]


@dataclass
class BatchResult:
    """What a batch run produced.

    Attributes
    ----------
    out : Path
        Output folder.
    n_images : int
        Work items (images, i.e. sites) in the folder.
    n_ok, n_failed, n_skipped : int
        Images measured (now or in the resumed run), failed, and reused from a previous run.
    errors : pandas.DataFrame
        ``path, stage, error`` of every failed input.
    tables : dict of str -> DataFrame
        ``objects, images, wells, conditions, fits`` (+ ``synergy``, ``potentiation``).
    cancelled : bool
        Stopped by the ``cancel`` event before all images were done (tables not built).
    run_info : dict
        The content of ``run.json``.
    """

    out: Path
    n_images: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    errors: Any = None
    tables: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every input worked, 1 when some failed (listed in ``errors.csv``)."""
        return 1 if (self.n_failed or self.cancelled) else 0


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _is_cancelled(cancel: Any) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    if callable(cancel):
        return bool(cancel())
    return bool(getattr(cancel, "is_set", lambda: False)())


def _within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def prepare_out(
    out: Path, folder: Path, layout: Path | None, *, resume: bool, overwrite: bool
) -> None:
    """Check the output folder and make it ready; never touch the inputs.

    Raises
    ------
    InputError
        When ``out`` is inside the input folder, contains the inputs and would be cleared,
        or is not empty and neither ``resume`` nor ``overwrite`` is given.
    """
    out_r, folder_r = out.resolve(), folder.resolve()
    if _within(out_r, folder_r):
        raise InputError(
            "the output folder is inside the input folder (inputs are never written to); "
            "choose another --out",
            path=out,
        )
    if out.exists() and not out.is_dir():
        raise InputError("--out exists and is not a folder", path=out)
    if out.is_dir() and any(out.iterdir()):
        if not (resume or overwrite):
            raise InputError(
                "output folder is not empty; use --resume to continue it or --overwrite "
                "to replace its results",
                path=out,
            )
        if overwrite and not resume:
            # only this package's own products are removed, so inputs kept in `out` survive
            for name in PRODUCTS:
                if _within(folder_r, (out / name).resolve()) or (
                    layout is not None and _within(layout.resolve(), (out / name).resolve())
                ):
                    raise InputError(
                        f"--overwrite would delete '{name}', which holds the inputs", path=out
                    )
            for name in PRODUCTS:
                p = out / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for sub in (".", "_parts", "qc", "labels", "plots", "prism"):
        # temporary files of a run that was killed mid-write
        for tmp in (out / sub).glob(".*.tmp") if (out / sub).is_dir() else ():
            tmp.unlink(missing_ok=True)


def default_workers() -> int:
    """Cores this process may use (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _start_client(workers: int | None, scheduler: str | None, quiet: bool) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as exc:
            raise InputError(f"cannot reach the dask scheduler: {exc}", path=scheduler) from exc
    n = workers or default_workers()
    cluster = LocalCluster(
        n_workers=int(n),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        # the scheduler always serves HTTP; a free port on localhost avoids clashes with a
        # dashboard already on 8787 and exposes nothing to the network
        dashboard_address="127.0.0.1:0",
        # failures come back as results (errors.csv); worker chatter such as heartbeat errors
        # while the cluster shuts down is noise for the user
        silence_logs=logging.CRITICAL,
    )
    return Client(cluster), cluster


def run_batch(
    folder: str | Path,
    layout: str | Path,
    mode: str,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    save_labels: bool = False,
    pixel_size_um: float | None = None,
    voxel_size_um: tuple[float, float, float] | None = None,
    plate_format: int = 96,
    formats: tuple[str, ...] = ("csv",),
    model: str = "4pl",
    include_flagged: tuple[str, ...] = (),
    exclude: str | Path | None = None,
    report: bool = True,
    quiet: bool = False,
    progress: Progress | None = None,
    cancel: Any = None,
    **seg_params: Any,
) -> BatchResult:
    """Segment every image of a plate folder and turn the plate into tables and fits.

    Parameters
    ----------
    folder : str or Path
        Plate folder (never written to).
    layout : str or Path
        Plate layout (CSV/TSV/XLSX), see INTERFACE.md.
    mode : str
        ``colony``, ``livedead``, ``spheroid``, ``spheroid3d`` or ``spheres``.
    out : str or Path
        Output folder; must be empty or absent unless ``resume`` or ``overwrite``.
    workers : int, optional
        Local worker processes (default: all cores). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running dask.distributed scheduler, e.g. ``tcp://10.0.0.5:8786``.
    resume : bool
        Reuse the images a previous run of ``out`` finished (same input files).
    overwrite : bool
        Replace the results in a non-empty ``out`` (only files this package writes).
    save_labels : bool
        Also write each label image to ``out/labels/<id>.tif``.
    pixel_size_um : float, optional
        YX pixel size; wins over file metadata. Without either, sizes are in pixels.
    voxel_size_um : (z, y, x), optional
        Voxel size for z-stacks; wins over file metadata.
    plate_format : int
        Wells per plate for layout validation (6, 12, 24, 48, 96 or 384).
    formats : tuple of str
        Table formats: ``"csv"`` always, plus ``"parquet"``.
    model : str
        Dose-response model: ``4pl``, ``3pl`` or ``5pl``.
    include_flagged : tuple of str
        ``qc_flag`` names of `napari_il6assay.qc_flags.UNTRUSTED` whose wells are fitted all
        the same (by default such wells keep their row but not a viability).
    exclude : str or Path, optional
        An exclusions CSV (``well, reason[, plate, time]``, see
        `napari_il6assay.io.exclusions`): those wells keep their rows but leave the fits.
        The run writes the exclusions it applied to ``out/exclusions.csv``. Without it, a
        resumed run keeps the ``out/exclusions.csv`` it finds (e.g. saved by the panel).

    Corrected labels in ``out/corrections/`` (saved by the dose–response panel, see
    `napari_il6assay.batch.corrections`) replace the automatic labels of their wells in the
    tables, the fits and the report; ``run.json`` lists them.
    report : bool
        Write ``report.html``.
    quiet : bool
        No terminal progress bar.
    progress : callable(done, total), optional
        Called after each image (for a GUI progress bar).
    cancel : threading.Event or callable, optional
        Checked between results; when set, outstanding images are cancelled, the finished
        ones stay in ``out/_parts`` (so ``resume`` continues) and no tables are built.
    **seg_params
        Passed to `segment_image` (mode parameters such as ``min_diameter_um``).

    Returns
    -------
    BatchResult

    Raises
    ------
    InputError, LayoutError
        Bad folder, layout, options or output folder (nothing is processed then).

    Examples
    --------
    >>> res = run_batch("plate1/", "layout.csv", "colony", "results/")  # doctest: +SKIP
    >>> res.tables["fits"][["cell_line", "ic50_rel_M", "fold_resistance"]]  # doctest: +SKIP
    """
    from napari_il6assay.batch import parts as _parts
    from napari_il6assay.batch.plan import plan_folder
    from napari_il6assay.io.layout import read_layout

    started = _now()
    import time

    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    folder, out = Path(folder), Path(out)
    layout_path = Path(layout)
    if not folder.is_dir():
        raise InputError("input folder not found", path=folder)
    if not layout_path.is_file():
        raise InputError("layout file not found", path=layout_path)
    if workers is not None and int(workers) < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    from napari_il6assay.segment import MODES

    if mode not in MODES:
        raise InputError(f"unknown mode '{mode}'; choose one of {', '.join(sorted(MODES))}")
    lay = read_layout(layout_path, plate_format=plate_format)
    from napari_il6assay.io.exclusions import make_exclusions, read_exclusions

    if exclude is None and resume and (Path(out) / "exclusions.csv").is_file():
        # what the user excluded in the panel (or with an earlier --exclude) stays excluded
        exclude = Path(out) / "exclusions.csv"
    exclusions = read_exclusions(exclude) if exclude is not None else make_exclusions([])
    plan = plan_folder(folder, mode, plate_format)
    prepare_out(out, folder, layout_path, resume=resume, overwrite=overwrite)

    items = [it.to_dict() for it in plan.items]
    # what an image's result depends on besides its files: resume reuses only parts made
    # with the same settings
    settings = _parts.settings_key(mode, pixel_size_um, voxel_size_um, seg_params)
    total = len(items)
    todo, skipped = [], []
    for it in items:
        if resume and _parts.is_done(out, it, save_labels=save_labels, settings=settings):
            skipped.append(it)
        else:
            todo.append(it)

    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total,
            initial=len(skipped),
            unit="img",
            desc="images",
            file=sys.stderr,
            dynamic_ncols=True,
        )
    done = len(skipped)
    if progress is not None:
        progress(done, total)
    errors: list[dict[str, str]] = []
    cancelled = False
    if todo:
        import uuid

        from distributed import as_completed

        token = uuid.uuid4().hex[:12]  # keys stay unique on a scheduler shared by many runs
        client, cluster = _start_client(workers, scheduler, quiet)
        try:
            from napari_il6assay.batch.worker import process_item

            futures = [
                client.submit(
                    process_item,
                    it,
                    mode,
                    pixel_size_um=pixel_size_um,
                    voxel_size_um=voxel_size_um,
                    save_labels=save_labels,
                    params=seg_params,
                    key=f"il6assay-{token}-{it['id']}",
                    pure=False,
                )
                for it in todo
            ]
            pending = {f.key: (f, it) for f, it in zip(futures, todo, strict=True)}
            ac = as_completed(futures)
            del futures  # only `pending` and `ac` hold a future, until it has been written
            for fut in ac:
                it = pending.pop(fut.key)[1]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    res = {
                        "id": it["id"],
                        "status": "error",
                        "stage": "worker",
                        "error_path": it["paths"][0],
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                del fut  # lets the worker drop the result
                rec = _parts.write_part(out, it, res, settings=settings)
                if rec["status"] != "ok":
                    errors.append(_error_row(rec))
                done += 1
                if bar is not None:
                    bar.update(1)
                if progress is not None:
                    progress(done, total)
                if _is_cancelled(cancel):
                    cancelled = True
                    client.cancel([f for f, _it in pending.values()])
                    break
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    if bar is not None:
        bar.close()
    timing["images_s"] = time.perf_counter() - t0

    result = BatchResult(
        out=out,
        n_images=total,
        n_skipped=len(skipped),
        cancelled=cancelled,
    )
    if cancelled:
        import pandas as pd

        result.n_ok = done - len(errors)
        result.n_failed = len(errors)
        result.errors = pd.DataFrame(errors, columns=["path", "stage", "error"]).astype(str)
        return result

    from napari_il6assay.batch import tables as _tables

    records = []
    for it in items:
        rec = _parts.load_record(out, it["id"])
        if rec is not None and rec.get("status") == "ok":
            records.append(rec)
    import pandas as pd

    result.n_ok = len(records)
    t1 = time.perf_counter()
    from napari_il6assay.batch.corrections import measure_run_corrections

    # the wells a person corrected in the panel: measured again from their saved labels
    corrected, corr_problems = measure_run_corrections(
        out, records, mode, items={it["id"]: it for it in items}, params=seg_params
    )
    errors.extend(corr_problems)
    timing["corrections_s"] = time.perf_counter() - t1
    tables = _tables.build_tables(
        out,
        records,
        lay,
        mode,
        model=model,
        include_flagged=include_flagged,
        exclusions=exclusions,
        corrections=corrected,
    )
    timing["tables_s"] = time.perf_counter() - t1
    errors.extend(tables.pop("stage_errors", []))
    result.errors = pd.DataFrame(errors, columns=["path", "stage", "error"]).astype(str)
    result.n_failed = len(errors)
    result.tables = tables

    from napari_il6assay.batch import exports as _exports

    run_info = _exports.run_info(
        folder=folder,
        layout=layout_path,
        mode=mode,
        out=out,
        records=records,
        errors=errors,
        plan=plan,
        started=started,
        params={
            "workers": workers,
            "scheduler": scheduler,
            "resume": resume,
            "overwrite": overwrite,
            "save_labels": save_labels,
            "pixel_size_um": pixel_size_um,
            "voxel_size_um": list(voxel_size_um) if voxel_size_um else None,
            "plate_format": plate_format,
            "formats": list(formats),
            "model": model,
            "include_flagged": list(include_flagged),
            "exclude": str(exclude) if exclude is not None else None,
            "segmentation": seg_params,
        },
        n_skipped=len(skipped),
    )
    run_info["exclusions"] = exclusions.to_dict("records")
    run_info["corrections"] = [corr.record(out) for _res, corr in corrected.values()]
    if corr_problems:
        run_info["corrections_not_used"] = corr_problems
    from napari_il6assay.io.exclusions import write_exclusions

    write_exclusions(exclusions, out / "exclusions.csv")
    run_info["unlisted_wells"] = tables.pop("unlisted_wells", [])
    run_info["layout_wells_without_result"] = tables.pop("unmeasured_wells", [])
    tables["errors"] = result.errors
    t1 = time.perf_counter()
    # the local cores also write the workbook and the plots side by side (see write_all)
    jobs = default_workers() if scheduler else int(workers or default_workers())
    plots = _exports.write_all(out, tables, result.errors, formats=formats, jobs=jobs)
    run_info["plots_not_drawn"] = plots["failed"]
    timing["exports_s"] = time.perf_counter() - t1
    if report:
        from napari_il6assay.batch.report import write_report

        t1 = time.perf_counter()
        write_report(out, tables, run_info, plots["figures"])
        timing["report_s"] = time.perf_counter() - t1
    timing["total_s"] = time.perf_counter() - t0
    run_info["timing"] = {k: round(v, 3) for k, v in timing.items()}
    run_info["finished"] = _now()
    _exports.write_run_json(out, run_info)
    result.run_info = run_info
    return result


def _error_row(rec: dict[str, Any]) -> dict[str, str]:
    return {
        "path": str(rec.get("error_path") or rec["paths"][0]),
        "stage": str(rec.get("stage", "")),
        "error": str(rec.get("error", "")),
    }
