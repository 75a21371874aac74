"""Normalization, dose-response fits, fold resistance and combination scores (no Qt).

Nothing heavy is imported here; import the submodules:

- ``normalize``: ``normalize_wells(wells, readout="readout") -> wells + viability, qc_flag``;
  ``summarize_conditions(wells) -> conditions.csv`` (+ ``wells`` column with the well ids).
- ``models``: the log-logistic family (4PL = drc ``LL.4``, 3PL, 5PL), ``evaluate(params, x)``.
- ``fit``: ``fit_curve(conc, response, model="4pl", ...) -> CurveFit``;
  ``fit_curves(df, response="viability", model="4pl", ...) -> fits.csv`` table;
  ``fit_curve_table(df, ...)``: the same with the curves and parameters for the fold step;
  ``fit_arrays(curves, ...) -> FitBatch`` (the batched core).
- ``fold``: ``fold_test(...)``, ``add_fold_resistance(fit_curve_table(df, ...))`` fills the
  fold columns against each curve's ``parental`` from the fitted parameters.
- ``synergy``: ``synergy_scores(df) -> synergy.csv``, ``synergy_summary(scores)``,
  ``potentiation(df) -> potentiation.csv``.
- ``figures``: ``dose_response_figure``, ``synergy_heatmap``, ``potentiation_figure``
  (matplotlib ``Figure`` objects, no pyplot).
"""
