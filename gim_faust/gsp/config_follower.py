"""Follows the Config Adapter's compacted topic into the worker's :class:`ConfigView`.

Every worker reads the whole topic itself (no consumer group): configuration is small and
every partition of every raw topic needs all of it. :meth:`load` reads up to the end offsets
seen at start before the worker starts, so the first events already resolve against the
configuration GCA published before them; afterwards :meth:`follow` keeps applying changes as
they come.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from gim_faust.kafka import client_options, partition_counts
from gim_faust.settings import Settings
from gim_faust.transforms.config_view import ConfigView

log = logging.getLogger(__name__)


class ConfigFollower:
    def __init__(self, settings: Settings, topic: str, view: ConfigView) -> None:
        self.topic, self.view, self.settings = topic, view, settings
        self._keys: set[bytes] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Read the topic up to its current end."""
        self._consumer = AIOKafkaConsumer(**client_options(self.settings.kafka), group_id=None,
                                          enable_auto_commit=False,
                                          auto_offset_reset="earliest")
        await self._consumer.start()
        count = (await partition_counts(self.settings.kafka, [self.topic]))[self.topic] or 0
        tps = [TopicPartition(self.topic, p) for p in range(count)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        end = await self._consumer.end_offsets(tps)
        while [tp for tp in tps if await self._consumer.position(tp) < end[tp]]:
            batches = await self._consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    self._apply(message.key, message.value)
        log.info("configuration loaded: %d objects from %s", self.objects, self.topic)

    def follow(self) -> None:
        """Keep applying changes in the background."""
        self._task = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        async for message in self._consumer:  # type: ignore[union-attr]
            self._apply(message.key, message.value)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        try:
            kind, dbid = key.decode().rsplit(":", 1)  # type: ignore[union-attr]
            obj = orjson.loads(value)["object"] if value is not None else None
            self.view.apply(kind, int(dbid), obj)
        except (AttributeError, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            log.error("ignoring a malformed configuration record %r: %s", key, exc)
            return
        if obj is None:
            self._keys.discard(key)
        else:
            self._keys.add(key)  # type: ignore[arg-type]

    @property
    def objects(self) -> int:
        return len(self._keys)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
