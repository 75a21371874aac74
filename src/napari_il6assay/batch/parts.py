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
from pathlib import Path
from typing import Any

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
    """The settings a part depends on, in a JSON-stable form (compared on resume)."""
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


def write_part(
    out: Path,
    item: dict[str, Any],
    result: dict[str, Any],
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store one worker result under ``out``; return the record kept in ``<id>.json``.

    Parameters
    ----------
    out : Path
        Output folder of the run.
    item : dict
        The work item (`WorkItem.to_dict()`).
    result : dict
        What `process_item` returned.
    settings : dict, optional
        `settings_key` of the run (stored; `is_done` compares it).

    Returns
    -------
    dict
        The part record (also written to ``_parts/<id>.json`` or ``<id>.error.json``).
    """
    parts = out / PARTS
    pid = item["id"]
    record: dict[str, Any] = {
        "id": pid,
        "plate": item["plate"],
        "well": item["well"],
        "site": item["site"],
        "image": item["image"],
        "paths": list(item["paths"]),
        "inputs": result.get("inputs", {}),
        "status": result["status"],
        "seconds": result.get("seconds"),
        "settings": settings,
        "plate_format": item.get("plate_format"),
    }
    if result["status"] != "ok":
        record.update(
            stage=result.get("stage", ""),
            error=result.get("error", ""),
            error_path=result.get("error_path", item["paths"][0]),
        )
        _remove(parts / f"{pid}.json")
        atomic_json(parts / f"{pid}.error.json", record)
        return record

    objects = result.get("objects")
    if objects is not None:
        objects = objects.copy()
        atomic_write(
            parts / f"{pid}.objects.parquet", lambda fh: objects.to_parquet(fh, index=False)
        )
    atomic_bytes(parts / f"{pid}.thumb.jpg", result["thumb_jpg"])
    for well, jpg in (result.get("well_thumbs") or {}).items():
        atomic_bytes(parts / f"{pid}.{well}.thumb.jpg", jpg)
    atomic_bytes(out / "qc" / f"{pid}.png", result["overlay_png"])
    if result.get("labels") is not None:
        import tifffile

        labels = result["labels"]

        def _tif(fh: Any) -> None:
            # tifffile needs a named file or a BytesIO, not the os.fdopen object (name is an int)
            import io

            buf = io.BytesIO()
            tifffile.imwrite(buf, labels, compression="zlib")
            fh.write(buf.getvalue())

        atomic_write(out / "labels" / f"{pid}.tif", _tif)
    record.update(
        measures=result.get("measures", {}),
        qc_flag=result.get("qc_flag", ""),
        pixel_size_um=result.get("pixel_size_um"),
        voxel_size_um=result.get("voxel_size_um"),
        has_objects=objects is not None,
    )
    if result.get("per_well") is not None:
        record["per_well"] = result["per_well"]
    _remove(parts / f"{pid}.error.json")
    atomic_json(parts / f"{pid}.json", record)  # last: marks the image as done
    return record


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def load_record(out: Path, pid: str) -> dict[str, Any] | None:
    """The ``<id>.json`` record of a finished image, or None."""
    p = out / PARTS / f"{pid}.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
    if rec is None or rec.get("status") != "ok":
        return False
    if settings is not None and rec.get("settings") != settings:
        return False
    if rec.get("plate_format") != item.get("plate_format"):
        return False
    if sorted(rec.get("paths", [])) != sorted(item["paths"]):
        return False
    if rec.get("has_objects") and not (out / PARTS / f"{item['id']}.objects.parquet").is_file():
        return False
    if not (out / PARTS / f"{item['id']}.thumb.jpg").is_file():
        return False
    if save_labels and not (out / "labels" / f"{item['id']}.tif").is_file():
        return False
    from napari_il6assay.batch.worker import fingerprint

    for path in item["paths"]:
        old = rec.get("inputs", {}).get(path)
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
    """The objects table of a finished image (None when it has none)."""
    import pandas as pd

    p = out / PARTS / f"{pid}.objects.parquet"
    return pd.read_parquet(p) if p.is_file() else None
