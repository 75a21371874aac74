#!/usr/bin/env bash
# Set up everything the tests and the lint step need, without running them:
#  - as root on Debian/Ubuntu, installs the system libraries headless Qt/OpenGL needs
#    (Xvfb + Mesa; see DEVELOPERS.md) when they are missing;
#  - creates .venv and installs the package with its `test` and `lint` extras.
# scripts/test.sh runs this first; .ci/run runs it before scripts/lint.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

APT_PACKAGES="xvfb libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0
 libxcb-cursor0 libdbus-1-3 libfontconfig1"
if ! command -v Xvfb >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/dri ] && [ ! -e /usr/lib/aarch64-linux-gnu/dri ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Xvfb and Mesa for headless Qt tests..."
    # another apt/dpkg (unattended-upgrades on a fresh machine) may hold the lock: wait for
    # it up to 5 minutes instead of failing at once
    APT="apt-get -o DPkg::Lock::Timeout=300"
    $APT update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $APT install -y -qq $APT_PACKAGES >/dev/null
  else
    echo "warning: Xvfb/Mesa missing and not root: GUI tests will be skipped" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,lint]"
