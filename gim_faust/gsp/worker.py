"""``gim-faust gsp worker``: run one Stream Processor worker until stopped."""

from __future__ import annotations

import faust

from gim_faust.gsp.service import build
from gim_faust.settings import Settings


def run_until_stopped(settings: Settings) -> None:
    gsp = build(settings)
    worker = faust.Worker(gsp.app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
