"""``il6assay synergy TABLE --out DIR``: combination scores from a tidy table.

Writes ``synergy.csv`` (Bliss, HSA, Loewe, ZIP, Chou-Talalay CI per combination condition,
with bootstrap 95 % CIs over replicate wells), ``synergy_summary.csv`` (per block and score:
mean, CI, p-value, MSA), ``potentiation.csv`` (IC50 shift of drug A at each fixed dose of drug
B) and heat maps in ``plots/`` (the same set as ``batch``).
"""

from __future__ import annotations

import argparse
from typing import Any

from napari_il6assay.cli import check_out_dir
from napari_il6assay.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``synergy`` command's arguments."""
    parser.add_argument("table", metavar="TABLE", help="tidy table (.csv, .tsv, .xlsx)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--response", default="viability", help="response (1 = untreated)")
    parser.add_argument("--dose", default=None, help="dose column of drug A")
    parser.add_argument(
        "--unit",
        default=None,
        metavar="UNIT",
        help="unit of a dose column without one (M, mM, uM, nM, pM, none)",
    )
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--n-boot", type=int, default=2000, metavar="N",
                        help="bootstrap draws for Bliss/HSA CIs (default 2000; Loewe/ZIP use "
                        "min(N, 100) refits)")  # fmt: skip
    parser.add_argument("--n-boot-fitted", type=int, default=100, metavar="N",
                        help="refits for the Loewe/ZIP CIs (default 100, at most --n-boot; "
                        "0 = no Loewe/ZIP CIs, much faster)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


def run(args: argparse.Namespace) -> int:
    """Score every combination; write the tables and heat maps."""
    from napari_il6assay.commands.fit import _numeric, _safe, dose_column, read_table
    from napari_il6assay.doseresponse.synergy import potentiation
    from napari_il6assay.doseresponse.synergy_stats import synergy_with_ci

    df = read_table(args.table)
    for col in (args.response, "drug_b", "concentration_b"):
        if col not in df.columns:
            raise InputError("column needed for combination scores is missing", path=args.table,
                             column=col)  # fmt: skip
    df, dose = dose_column(df, args.table, args.dose, unit=args.unit, response=args.response)
    _numeric(df, args.response, args.table)
    _numeric(df, "concentration_b", args.table)
    out = check_out_dir(args.out, create=True)
    if not 100 <= args.n_boot <= 100_000:
        raise InputError(f"--n-boot must be 100 to 100000, got {args.n_boot}", column="--n-boot")
    if not 0 <= args.n_boot_fitted <= 10_000:
        raise InputError(f"--n-boot-fitted must be 0 to 10000, got {args.n_boot_fitted}",
                         column="--n-boot-fitted")  # fmt: skip
    scores, summary = synergy_with_ci(df, response=args.response, conc=dose, n_boot=args.n_boot,
                                      n_boot_fitted=min(args.n_boot, args.n_boot_fitted),
                                      seed=args.seed)  # fmt: skip
    if scores.empty:
        raise InputError("no combination wells (both drug and drug_b above 0)", path=args.table)
    scores.to_csv(out / "synergy.csv", index=False)
    summary.to_csv(out / "synergy_summary.csv", index=False)
    pot = potentiation(df, response=args.response, conc=dose)
    pot.to_csv(out / "potentiation.csv", index=False)
    for line in summary_lines(summary):
        print(line)
    if not args.no_plots:
        from napari_il6assay.batch.exports import unique_name, units_of_b
        from napari_il6assay.commands.fit import save_figure
        from napari_il6assay.doseresponse.figures import potentiation_figure, synergy_figures

        plots = out / "plots"
        plots.mkdir(exist_ok=True)
        units = units_of_b(df)
        used: set[str] = {"potentiation"}
        try:
            figures = synergy_figures(scores, units)
        except Exception as exc:  # noqa: BLE001 - plots are optional, the tables are written
            import sys

            print(f"warning: synergy plots not drawn: {type(exc).__name__}: {exc}",
                  file=sys.stderr)  # fmt: skip
            figures = {}
        for name, fig in figures.items():
            save_figure(lambda fig=fig: fig, plots / f"{unique_name(_safe(name), used)}.png")
        if not pot.empty:
            unit_b = units.get(str(pot["drug_b"].iloc[0]), "")
            save_figure(lambda: potentiation_figure(pot, unit_b=unit_b), plots / "potentiation.png")
    return 0


def summary_lines(summary: Any) -> list[str]:
    """One line per block and score: mean (95% CI), p-value, MSA; or why it is undefined."""
    import math

    lines = []
    for _, r in summary.iterrows():
        head = f"  {r['cell_line']:<14} {r['drug']} + {r['drug_b']} {r['score']:<6}"
        if not math.isfinite(float(r["mean"])):
            lines.append(f"{head} n/a ({r['note'] or 'undefined'})")
            continue
        ci = (f" (95% CI {r['ci_low']:.3g} to {r['ci_high']:.3g}, p = {r['p_value']:.2g})"
              if math.isfinite(float(r["ci_low"])) else " (no CI: no replicate wells)")  # fmt: skip
        lines.append(f"{head} mean {r['mean']:.3g}{ci}; MSA {r['msa']:.3g} "
                     f"({int(r['n_conditions'])} conditions)")  # fmt: skip
    return lines
