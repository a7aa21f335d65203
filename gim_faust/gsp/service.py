"""The Stream Processor as a Faust app: one per tenant, named after the topic prefix.

:func:`build` checks the input topics, creates the topics the GSP owns, and returns a
:class:`Gsp` whose ``app`` a Faust worker runs. Both ``gim-faust gsp worker`` and
``faust -A gim_faust.gsp worker`` end up here.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
import time
import types
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import faust
import orjson

from gim_faust import log_limit
from gim_faust.collector import collect_less
from gim_faust.errors import FatalError
from gim_faust.gsp import faust_patches, lz4_level, partitioner, state_dir
from gim_faust.gsp.changelog import Changelog
from gim_faust.gsp.channel import Channel
from gim_faust.gsp.config_follower import ConfigFollower
from gim_faust.gsp.engine import Engine
from gim_faust.gsp.intake import Chunk, Intake
from gim_faust.gsp.metrics import GspMetrics, child
from gim_faust.gsp.output import REQUEST_MAX, Rejects
from gim_faust.gsp.restore import restore
from gim_faust.gsp.snapshot_taker import NotReady, Snapshotter
from gim_faust.kafka import TopicSpec, ensure_topics, partition_counts
from gim_faust.metrics import Heartbeat, MetricsServer, serve
from gim_faust.models.codec import PROCESSING_ERROR, Rejection
from gim_faust.settings import Settings
from gim_faust.topics import CHANNELS, Topics
from gim_faust.transforms.config_view import ConfigView

if TYPE_CHECKING:
    from faust.transport.drivers.aiokafka import Consumer

log = logging.getLogger(__name__)

# Fact topic partitions bound how many loader writers can share the work.
FACT_PARTITIONS = 6


class Gsp:
    def __init__(self, settings: Settings, partitions: dict[str, int]) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.gsp_app_id)
        self.timeout_ms = settings.interaction_timeout * 1000
        self.metrics = GspMetrics()
        self.view = ConfigView()
        self.follower = ConfigFollower(settings, self.topics.config, self.view)
        self.started = False
        self.metrics_server: MetricsServer | None = None
        self.state_lock: IO[str] | None = None  # held while the worker runs (state_dir.lock)
        self.app = faust.App(
            settings.gsp_app_id,
            broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
            broker_credentials=_credentials(settings),
            store="rocksdb://",
            datadir=settings.state_dir,
            web_enabled=False,  # Faust's web server would serve table contents unauthenticated
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            consumer_group_instance_id=settings.gsp_instance_id,
            producer_acks=-1,
            # Linger and large batches turn one produce request per message into a few per
            # batch: at 0 the per-message worker spent a third of its time sending tiny
            # requests. The engine hands a batch's messages over at once and waits for their
            # acknowledgement, so 5 ms is enough; 20 cost each batch 15 ms more of waiting
            # (end to end 8,562 -> 10,368 events/s, docs/performance.md).
            producer_linger_ms=5,
            # Compressed, what the worker sends is about a fifth of the bytes (its changelog
            # records are JSON states): after the million-event backlog at 2,000 events/s,
            # freshness p50 0.64-0.76 s against 0.84-2.06 s, p99 3.45-3.79 s against 4.20-5.53 s
            # (docs/performance.md).
            producer_compression_type=settings.gsp_compression,
            producer_partitioner=partitioner.partition,
            producer_max_batch_size=512 * 1024,
            # What the broker takes by default (message.max.bytes, 1 MiB + 12): Faust's own
            # 1,000,000 refused to send a raw event of the broker's size back to the rejected
            # topic with its headers, and the worker crashed on it at every restart.
            producer_max_request_size=REQUEST_MAX,
            broker_max_poll_records=2000,
            stream_buffer_maxsize=16384,
            topic_replication_factor=settings.kafka_replication_factor,
            topic_allow_declare=True,
            # Standby replicas double the changelog reading on a 2-core machine; a restarted
            # worker recovers from the changelog (or a snapshot) instead.
            table_standby_replicas=0,
        )
        self.rejects = Rejects(self.topics.rejected, self.metrics.rejected)
        self.changelog = Changelog(self.app)
        self.channels = [Channel(self, c, partitions) for c in CHANNELS]
        routes = {topic: route for channel in self.channels
                  for topic, route in channel.routes().items()}
        for topic in routes:  # subscribed through Faust, read by the engine
            self.app.topics.add(self.app.topic(topic, key_type=bytes, value_type=bytes,
                                               key_serializer="raw", value_serializer="raw"))
        # Found by faust_patches, which hands the engine its fetches and revocations.
        self.app.gim_intake = Intake(routes)  # type: ignore[attr-defined]
        self.app.gim_engine = self.engine = Engine(  # type: ignore[attr-defined]
            self.app, self.app.gim_intake, routes, self, self.changelog)  # type: ignore[attr-defined]
        self.snapshotter = Snapshotter(self)
        self.metrics.snapshot_interval.set(settings.snapshot_interval)
        self.app.timer(settings.snapshot_interval)(self.snapshotter.take_logged)
        for table in self.app.tables.values():
            _count_recovery(table, self.metrics)
        self.app.task(self._start)
        self.app.task(self.engine.run)
        self.app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]  # Faust sends (app, revoked)

    def latest_ts_ms(self) -> int:
        """The latest event time accepted now: this worker's clock plus GIM_MAX_CLOCK_SKEW
        (contract events.md), so one event from a wrong clock cannot move a partition's
        event-time clock past every open interaction."""
        return int((time.time() + self.settings.max_clock_skew) * 1000)

    def ready(self) -> bool:
        return self.started and not self.app.in_recovery and not self.app.rebalancing

    def serve_metrics(self, loop: asyncio.AbstractEventLoop) -> None:
        """Started before a restore and Faust's recovery (Faust runs app tasks only after
        the first recovery), so /healthz answers while they run."""
        # A crashed app can leave the process running (a stop that never ends): not alive.
        heartbeat = Heartbeat(failed=lambda: bool(self.app.crashed))
        self.heartbeat_task = loop.create_task(heartbeat.run(), name="heartbeat")
        self.metrics_server = serve("gsp", self.metrics.registry, self.ready,
                                    self.settings.metrics, heartbeat,
                                    {"/snapshot": lambda: self._snapshot_now(loop)})

    async def _start(self) -> None:
        """Keep following configuration (loaded before the worker)."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, self._log_diagnostics)
        # Faust's worker leaves the root logger at DEBUG whatever level it is given, and the
        # Kafka client's per-message debug records then cost a tenth of the worker's time.
        logging.root.setLevel(self.settings.log_level)
        log_limit.install()  # on the handlers Faust's worker set up
        self.metrics.config_objects.set_function(lambda: self.follower.objects)
        self.metrics.user_data_keys.set_function(lambda: len(self.view.kept))
        self.follower.follow()
        self.started = True

    def _snapshot_now(self, loop: asyncio.AbstractEventLoop) -> tuple[int, bytes]:
        """``POST /snapshot`` (``gim-faust gsp snapshot``), on the metrics server's thread."""
        try:
            manifest = asyncio.run_coroutine_threadsafe(self.snapshotter.take(), loop).result()
        except NotReady as exc:
            return 503, f"{exc}\n".encode()
        except Exception as exc:  # noqa: BLE001 - the operator gets the reason
            return 500, f"snapshot failed: {exc}\n".encode()
        return 200, orjson.dumps({"snapshot_id": manifest.snapshot_id,
                                  "stores": len(manifest.partitions), "bytes": manifest.size,
                                  "prefix": self.snapshotter.area.prefix})

    def _log_diagnostics(self) -> None:
        """``kill -USR2 <pid>``: what the consumer fetches and where each coroutine of this
        package waits, to diagnose a stalled worker (Faust's own dump stops at the agent)."""
        consumer = cast("Consumer", self.app.consumer)  # kafka:// brokers: Faust's aiokafka driver
        client = consumer._thread._ensure_consumer()  # noqa: SLF001
        log.warning("active=%s paused=%s assigned=%s",
                    sorted(consumer._active_partitions or []),  # noqa: SLF001
                    sorted(client.paused()), sorted(client.assignment()))
        # Per partition read past its commit: where a commit is held back, and by what.
        for tp, read in sorted(consumer._read_offset.items()):  # noqa: SLF001
            committed = consumer._committed_offset.get(tp)  # noqa: SLF001
            acked = sorted(consumer._acked.get(tp) or [])  # noqa: SLF001
            if acked or (read is not None and (committed is None or read >= committed)):
                log.warning("%s committed=%s read=%s acked, not committed: %d, first %s",
                            tp, committed, read, len(acked), acked[:12])
        intake = self.engine.intake
        log.warning("intake: open=%s epoch=%d queued=%d records, expects %s, unsure %s",
                    intake.open, intake.epoch, intake.size, sorted(intake.expected.items()),
                    sorted(intake.unsure))
        _log_awaits()

    async def _on_revoked(self, app: faust.App, revoked: set[Any], **_: Any) -> None:
        for channel in self.channels:
            channel.forget({tp.partition for tp in revoked
                            if tp.topic == channel.interaction_topic})

    # --- the engine's shell (gsp/engine.py) ------------------------------------------------

    async def after(self, chunks: list[Chunk]) -> None:
        """The batch's rejected records go out; lag per partition as it ended."""
        await self.rejects.send(self.app.producer)
        consumer = self.app.consumer
        for chunk in chunks:
            highwater = consumer.highwater(chunk.tp)
            if highwater is not None:
                child(self.metrics.lag, chunk.tp.topic, chunk.tp.partition).set(
                    max(0, highwater - chunk.end))

    def abort(self, chunks: list[Chunk]) -> None:
        self.rejects.held.clear()
        for channel in self.channels:
            channel.abort(chunks)

    def poisoned(self, record: Any, cause: BaseException) -> None:
        self.rejects.add(record, Rejection(PROCESSING_ERROR, f"{type(cause).__name__}: {cause}"))


def _log_awaits() -> None:
    """Log the await chain of every coroutine of this package."""
    lines: list[str] = []
    for obj in gc.get_objects():
        if isinstance(obj, types.CoroutineType) and "gim_faust" in obj.cr_code.co_filename:
            coro: object | None = obj
            chain: list[str] = []
            while coro is not None:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                if frame is not None:
                    chain.append(f"{frame.f_code.co_name}@{frame.f_code.co_filename}:"
                                 f"{frame.f_lineno}")
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
            lines.append(" -> ".join(chain) or repr(obj))
    log.warning("coroutines:\n%s", "\n".join(lines))


def _credentials(settings: Settings) -> Any:
    protocol = settings.kafka_security_protocol
    context = (ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
               if protocol.endswith("SSL") else None)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(username=settings.kafka_sasl_username,
                                     password=settings.kafka_sasl_password,
                                     ssl_context=context,
                                     mechanism=settings.kafka_sasl_mechanism or "PLAIN")
    return faust.SSLCredentials(context) if context is not None else None


async def _prepare(settings: Settings) -> dict[str, int]:
    """Partition counts of the inputs, after creating the topics the GSP owns."""
    topics = Topics(settings.topic_prefix, settings.gsp_app_id)
    inputs = [*topics.raw_all, topics.config]
    counts = await partition_counts(settings.kafka, inputs)
    found = {name: count for name, count in counts.items() if count is not None}
    missing = [name for name in counts if name not in found]
    if missing:
        raise FatalError(f"input topic(s) missing: {', '.join(missing)}; create them (and run "
                         f"'gim-faust gca run --once' for the config topic) before the GSP")
    await ensure_topics(settings.kafka, [
        TopicSpec(topics.facts, FACT_PARTITIONS),
        TopicSpec(topics.rejected, 1),
        *(TopicSpec(topics.party_ended(c), found[topics.raw(f"{c}.agents")])
          for c in CHANNELS)])
    return found


def _count_recovery(table: Any, metrics: GspMetrics) -> None:
    """Count the changelog records Faust's recovery applies to ``table`` (it applies them in
    batches through this method)."""
    apply, counter = table.apply_changelog_batch, metrics.changelog_recovered.labels(table.name)

    def counted(batch: Any) -> None:
        counter.inc(len(batch))
        apply(batch)
    table.apply_changelog_batch = counted


def build(settings: Settings) -> Gsp:
    """Check and prepare Kafka, build the app, restore a snapshot when there is no local
    state, and load the configuration, all before the worker starts: no event is processed
    against a configuration not yet read. This runs on the event loop the Faust worker then
    uses, so clients made here belong to that loop."""
    faust_patches.install()
    lz4_level.install()
    held = state_dir.lock(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    gsp = Gsp(settings, loop.run_until_complete(_prepare(settings)))
    # Faust would create the changelogs itself, racing its own metadata (ensure_topics).
    loop.run_until_complete(ensure_topics(settings.kafka, [
        TopicSpec(table.changelog_topic_name, table.partitions, compacted=True)
        for table in gsp.app.tables.values()]))
    gsp.state_lock = held
    gsp.serve_metrics(loop)
    state_dir.sweep(settings)
    tables = Path(gsp.app.conf.tabledir)
    if not state_dir.has_local_state(tables):
        loop.run_until_complete(restore(settings, tables, gsp.metrics))
    loop.run_until_complete(gsp.follower.load())
    collect_less()
    return gsp
