"""``gim-faust report --html FILE``: writes the Info Mart's static HTML report (charts as
inline SVG, no scripts, no network; see ``loaders/html_report.py``), hours in the tenant's
local time (``GIM_TIMEZONE``), and prints its path."""

from __future__ import annotations

import argparse
from pathlib import Path

from gim_faust.loaders import html_report
from gim_faust.settings import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.html)
    text = html_report.build(settings.infomart_db_url, settings.timezone)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(path.resolve())
    return 0
