"""One tenant's deployment for end-to-end tests: its databases, topics, store and services.

The three services run as separate ``gim-faust`` processes against the real local Kafka,
PostgreSQL and S3-compatible store, configured only through the ``GIM_*`` environment, as an
operator would run them.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from gim_faust.simulate.configdb_writer import contract_schema
from gim_faust.topics import Topics
from tests.support import aggregates, gim_worker, infomart
from tests.support import pipeline as pl
from tests.support import scenario as sc
from tests.support.waiting import wait_until


@dataclass
class Deployment:
    bootstrap: str
    prefix: str
    config_db: str
    infomart_db: str
    store: str
    workdir: Path
    scenario: str = "day"
    services: list[pl.Service] = field(default_factory=list)
    # Settings every service gets on top of the ones below (TLS, for instance).
    overrides: dict[str, str] = field(default_factory=dict)
    _published: bool = False

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    @property
    def env(self) -> dict[str, str]:
        meta = sc.expected(self.scenario)["meta"]
        return {"GIM_TENANT": meta["tenant"], "GIM_TOPIC_PREFIX": self.prefix,
                "GIM_KAFKA_BOOTSTRAP": self.bootstrap, "GIM_CONFIG_DB_URL": self.config_db,
                "GIM_INFOMART_DB_URL": self.infomart_db, "GIM_OBJECT_STORE": self.store,
                "GIM_INTERACTION_TIMEOUT": str(meta["interaction_timeout_s"]),
                "GIM_METRICS_PORT": "0", "GIM_GCA_POLL_INTERVAL": "2",
                **aggregates.settings_env(self.scenario), **self.overrides}

    def load_config(self) -> None:
        """The contact center's Configuration Database, seeded with the scenario's objects."""
        with psycopg.connect(self.config_db, autocommit=True) as conn:
            conn.execute(contract_schema())
            conn.execute((sc.scenario(self.scenario) / "config.sql").read_text())

    def publish_scenario(self, partitions: int = 3) -> int:
        """Raw topics with ``partitions`` each, then every message and the bad input."""
        return self.publish(sc.messages(self.scenario), sc.bad_input(self.scenario), partitions)

    def publish(self, messages: Iterable[sc.Message], bad: Iterable[dict[str, str]] = (),
                partitions: int = 3) -> int:
        """``messages`` (and bad input), creating the raw topics the first time."""
        async def run() -> int:
            if not self._published:
                await pl.create_raw_topics(self.bootstrap, self.prefix, partitions)
            return await pl.publish(self.bootstrap, self.prefix, messages, bad)
        count = asyncio.run(run())
        self._published = True
        return count

    def through_services(self, messages: Iterable[sc.Message] | None = None,
                         partitions: int = 3) -> tuple[pl.Service, pl.Service]:
        """``messages`` (default: the scenario's) and the bad input published, configuration
        published by ``gca run --once``, then a GSP and a loader run until everything is in
        the Info Mart; the two running services."""
        self.publish(sc.messages(self.scenario) if messages is None else messages,
                     sc.bad_input(self.scenario), partitions)
        self.run("gca", "run", "--once")
        gsp, gim = self.gsp(), self.gim()
        self.wait_gsp_caught_up(gsp)
        self.wait_loaded(gim)
        return gsp, gim

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        """A one-shot command (e.g. ``gca run --once``), checked unless ``check`` is False."""
        done = subprocess.run([pl.GIM_FAUST, *args], env={**pl.os.environ, **self.env, **env},
                              capture_output=True, text=True, timeout=300)
        assert not check or done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def start(self, *args: str, name: str, program: str = pl.GIM_FAUST,
              **env: str) -> pl.Service:
        """A long-running service process (``program``: another version's ``gim-faust``);
        stopped by :meth:`stop_all`."""
        service = pl.Service(list(args), {**self.env, **env}, self.workdir / f"{name}.log",
                             program).start()
        self.services.append(service)
        return service

    def gsp(self, name: str = "gsp", program: str = pl.GIM_FAUST, **env: str) -> pl.Service:
        return self.start("gsp", "worker", name=name, program=program,
                          GIM_STATE_DIR=str(self.state_dir(name)), **env)

    def state_dir(self, name: str = "gsp") -> Path:
        return self.workdir / f"state-{name}"

    def wait_gsp_caught_up(self, service: pl.Service, app_id: str | None = None,
                           timeout_s: float = 300.0) -> None:
        """Every raw and internal input of the GSP committed: all its output is out."""
        topics = Topics(self.prefix, app_id)
        inputs = [*topics.raw_all, topics.party_ended("voice"), topics.party_ended("digital")]
        others = [s for s in self.services if s is not service and s.args[:1] == ["gsp"]
                  and s.running()]
        pl.wait_caught_up(self.bootstrap, topics.gsp_app_id, inputs, service, timeout_s, others)

    def gim(self, name: str = "gim") -> pl.Service:
        return self.start("gim", "worker", name=name)

    def wait_loaded(self, service: pl.Service, timeout_s: float = 300.0) -> None:
        """Until the Info Mart's stored offsets reach the end of the fact topic."""
        ends = gim_worker.end_offsets(self.bootstrap, self.topics.facts)
        started = time.monotonic()
        with infomart.connect(self.infomart_db) as conn:
            wait_until(lambda: infomart.has_schema(conn), "the loader to create the Info Mart",
                       timeout_s, service=service, interval_s=0.5)
            gim_worker.wait_loaded(conn, self.topics.loader_group, ends,
                                   timeout=max(1.0, timeout_s - (time.monotonic() - started)),
                                   worker=service)

    def stop_all(self) -> None:
        for service in self.services:
            service.stop()

    def newest_facts(self) -> dict[tuple[str, str], object]:
        return pl.newest_facts(asyncio.run(pl.read_topic(self.bootstrap, self.topics.facts)))

