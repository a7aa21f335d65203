"""The Stream Processor as a Faust app: one per tenant, named after the topic prefix.

:func:`build` checks the input topics, creates the topics the GSP owns, and returns a
:class:`Gsp` whose ``app`` a Faust worker runs. Both ``gim-faust gsp worker`` and
``faust -A gim_faust.gsp worker`` end up here.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import faust
import orjson

from gim_faust.codec import Rejection
from gim_faust.errors import FatalError
from gim_faust.facts import Fact, to_record
from gim_faust.gsp.channel import Channel
from gim_faust.gsp.config_follower import ConfigFollower
from gim_faust.gsp.metrics import GspMetrics
from gim_faust.kafka import TopicSpec, ensure_topics, partition_counts
from gim_faust.metrics import MetricsServer, serve
from gim_faust.settings import Settings
from gim_faust.topics import Topics
from gim_faust.transforms.config_view import ConfigView

log = logging.getLogger(__name__)

CHANNELS = ("voice", "digital")
# Fact topic partitions bound how many loader writers can share the work.
FACT_PARTITIONS = 6
REJECT_HEADER = "gim-reject-reason"


class Gsp:
    def __init__(self, settings: Settings, partitions: dict[str, int]) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.timeout_ms = settings.interaction_timeout * 1000
        self.metrics = GspMetrics()
        self.view = ConfigView()
        self.follower = ConfigFollower(settings, self.topics.config, self.view)
        self.ready_to_process = asyncio.Event()
        self.metrics_server: MetricsServer | None = None
        self.app = faust.App(
            self.topics.gsp_app_id,
            broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
            broker_credentials=_credentials(settings),
            store="rocksdb://",
            datadir=settings.state_dir,
            web_enabled=False,  # Faust's web server would serve table contents unauthenticated
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            consumer_group_instance_id=settings.gsp_instance_id,
            producer_acks=-1,
            topic_replication_factor=settings.kafka_replication_factor,
            topic_allow_declare=True,
            # Standby replicas double the changelog reading on a 2-core machine; a restarted
            # worker recovers from the changelog (or a snapshot) instead.
            table_standby_replicas=0,
        )
        self.facts_out = self.raw_topic(self.topics.facts)
        self.rejected_out = self.raw_topic(self.topics.rejected)
        self.channels = [Channel(self, c, partitions) for c in CHANNELS]
        self.app.task(self._start)
        self.app.on_partitions_revoked.connect(self._on_revoked)

    def raw_topic(self, *names: str) -> Any:
        return self.app.topic(*names, key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw")

    def ready(self) -> bool:
        return (self.ready_to_process.is_set() and not self.app.in_recovery
                and not self.app.rebalancing)

    async def _start(self) -> None:
        """Serve metrics, load configuration, then let the agents process."""
        self.metrics_server = serve("gsp", self.metrics.registry, self.ready,
                                    self.settings.metrics_host, self.settings.metrics_port)
        await self.follower.load()
        self.metrics.config_objects.set(self.follower.objects)
        self.follower.follow()
        self.ready_to_process.set()

    async def _on_revoked(self, app: faust.App, revoked: set[Any], **_: Any) -> None:
        for channel in self.channels:
            channel.forget({tp.partition for tp in revoked
                            if tp.topic == channel.interaction_topic})

    async def send_fact(self, fact: Fact) -> None:
        await self.facts_out.send(key=f"{fact.table}:{fact.id}".encode(),
                                  value=orjson.dumps(to_record(fact)))
        self.metrics.facts_out.labels(fact.table).inc()

    async def reject(self, message: Any, value: bytes | None, rejection: Rejection) -> None:
        """Bad input keeps its original bytes; the headers say why and where it came from."""
        await self.rejected_out.send(key=message.key, value=value, headers=[
            (REJECT_HEADER, rejection.reason.encode()),
            ("gim-reject-detail", rejection.detail.encode()[:1000]),
            ("gim-source", f"{message.topic}/{message.partition}/{message.offset}".encode())])
        self.metrics.rejected.labels(rejection.reason).inc()

    def observe_lag(self, message: Any) -> None:
        highwater = self.app.consumer.highwater(message.tp)
        if highwater is not None:
            self.metrics.lag.labels(message.topic, message.partition).set(
                max(0, highwater - message.offset - 1))


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
    topics = Topics(settings.topic_prefix)
    inputs = [*topics.raw_all, topics.config]
    counts = await partition_counts(settings, inputs)
    missing = [name for name, count in counts.items() if count is None]
    if missing:
        raise FatalError(f"input topic(s) missing: {', '.join(missing)}; create them (and run "
                         f"'gim-faust gca run --once' for the config topic) before the GSP")
    await ensure_topics(settings, [
        TopicSpec(topics.facts, FACT_PARTITIONS),
        TopicSpec(topics.rejected, 1),
        *(TopicSpec(topics.party_ended(c), counts[topics.raw(f"{c}.agents")])
          for c in CHANNELS)])
    return counts  # type: ignore[return-value]


def build(settings: Settings) -> Gsp:
    """Check and prepare Kafka, then build the app. The preparation runs on the event loop
    the Faust worker will then use, so clients made here belong to that loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return Gsp(settings, loop.run_until_complete(_prepare(settings)))
