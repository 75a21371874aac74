"""Shared pieces of the command-line fuzz suite (``tests/test_fuzz_*.py``).

Every fuzz case runs ``napari_il6assay.cli.main([...])`` in-process (fast) with stdout and
stderr captured, and `check_exit` holds it to the contract of docs/interface.md: exit 0, 1 or
2; no traceback; exit 2 with exactly one line starting ``error:`` (the first line); never the
CLI's last-resort "internal error" line, which means an exception nobody handled.

The settings are seeded and bounded (``derandomize=True``, no example database) so CI runs the
same cases every time; ``IL6ASSAY_FUZZ_EXAMPLES=1000`` raises the count for a longer hunt.
Every test records its exit codes in `COUNTS`, printed at the end of the session
(``-s`` or the terminal summary) so a long run can be quoted.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import re
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings

from napari_il6assay.cli import main as cli_main

#: cases per entry point (the acceptance bar is 300; 1000 for a one-off longer run)
N_EXAMPLES = int(os.environ.get("IL6ASSAY_FUZZ_EXAMPLES", "300"))

FUZZ = settings(
    max_examples=N_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)

#: entry point -> Counter of exit codes over every case run
COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

# text that looks like a formula, a path escape, a DDE call, or is just awkward
HOSTILE_TEXT = [
    '=HYPERLINK("http://x","y")',
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "=cmd|' /C calc'!A0",
    "../../x",
    "..",
    ".",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "",
    " ",
    "é",
    "名前",
    "\x00",
    "\x07",
    "x" * 300,
    "nan",
    "None",
    "<NA>",
    "inf",
    "-inf",
    "1e400",
    "1e-400",
    "0",
    "NaN",
    "eribulin",
    "MDA-MB-231",
    "tocilizumab",
    ";",
    ",",
    '"',
    "'",
    "\t",
    "\n",
    "#",
]


def run_cli(argv: Sequence[str], entry: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return ``(exit code, stdout, stderr)`` after `check_exit`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    log = os.environ.get("IL6ASSAY_FUZZ_LOG")
    if log:  # for tuning the strategies: what each case ended with
        with open(log, "a", encoding="utf-8") as fh:
            first = (err.getvalue().splitlines() or [""])[0][:300]
            fh.write(f"{entry}\t{code}\t{first}\n")
    check_exit(code, err.getvalue(), argv)
    COUNTS[entry][code] += 1
    return code, out.getvalue(), err.getvalue()


def check_exit(code: int, stderr: str, argv: Sequence[str] = ()) -> None:
    """The exit-code contract: 0/1/2, no traceback, exit 2 = one leading ``error:`` line."""
    assert code in (0, 1, 2), (code, argv, stderr[-2000:])
    assert "Traceback" not in stderr, (argv, stderr[-3000:])
    assert "internal error" not in stderr, (argv, stderr[-2000:])
    if code == 2:
        lines = stderr.splitlines()
        # argparse/help noise or warnings never come before the error line
        errs = [ln for ln in lines if ln.startswith("error:")]
        assert len(errs) == 1, (argv, stderr[-2000:])
        assert lines and lines[0].startswith("error: "), (argv, stderr[-2000:])
        assert not any(re.match(r"^usage:", ln) for ln in lines), (argv, stderr)


def report_counts() -> str:
    """One line per entry point: cases and exit codes (for the session summary)."""
    return "\n".join(
        f"fuzz {k}: {sum(c.values())} cases, exits "
        + ", ".join(f"{code}: {n}" for code, n in sorted(c.items()))
        for k, c in sorted(COUNTS.items())
    )


def _in_process_results(items: Any, call: Any, workers: int, modules: Any = ()) -> Any:
    """`local_pool.results` run here, one item after the other."""
    for it in items:
        try:
            outcome = call(it)
        except Exception as exc:  # noqa: BLE001 - handed back as an outcome, like the pool
            outcome = exc
        yield it, outcome


def in_process_cluster(monkeypatch: Any) -> None:
    """Make `run_batch` run its work items in this process (no worker processes to start)."""
    from napari_il6assay.batch import local_pool

    monkeypatch.setattr(local_pool, "results", _in_process_results)
