#!/bin/sh
# The image's install step, also run by tests/deploy/test_image_install.py (CI cannot build
# the image itself: no Docker engine there), so what the Dockerfile does is what CI checks.
#
# Usage: scripts/image-install.sh WHEEL_DIR VENV
#   creates the virtual environment VENV, installs the gim-faust wheel from WHEEL_DIR with its
#   dependencies from PyPI, and checks that the `gim-faust` entry point runs.
set -eu
wheels="$1"
venv="$2"
python3 -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check --quiet "$wheels"/gim_faust-*.whl
"$venv/bin/gim-faust" --help >/dev/null
echo "image-install: $("$venv/bin/pip" --disable-pip-version-check list 2>/dev/null | grep -c .) packages in $venv; gim-faust runs"
