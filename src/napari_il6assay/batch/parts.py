"""Per-image result files ("parts"), written atomically as results arrive.

Layout of the output folder while a batch runs::

    out/_parts/<id>.objects.parquet   objects of the image
    out/_parts/<id>.thumb.jpg         thumbnail with outline (for report.html)
    out/_parts/<id>.json              measures, calibration, input fingerprints; written LAST
    out/_parts/<id>.error.json        instead of <id>.json when the image failed
    out/qc/<id>.png                   QC overlay
    out/labels/<id>.tif               label image (``save_labels``)

Each file is written to a temporary name in the same folder and moved into place with
`os.replace`, which is atomic on POSIX and Windows: a crash leaves either the old state or
the complete file, never half of one. ``<id>.json`` is written last, so its presence means the
image is completely done; `--resume` trusts only that file (and checks the inputs did not
change since).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_il6assay.batch._outcome import ItemOutcome

if TYPE_CHECKING:  # pragma: no cover
    from napari_il6assay.batch.worker import WorkerResult

PARTS = "_parts"
_MODE: int | None = None


def _file_mode() -> int:
    """Permissions of a newly created file under the current umask (mkstemp uses 0600)."""
    global _MODE
    if _MODE is None:
        mask = os.umask(0)
        os.umask(mask)
        _MODE = 0o666 & ~mask
    return _MODE


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = True) -> None:
    """Write a file through a temporary sibling and `os.replace`.

    Parameters
    ----------
    path : Path
        Final path.
    write : callable
        Called with an open file object (binary or text) to fill it.
    binary : bool
        Open the temporary file in binary mode.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kw: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, "wb" if binary else "w", **kw) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_json(path: Path, obj: Any) -> None:
    """Write JSON (UTF-8, indented) atomically."""
    text = json.dumps(obj, indent=1, default=_json_default, allow_nan=True)
    atomic_write(path, lambda fh: fh.write(text), binary=False)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def settings_key(
    mode: str, pixel_size_um: Any, voxel_size_um: Any, params: dict[str, Any]
) -> dict[str, Any]:
    """Return the settings a part depends on, in a JSON-stable form (compared on resume)."""
    from napari_il6assay import __version__

    return json.loads(
        json.dumps(
            {
                "mode": mode,
                "pixel_size_um": pixel_size_um,
                "voxel_size_um": list(voxel_size_um) if voxel_size_um else None,
                "params": params or {},
                "version": __version__,
            },
            sort_keys=True,
            default=_json_default,
        )
    )


@dataclass
class PartRecord(ItemOutcome):
    """The record of one finished work item: ``_parts/<id>.json`` (or ``<id>.error.json``).

    `to_json` writes the keys a run has always written and `from_json` reads any part a
    previous version wrote, so ``--resume`` continues an older results folder.

    Parameters
    ----------
    id, plate, well, site, image, paths, plate_format
        As the `WorkItem`.
    status : str
        ``"ok"`` or ``"error"``.
    inputs : dict
        Path -> fingerprint (``size, mtime_ns, sha256``) of each input file.
    seconds : float or None
        Worker time.
    settings : dict or None
        `settings_key` of the run that made it (`is_done` compares it).
    measures : dict
        The image's measures (``status="ok"``).
    qc_flag : str
    pixel_size_um : float or None
    voxel_size_um : list of float or None
    has_objects : bool
        ``<id>.objects.parquet`` was written.
    per_well : list of dict or None
        The well rows of a whole-plate photo.
    stage, error, error_path : str
        Where and why the item failed (``status="error"``).
    """

    id: str
    plate: str
    well: str
    site: int
    image: str
    paths: list[str]
    status: str = "ok"
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float | None = None
    settings: dict[str, Any] | None = None
    plate_format: int | None = None
    measures: dict[str, Any] = field(default_factory=dict)
    qc_flag: str = ""
    pixel_size_um: float | None = None
    voxel_size_um: list[float] | None = None
    has_objects: bool = False
    per_well: list[dict[str, Any]] | None = None
    stage: str = ""
    error: str = ""
    error_path: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of the part file (keys in the order runs write them)."""
        d: dict[str, Any] = {k: getattr(self, k) for k in _BASE_KEYS}
        d["paths"] = list(self.paths)
        if not self.ok:
            d.update(stage=self.stage, error=self.error, error_path=self.error_path)
            return d
        d.update({k: getattr(self, k) for k in _OK_KEYS})
        if self.per_well is not None:
            d["per_well"] = self.per_well
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartRecord:
        """Read a part file's JSON object (keys it lacks take their defaults).

        Raises
        ------
        KeyError
            When the object lacks ``id``, ``plate``, ``well``, ``site``, ``image`` or ``paths``.
        """
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        for k in ("id", "plate", "well", "site", "image", "paths"):
            kw[k] = data[k]
        kw["paths"] = list(kw["paths"])
        kw["status"] = str(data.get("status", ""))  # a part without one is not done
        for k in ("measures", "inputs"):  # a JSON null is an empty mapping here
            kw[k] = kw.get(k) or {}
        for k in ("qc_flag", "stage", "error", "error_path"):
            kw[k] = str(kw.get(k) or "")
        return cls(**kw)

    def error_row(self) -> dict[str, str]:
        """Return the ``errors.csv`` row (``path, stage, error``) of a failed item."""
        return {
            "path": str(self.error_path or self.paths[0]),
            "stage": self.stage,
            "error": self.error,
        }


#: the keys of every part file, then those of a measured one (`PartRecord.to_json`)
_BASE_KEYS = ("id", "plate", "well", "site", "image", "paths", "inputs", "status", "seconds",
              "settings", "plate_format")  # fmt: skip
_OK_KEYS = ("measures", "qc_flag", "pixel_size_um", "voxel_size_um", "has_objects")


def write_part(
    out: Path,
    item: dict[str, Any],
    result: WorkerResult,
    settings: dict[str, Any] | None = None,
) -> PartRecord:
    """Store one worker result under ``out``; return the record kept in ``<id>.json``.

    Parameters
    ----------
    out : Path
        Output folder of the run.
    item : dict
        The work item (`WorkItem.to_dict()`).
    result : WorkerResult
        What `process_item` returned.
    settings : dict, optional
        `settings_key` of the run (stored; `is_done` compares it).

    Returns
    -------
    PartRecord
        The part record (also written to ``_parts/<id>.json`` or ``<id>.error.json``).
    """
    parts = out / PARTS
    pid = item["id"]
    record = PartRecord(
        id=pid,
        plate=item["plate"],
        well=item["well"],
        site=item["site"],
        image=item["image"],
        paths=list(item["paths"]),
        inputs=result.inputs,
        status=result.status,
        seconds=result.seconds,
        settings=settings,
        plate_format=item.get("plate_format"),
    )
    if not result.ok:
        record.stage, record.error = result.stage, result.error
        record.error_path = result.error_path or item["paths"][0]
        _remove(parts / f"{pid}.json")
        atomic_json(parts / f"{pid}.error.json", record.to_json())
        return record
    _write_payloads(out, pid, result)
    record.measures = result.measures
    record.qc_flag = result.qc_flag
    record.pixel_size_um = result.pixel_size_um
    record.voxel_size_um = result.voxel_size_um
    record.has_objects = result.objects is not None
    record.per_well = result.per_well
    _remove(parts / f"{pid}.error.json")
    atomic_json(parts / f"{pid}.json", record.to_json())  # last: marks the image as done
    return record


def _write_payloads(out: Path, pid: str, result: WorkerResult) -> None:
    """Write a measured item's objects, thumbnails, QC overlay and labels."""
    parts = out / PARTS
    objects = result.objects
    if objects is not None:
        objects = objects.copy()
        atomic_write(
            parts / f"{pid}.objects.parquet", lambda fh: objects.to_parquet(fh, index=False)
        )
    atomic_bytes(parts / f"{pid}.thumb.jpg", result.thumb_jpg)
    for well, jpg in (result.well_thumbs or {}).items():
        atomic_bytes(parts / f"{pid}.{well}.thumb.jpg", jpg)
    atomic_bytes(out / "qc" / f"{pid}.png", result.overlay_png)
    labels = result.labels
    if labels is not None:
        import tifffile

        def _tif(fh: Any) -> None:
            # tifffile needs a named file or a BytesIO, not the os.fdopen object (name is an int)
            import io

            buf = io.BytesIO()
            tifffile.imwrite(buf, labels, compression="zlib")
            fh.write(buf.getvalue())

        atomic_write(out / "labels" / f"{pid}.tif", _tif)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def load_record(out: Path, pid: str) -> PartRecord | None:
    """Return the record of a finished image (``_parts/<id>.json``), or None."""
    p = out / PARTS / f"{pid}.json"
    if not p.is_file():
        return None
    try:
        return PartRecord.from_json(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_done(
    out: Path,
    item: dict[str, Any],
    *,
    save_labels: bool = False,
    settings: dict[str, Any] | None = None,
) -> bool:
    """Whether a previous run finished this item with the same input files and settings.

    The inputs match when size and modification time are unchanged, or, if the time
    changed (a copy), when the sha256 is unchanged. With ``settings``, the part must have
    been made with equal settings (mode, calibration, parameters, package version).
    """
    rec = load_record(out, item["id"])
    if rec is None or not rec.ok:
        return False
    if settings is not None and rec.settings != settings:
        return False
    if rec.plate_format != item.get("plate_format"):
        return False
    if sorted(rec.paths) != sorted(item["paths"]):
        return False
    if rec.has_objects and not (out / PARTS / f"{item['id']}.objects.parquet").is_file():
        return False
    if not (out / PARTS / f"{item['id']}.thumb.jpg").is_file():
        return False
    if save_labels and not (out / "labels" / f"{item['id']}.tif").is_file():
        return False
    from napari_il6assay.batch.worker import fingerprint

    for path in item["paths"]:
        old = rec.inputs.get(path)
        if old is None:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_size != old.get("size"):
            return False
        if st.st_mtime_ns != old.get("mtime_ns") and fingerprint(path)["sha256"] != old.get(
            "sha256"
        ):
            return False
    return True


def read_objects(out: Path, pid: str) -> Any:
    """Read the objects table of a finished image (None when it has none)."""
    import pandas as pd

    p = out / PARTS / f"{pid}.objects.parquet"
    return pd.read_parquet(p) if p.is_file() else None
