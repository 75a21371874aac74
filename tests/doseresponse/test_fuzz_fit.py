"""Fuzz ``il6assay fit`` and ``il6assay synergy``: broken and extreme tables, odd options.

Tables come in three kinds: well-formed curves with extreme numbers (1e300, 0 and negative
doses, constant or falling-by-almost-nothing responses), tables whose cells are drawn from
hostile text, and raw bytes. Options include a ``--dose`` naming the response column, unknown
columns and ``--unit`` choices. See `fuzz_support` for the contract each case is held to.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from fuzz_support import FUZZ, HOSTILE_TEXT, run_cli
from hypothesis import given
from hypothesis import strategies as st

_CASE = itertools.count()

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e300, -1e300, 1e-300, 5e-324, 1.0, 0.5, 1e9, 1e-9]),
)
CELL = st.one_of(NUMBERS, st.sampled_from(HOSTILE_TEXT), st.none())
DOSE_COLS = ["concentration_M", "concentration", "conc", "dose", "conc_nM", "dose_uM", "x"]


@st.composite
def curve_table(draw: st.DrawFn, combo: bool = False) -> pd.DataFrame:
    """A plausible dose-response table, possibly with extreme numbers in it."""
    n_lines = draw(st.integers(1, 2))
    n_doses = draw(st.integers(0, 8))
    scale = draw(st.sampled_from([1.0, 1.0, 1e300, 1e-300, -1.0, 100.0]))
    # mostly columns whose unit is known, so that most cases get past the checks
    dose_col = draw(st.sampled_from(["concentration_M", "conc_nM"] + DOSE_COLS))
    with_unit = dose_col == "concentration" or draw(st.booleans())
    low = draw(st.sampled_from([1e-12, 1e-9, 1e-9, 1e-6, 1.0, 0.0, -1.0, 1e300]))
    doses = [0.0] + [low * 10.0 ** (k / 2) for k in range(n_doses)]
    bs = [0.0]
    if combo:
        bs += draw(st.sampled_from([[1.0], [1.0, 10.0], [10.0], [0.0], [-1.0], [1e300]]))
    rows = []
    for li in range(n_lines):
        ic50 = draw(st.sampled_from([1e-9, 1e-6, 1.0, 1e300, 0.0]))
        hill = draw(st.sampled_from([1.0, 0.0, -1.0, 50.0, 1e-3]))
        drop = draw(st.sampled_from([1.0, 0.48, 0.05, 0.0]))
        noise = draw(st.sampled_from([0.0, 0.02, 0.5]))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        for b in bs:
            for d in doses:
                for rep in range(draw(st.integers(1, 2))):
                    with np.errstate(all="ignore"):
                        frac = 1.0 / (1.0 + np.float64(abs(d) / ic50) ** hill) if ic50 else 0.0
                        v = scale * (1.0 - drop * (1.0 - frac) * (2.0 if b > 0 else 1.0))
                        v = float(v + scale * noise * rng.normal())
                    rows.append(
                        {
                            "cell_line": f"L{li}",
                            "drug": "A" if d != 0 else "",
                            dose_col: d,
                            "drug_b": "B" if b else "",
                            "concentration_b": b,
                            "viability": v,
                            "replicate": rep + 1,
                            "parental": "L0" if li else "",
                        }
                    )
    df = pd.DataFrame(rows)
    if with_unit and len(df):
        df["unit"] = draw(st.sampled_from(["nM", "uM", "M", "furlong", "", "ug/mL"]))
    # in one table of three, a few cells replaced by hostile values
    for _ in range(draw(st.integers(1, 3)) if _rare(draw, 3) else 0):
        if df.empty:
            break
        i = draw(st.integers(0, len(df) - 1))
        c = draw(st.sampled_from(list(df.columns)))
        df[c] = df[c].astype(object)
        df.at[i, c] = draw(CELL)
    return df


@st.composite
def junk_table(draw: st.DrawFn) -> pd.DataFrame:
    """Columns from the expected names, cells from hostile text and numbers."""
    names = [
        "cell_line",
        "drug",
        "concentration",
        "unit",
        "concentration_M",
        "viability",
        "drug_b",
        "concentration_b",
        "parental",
        "role",
        "conc",
        "dose",
        "rootl",
        "",
    ]
    cols = draw(st.lists(st.sampled_from(names), min_size=1, max_size=7, unique=True))
    n = draw(st.integers(0, 12))
    return pd.DataFrame({c: [draw(CELL) for _ in range(n)] for c in cols})


@st.composite
def table_file(draw: st.DrawFn, tmp: Path, combo: bool = False) -> Path:
    kind = "curve" if not _rare(draw, 4) else draw(st.sampled_from(["junk", "junk", "bytes"]))
    suffix = ".csv" if not _rare(draw, 5) else draw(st.sampled_from([".tsv", ".xlsx", ".txt"]))
    p = tmp / f"t{next(_CASE)}{suffix}"
    if kind == "bytes":
        p.write_bytes(draw(st.binary(max_size=300)))
        return p
    df = draw(curve_table(combo)) if kind == "curve" else draw(junk_table())
    if suffix == ".xlsx":
        # openpyxl refuses control characters: the fuzzed xlsx keeps the rest of the text
        df = df.map(
            lambda v: v.replace("\x00", "").replace("\x07", "") if isinstance(v, str) else v
        )
        df.to_excel(p, index=False)
    else:
        df.to_csv(p, index=False, sep="\t" if suffix == ".tsv" else ",")
    return p


def _rare(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws (hypothesis favours small integers, so 0 = common)."""
    return draw(st.integers(0, n - 1)) == n - 1


def _options(draw: st.DrawFn, table: Path, out: Path, cmd: str) -> list[str]:
    argv = [cmd, str(table), "--out", str(out)]
    if not _rare(draw, 15):
        argv.append("--no-plots")  # plots are slow: one case in fifteen draws them
    if _rare(draw, 5):
        argv += [
            "--response",
            draw(st.sampled_from(["rootl", "nope", "concentration", "viability"])),
        ]
    if _rare(draw, 5):
        argv += [
            "--dose",
            draw(
                st.sampled_from(
                    [
                        "viability",
                        "conc",
                        "concentration",
                        "concentration_M",
                        "dose_uM",
                        "conc_nM",
                        "missing",
                    ]
                )
            ),
        ]
    if _rare(draw, 5):
        argv += ["--unit", draw(st.sampled_from(["nM", "M", "none", "uM", "parsec"]))]
    if cmd == "synergy" and not _rare(draw, 15):
        # the bootstrap refits are what a user waits for, not an input path: one case in
        # fifteen runs them in full
        argv += ["--n-boot", "100", "--n-boot-fitted", "0"]
    if cmd == "fit" and _rare(draw, 3):
        argv += draw(
            st.sampled_from(
                [
                    ["--model", "3pl"],
                    ["--model", "5pl"],
                    ["--ci", "delta"],
                    ["--min-effect", "nan"],
                    ["--alpha-flat", "2"],
                    ["--min-span", "-1"],
                ]
            )
        )
    return argv


@FUZZ
@given(data=st.data())
def test_fuzz_fit(tmp_path_factory, data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("fit", numbered=True)
    table = data.draw(table_file(tmp))
    argv = _options(data.draw, table, tmp / "out", "fit")
    code, _, _ = run_cli(argv, "fit")
    if code == 0:
        fits = pd.read_csv(tmp / "out" / "fits.csv")
        assert {"status", "note", "ic50_rel_M"} <= set(fits.columns)


@FUZZ
@given(data=st.data())
def test_fuzz_synergy(tmp_path_factory, data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("syn", numbered=True)
    table = data.draw(table_file(tmp, combo=True))
    argv = _options(data.draw, table, tmp / "out", "synergy")
    code, _, _ = run_cli(argv, "synergy")
    if code == 0:
        for name in ("synergy.csv", "synergy_summary.csv", "potentiation.csv"):
            assert (tmp / "out" / name).is_file(), name
