"""``gim-faust gsp``: a Stream Processor worker (:mod:`gim_faust.gsp.worker`), and its state
snapshots (:mod:`gim_faust.gsp.snapshot_taker`, :mod:`gim_faust.gsp.restore`)."""

from __future__ import annotations

import argparse

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
