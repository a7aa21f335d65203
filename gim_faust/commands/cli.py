"""The ``gim-faust`` command: one console script for every service and job.

Handlers are named as ``module:function`` strings and imported only when their command runs,
so ``--help`` stays fast and never imports Faust. Exit codes follow the contract: 0 success,
2 bad usage or configuration (one line that says what to mend), 1 failure at run time.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gim_faust import log_limit
from gim_faust.errors import ConfigError, GimError
from gim_faust.settings import SETTINGS, Settings, load_settings

Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    help: str
    handler: str  # module:function
    arguments: Arguments = field(default=lambda parser: None)


def _gca_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true",
                   help="one full read, snapshot, publish and Info Mart sync, then exit")


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_ts", metavar="TS",
                   help="recompute every aggregate row of the local days from the one holding "
                        "TS (ISO 8601, UTC) ...")
    p.add_argument("--to", dest="to_ts", metavar="TS", help="... to the one before TS")
    p.add_argument("--all", action="store_true", help="every day any fact covers")


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_ts", metavar="TS",
                   help="export facts whose end_ts is at or after TS (ISO 8601, UTC)")
    p.add_argument("--to", dest="to_ts", metavar="TS",
                   help="... and before TS; without --from/--to, export what changed since "
                        "the previous export")


def _replay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topic", required=True, action="append",
                   help="topic to re-read (repeat for several)")
    p.add_argument("--from-time", required=True, metavar="TS", help="ISO 8601 UTC time")
    p.add_argument("--to-time", metavar="TS",
                   help="end of the window whose records are counted in the printout (workers "
                        "read on to the end; re-reading later records changes nothing)")
    p.add_argument("--group", help="consumer group to move (default: the GSP's for raw topics, "
                                   "the loader's for the fact topic)")
    p.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")


def _snapshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="how long to wait for the snapshot (default 600)")


def _recover_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true",
                   help="print which snapshot each table partition would come from, change nothing")


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--html", required=True, metavar="FILE",
                   help="where to write the report (a self-contained HTML file)")


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agents", type=int, default=20, help="voice and digital agents (default 20)")
    p.add_argument("--hours", type=float, default=8.0, help="length of the day (default 8)")
    p.add_argument("--calls-per-hour", type=float, metavar="N",
                   help="mean inbound calls per hour (default: 7 per voice agent)")
    p.add_argument("--digital-share", type=float, default=0.2, metavar="SHARE",
                   help="share of the agents on chat and email (default 0.2)")
    p.add_argument("--seed", type=int, default=1, help="the same seed gives the same day")
    p.add_argument("--start", metavar="TS",
                   help="when the day starts, ISO 8601 UTC (default: 08:00 UTC yesterday)")
    p.add_argument("--speed", default="max", metavar="max|FACTOR",
                   help="'max' (default): as fast as possible; a number: that many times real "
                        "time (60: an hour a minute)")
    p.add_argument("--partitions", type=int, default=3,
                   help="partitions of the raw topics it creates (default 3)")
    p.add_argument("--no-config", action="store_true",
                   help="leave the Configuration Database (GIM_CONFIG_DB_URL) alone")
    p.add_argument("--output", metavar="FILE",
                   help="write the events to FILE as JSON lines instead of publishing them")


COMMANDS: tuple[Command, ...] = (
    Command(("infomart", "migrate"), "create or upgrade the tenant's Info Mart schema",
            "gim_faust.commands.infomart:run_migrate"),
    Command(("gca", "run"), "run the Config Adapter service",
            "gim_faust.commands.gca:run", _gca_run_args),
    Command(("gsp", "worker"), "run a Stream Processor worker",
            "gim_faust.commands.gsp:run_worker"),
    Command(("gsp", "snapshot"), "ask the GSP worker on this host to take a state snapshot now",
            "gim_faust.commands.gsp:run_snapshot", _snapshot_args),
    Command(("gsp", "restore"), "rebuild local GSP state from the newest usable snapshot "
            "(the worker must be stopped)", "gim_faust.commands.gsp:run_restore"),
    Command(("gsp", "recover"), "disaster recovery: rebuild the GSP's changelog topics from "
            "the newest snapshots and move its consumer group to their offsets (every worker "
            "stopped)", "gim_faust.commands.gsp:run_recover", _recover_args),
    Command(("gim", "worker"), "run an Info Mart loader worker",
            "gim_faust.commands.gim:run_worker"),
    Command(("gim", "export"), "export Info Mart data to object storage",
            "gim_faust.commands.gim:run_export", _export_args),
    Command(("gim", "maintenance"), "one run of the maintenance job (partitions, calendar, "
            "retention, statistics)", "gim_faust.commands.gim:run_maintenance"),
    Command(("gim", "aggregate"), "recompute the aggregate tables of a time range (or all) "
            "from the facts, e.g. after changing GIM_TIMEZONE or a threshold",
            "gim_faust.commands.gim:run_aggregate", _aggregate_args),
    Command(("replay",), "move a stopped consumer group back to a time, for reprocessing",
            "gim_faust.commands.replay:run", _replay_args),
    Command(("report",), "write an HTML report from the Info Mart",
            "gim_faust.commands.report:run", _report_args),
    Command(("simulate",), "simulate a contact-center day: its configuration into the "
            "Configuration Database, its raw events into the topics",
            "gim_faust.commands.simulate:run", _simulate_args),
)


def _settings_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (flags override the environment variables)")
    for s in SETTINGS:
        default = f" [{s.env}" + (f", default {s.default}]" if s.default else "]")
        group.add_argument(f"--{s.attr.replace('_', '-')}", dest=f"setting_{s.attr}",
                           metavar="VALUE", help=s.help + default)
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gim-faust",
        description="Contact-center historical reporting: Config Adapter (gca), Stream "
                    "Processor (gsp) and Info Mart loader (gim).")
    parent = _settings_parent()
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="command", metavar="COMMAND", required=True)}
    for command in COMMANDS:
        for depth in range(1, len(command.path)):
            prefix = command.path[:depth]
            if prefix not in groups:
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = sub.add_subparsers(dest=f"command_{depth}", metavar="COMMAND",
                                                    required=True)
        leaf = groups[command.path[:-1]].add_parser(
            command.path[-1], parents=[parent], help=command.help, description=command.help)
        command.arguments(leaf)
        leaf.set_defaults(handler=command.handler)
    return parser


def _handler(spec: str) -> Callable[[Settings, argparse.Namespace], int]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings({s.attr: getattr(args, f"setting_{s.attr}") for s in SETTINGS})
    except ConfigError as exc:
        print(f"gim-faust: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_limit.install()
    try:
        return _handler(args.handler)(settings, args)
    except ConfigError as exc:
        print(f"gim-faust: {exc}", file=sys.stderr)
        return 2
    except GimError as exc:
        print(f"gim-faust: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
