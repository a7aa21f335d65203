"""Typed access to the GSP's Faust tables, and the fix that makes their writes durable.

Faust queues every changelog write in its own producer buffer. Before it commits an input
offset it flushes that buffer, but faust-streaming 0.15.3's flush gives up after 100 ms with
messages still queued (``ProducerBuffer.flush_atmost``), so under load an offset could be
committed ahead of the state it produced, and a crash or rebalance at that moment would lose
the state. :func:`install_complete_flush` replaces that flush with one that returns only when
the buffer is empty and no message is on its way to the Kafka client; the client flush that
follows in Faust's commit then covers every changelog write of the committed events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

import faust
from faust.transport.producer import ProducerBuffer

V = TypeVar("V")

# Changelog writes Faust may queue before it stops handing events to the agents until the
# queue is down again. Faust's 100 is less than one batch writes (``gsp/batch.py``), and each
# of those stops cost a wait per queued message.
CHANGELOG_BUFFER_MAX = 10_000


def install_complete_flush() -> None:
    """Patch Faust's producer buffer (idempotent; call before the app starts)."""
    if getattr(ProducerBuffer, "_gim_complete_flush", False):
        return
    hand_over = ProducerBuffer._send_pending  # noqa: SLF001

    async def send_pending(self: Any, fut: Any) -> None:
        # Counted before the first await, so no message is ever neither queued nor counted.
        self._gim_in_flight = getattr(self, "_gim_in_flight", 0) + 1
        try:
            await hand_over(self, fut)
        finally:
            self._gim_in_flight -= 1

    async def flush(self: Any) -> None:
        while self.size or getattr(self, "_gim_in_flight", 0):
            if self.state != "running":
                raise RuntimeError("Cannot flush: Producer not Running")
            self.message_sent.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)

    ProducerBuffer._send_pending = send_pending  # noqa: SLF001
    ProducerBuffer.flush = flush
    ProducerBuffer.max_messages = CHANGELOG_BUFFER_MAX
    ProducerBuffer._gim_complete_flush = True


class CodecTable(MutableMapping[str, V], Generic[V]):
    """String keys and typed values over a table of bytes. Reads and writes happen in the
    current event's partition, as every Faust table access does."""

    def __init__(self, table: faust.Table, encode: Callable[[V], bytes],
                 decode: Callable[[bytes], V]) -> None:
        self.table, self.encode, self.decode = table, encode, decode

    def __getitem__(self, key: str) -> V:
        raw = self.table.get(key.encode())
        if raw is None:
            raise KeyError(key)
        return self.decode(raw)

    def __setitem__(self, key: str, value: V) -> None:
        self.table[key.encode()] = self.encode(value)

    def __delitem__(self, key: str) -> None:
        del self.table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in self.table.keys())

    def __len__(self) -> int:
        return len(self.table)
