"""The ``day`` scenario through the GSP and the loader with one fault in its middle, and what
the fault cost: rows lost, duplicated or unexpected against ``expected.json``, and how long the
pipeline took to
make progress again once the fault ended."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from gim_faust.kafka import committed_offsets
from tests.support import infomart
from tests.support import pipeline as pl
from tests.support import scenario as sc
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until


class FaultDay:
    def __init__(self, d: Deployment, **gsp_env: str) -> None:
        self.d, self.gsp_env = d, gsp_env
        messages = sc.interleaved(d.scenario)
        self.halves = messages[:len(messages) // 2], messages[len(messages) // 2:]
        self.back_at, self.progress_at_back = 0.0, 0
        self.progress: Callable[[], int] = self.loaded

    def start(self) -> None:
        """The first half published and in the Info Mart."""
        d = self.d
        d.publish(self.halves[0], partitions=3)
        d.run("gca", "run", "--once")
        self.gsp, self.gim = d.gsp(**self.gsp_env), d.gim()
        d.wait_gsp_caught_up(self.gsp)
        d.wait_loaded(self.gim)

    def publish_rest(self) -> None:
        self.d.publish(self.halves[1], sc.bad_input(self.d.scenario))

    def back(self, progress: Callable[[], int] | None = None) -> None:
        """The fault has ended: from now on, how long until ``progress`` (by default the
        loader's stored offsets) moves."""
        self.progress = progress or self.loaded
        self.back_at, self.progress_at_back = time.monotonic(), self.progress()

    def finish(self, record: dict[str, Any]) -> None:
        """Wait for progress, then for everything; record the figures; the Info Mart must be
        exact."""
        d = self.d
        wait_until(lambda: self.progress() > self.progress_at_back or self.all_loaded(),
                   "progress after the fault", 180, interval_s=0.1)
        record["recovered_s"] = round(time.monotonic() - self.back_at, 1)
        d.wait_gsp_caught_up(self.gsp)
        d.wait_loaded(self.gim)
        assert_exact(d, record)

    def loaded(self) -> int:
        """Fact messages the loader has stored as loaded, over all partitions."""
        with infomart.connect(self.d.infomart_db) as conn:
            if not infomart.has_schema(conn):
                return 0
            return sum(infomart.stored_offsets(conn, self.d.topics.loader_group).values())

    def facts_sent(self) -> int:
        """Messages on the fact topic, over all partitions."""
        return asyncio.run(pl.end_offsets(self.d.bootstrap, self.d.topics.facts))

    def all_loaded(self) -> bool:
        """The whole day published, every raw event committed, every fact loaded (a fault
        that struck after the last of the work leaves no progress to wait for)."""
        published = sum(len(half) for half in self.halves) + len(sc.bad_input(self.d.scenario))
        return self.gsp_committed() >= published and self.loaded() >= self.facts_sent()

    def gsp_committed(self) -> int:
        """Raw-topic offsets the GSP's group has committed, over all partitions."""
        settings = pl.settings_for(self.d.bootstrap)
        tps = [TopicPartition(t, p) for t in self.d.topics.raw_all for p in range(3)]
        return sum(asyncio.run(committed_offsets(settings.kafka, self.d.topics.gsp_app_id,
                                                 tps)).values())


def assert_exact(d: Deployment, record: dict[str, Any]) -> None:
    """Record the rows lost (expected, and missing or not as expected), duplicated (there
    more than once) and unexpected; the Info Mart must equal ``expected.json``."""
    with infomart.connect(d.infomart_db) as conn:
        have = infomart.natural_rows(conn, d.scenario)
        problems = infomart.row_problems(conn, d.scenario)
    want = sc.expected(d.scenario)
    record.update(lost=0, duplicated=0, unexpected=0)
    for table in sc.FACT_TABLES:
        wanted = {sc.row_identity(table, row): row for row in want[table]}
        found = Counter(sc.row_identity(table, row) for row in have[table])
        rows = {sc.row_identity(table, row): row for row in have[table]}
        record["lost"] += sum(ident not in rows or any(rows[ident].get(c) != v
                                                       for c, v in row.items())
                              for ident, row in wanted.items())
        record["duplicated"] += sum(count - 1 for count in found.values())
        record["unexpected"] += sum(ident not in wanted for ident in found)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
