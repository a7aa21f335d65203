"""``gim-faust gca``: the Config Adapter (:mod:`gim_faust.gca.service`)."""

from __future__ import annotations

import argparse
import asyncio

from gim_faust.gca.service import run_once, run_until_stopped
from gim_faust.settings import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gca run [--once]``: exit 0, or 1 (via the CLI) with the failure's reason."""
    if args.once:
        result = asyncio.run(run_once(settings))
        print(f"gca {settings.tenant}: {result.summary()}")
    else:
        asyncio.run(run_until_stopped(settings))
    return 0
