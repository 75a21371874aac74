"""Regenerate ``sample_data/``: the example experiment that ``il6assay demo`` processes.

Deterministic (fixed seed): running it again writes the same pixels and tables.

    python scripts/make_sample_data.py            # writes ./sample_data next to this folder
    python scripts/make_sample_data.py --out DIR  # somewhere else (tests use this)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SEED = 20240611
MODE = "colony"
IMAGE_SIZE = 256

README = """\
# sample_data: a synthetic crystal-violet experiment with a known answer

Made by `python scripts/make_sample_data.py` (seed {seed}) with
`napari_il6assay.synthetic.make_experiment(mode="colony")`; do not edit by hand.

One 96-well plate photographed well by well (`A01.png` ... `H12.png`, RGB, {size} x {size}
pixels, **{px:g} um per pixel**, also in `acquisition.json`; a 96-well well is 6.4 mm across).
Colonies are stained with crystal violet; the readout is the stained `area_fraction` of the
well, which is {top:g} x viability (0 for the blanks), plus replicate noise (SD {noise:g} in
viability units).

`layout.csv` is the plate map (long form, see INTERFACE.md):

- A-C, columns 1-10: MDA-MB-231 (parental); vehicle in column 1, then eribulin
  0.01-100 nM in half-log steps; rows are the triplicates.
- D-F, columns 1-10: MDA-MB-231E (eribulin-resistant, `parental` MDA-MB-231); vehicle,
  then eribulin 1 nM-10 uM.
- G-H columns 1-10, column 11 and A12-B12: MDA-MB-231E with tocilizumab {cb:g} ug/mL,
  alone (eribulin 0) and with eribulin 1 nM-10 uM, triplicates.
- C12-H12: blanks (no cells).

True viability curves (4PL in molar eribulin; `truth.json` has all of it, `truth.csv` every
well's true viability and exact area fraction measured on the drawn colony masks):

| curve | IC50 | hill | top | bottom |
|---|---|---|---|---|
{rows}

True fold resistance MDA-MB-231E / MDA-MB-231: **{fold:g}**. Tocilizumab alone has no effect
and lowers eribulin's IC50 in MDA-MB-231E {shift:g}-fold (positive Bliss/HSA excess).
"""


def main(argv: list[str] | None = None) -> int:
    """Write the sample experiment; returns the exit code."""
    from napari_il6assay.synthetic.experiment import READOUT_TOP, make_experiment

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "sample_data"
    )
    args = ap.parse_args(argv)
    truth = make_experiment(args.out, mode=MODE, seed=SEED, image_size=IMAGE_SIZE)
    (args.out / "acquisition.json").write_text(
        json.dumps({"pixel_size_um": truth.pixel_size_um, "mode": MODE}, indent=2) + "\n"
    )
    rows = "\n".join(
        f"| {name} | {c['ic50_M'] * 1e9:g} nM | {c['hill']:g} | {c['top']:g} | {c['bottom']:g} |"
        for name, c in truth.curves.items()
    )
    (args.out / "README.md").write_text(
        README.format(
            seed=SEED,
            size=IMAGE_SIZE,
            px=truth.pixel_size_um,
            top=READOUT_TOP[MODE],
            noise=truth.extra["meta"]["noise_sd_viability"],
            rows=rows,
            fold=truth.fold_resistance,
            cb=truth.combination["concentration_b"],
            shift=truth.combination["ic50_shift_factor"],
        )
    )
    print(f"wrote {len(truth.wells)} wells to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
