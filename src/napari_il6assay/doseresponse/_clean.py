"""Clean one dose-response curve's data before a fit (shared by `fit` and `fold`)."""

from __future__ import annotations

import numpy as np


def check_curve(
    conc: np.ndarray, response: np.ndarray, n_params: int = 4
) -> tuple[np.ndarray, np.ndarray, str]:
    """Clean one curve's data; return ``(conc, response, problem)``.

    ``problem`` is ``""`` when the curve can be fitted, else a sentence for the ``note``
    column (missing or negative concentrations, all-NaN or constant responses, fewer than 4
    distinct doses or too few points).
    """
    conc = np.asarray(conc, float)
    response = np.asarray(response, float)
    if conc.size == 0:
        return conc, response, "no data"
    if np.isnan(conc).any():
        return conc, response, f"missing concentration in {int(np.isnan(conc).sum())} row(s)"
    if (conc < 0).any():
        return conc, response, f"negative concentration ({conc[conc < 0].min():g})"
    if not np.isfinite(conc).all():
        return conc, response, "infinite concentration"
    ok = np.isfinite(response)
    if not ok.any():
        return conc, response, "all responses missing (NaN)"
    conc, response = conc[ok], response[ok]
    n_doses = np.unique(conc).size
    if n_doses < 4:
        return conc, response, f"fewer than 4 doses ({n_doses})"
    if (conc > 0).sum() == 0 or np.unique(conc[conc > 0]).size < 2:
        return conc, response, "fewer than 2 non-zero doses"
    if conc.size <= n_params:
        return conc, response, f"too few points ({conc.size}) for {n_params} parameters"
    if (
        np.abs(response).max() > 1e100
        or (conc > 0).any()
        and not (1e-200 < conc[conc > 0].min() and conc.max() < 1e200)
    ):
        # squares of such numbers overflow in the least-squares fit: rescale the data
        return conc, response, "responses beyond 1e100 or doses outside 1e-200..1e200: rescale"
    if np.ptp(response) <= 1e-12 * max(1.0, np.abs(response).max()):
        return conc, response, "constant responses: nothing to fit"
    return conc, response, ""
