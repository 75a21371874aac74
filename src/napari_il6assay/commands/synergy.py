"""``il6assay synergy TABLE --out DIR``: combination scores from a tidy table.

Writes ``synergy.csv`` (Bliss, HSA, Loewe, ZIP, Chou-Talalay CI per combination condition),
``synergy_summary.csv``, ``potentiation.csv`` (IC50 shift of drug A at each fixed dose of drug
B) and heat maps in ``plots/``.
"""

from __future__ import annotations

import argparse

from napari_il6assay.cli import check_out_dir
from napari_il6assay.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``synergy`` command's arguments."""
    parser.add_argument("table", metavar="TABLE", help="tidy table (.csv, .tsv, .xlsx)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--response", default="viability", help="response (1 = untreated)")
    parser.add_argument("--dose", default=None, help="dose column of drug A")
    parser.add_argument("--unit", default=None, metavar="UNIT",
                        help="unit of a dose column without one (M, mM, uM, nM, pM, none)")
    parser.add_argument("--no-plots", action="store_true", help="tables only")


def run(args: argparse.Namespace) -> int:
    """Score every combination; write the tables and heat maps."""
    from napari_il6assay.commands.fit import _numeric, _safe, dose_column, read_table
    from napari_il6assay.doseresponse.synergy import (
        potentiation,
        synergy_scores,
        synergy_summary,
    )

    df = read_table(args.table)
    for col in (args.response, "drug_b", "concentration_b"):
        if col not in df.columns:
            raise InputError("column needed for combination scores is missing", path=args.table,
                             column=col)  # fmt: skip
    df, dose = dose_column(df, args.table, args.dose, unit=args.unit, response=args.response)
    _numeric(df, args.response, args.table)
    _numeric(df, "concentration_b", args.table)
    out = check_out_dir(args.out, create=True)
    scores = synergy_scores(df, response=args.response, conc=dose)
    if scores.empty:
        raise InputError("no combination wells (both drug and drug_b above 0)", path=args.table)
    scores.to_csv(out / "synergy.csv", index=False)
    summary = synergy_summary(scores)
    summary.to_csv(out / "synergy_summary.csv", index=False)
    pot = potentiation(df, response=args.response, conc=dose)
    pot.to_csv(out / "potentiation.csv", index=False)
    print(summary.drop(columns=["note"]).to_string(index=False))
    if not args.no_plots:
        from napari_il6assay.doseresponse.figures import potentiation_figure, synergy_heatmap

        from napari_il6assay.batch.exports import unique_name
        from napari_il6assay.commands.fit import save_figure

        plots = out / "plots"
        plots.mkdir(exist_ok=True)
        used: set[str] = {"potentiation"}
        for _, r in summary.iterrows():
            for score in ("bliss", "hsa", "loewe", "zip"):
                name = unique_name(
                    _safe(f"{r['cell_line']}_{r['drug']}_{r['drug_b']}_{score}"), used)
                save_figure(lambda r=r, score=score: synergy_heatmap(
                    scores, score, cell_line=r["cell_line"], drug=r["drug"],
                    drug_b=r["drug_b"]), plots / f"{name}.png")  # fmt: skip
        if not pot.empty:
            save_figure(lambda: potentiation_figure(pot), plots / "potentiation.png")
    return 0
