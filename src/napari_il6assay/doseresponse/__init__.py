"""Normalization, dose-response fits, fold resistance and combination scores (no Qt).

Nothing heavy is imported here; import the submodules:

- ``normalize``: ``normalize_wells(wells, readout="readout") -> wells + viability, qc_flag``;
  ``summarize_conditions(wells) -> conditions.csv`` (+ ``wells`` column with the well ids).
- ``models``: the log-logistic family (4PL = drc ``LL.4``, 3PL, 5PL), ``evaluate(params, x)``.
- ``fit``: ``fit_curve(conc, response, model="4pl", ...) -> CurveFit``;
  ``fit_curves(df, response="viability", model="4pl", ...) -> fits.csv`` table (fold columns
  filled when the table has ``parental``).
- ``fold``: ``fold_test(...)``, ``add_fold_resistance(fits, curves, params)``.
- ``synergy``: ``synergy_scores(df) -> synergy.csv``, ``synergy_summary(scores)``,
  ``potentiation(df) -> potentiation.csv``.
- ``figures``: ``dose_response_figure``, ``synergy_heatmap``, ``potentiation_figure``
  (matplotlib ``Figure`` objects, no pyplot).
"""
