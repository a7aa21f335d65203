"""A benchmark's own corner of the local services, and the service processes it runs.

Every :class:`Corner` has a fresh topic prefix, its own Configuration Database, Info Mart and
raw-floor database and a state directory, all removed by :meth:`Corner.close`, so runs never see each other's
data. :class:`Service` runs one ``gim-faust`` command as its own process; ``measure`` reads
what it has cost so far from ``/proc`` (peak RSS, CPU seconds), which must happen before it
stops.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from psycopg import sql

from gim_faust import postgres
from gim_faust.kafka import admin_client, group_lag
from gim_faust.settings import Settings, load_settings
from gim_faust.topics import Topics

REPO = Path(__file__).resolve().parent.parent
GIM_FAUST = str(REPO / ".venv" / "bin" / "gim-faust")
TENANT = "acme"


class Service:
    """One ``gim-faust`` command in its own process, logging to ``log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([GIM_FAUST, *args], env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.peak_rss_mb = self.cpu_s = 0.0

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{tail}")

    def measure(self) -> None:
        """Peak RSS (VmHWM) and user + system CPU seconds so far."""
        pid = self.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                self.peak_rss_mb = int(line.split()[1]) / 1024
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        self.cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Corner:
    """Fresh topics, databases and state directory on the local services."""

    def __init__(self, label: str, log_dir: Path) -> None:
        self.prefix = f"bench-{label}-{uuid.uuid4().hex[:6]}"
        self.topics = Topics(self.prefix)
        self.log_dir = log_dir
        self.admin_url = os.environ.get("GIM_TEST_PG_URL", "postgresql://127.0.0.1:5432/postgres")
        base = self.admin_url.rsplit("/", 1)[0]
        db = self.prefix.replace("-", "_")
        self.databases = {role: f"{db}_{role}" for role in ("config", "infomart", "floor")}
        self.urls = {role: f"{base}/{name}" for role, name in self.databases.items()}
        self.state = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.services: list[Service] = []
        self.closed = False
        with postgres.connect(self.admin_url, "gim-faust bench") as conn:
            for name in self.databases.values():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.env = {**os.environ, "GIM_TENANT": TENANT, "GIM_TOPIC_PREFIX": self.prefix,
                    "GIM_CONFIG_DB_URL": self.urls["config"],
                    "GIM_INFOMART_DB_URL": self.urls["infomart"],
                    "GIM_OBJECT_STORE": f"file://{self.state}/objects",
                    "GIM_METRICS_PORT": "0", "GIM_LOG_LEVEL": "WARNING"}
        self.settings: Settings = load_settings(environ=self.env)

    def start(self, name: str, *args: str, **env: str) -> Service:
        service = Service(name, list(args), {**self.env, **env}, self.log_dir / f"{name}.log")
        self.services.append(service)
        return service

    def run(self, *args: str) -> None:
        subprocess.run([GIM_FAUST, *args], env=self.env, check=True, capture_output=True)

    def gsp_lag(self) -> int | None:
        """Input messages the GSP has not committed yet (None: not known yet)."""
        inputs = [*self.topics.raw_all, *(self.topics.party_ended(c)
                                          for c in ("voice", "digital"))]
        return asyncio.run(group_lag(self.settings.kafka, self.settings.gsp_app_id, inputs))

    def rocksdb_mb(self) -> float:
        """Size of the GSP workers' state directories (``GIM_STATE_DIR``)."""
        return sum(f.stat().st_size for d in self.state.glob("rocksdb-*") for f in d.rglob("*")
                   if f.is_file()) / 1024**2

    def close(self) -> None:
        """Stop the services and remove everything the corner made (again: no-op)."""
        if self.closed:
            return
        self.closed = True
        for service in self.services:
            service.stop()
        with postgres.connect(self.admin_url, "gim-faust bench") as conn:
            for name in self.databases.values():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
        asyncio.run(_delete_topics(self.settings, (self.prefix, self.settings.gsp_app_id)))
        shutil.rmtree(self.state, ignore_errors=True)


async def _delete_topics(settings: Settings, prefixes: tuple[str, ...]) -> None:
    async with admin_client(settings.kafka) as admin:
        names = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        if names:
            await admin.delete_topics(names)


def wait_until(done: Any, services: list[Service], timeout: float, poll: float = 0.5) -> float:
    """Poll ``done()`` until true; the monotonic time it became true. Fails if a service
    stopped or the timeout passed."""
    deadline = time.monotonic() + timeout
    while not done():
        for service in services:
            service.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done after {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic()


def percentile(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]
