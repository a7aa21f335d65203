"""``gim-faust gim``: the Info Mart loader (:mod:`gim_faust.gim.worker`) and its database
jobs, maintenance (:mod:`gim_faust.loaders.maintenance`), export
(:mod:`gim_faust.loaders.export`) and aggregation (:mod:`gim_faust.loaders.aggregate`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

import orjson

from gim_faust.errors import ConfigError
from gim_faust.gim.scheduled_jobs import info_mart
from gim_faust.gim.worker import run_until_stopped
from gim_faust.loaders import aggregate
from gim_faust.loaders.export import export, record_run
from gim_faust.loaders.maintenance import maintain
from gim_faust.settings import Settings, parse_ts


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gim worker``."""
    return asyncio.run(run_until_stopped(settings))


def run_maintenance(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gim maintenance``: one run now; a summary line, then the report as JSON.

    Exit 1 when an operation was skipped (its locks stayed busy): run it again later."""
    report = maintain(info_mart(settings))
    assert report is not None   # no interval: never skipped
    print(report.summary())
    print(orjson.dumps(report.as_dict(), option=orjson.OPT_SORT_KEYS).decode())
    if report.skipped:
        print(f"gim-faust: maintenance skipped {len(report.skipped)} operations "
              f"({'; '.join(report.skipped)}); run it again later", file=sys.stderr)
        return 1
    return 0


def run_export(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gim export [--from TS --to TS]``: a summary line, then the manifest (or,
    when nothing changed, what would have been its marks) as JSON."""
    window = None
    from_ts, to_ts = getattr(args, "from_ts", None), getattr(args, "to_ts", None)
    if (from_ts is None) != (to_ts is None):
        raise ConfigError("give both --from and --to (a window on end_ts), or neither (what "
                          "changed since the previous export)")
    if from_ts is not None and to_ts is not None:
        window = (parse_ts(from_ts, "--from"), parse_ts(to_ts, "--to"))
        if window[0] >= window[1]:
            raise ConfigError(f"--from {from_ts} is not before --to {to_ts}")
    mart = info_mart(settings)
    result = export(mart, window)
    record_run(mart, result)
    print(result.summary())
    print(orjson.dumps({"written": result.folder is not None, "url": result.url,
                        "manifest": result.manifest}, option=orjson.OPT_SORT_KEYS).decode())
    return 0


def run_aggregate(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gim aggregate --from TS --to TS`` or ``--all``: a progress bar on stderr,
    then one summary line. Safe while the loader runs (one lock orders the two)."""
    from_ts, to_ts = getattr(args, "from_ts", None), getattr(args, "to_ts", None)
    if getattr(args, "all", False) == (from_ts is not None or to_ts is not None) or (
            (from_ts is None) != (to_ts is None)):
        raise ConfigError("give --from TS and --to TS, or --all")
    rules = aggregate.Rules.of(settings)
    span: tuple[datetime, datetime] | None
    if from_ts is not None and to_ts is not None:
        first, last = parse_ts(from_ts, "--from"), parse_ts(to_ts, "--to")
        if first >= last:
            raise ConfigError(f"--from {from_ts} is not before --to {to_ts}")
        span = (first, last)
    else:
        span = aggregate.fact_span(settings.infomart_db_url)
    if span is None:
        print("aggregate: the Info Mart holds no facts; nothing to do")
        return 0
    summary = aggregate.recompute_range(settings.infomart_db_url, rules, *span,
                                        progress=sys.stderr.isatty())
    print(summary.line(*span))
    return 0
