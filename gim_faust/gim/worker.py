"""``gim-faust gim worker``: consume the fact topic in batches and load the Info Mart.

The shell does four things: decode (a record that is not a fact is logged,
counted and skipped), gather a batch, hand it to :class:`gim_faust.loaders.writer.Writer`,
and report. The exactly-once argument lives in the writer and docs/loader.md; this module
keeps the Kafka side of it:

- the consumer never auto-commits, and reads each partition from the offset the **database**
  holds, never from Kafka's committed offset (:mod:`gim_faust.gim.rebalance` seeks it there
  on every assignment, and drops what a revoked partition had buffered);
- Kafka's offsets are committed only after the database committed the same batch, and only
  for the benefit of lag tools: losing that commit costs a re-read, never a row;
- while PostgreSQL is unreachable the same batch is retried with capped exponential back-off,
  nothing is committed to Kafka, and ``/readyz`` answers 503.

One worker writes through one connection and one transaction at a time, and a row's records
all live in one partition (key ``<table>:<id>``), so two workers never write the same fact
row; the rows they can share (date_time, placeholders) are written in one global order.
Several workers in one consumer group therefore never deadlock.

The worker also runs the maintenance job on a schedule, and reads when maintenance and the
export last completed, in background tasks beside loading (:mod:`gim_faust.gim.scheduled_jobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from gim_faust import postgres
from gim_faust.errors import BadInputError, FatalError, RetriableError
from gim_faust.gim.accumulator import Accumulator
from gim_faust.gim.backoff import Backoff
from gim_faust.gim.metrics import Freshness, LoaderMetrics, MaintenanceMetrics
from gim_faust.gim.rebalance import Rebalance
from gim_faust.gim.retry import GAVE_UP, GaveUp
from gim_faust.gim.scheduled_jobs import aggregate_loop, job_status_loop, maintenance_loop
from gim_faust.kafka import client_options
from gim_faust.loaders import records
from gim_faust.loaders.writer import BatchResult, Writer, prepare_schema
from gim_faust.metrics import Heartbeat, serve
from gim_faust.settings import Settings
from gim_faust.topics import Topics

log = logging.getLogger(__name__)
T = TypeVar("T")

# With nothing buffered, getmany() returns at least this often so a stop request is noticed
# within a quarter of a second.
IDLE_POLL_S = 0.25
# How often, at most, a progress line is logged at INFO (every batch is logged at DEBUG).
PROGRESS_EVERY_S = 30.0
# Metadata refresh: the loader may start before the Stream Processor created the fact topic,
# or its partitions may be increased; 30 s bounds how long until the loader notices.
METADATA_MAX_AGE_MS = 30_000


class Loader:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group = self.topics.loader_group
        self.registry = registry or CollectorRegistry()
        self.metrics = LoaderMetrics(self.registry)
        self.maintenance_metrics = MaintenanceMetrics(self.registry)
        self.freshness = Freshness(self.metrics.caught_up)
        # Set with `stopping`: a maintenance run on its thread stops between two operations.
        self.maintenance_stop = threading.Event()
        self.writer = Writer(settings.infomart_db_url, self.group)
        self.acc = Accumulator(settings.loader_batch_rows, settings.loader_batch_delay_ms / 1000)
        self.lock = asyncio.Lock()        # one database operation at a time
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        # Offset the database holds per owned partition (for lag and the Kafka commit).
        self.loaded: dict[tuple[str, int], int] = {}
        self._db_ok = False
        self.assigned_once = False
        self.failure: BaseException | None = None   # why the worker stopped itself
        self._warned: set[tuple[str, int]] = set()
        self._progress = [0, 0, time.monotonic()]   # records, batches, since

    # ------------------------------------------------------------------------- readiness

    def ready(self) -> bool:
        """Connected to Kafka and the Info Mart, partitions positioned, no retry pending."""
        return (self._db_ok and self.assigned_once and self.consumer is not None
                and not self.stopping.is_set())

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: finishing the batch in hand")
        self.stopping.set()
        self.maintenance_stop.set()

    # ------------------------------------------------------------------------- retries

    async def sleep(self, seconds: float) -> None:
        """Sleeps, but wakes at once when a stop is requested."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def with_retry(self, what: str, call: Callable[[], Awaitable[T]],
                         once: bool = False, database: bool = True) -> T | GaveUp:
        """``call()`` until it succeeds; :data:`GAVE_UP` if a stop came first (or, with
        ``once``, after the first failure).

        Only :class:`RetriableError` is retried; :class:`FatalError` and bugs propagate and
        end the process with a message.
        """
        backoff = Backoff()
        while True:
            try:
                result = await call()
            except RetriableError as exc:
                if database:
                    self._db_ok = False
                    self.metrics.db_up.set(0)
                    self.metrics.db_errors.labels(_error_class(exc)).inc()
                if once or self.stopping.is_set():
                    log.warning("%s failed; not retrying (stopping): %s", what, exc)
                    return GAVE_UP
                delay = backoff.next()
                log.warning("%s failed (attempt %d), retrying in %.1f s: %s", what,
                            backoff.attempts, delay, exc)
                await self.sleep(delay)
                if self.stopping.is_set():
                    return GAVE_UP
                continue
            if backoff.attempts:
                log.info("%s succeeded after %d failed attempts", what, backoff.attempts)
            return result

    async def db(self, what: str, function: Callable[..., T], *args: Any,
                 once: bool = False) -> T | GaveUp:
        """``function(*args)`` on a worker thread (psycopg blocks), with retries."""
        async def call() -> T:
            return await asyncio.to_thread(function, *args)
        result = await self.with_retry(what, call, once=once)
        if result is not GAVE_UP:
            self._db_ok = True
            self.metrics.db_up.set(1)
        return result

    # ------------------------------------------------------------------------- batches

    async def flush(self, once: bool = False) -> BatchResult | None:
        """Writes the buffered batch (retrying), then commits its offsets to Kafka."""
        async with self.lock:
            if not self.acc.records:
                return None
            batch = self.acc.batch()
            result = await self.db("writing a batch to the Info Mart", self.writer.write, batch,
                                   once=once)
            if isinstance(result, GaveUp):
                return None   # stopping: nothing committed anywhere; it will be re-read
            self.acc.clear()
            self.loaded.update(batch.offsets)
        records_in = len(batch.facts) + batch.bad_records
        self.metrics.batch_done(result, records_in, batch.bad_records, time.time())
        for fact, reason in result.rejected:
            log.error("the Info Mart refused %s %s version %d, skipped: %s", fact.table,
                      fact.id, fact.version, reason)
        log.debug("batch %d: %d records, %s in %.3f s", result.audit_key, records_in,
                  {t: (c.inserted, c.updated, c.unchanged) for t, c in result.tables.items()},
                  result.seconds)
        self._report_progress(records_in)
        await self._commit_kafka(batch.offsets)
        self._update_lag()
        return result

    async def _commit_kafka(self, offsets: Mapping[tuple[str, int], int]) -> None:
        assert self.consumer is not None
        owned = self.acc.assigned
        commit = {TopicPartition(t, p): OffsetAndMetadata(o, "")
                  for (t, p), o in offsets.items() if (t, p) in owned}
        if not commit:
            return
        try:
            await self.consumer.commit(commit)
        except KafkaError as exc:
            # Informative only: the Info Mart holds the offsets that count.
            log.debug("Kafka offset commit failed (harmless): %s", exc)

    def _update_lag(self) -> None:
        if self.consumer is None:
            return
        highs = {}
        for (topic, partition), loaded in list(self.loaded.items()):
            high = self.consumer.highwater(TopicPartition(topic, partition))
            if high is None:
                continue
            highs[(topic, partition)] = high
            self.metrics.lag.labels(topic, str(partition)).set(max(0, high - loaded))
            if high < loaded and (topic, partition) not in self._warned:
                self._warned.add((topic, partition))
                log.warning("%s[%d] ends at offset %d but the Info Mart has read it up to %d: "
                            "was the topic deleted and created again? Its new records are "
                            "not loaded until its rows in ctl_kafka_offset are deleted",
                            topic, partition, high, loaded)
        if highs:
            self.freshness.observe(time.time(), highs, self.loaded)

    def _report_progress(self, records_in: int) -> None:
        self._progress[0] += records_in
        self._progress[1] += 1
        now = time.monotonic()
        if now - self._progress[2] >= PROGRESS_EVERY_S:
            log.info("loaded %d records in %d batches in the last %.0f s", self._progress[0],
                     self._progress[1], now - self._progress[2])
            self._progress = [0, 0, now]

    def _take(self, message: Any) -> None:
        tp = (message.topic, message.partition)
        try:
            fact = records.decode(message.value)
        except BadInputError as exc:
            # The fact topic is written by the Stream Processor only; a record that is not a
            # fact cannot be a contract event, so there is nothing to load: log and go on.
            log.error("skipping a record that is not a fact at %s[%d]@%d (%s)", message.topic,
                      message.partition, message.offset, exc)
            fact = None
        self.acc.add(tp, message.offset, fact)

    # ------------------------------------------------------------------------- main loop

    async def run(self) -> int:
        settings = self.settings
        heartbeat = Heartbeat()
        beating = asyncio.create_task(heartbeat.run(), name="heartbeat")
        server = serve("gim", self.registry, self.ready, settings.metrics, heartbeat)
        log.info("metrics on %s:%d; Info Mart %s; topic %s; group %s", settings.metrics_host,
                 server.port, postgres.describe(settings.infomart_db_url), self.topics.facts, self.group)
        try:
            return await self._run()
        finally:
            server.stop()
            beating.cancel()

    async def _run(self) -> int:
        applied = await self.db("preparing the Info Mart schema", prepare_schema,
                                self.settings.infomart_db_url)
        if isinstance(applied, GaveUp):
            return 0
        if applied:
            log.info("migrated the Info Mart: applied %s", ", ".join(applied))
        if await self.db("connecting to the Info Mart", self.writer.connect) is GAVE_UP:
            return 0
        background = [asyncio.create_task(job_status_loop(self), name="job status"),
                      asyncio.create_task(aggregate_loop(self), name="aggregates")]
        if self.settings.maintenance_interval > 0:
            background.append(asyncio.create_task(maintenance_loop(self), name="maintenance"))
        try:
            return await self._consume()
        finally:
            self.maintenance_stop.set()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _consume(self) -> int:
        consumer = AIOKafkaConsumer(
            **client_options(self.settings.kafka), group_id=self.group,
            client_id=f"gim-loader-{socket.gethostname()}", enable_auto_commit=False,
            auto_offset_reset="earliest", metadata_max_age_ms=METADATA_MAX_AGE_MS)
        consumer.subscribe([self.topics.facts], listener=Rebalance(self))

        async def start() -> None:
            try:
                await consumer.start()
            except KafkaError as exc:
                raise RetriableError(f"Kafka at {self.settings.kafka_bootstrap}: {exc}") from exc
        self.consumer = consumer
        try:
            if await self.with_retry("connecting to Kafka", start,
                                     database=False) is GAVE_UP:
                return 0
            await self._loop(consumer)
            if self.acc.records and self.failure is None:
                await self.flush(once=True)   # a clean stop leaves nothing to re-read
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            self.writer.close()
        if self.failure is not None:
            raise FatalError(f"the loader stopped: {self.failure}") from self.failure
        log.info("stopped")
        return 0

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        while not self.stopping.is_set():
            left = self.acc.time_left()
            timeout = IDLE_POLL_S if left is None else min(IDLE_POLL_S, left)
            try:
                fetched = await consumer.getmany(timeout_ms=int(timeout * 1000),
                                                 max_records=self.acc.room)
            except KafkaError as exc:
                log.warning("fetching from Kafka failed: %s", exc)
                await self.sleep(1.0)
                continue
            for messages in fetched.values():
                for message in messages:
                    self._take(message)
            if self.acc.due():
                await self.flush()
            elif not fetched:
                self._update_lag()


def _error_class(exc: BaseException) -> str:
    """A short, secret-free label for the metric: the class of the underlying error."""
    cause = exc.__cause__ or exc.__context__
    return type(cause if cause is not None else exc).__name__


async def run_until_stopped(settings: Settings) -> int:
    """One loader worker until SIGTERM or SIGINT (``gim-faust gim worker``)."""
    loader = Loader(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loader.stop)
    return await loader.run()
