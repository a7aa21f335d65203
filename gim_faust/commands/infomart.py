"""``gim-faust infomart``: the tenant's Info Mart schema (:mod:`gim_faust.loaders.migrate`)."""

from __future__ import annotations

import argparse

from gim_faust import postgres
from gim_faust.loaders.migrate import migrate
from gim_faust.settings import Settings


def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust infomart migrate``."""
    applied = migrate(settings.infomart_db_url)
    target = postgres.describe(settings.infomart_db_url)
    if applied:
        print(f"{target}: applied {', '.join(applied)}")
    else:
        print(f"{target}: schema is up to date")
    return 0
