"""Run a plate folder end to end: segment in parallel, then tables, fits, exports, report.

The parallel part runs on worker *processes* of this machine by default (`local_pool`: a
process pool, so the GIL-bound parts of segmentation do not serialise), or on a running
dask.distributed scheduler given as ``scheduler="tcp://host:8786"``. This process sends
work items (file paths); workers read, segment and measure; results come back as they
complete and are written at once, atomically, to ``out/_parts`` (see `parts`). With a
scheduler the workers must see the input paths (shared file system) and have this package
installed; this process writes all output files.

After the images: join the layout -> ``wells.csv`` -> normalise -> ``conditions.csv`` ->
``fits.csv`` (with fold resistance) -> ``synergy.csv`` when the layout has combinations ->
exports and ``report.html``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_il6assay.errors import InputError
from napari_il6assay.parallel import default_workers

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


def _scheduler_client(scheduler: str) -> Any:
    """Connect to a running dask.distributed scheduler."""
    from distributed import Client

    try:
        return Client(scheduler, timeout="20s")
    except OSError as exc:
        raise InputError(f"cannot reach the dask scheduler: {exc}", path=scheduler) from exc


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
    opts = BatchOptions(
        workers=workers, scheduler=scheduler, resume=resume, overwrite=overwrite,
        save_labels=save_labels, pixel_size_um=pixel_size_um, voxel_size_um=voxel_size_um,
        plate_format=plate_format, formats=tuple(formats), model=model,
        include_flagged=tuple(include_flagged), exclude=exclude, report=report, quiet=quiet,
        seg_params=seg_params,
    )  # fmt: skip
    if not scheduler:
        from napari_il6assay.batch import local_pool

        local_pool.start_server(local_pool.modules_for(mode))  # imports beside open_run
    run = open_run(folder, layout, mode, out, opts)
    try:
        seg = segment_items(run, opts, progress=progress, cancel=cancel)
        if seg.cancelled:  # the finished images stay in out/_parts for --resume; no tables
            return seg.result(run)
        return finish_tables(run, opts, seg)
    finally:
        run.join_background()


@dataclass
class BatchOptions:
    """The options of a batch run, as `run_batch` takes them (see there).

    Parameters
    ----------
    workers, scheduler, resume, overwrite, save_labels, pixel_size_um, voxel_size_um
        How the images are segmented.
    plate_format, formats, model, include_flagged, exclude, report, quiet
        How the tables are made and written.
    seg_params : dict
        Keyword arguments of `segment_image`.
    """

    workers: int | None = None
    scheduler: str | None = None
    resume: bool = False
    overwrite: bool = False
    save_labels: bool = False
    pixel_size_um: float | None = None
    voxel_size_um: tuple[float, float, float] | None = None
    plate_format: int = 96
    formats: tuple[str, ...] = ("csv",)
    model: str = "4pl"
    include_flagged: tuple[str, ...] = ()
    exclude: str | Path | None = None
    report: bool = True
    quiet: bool = False
    seg_params: dict[str, Any] = field(default_factory=dict)

    def parameters(self, exclude: str | Path | None) -> dict[str, Any]:
        """Return ``run.json`` ``parameters`` (``exclude``: the exclusions file used)."""
        return {
            "workers": self.workers,
            "scheduler": self.scheduler,
            "resume": self.resume,
            "overwrite": self.overwrite,
            "save_labels": self.save_labels,
            "pixel_size_um": self.pixel_size_um,
            "voxel_size_um": list(self.voxel_size_um) if self.voxel_size_um else None,
            "plate_format": self.plate_format,
            "formats": list(self.formats),
            "model": self.model,
            "include_flagged": list(self.include_flagged),
            "exclude": str(exclude) if exclude is not None else None,
            "segmentation": self.seg_params,
        }


@dataclass
class OpenRun:
    """A batch run whose inputs were checked and whose output folder is ready.

    Parameters
    ----------
    folder, out, layout_path : Path
    mode : str
    layout : Layout
        The layout as read.
    plan : Plan
        The folder's work items and the files left out.
    exclusions : DataFrame
        The wells excluded, with reasons.
    exclude : Path or str or None
        The exclusions file (given, or kept from the resumed run).
    settings : dict
        `parts.settings_key` of the run.
    started : str
        ISO 8601 start time.
    t0 : float
        `time.perf_counter` at the start.
    timing : dict
        Seconds per phase (``run.json``).
    background : list of threading.Thread
        Work that goes on beside the tables (`join_background` waits for it).
    """

    folder: Path
    out: Path
    layout_path: Path
    mode: str
    layout: Any
    plan: Any
    exclusions: Any
    exclude: str | Path | None
    settings: dict[str, Any]
    started: str
    t0: float
    timing: dict[str, float] = field(default_factory=dict)
    background: list[threading.Thread] = field(default_factory=list)

    def join_background(self) -> None:
        """Wait for the run's background work (a dask client closing) to end."""
        while self.background:
            self.background.pop().join()

    @property
    def items(self) -> list[dict[str, Any]]:
        """The work items as plain data (what the workers get)."""
        return [it.to_dict() for it in self.plan.items]


def open_run(
    folder: str | Path, layout: str | Path, mode: str, out: str | Path, opts: BatchOptions
) -> OpenRun:
    """Check the inputs and options, read the layout, plan the folder, prepare ``out``.

    Raises
    ------
    InputError, LayoutError
        Bad folder, layout, options or output folder (nothing is processed then).
    """
    from napari_il6assay.batch import parts as _parts
    from napari_il6assay.batch.plan import plan_folder
    from napari_il6assay.io.exclusions import make_exclusions, read_exclusions
    from napari_il6assay.io.layout import read_layout
    from napari_il6assay.segment import MODES

    started, t0 = _now(), time.perf_counter()
    folder, out, layout_path = Path(folder), Path(out), Path(layout)
    if not folder.is_dir():
        raise InputError("input folder not found", path=folder)
    if not layout_path.is_file():
        raise InputError("layout file not found", path=layout_path)
    if opts.workers is not None and int(opts.workers) < 1:
        raise InputError(f"--workers must be at least 1, got {opts.workers}")
    if mode not in MODES:
        raise InputError(f"unknown mode '{mode}'; choose one of {', '.join(sorted(MODES))}")
    lay = read_layout(layout_path, plate_format=opts.plate_format)
    exclude = opts.exclude
    if exclude is None and opts.resume and (out / "exclusions.csv").is_file():
        # what the user excluded in the panel (or with an earlier --exclude) stays excluded
        exclude = out / "exclusions.csv"
    exclusions = read_exclusions(exclude) if exclude is not None else make_exclusions([])
    plan = plan_folder(folder, mode, opts.plate_format)
    prepare_out(out, folder, layout_path, resume=opts.resume, overwrite=opts.overwrite)
    # what an image's result depends on besides its files: resume reuses only parts made
    # with the same settings
    settings = _parts.settings_key(mode, opts.pixel_size_um, opts.voxel_size_um, opts.seg_params)
    return OpenRun(folder=folder, out=out, layout_path=layout_path, mode=mode, layout=lay,
                   plan=plan, exclusions=exclusions, exclude=exclude, settings=settings,
                   started=started, t0=t0)  # fmt: skip


@dataclass
class Segmented:
    """What the image phase of a run did.

    Parameters
    ----------
    total : int
        Work items of the folder.
    skipped : int
        Items reused from the resumed run.
    done : int
        Items finished (measured or failed, skipped ones included).
    errors : list of dict
        ``path, stage, error`` of the items that failed.
    cancelled : bool
        Stopped by the ``cancel`` event.
    """

    total: int
    skipped: int
    done: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def result(self, run: OpenRun) -> BatchResult:
        """Return the `BatchResult` of a run that stops after this phase (cancelled)."""
        return BatchResult(out=run.out, n_images=self.total, n_skipped=self.skipped,
                           cancelled=self.cancelled, n_ok=self.done - len(self.errors),
                           n_failed=len(self.errors),
                           errors=_errors_frame(self.errors))  # fmt: skip


class _Ticker:
    """Progress of the image phase: the terminal bar and the caller's callback."""

    def __init__(self, total: int, done: int, quiet: bool, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, done, progress
        self.bar = None
        if not quiet:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="img", desc="images",
                            file=sys.stderr, dynamic_ncols=True)  # fmt: skip
        if progress is not None:
            progress(done, total)

    def tick(self) -> None:
        """Count one more finished image."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def close(self) -> None:
        """Close the terminal bar."""
        if self.bar is not None:
            self.bar.close()


def segment_items(
    run: OpenRun, opts: BatchOptions, *, progress: Progress | None = None, cancel: Any = None
) -> Segmented:
    """Segment the work items a previous run did not finish, writing each part as it comes.

    Parameters
    ----------
    run : OpenRun
    opts : BatchOptions
    progress : callable(done, total), optional
        Called after each image.
    cancel : threading.Event or callable, optional
        Checked between results; when set, the outstanding images are cancelled.

    Returns
    -------
    Segmented
    """
    from napari_il6assay.batch import parts as _parts

    items = run.items
    todo = [
        it
        for it in items
        if not (opts.resume and _parts.is_done(run.out, it, save_labels=opts.save_labels,
                                               settings=run.settings))
    ]  # fmt: skip
    seg = Segmented(total=len(items), skipped=len(items) - len(todo))
    ticker = _Ticker(seg.total, seg.skipped, opts.quiet, progress)
    try:
        if todo:
            _segment_todo(run, opts, todo, seg, ticker, cancel)
    finally:
        ticker.close()
    seg.done = ticker.done
    run.timing["images_s"] = time.perf_counter() - run.t0
    return seg


#: modules the steps after the images import (fits, figures): about 0.6 s of CPU that
#: `_Preload` spends while the workers run, instead of after them on one core. Not
#: ``scipy.stats`` (0.75 s): the tables need it only for sphere sizes (`finish_modules`)
FINISH_MODULES = (
    "scipy.optimize",
    "napari_il6assay.batch.tables",
    "napari_il6assay.doseresponse.fit",
    "napari_il6assay.batch.exports",
    "napari_il6assay.doseresponse.figures",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.backends.backend_svg",
)


def finish_modules(mode: str) -> tuple[str, ...]:
    """Return the modules the steps after the images of a ``mode`` run import."""
    # the sphere sizes' Mann-Whitney test; other tables use `doseresponse._dist`
    return (*FINISH_MODULES, "scipy.stats") if mode == "spheres" else FINISH_MODULES


class _Preload(threading.Thread):
    """Import `finish_modules` in the background while the images are segmented."""

    def __init__(self, modules: tuple[str, ...]) -> None:
        super().__init__(name="il6assay-preload", daemon=True)
        self.modules = modules

    def run(self) -> None:
        """Import each module; one that fails is imported (and fails) later, where used."""
        import importlib

        for name in self.modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the real import later reports it
                continue


def _segment_todo(
    run: OpenRun,
    opts: BatchOptions,
    todo: list[dict[str, Any]],
    seg: Segmented,
    ticker: _Ticker,
    cancel: Any,
) -> None:
    """Segment ``todo`` on local processes (or ``opts.scheduler``), writing each result."""
    import functools
    from contextlib import closing

    from napari_il6assay.batch import local_pool
    from napari_il6assay.batch import parts as _parts
    from napari_il6assay.batch.worker import WorkerResult, process_item

    call = functools.partial(process_item, mode=run.mode, pixel_size_um=opts.pixel_size_um,
                             voxel_size_um=opts.voxel_size_um, save_labels=opts.save_labels,
                             params=opts.seg_params)  # fmt: skip
    if opts.scheduler:
        source = _on_scheduler(run, opts.scheduler, todo, call)
    else:
        source = local_pool.results(todo, call, opts.workers or default_workers(),
                                    local_pool.modules_for(run.mode))  # fmt: skip
    preload = None
    with closing(source):  # a cancelled run stops the workers at once
        for it, res in source:
            if isinstance(res, BaseException):  # e.g. a worker killed by the system
                res = WorkerResult.failed(it["id"], "worker", f"{type(res).__name__}: {res}",
                                          it["paths"][0])  # fmt: skip
            if "first_result_s" not in run.timing:
                run.timing["first_result_s"] = time.perf_counter() - run.t0
            rec = _parts.write_part(run.out, it, res, settings=run.settings)
            if not rec.ok:
                seg.errors.append(rec.error_row())
            if preload is None:
                # after the first part, so this thread's own imports (writing a part) are
                # done and the two threads never import one module at the same time
                preload = _Preload(finish_modules(run.mode))
                preload.start()
            ticker.tick()
            if _is_cancelled(cancel):
                seg.cancelled = True
                break
    if preload is not None:
        preload.join()


def _on_scheduler(
    run: OpenRun, scheduler: str, todo: list[dict[str, Any]], call: Callable[..., Any]
) -> Generator[tuple[dict[str, Any], Any], None, None]:
    """Yield ``(item, result or exception)`` from a dask scheduler, as they complete."""
    import uuid

    from distributed import as_completed

    token = uuid.uuid4().hex[:12]  # keys stay unique on a scheduler shared by many runs
    client = _scheduler_client(scheduler)
    pending: dict[str, tuple[Any, dict[str, Any]]] = {}
    try:
        futures = [client.submit(call, it, key=f"il6assay-{token}-{it['id']}", pure=False)
                   for it in todo]  # fmt: skip
        pending = {f.key: (f, it) for f, it in zip(futures, todo, strict=True)}
        ac = as_completed(futures)
        del futures  # only `pending` and `ac` hold a future, until it has been written
        for fut in ac:
            it = pending.pop(fut.key)[1]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker lost by the scheduler
                res = exc
            del fut  # lets the worker drop the result
            yield it, res
    finally:
        if pending:  # stopped early (cancelled): the scheduler drops what is left
            client.cancel([f for f, _it in pending.values()])
        # the workers' results are all written: the client closes while the tables are built
        closer = threading.Thread(target=_close_client, args=(client,),
                                  name="il6assay-close-client")  # fmt: skip
        closer.start()
        run.background.append(closer)


def _close_client(client: Any) -> None:
    """Close the dask client of a run on a scheduler."""
    try:
        client.close()
    except Exception:  # every result is written: a failed shutdown loses nothing
        logging.getLogger(__name__).debug("closing the dask client failed", exc_info=True)


def finish_tables(run: OpenRun, opts: BatchOptions, seg: Segmented) -> BatchResult:
    """Build the tables from the finished parts and write them, the plots and the report.

    Parameters
    ----------
    run : OpenRun
    opts : BatchOptions
    seg : Segmented
        The image phase (its errors go to ``errors.csv``).

    Returns
    -------
    BatchResult
    """
    from napari_il6assay.batch import exports as _exports

    # started before the tables, so that its start-up runs beside them (see write_all)
    side = _exports.start_side_process() if _local_jobs(opts) > 1 else None
    try:
        return _finish(run, opts, seg, side)
    finally:
        if side is not None:
            side.shutdown(cancel_futures=True)


def _local_jobs(opts: BatchOptions) -> int:
    """Return the processes the steps after the images may use on this machine."""
    return default_workers() if opts.scheduler else int(opts.workers or default_workers())


def _finish(run: OpenRun, opts: BatchOptions, seg: Segmented, side: Any) -> BatchResult:
    """Do the work of `finish_tables`; ``side`` is the workbook's process, or None."""
    from napari_il6assay.batch import parts as _parts
    from napari_il6assay.batch.corrections import measure_run_corrections
    from napari_il6assay.batch.tables import build_tables

    items = run.items
    records = [r for it in items if (r := _parts.load_record(run.out, it["id"])) and r.ok]
    t1 = time.perf_counter()
    # the wells a person corrected in the panel: measured again from their saved labels
    corrected, corr_problems = measure_run_corrections(
        run.out, records, run.mode, items={it["id"]: it for it in items}, params=opts.seg_params
    )
    run.timing["corrections_s"] = time.perf_counter() - t1
    tables = build_tables(run.out, records, run.layout, run.mode, model=opts.model,
                          include_flagged=opts.include_flagged, exclusions=run.exclusions,
                          corrections=corrected)  # fmt: skip
    run.timing["tables_s"] = time.perf_counter() - t1
    errors = [*seg.errors, *corr_problems, *tables.error_rows()]
    result = BatchResult(out=run.out, n_images=seg.total, n_ok=len(records),
                         n_failed=len(errors), n_skipped=seg.skipped,
                         errors=_errors_frame(errors))  # fmt: skip
    info = _run_info(run, opts, records, errors, seg.skipped)
    info["corrections"] = [corr.record(run.out) for _res, corr in corrected.values()]
    if corr_problems:
        info["corrections_not_used"] = corr_problems
    info["unlisted_wells"] = tables.unlisted_wells
    info["layout_wells_without_result"] = tables.unmeasured_wells
    result.tables = {**tables.frames(), "errors": result.errors}
    _write_outputs(run, opts, result, info, tables.plate_format, side)
    result.run_info = info
    return result


def _run_info(
    run: OpenRun, opts: BatchOptions, records: list[Any], errors: list[dict[str, str]],
    n_skipped: int,
) -> dict[str, Any]:  # fmt: skip
    """Return ``run.json`` as far as it is known before the outputs are written."""
    from napari_il6assay.batch import exports as _exports

    info = _exports.run_info(folder=run.folder, layout=run.layout_path, mode=run.mode,
                             out=run.out, records=records, errors=errors, plan=run.plan,
                             started=run.started, params=opts.parameters(run.exclude),
                             n_skipped=n_skipped)  # fmt: skip
    info["exclusions"] = run.exclusions.to_dict("records")
    return info


def _write_outputs(
    run: OpenRun, opts: BatchOptions, result: BatchResult, info: dict[str, Any],
    plate_format: int, side: Any = None,
) -> None:  # fmt: skip
    """Write the exclusions, tables, workbook, plots, report and ``run.json``.

    ``side`` is the process that writes the workbook (`exports.start_side_process`), or None.
    """
    from napari_il6assay.batch import exports as _exports
    from napari_il6assay.io.exclusions import write_exclusions

    write_exclusions(run.exclusions, run.out / "exclusions.csv")
    t1 = time.perf_counter()
    # the local cores also write the workbook and the plots side by side (see write_all)
    plots = _exports.write_all(run.out, result.tables, result.errors, formats=opts.formats,
                               jobs=_local_jobs(opts), plate_format=plate_format,
                               side=side)  # fmt: skip
    info["plots_not_drawn"] = plots["failed"]
    run.timing["exports_s"] = time.perf_counter() - t1
    if opts.report:
        from napari_il6assay.batch.report import write_report

        t1 = time.perf_counter()
        write_report(run.out, result.tables, info, plots["figures"])
        run.timing["report_s"] = time.perf_counter() - t1
    run.timing["total_s"] = time.perf_counter() - run.t0
    info["timing"] = {k: round(v, 3) for k, v in run.timing.items()}
    info["finished"] = _now()
    _exports.write_run_json(run.out, info)


def _errors_frame(errors: list[dict[str, str]]) -> Any:
    """Return ``errors.csv`` as a DataFrame of text (header only when nothing failed)."""
    import pandas as pd

    return pd.DataFrame(errors, columns=["path", "stage", "error"]).astype(str)
