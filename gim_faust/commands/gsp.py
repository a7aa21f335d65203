"""``gim-faust gsp``: a Stream Processor worker (:mod:`gim_faust.gsp.worker`), and its state
snapshots (:mod:`gim_faust.gsp.snapshot_taker`, :mod:`gim_faust.gsp.restore`), and disaster
recovery from them (:mod:`gim_faust.gsp.recover`)."""

from __future__ import annotations

import argparse
import asyncio

from gim_faust.gsp.recover import recover
from gim_faust.gsp.restore import restore_stopped_worker
from gim_faust.gsp.snapshot_taker import request_snapshot
from gim_faust.gsp.worker import run_until_stopped
from gim_faust.settings import Settings


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gsp worker``: one Stream Processor worker until stopped."""
    run_until_stopped(settings)
    return 0


def run_snapshot(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gsp snapshot``: ask the worker on this host (its metrics port, loopback
    only) to take a snapshot now, and wait for it."""
    print(request_snapshot(settings, args.timeout))
    return 0


def run_restore(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gsp restore``: replace this worker's local stores with the newest usable
    snapshot's (the worker must be stopped)."""
    manifest = restore_stopped_worker(settings)
    if manifest is None:
        print("gim-faust: no usable snapshot; a worker started on this state directory "
              "rebuilds its state from the changelog")
        return 1
    print(f"restored snapshot {manifest.snapshot_id} taken {manifest.created_ts}: "
          f"{len(manifest.partitions)} stores, {manifest.size} bytes")
    return 0


def run_recover(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gsp recover``: rebuild the GSP's changelogs from the newest snapshots and
    move its group to their offsets (every worker stopped)."""
    results = asyncio.run(recover(settings, dry_run=args.dry_run))
    print(f"{'tables':<40} {'part':>4} {'snapshot':<44} {'keys':>8}  input: from -> to")
    for r in results:
        taken = "none: reprocessed from the start" if r.snapshot is None else \
            f"{r.snapshot.instance}/{r.snapshot.snapshot_id}"
        moves = ", ".join(f"{topic} {'-' if was is None else was} -> {to}"
                          for topic, was, to in r.moves)
        print(f"{','.join(r.unit.tables):<40} {r.unit.partition:>4} {taken:<44} {r.keys:>8}  "
              f"{moves}")
    if args.dry_run:
        print("dry run: nothing changed")
    else:
        print("changelogs rebuilt and offsets moved: start the workers on empty state "
              "directories")
    return 0
