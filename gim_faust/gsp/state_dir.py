"""The GSP's local state directory: where Faust keeps the RocksDB stores, and the lock that
keeps two processes (two workers, or a worker and ``gsp restore``) out of each other's way."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import IO

import faust

from gim_faust.errors import FatalError
from gim_faust.settings import Settings

LOCK_FILE = "gsp.lock"
# Work folders of a snapshot being taken (checkpoint.py) and of a restore (restore.py).
SNAPSHOT_PREFIX = ".snapshot-"
RESTORE_PREFIX = ".restore-"


def table_dir(settings: Settings) -> Path:
    """Faust's table directory for this app and state dir (``<state dir>/v<N>/tables``)."""
    return Path(faust.App(settings.gsp_app_id, datadir=settings.state_dir).conf.tabledir)


def has_local_state(tables: Path) -> bool:
    """True when at least one store (``<table>-<partition>.db``) exists."""
    return tables.is_dir() and any(tables.glob("*.db"))


def sweep(settings: Settings) -> None:
    """Remove what a crash left of snapshots and restores (call holding the lock): a
    checkpoint's hard links would keep deleted SST files on disk for good."""
    for folder in (*Path(settings.state_dir).glob(f"{SNAPSHOT_PREFIX}*"),
                   *table_dir(settings).glob(f"{RESTORE_PREFIX}*")):
        shutil.rmtree(folder, ignore_errors=True)


def lock(settings: Settings) -> IO[str]:
    """Hold the state directory for this process's lifetime (keep the returned file open)."""
    root = Path(settings.state_dir)
    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / LOCK_FILE, "a+")  # noqa: SIM115 - held until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FatalError(f"another GSP process uses the state directory {root} (pid in "
                         f"{root / LOCK_FILE}); stop it first or use another GIM_STATE_DIR"
                         ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
