"""Collection rules for the whole repository (pytest's root conftest).

``--doctest-modules`` (``pyproject.toml``) imports every module under ``src/`` to run its
docstring examples. The widgets in ``src/napari_il6assay/_qt/`` import Qt at module level, so
without a Qt binding (an install without the ``test`` or ``gui`` extra) they are left out of
collection instead of failing it; ``tests/conftest.py`` skips the ``gui`` tests the same way.
With a binding they are imported (no display is needed for that) and any examples run.
"""

from __future__ import annotations


def _qt_binding() -> bool:
    try:
        import qtpy  # noqa: F401 - imports the first Qt binding it finds, or raises
    except ImportError:  # qtpy's QtBindingsNotFoundError is an ImportError
        return False
    return True


collect_ignore_glob = [] if _qt_binding() else ["src/napari_il6assay/_qt/*"]
