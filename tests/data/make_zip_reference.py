"""Make ``zip_reference.csv``: ZIP delta scores from the ``synergy`` package (v1.0.0).

Run once, in a separate venv (the package is not a dependency of napari-il6assay)::

    python3 -m venv /work/synergy-venv
    /work/synergy-venv/bin/pip install synergy==1.0.0
    /work/synergy-venv/bin/python tests/data/make_zip_reference.py

The surface is deterministic: two Hill drugs (viability 1 -> 0) whose combination is made
more potent than Bliss by shrinking drug A's IC50 as drug B rises, plus fixed pseudo-random
noise (seeded), on a 7 x 7 dose grid including the zero doses.
"""

from pathlib import Path

import numpy as np
from synergy.combination import ZIP

rng = np.random.default_rng(20240611)
da = np.r_[0, np.logspace(-9, -6, 6)]  # M
db = np.r_[0, np.logspace(-8, -5, 6)]  # M
d1, d2 = np.meshgrid(da, db, indexing="ij")
d1, d2 = d1.ravel(), d2.ravel()
ca = 3e-8 / (1 + (d2 / 1e-6) ** 1.0)  # synergy: A's IC50 falls with B
va = 1 / (1 + (d1 / ca) ** 1.2)
vb = 0.2 + 0.8 / (1 + (d2 / 5e-7) ** 1.5)
E = va * vb + rng.normal(0, 0.02, d1.size)
E[(d1 == 0) & (d2 == 0)] = 1.0

model = ZIP()
delta = model.fit(d1, d2, E)
out = Path(__file__).with_name("zip_reference.csv")
with out.open("w") as fh:
    fh.write("drug_a_M,drug_b_M,viability,zip_synergy_pkg\n")
    for a, b, e, z in zip(d1, d2, E, delta, strict=True):
        fh.write(f"{a:.10g},{b:.10g},{e:.12g},{z:.12g}\n")
print(f"wrote {out} ({d1.size} rows); drug models: {model.drug1_model} {model.drug2_model}")
