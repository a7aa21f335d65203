"""The GSP worker's collector settings (gim_faust/collector.py)."""

from __future__ import annotations

import subprocess
import sys

from gim_faust.collector import THRESHOLDS


def test_collecting_less_raises_the_thresholds_and_freezes_what_exists() -> None:
    # In a process of its own: the settings are process-wide.
    shown = subprocess.run(
        [sys.executable, "-c", "import gc; from gim_faust.collector import collect_less; "
         "collect_less(); print(gc.get_threshold(), gc.get_freeze_count() > 0)"],
        capture_output=True, text=True, check=True).stdout.split(")")
    assert shown[0] + ")" == str(THRESHOLDS) and shown[1].strip() == "True"
