"""Concentration units: parsing (``nM``, ``ug/mL``, ...) and molar formatting for people.

The one place that knows the unit spellings. Layouts (`napari_il6assay.io.layout`) and
``il6assay fit`` convert with `MOLAR_FACTORS` / `to_molar`; the report, the terminal summaries
and the widgets print molar values with `format_molar`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MASS_UNITS", "MOLAR_FACTORS", "canon_unit", "format_molar", "to_molar", "unit_key"]

#: molar units (`unit_key` spelling) -> factor to molar
MOLAR_FACTORS: dict[str, float] = {
    "m": 1.0,
    "mm": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,
    "μm": 1e-6,
    "nm": 1e-9,
    "pm": 1e-12,
    "fm": 1e-15,
    "mol/l": 1.0,
    "mmol/l": 1e-3,
    "umol/l": 1e-6,
    "µmol/l": 1e-6,
    "nmol/l": 1e-9,
}
#: mass-concentration units (`unit_key` spelling) -> their usual spelling
MASS_UNITS: dict[str, str] = {
    "mg/ml": "mg/mL",
    "ug/ml": "ug/mL",
    "µg/ml": "ug/mL",
    "μg/ml": "ug/mL",
    "ng/ml": "ng/mL",
    "pg/ml": "pg/mL",
    "g/l": "mg/mL",
    "mg/l": "ug/mL",
    "ug/l": "ng/mL",
    "µg/l": "ng/mL",
}

#: the molar units `format_molar` picks from, largest first
_DISPLAY = (("M", 1.0), ("mM", 1e-3), ("µM", 1e-6), ("nM", 1e-9), ("pM", 1e-12))


def unit_key(unit: str) -> str:
    """Fold a unit for lookup: no spaces, one micro sign, lower case (``"n M"`` -> ``"nm"``)."""
    return str(unit).strip().replace(" ", "").replace("\u00b5", "µ").lower()


def canon_unit(unit: str) -> str:
    """Spell a unit the usual way: ``uM``, ``nM``, ``ug/mL`` (unknown units as given)."""
    u = unit_key(unit)
    if u in MASS_UNITS:
        return MASS_UNITS[u]
    spelled = {"m": "M", "mm": "mM", "um": "uM", "µm": "uM", "μm": "uM", "nm": "nM",
               "pm": "pM", "fm": "fM", "mol/l": "M", "mmol/l": "mM", "umol/l": "uM",
               "µmol/l": "uM", "nmol/l": "nM"}  # fmt: skip
    return spelled.get(u, str(unit).strip())


def to_molar(value: float, unit: str) -> float | None:
    """Convert a concentration to molar; None when `unit` is a mass unit, ValueError if unknown.

    Examples
    --------
    >>> to_molar(10, "nM")
    1e-08
    >>> to_molar(5, "ug/mL") is None
    True
    """
    u = unit_key(unit)
    if u in MOLAR_FACTORS:
        return float(value) * MOLAR_FACTORS[u]
    if u in MASS_UNITS:
        return None
    raise ValueError(f"unknown unit '{unit}'")


def format_molar(value: Any, *, digits: int = 3, missing: str = "", micro: str = "µ") -> str:
    """Format a molar concentration in a readable unit: ``3.2e-9`` -> ``"3.2 nM"``.

    The unit is the largest of M, mM, µM, nM and pM that the value reaches (within 0.1 %, so
    that 0.9999 µM reads ``1 µM`` rather than ``1e+03 nM``); below 1 pM it is fM.

    Parameters
    ----------
    value : float or None
        Molar concentration.
    digits : int
        Significant digits.
    missing : str
        Text for None, NaN, infinities and anything that is not a number.
    micro : str
        The micro prefix: ``"µ"``, or ``"u"`` for plain-ASCII text (the layout summary).

    Returns
    -------
    str

    Examples
    --------
    >>> format_molar(3.2e-9), format_molar(0), format_molar(None, missing="n/a")
    ('3.2 nM', '0', 'n/a')
    >>> format_molar(9.9995e-7)
    '1 µM'
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(v):
        return missing
    if v == 0:
        return "0"
    for unit, f in _DISPLAY:
        if abs(v) >= f * 0.999:
            return f"{v / f:.{digits}g} {unit.replace('µ', micro)}"
    return f"{v / 1e-15:.{digits}g} fM"
