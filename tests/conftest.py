"""Shared test configuration.

GUI tests (marked ``gui``) need napari with a Qt binding and a display; pytest-xvfb provides a
virtual one when ``Xvfb`` is installed (``scripts/test.sh`` installs it). Without either, those
tests are skipped with the reason rather than crashing the run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# --doctest-modules imports every .py file under the test paths; tests/data holds one-off
# scripts that made the reference data in another venv (make_zip_reference.py needs the
# `synergy` package, which is not a dependency), not modules to import
collect_ignore = ["data"]


def _gui_unavailable() -> str | None:
    if importlib.util.find_spec("napari") is None:
        return "napari is not installed (install the 'test' extra)"
    if importlib.util.find_spec("PyQt6") is None and importlib.util.find_spec("PyQt5") is None:
        return "no Qt binding installed"
    if not shutil.which("Xvfb") and not os.environ.get("DISPLAY"):
        return "no display and no Xvfb (run scripts/test.sh as root to install it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _gui_unavailable()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "gui" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Reference data with known answers: ``../shared/data`` beside the repository.

    ``tests/data`` keeps a copy of the public reference sets (ryegrass from the R package drc),
    so the checks run in a clone without the shared folder too.
    """
    return SHARED_DATA if (SHARED_DATA / "ryegrass.csv").is_file() else REPO / "tests" / "data"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the exit-code counts of the command-line fuzz suite when it ran."""
    import sys

    support = sys.modules.get("fuzz_support")
    if support is not None and support.COUNTS:
        terminalreporter.write_line(support.report_counts())
