"""Issue 13: one job split over forked processes gives the results of one process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from napari_il6assay.parallel import can_fork, map_forked, parts_for

needs_fork = pytest.mark.skipif(not can_fork(), reason="no fork on this platform")


@needs_fork
def test_map_forked_runs_parts_in_children_in_order() -> None:
    """7 parts over 3 processes: results in part order; parts 1, 2, 4, 5 ran in children."""
    here = os.getpid()
    out = map_forked(lambda i: (i * i, os.getpid() != here), 7, 3)
    assert [v for v, _ in out] == [0, 1, 4, 9, 16, 25, 36]
    assert [child for _, child in out] == [False, True, True, False, True, True, False]


@needs_fork
def test_map_forked_reruns_a_failed_part_here() -> None:
    """A part that fails in a child is computed again in this process: a child-only failure
    costs nothing, a real error is raised here with its own exception type."""
    here = os.getpid()

    def flaky(i: int) -> int:
        if i == 1 and os.getpid() != here:
            raise MemoryError("child only")
        return 10 * i

    assert map_forked(flaky, 3, 2) == [0, 10, 20]

    def broken(i: int) -> int:
        if i == 2:
            raise ValueError("bad part")
        return i

    with pytest.raises(ValueError, match="bad part"):
        map_forked(broken, 3, 3)


def test_parts_for_keeps_parts_large_enough() -> None:
    """At most one part per worker, each of at least the minimum size."""
    assert parts_for(10_000, 2, 2_000) == 2
    assert parts_for(3_999, 2, 2_000) == 1
    assert parts_for(10_000, 8, 2_000) == 5
    assert parts_for(10, 1, 1) == 1


def test_fit_arrays_is_the_same_for_any_number_of_processes(monkeypatch) -> None:
    """Parts follow the number of curves only: 1, 2 and 3 processes give the same bits, and
    the fits recover the true IC50s (a real fit, not a copy)."""
    from napari_il6assay.doseresponse import fit as fit_mod

    monkeypatch.setattr(fit_mod, "PART_CURVES", 40)  # 150 curves -> 4 parts
    rng = np.random.default_rng(3)
    x = np.repeat(1e-9 * 3.0 ** np.arange(8), 3)
    log_e = rng.uniform(-8.5, -6.5, 150)
    curves = []
    for le in log_e:
        y = 0.05 + 0.95 / (1 + (x / 10**le) ** 1.2) + rng.normal(0, 0.03, x.size)
        curves.append((x, y, None))
    fits = [fit_mod.fit_arrays(curves, "4pl", workers=w) for w in (1, 2, 3)]
    for other in fits[1:]:
        for name in ("params", "se", "ic50_rel", "ic50_ci_low", "ic50_ci_high", "status"):
            a, b = getattr(fits[0], name), getattr(other, name)
            assert a.tobytes() == b.tobytes() if a.dtype != object else list(a) == list(b), name
    err = np.abs(np.log10(fits[0].ic50_rel.astype(float)) - log_e)
    assert np.median(err) < 0.05 and err.max() < 0.3
    assert np.mean((fits[0].ic50_ci_low < 10**log_e) & (10**log_e < fits[0].ic50_ci_high)) > 0.85
