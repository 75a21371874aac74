"""Quality-control flags: the one list of ``qc_flag`` values and what each means.

A well's ``qc_flag`` is a ``;``-separated set of the names below (empty when nothing is in
doubt). Segmentation modes set the image flags, ``batch`` adds the plate-level ones and the
normalization step adds the replicate ones. A flagged well stays in every table; a flag in
`UNTRUSTED` also keeps the well out of the viability scaling and the fits unless the user
includes it (``--include-flagged FLAG,...`` on ``batch``/``fit``), because it says the readout
itself may be wrong. The other flags are warnings: the number is kept and used.

This module imports nothing heavy, so every layer (core, CLI, widgets) can import it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: flag name -> one-line meaning (README and report list these)
FLAGS: dict[str, str] = {
    # the image cannot be measured
    "constant_image": "every pixel has the same value; nothing to measure",
    "no_object": "no object (spheroid, cells) was found; the readout is missing",
    "no_well": "no well was found in the photo",
    # the readout may be wrong
    "well_implausible": "the well found is not plausible (size, roundness, contrast of its rim, "
    "or not one round well in the frame); the readout may be wrong",
    "mode_mismatch": "the image does not look like this mode's assay (e.g. a crystal-violet "
    "photo in live/dead mode)",
    "touches_border": "the object runs off the image border; it is kept whole but its size is "
    "a lower bound",
    "out_of_focus": "much of the signal is blurred (out-of-focus haze or objects)",
    "blank_not_empty": "a blank (no-cell) well holds stain or objects",
    "plate_outlier": "the well's diagnostics (well radius, background, sharpness, object count "
    "or size) are far from the rest of the plate's (robust z-score)",
    # warnings: the readout is kept
    "low_contrast": "the object is only faintly distinct from its surround",
    "merged_objects": "some objects may be touching clusters counted as one",
    "outlier": "the replicate differs from its condition's other replicates (MAD z-score); "
    "flagged, never removed",
}

#: plate-level flags of ``plate_qc.csv`` (``flag`` column); never set on a well
PLATE_FLAGS: dict[str, str] = {
    "low_z_prime": "Z' below 0.5: the window between vehicle and the negative control "
    "(blank, or the top-dose kill) is small against their spread",
    "edge_effect": "outer-ring wells read differently from interior wells of the same "
    "condition (Welch t test p < 0.01 and >= 5 % shift)",
    "no_controls": "Z' not computable: fewer than 2 vehicle or negative-control wells",
}

#: flags whose well is left out of the viability scaling and the fits by default
UNTRUSTED: frozenset[str] = frozenset(
    {
        "constant_image",
        "no_object",
        "no_well",
        "well_implausible",
        "mode_mismatch",
        "touches_border",
        "out_of_focus",
        "blank_not_empty",
        "plate_outlier",
    }
)

#: flags a person's correction of the labels does not answer, so a corrected well keeps them:
#: they judge the image itself or the well circle, which the correction leaves as found
#: (``blank_not_empty`` and ``plate_outlier`` are judged again on the corrected readout by
#: the plate steps). Every other image flag judged the automatic objects and is dropped for
#: a corrected well (``qc_flag_auto`` keeps it); see `napari_il6assay.segment.remeasure`.
KEPT_BY_CORRECTION: frozenset[str] = frozenset(
    {"constant_image", "no_well", "well_implausible", "plate_outlier", "blank_not_empty"}
)

SEPARATOR = ";"


def split_flags(value: object) -> list[str]:
    """Split one ``qc_flag`` cell into its flags, in order, without blanks or repeats.

    Examples
    --------
    >>> split_flags("no_object; low_contrast;;no_object")
    ['no_object', 'low_contrast']
    >>> split_flags(float("nan"))
    []
    """
    if value is None or (isinstance(value, float) and value != value):
        return []
    out: list[str] = []
    for part in str(value).split(SEPARATOR):
        part = part.strip()
        if part and part.lower() != "nan" and part not in out:
            out.append(part)
    return out


def join_flags(*values: object) -> str:
    """Merge flags (strings, ``;``-joined strings or iterables of them) into one cell.

    Examples
    --------
    >>> join_flags("touches_border", "", ["low_contrast", "touches_border"])
    'touches_border;low_contrast'
    """
    out: list[str] = []
    for value in values:
        items: Iterable[object] = (
            value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        )
        for item in items:
            for flag in split_flags(item):
                if flag not in out:
                    out.append(flag)
    return SEPARATOR.join(out)


def untrusted_flags(value: object, include: Iterable[str] = ()) -> list[str]:
    """List the flags of a cell that keep its well out of fits, less those the user includes.

    Examples
    --------
    >>> untrusted_flags("low_contrast;touches_border")
    ['touches_border']
    >>> untrusted_flags("touches_border", include=["touches_border"])
    []
    """
    allowed = set(include)
    return [f for f in split_flags(value) if f in UNTRUSTED and f not in allowed]


def parse_include(text: str | None) -> frozenset[str]:
    """Parse ``--include-flagged``: comma-separated flag names, or ``all``.

    Raises
    ------
    ValueError
        For a name that is not a flag (the message lists the flags).

    Examples
    --------
    >>> sorted(parse_include("touches_border, plate_outlier"))
    ['plate_outlier', 'touches_border']
    """
    if not text:
        return frozenset()
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return UNTRUSTED
    unknown = [n for n in names if n not in FLAGS]
    if unknown:
        raise ValueError(
            f"unknown qc flag(s) {', '.join(unknown)}; expected 'all' or some of "
            f"{', '.join(sorted(UNTRUSTED))}"
        )
    return frozenset(names)
