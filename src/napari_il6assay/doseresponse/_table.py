"""Split a tidy wells/conditions table into dose-response curves.

A curve is one (cell_line, drug, drug_b, concentration_b) group (whichever of these columns
exist). Wells with no drug A (vehicle of any label, role ``vehicle``, concentration 0, or drug B
alone in a combination) are the dose-0 points
of every drug-A curve of the same cell line and the same drug B state, so the vehicle anchors
the top of each curve. A second agent at concentration 0 (or missing) counts as no second
agent. Wells whose ``role`` is ``exclude`` or ``blank`` never enter a curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_GROUPS = ("cell_line", "drug", "drug_b", "concentration_b")


@dataclass
class Curve:
    """One curve's data and identity."""

    key: dict[str, object]
    conc: np.ndarray
    response: np.ndarray
    wells: list[str]
    parental: str = ""
    problems: list[str] = field(default_factory=list)


def _text(s: pd.Series) -> pd.Series:
    out = s.astype(object).where(s.notna(), "")
    return out.map(lambda v: str(v).strip()).replace({"nan": "", "None": "", "<NA>": ""})


def concentration_column(df: pd.DataFrame, dose: str | None = None) -> str:
    """The name of the dose column: ``dose`` if given, else ``concentration_M``,
    ``concentration`` (converted by the caller), ``conc`` or ``dose``."""
    if dose is not None:
        return dose
    for c in ("concentration_M", "concentration", "conc", "dose"):
        if c in df.columns:
            return c
    raise KeyError("no concentration column (concentration_M, concentration, conc or dose)")


def split_curves(
    df: pd.DataFrame,
    response: str = "viability",
    conc: str = "concentration_M",
    group_cols: tuple[str, ...] = DEFAULT_GROUPS,
) -> list[Curve]:
    """Group a tidy table into `Curve` objects (see the module docstring).

    Parameters
    ----------
    df : DataFrame
        One row per well (or per condition).
    response, conc : str
        Column names of the response and the dose.
    group_cols : tuple of str
        Columns that identify a curve; those absent from ``df`` are ignored.

    Returns
    -------
    list of Curve
    """
    d = df.copy()
    if "role" in d.columns:
        role = _text(d["role"]).str.lower()
        d = d[~role.isin(["exclude", "blank"])]
    present = [c for c in group_cols if c in d.columns]
    if "concentration_b" in d.columns:
        cb = pd.to_numeric(d["concentration_b"], errors="coerce").fillna(0.0)
        d["concentration_b"] = cb
        if "drug_b" in d.columns:
            d["drug_b"] = _text(d["drug_b"]).where(cb > 0, "")
    for c in present:
        if c != "concentration_b":
            d[c] = _text(d[c])
    d["_conc"] = pd.to_numeric(d[conc], errors="coerce")
    d["_resp"] = pd.to_numeric(d[response], errors="coerce")
    d["_well"] = _text(d["well"]) if "well" in d.columns else ""
    if "plate" in d.columns:
        d["_well"] = _text(d["plate"]) + ":" + d["_well"]
    d["_parental"] = _text(d["parental"]) if "parental" in d.columns else ""
    if "drug" in present:
        # vehicle wells (whatever their drug label, e.g. "DMSO") and dose-0 wells are the
        # dose-0 points of every drug of their line and second-agent state
        untreated = (d["drug"] == "") | (d["_conc"] == 0)
        if "role" in d.columns:
            untreated |= _text(d["role"]).str.lower() == "vehicle"
        # a well without drug A is its dose 0 whatever concentration it carries
        d.loc[untreated, "_conc"] = 0.0
    else:
        untreated = pd.Series(False, index=d.index)
    treated = d[~untreated]
    zero_rows = d[untreated]
    other = [c for c in present if c != "drug"]
    curves = []
    if not present:
        groups = [((), treated)]
    else:
        groups = list(treated.groupby(present, sort=True, dropna=False))
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        kd = dict(zip(present, key, strict=True))
        if other and not zero_rows.empty:
            m = np.ones(len(zero_rows), bool)
            for c in other:
                m &= (zero_rows[c] == kd[c]).to_numpy()
            g = pd.concat([g, zero_rows[m]])
        parents = sorted(set(g["_parental"]) - {""})
        problems = []
        if len(parents) > 1:
            problems.append(f"several parental lines given: {', '.join(parents)}")
        curves.append(
            Curve(
                key=kd,
                conc=g["_conc"].to_numpy(float),
                response=g["_resp"].to_numpy(float),
                wells=list(g["_well"]),
                parental=parents[0] if parents else "",
                problems=problems,
            )
        )
    return curves
