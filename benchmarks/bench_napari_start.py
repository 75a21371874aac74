"""What the plugin adds to napari's start-up, measured side by side in one run.

Each repetition starts a fresh Python process that imports napari, creates a viewer (Qt main
window, hidden), processes events and closes it: once with the plugin enabled and once with
it disabled, alternating so that drift and caches hit both equally. Disabled means a napari
settings file (``NAPARI_CONFIG``) that lists it in ``plugins.disabled_plugins``; both runs
get a fresh temporary settings file. With the plugin enabled napari reads its manifest and
builds menu entries from it; none of the plugin's code runs until a widget opens.

Then, in this process: the cost of reading and validating the plugin's manifest (what
discovery does for it), and of importing each widget module once napari and Qt are loaded,
with the heavy modules each import pulls in (there should be none).

Run under a display (``xvfb-run -a python benchmarks/bench_napari_start.py``). Prints medians
of wall-clock and CPU time, their difference and ratio. Target: the plugin adds < 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

START = r"""
import time, json, sys
t0, c0 = time.perf_counter(), time.process_time()
import napari
from qtpy.QtWidgets import QApplication
v = napari.Viewer(show=False)
QApplication.processEvents()
t1, c1 = time.perf_counter(), time.process_time()
from npe2 import PluginManager
pm = PluginManager.instance()
enabled = "napari-il6assay" in pm and not pm.is_disabled("napari-il6assay")
ours = sorted(m for m in sys.modules if m.startswith("napari_il6assay"))
v.close()
print(json.dumps({"seconds": t1 - t0, "cpu": c1 - c0, "plugin_enabled": enabled,
                  "our_modules": ours}))
"""

WIDGET_IMPORT = r"""
import time, json, sys
import napari  # already paid by napari's own start
from napari.qt import get_qapp  # Qt too: a widget opens in a running viewer
import napari.qt.threading, napari.utils.notifications
before = set(sys.modules)
t0 = time.perf_counter()
import napari_il6assay._qt.{module}
t1 = time.perf_counter()
new = set(sys.modules) - before
heavy = sorted({{m.split(".")[0] for m in new}} & {{"matplotlib", "skimage", "scipy", "dask",
                                                  "distributed", "openpyxl", "pyarrow"}})
print(json.dumps({{"seconds": t1 - t0, "heavy": heavy}}))
"""


def _run(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=8, help="repetitions of each (default 8)")
    args = parser.parse_args()

    base = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="bench_napari_start_"))
    on_cfg, off_cfg = tmp / "enabled.yaml", tmp / "disabled.yaml"
    on_cfg.write_text("plugins:\n  disabled_plugins: []\n")
    off_cfg.write_text("plugins:\n  disabled_plugins: [napari-il6assay]\n")
    with_env = dict(base, NAPARI_CONFIG=str(on_cfg))
    without_env = dict(base, NAPARI_CONFIG=str(off_cfg))

    _run(START, with_env)  # warm the file cache once; not counted
    t_with, t_without, c_with, c_without = [], [], [], []
    for i in range(args.reps):
        order = [(with_env, t_with, c_with), (without_env, t_without, c_without)]
        if i % 2:
            order.reverse()
        for env, bucket, cpu in order:
            res = _run(START, env)
            bucket.append(res["seconds"])
            cpu.append(res["cpu"])
    on, off = _run(START, with_env), _run(START, without_env)
    check_on, check_off = on["plugin_enabled"], off["plugin_enabled"]

    m_with, m_without = statistics.median(t_with), statistics.median(t_without)
    print(f"napari start (import + Viewer), {args.reps} alternating repetitions each")
    print(
        f"  plugin enabled : median {m_with:.3f} s  {[f'{t:.3f}' for t in t_with]}"
        f"  (plugin seen enabled: {check_on})"
    )
    print(
        f"  plugin disabled: median {m_without:.3f} s  {[f'{t:.3f}' for t in t_without]}"
        f"  (plugin seen enabled: {check_off})"
    )
    print(f"  wall-clock difference {m_with - m_without:+.3f} s, ratio {m_with / m_without:.3f}")
    cw, cwo = statistics.median(c_with), statistics.median(c_without)
    print(
        f"  CPU time (less sensitive to other load): enabled {cw:.3f} s, disabled {cwo:.3f} s,"
        f" difference {cw - cwo:+.3f} s, ratio {cw / cwo:.3f}"
    )
    print(f"  -> {'OK' if cw - cwo < 0.2 else 'TOO SLOW'} (target: plugin adds < 0.2 s)")

    print(f"  plugin modules imported by napari's start: {on['our_modules'] or 'none'}")
    shutil.rmtree(tmp, ignore_errors=True)

    import timeit

    from npe2 import PluginManifest

    n = 20
    secs = timeit.timeit(lambda: PluginManifest.from_distribution("napari-il6assay"), number=n)
    print(f"\nreading + validating the plugin manifest: {secs / n * 1000:.1f} ms")

    print("opening a widget module (after napari is imported), heavy modules it pulls in:")
    for module in ("segment_widget", "layout_widget", "doseresponse_widget", "batch_widget"):
        res = _run(WIDGET_IMPORT.format(module=module), base)
        print(f"  {module:22s} {res['seconds'] * 1000:7.1f} ms  heavy: {res['heavy'] or 'none'}")


if __name__ == "__main__":
    main()
