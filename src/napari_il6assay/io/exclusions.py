"""Well exclusions with a reason and a time: ``exclusions.csv``, read and applied.

A user who leaves a well out of the analysis says why and when; the record travels with the
results (``exclusions.csv`` in the results folder, listed in ``run.json``), is read back by
the dose-response panel, and can be handed to ``batch``/``fit`` with ``--exclude FILE``.
An excluded well keeps its row in every table: its ``role`` becomes ``exclude`` (the layout's
role is kept in ``role_original``), ``qc_flag`` gets ``excluded`` and ``exclusion_reason``
holds the reason, so the fits, the conditions and the synergy scores skip it.

File: CSV, one row per well, columns ``well`` (``A1`` or ``A01``, required), ``plate``
(optional; empty = the well on every plate), ``reason`` (required, free text) and ``time``
(ISO 8601; filled in when missing).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from napari_il6assay.errors import InputError, LayoutError
from napari_il6assay.io.cells import cell_text

COLUMNS = ["plate", "well", "reason", "time"]


def now_iso() -> str:
    """Return the current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def make_exclusions(rows: Iterable[dict[str, Any]], path: str | Path | None = None) -> pd.DataFrame:
    """Make a checked exclusions table from dicts with ``well``, ``reason`` (+ plate, time).

    Raises
    ------
    LayoutError
        Every bad row at once (no well id, no reason), with its row number.
    """
    from napari_il6assay.io.plate import canonical_well

    out, problems = [], []
    for i, r in enumerate(rows, start=2):
        well, reason = cell_text(r.get("well")), cell_text(r.get("reason"))
        try:
            well = canonical_well(well)
        except ValueError:
            problems.append(InputError(f"'{well}' is not a well id (expected e.g. A1 or A01)",
                                       path=path, row=i, column="well"))  # fmt: skip
            continue
        if not reason:
            problems.append(InputError("an exclusion needs a reason", path=path, row=i,
                                       column="reason", well=well))  # fmt: skip
            continue
        out.append({"plate": cell_text(r.get("plate")), "well": well, "reason": reason,
                    "time": cell_text(r.get("time")) or now_iso()})  # fmt: skip
    if problems:
        raise LayoutError(problems)
    df = pd.DataFrame(out, columns=COLUMNS)
    # the last word on a well wins (an exclusion edited later)
    return df.drop_duplicates(["plate", "well"], keep="last").reset_index(drop=True)


def read_exclusions(path: str | Path) -> pd.DataFrame:
    """Read an exclusions CSV (see the module docstring); errors name the file and row."""
    path = Path(path)
    if not path.is_file():
        raise InputError("exclusions file not found", path=path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the exclusions: {exc}", path=path) from exc
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    for col in ("well", "reason"):
        if col not in raw.columns:
            raise InputError(f"missing column '{col}' (expected well, reason[, plate, time])",
                             path=path, column=col)  # fmt: skip
    rows = [{str(k): v for k, v in r.items()} for r in raw.to_dict("records")]
    return make_exclusions(rows, path=path)


def write_exclusions(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``exclusions.csv`` atomically (header only when nothing is excluded)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")  # the batch clears .*.tmp of a killed run
    table.reindex(columns=COLUMNS).to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def apply_exclusions(wells: pd.DataFrame, exclusions: pd.DataFrame) -> pd.DataFrame:
    """Mark the excluded wells of a wells/tidy table (see the module docstring).

    Parameters
    ----------
    wells : DataFrame
        One row per well with ``well`` (and ``plate``, ``role`` when present).
    exclusions : DataFrame
        From `read_exclusions` / `make_exclusions`.

    Returns
    -------
    DataFrame
        A copy with ``role`` ``exclude`` for the listed wells, ``role_original`` and
        ``exclusion_reason``.

    Examples
    --------
    >>> w = pd.DataFrame({"well": ["A01", "A02"], "role": ["sample", "vehicle"]})
    >>> ex = make_exclusions([{"well": "A2", "reason": "bubble", "time": "2026-12-02T10:00:00"}])
    >>> apply_exclusions(w, ex)[["well", "role", "exclusion_reason"]].values.tolist()
    [['A01', 'sample', ''], ['A02', 'exclude', 'bubble']]
    """
    from napari_il6assay.io.plate import canonical_well

    d = wells.copy()
    if "role" not in d.columns:
        d["role"] = ""
    if "role_original" not in d.columns:
        d["role_original"] = d["role"]
    reasons = pd.Series("", index=d.index, dtype=object)
    if len(exclusions) and len(d):

        def canon(w: Any) -> str:
            try:
                return canonical_well(str(w))
            except ValueError:
                return str(w)

        well = d["well"].map(canon)
        plate = d["plate"].map(cell_text) if "plate" in d.columns else pd.Series("", index=d.index)
        for _, ex in exclusions.iterrows():
            hit = (well == ex["well"]) & ((plate == ex["plate"]) if ex["plate"] else True)
            reasons[hit] = ex["reason"]
    d["exclusion_reason"] = reasons
    d["role"] = d["role_original"].astype(object).where(reasons == "", "exclude")
    return d
