"""The engine's batches: a record that cannot be processed is found, retried alone and
rejected with processing_error, and the rest of its batch is applied exactly once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from faust.types import TP

from gim_faust.errors import FatalError
from gim_faust.gsp.engine import Engine, Route, split
from gim_faust.gsp.intake import Chunk

TP0, TP1 = TP("raw", 0), TP("raw", 1)


class Store:
    """A route's batch: what it handled (``pending``) and what its ends wrote."""

    def __init__(self, refuse: bytes | None = None, fail_once: bytes | None = None) -> None:
        self.pending: list[tuple[int, int]] = []
        self.written: list[tuple[int, int]] = []
        self.refuse, self.fail_once, self.failed = refuse, fail_once, False

    def handle(self, event: Any, _: Any) -> None:
        value = event.value
        if value == b"bad" or (value == self.fail_once and not self.failed):
            self.failed = True
            raise KeyError("a transform's bug")
        if value == b"newer-state":
            raise FatalError("state format 99")
        self.pending.append((event.message.partition, event.message.offset))
        if value == self.refuse:
            self.pending.append((-1, event.message.offset))  # its output, too large

    async def send(self, _: Any) -> list[Any]:
        if any(partition == -1 for partition, _ in self.pending):
            raise MessageSizeTooLargeError()
        return []

    def write(self, _: Any) -> None:
        self.written += self.pending
        self.pending.clear()


class Shell:
    def __init__(self, store: Store) -> None:
        self.store, self.rejected, self.ended = store, [], 0

    async def after(self, chunks: list[Chunk]) -> None:
        self.ended += 1

    def abort(self, chunks: list[Chunk]) -> None:
        self.store.pending.clear()

    def poisoned(self, record: Any, cause: BaseException) -> None:
        self.rejected.append((record.partition, record.offset, type(cause).__name__))


def _engine(store: Store, *others: tuple[str, Route]) -> tuple[Engine, Shell, Any]:
    async def flush() -> None:
        return None
    consumer = SimpleNamespace(_committed_offset=defaultdict(lambda: None),
                               _acked_index=defaultdict(set), _acked=defaultdict(list))
    app = SimpleNamespace(producer=SimpleNamespace(buffer=SimpleNamespace(flush=flush)),
                          consumer=consumer)
    shell = Shell(store)
    route = Route(store.handle, store, store.send, store.write)  # type: ignore[arg-type]
    changelog = SimpleNamespace(send=flush)
    return (Engine(app, None, {"raw": route, **dict(others)}, shell,  # type: ignore[arg-type]
                   changelog), shell, consumer)  # type: ignore[arg-type]


def _chunk(tp: TP, start: int, *values: tuple[int, bytes]) -> Chunk:
    return Chunk(tp, start, [SimpleNamespace(topic=tp.topic, partition=tp.partition,
                                             offset=offset, value=value, key=None)
                             for offset, value in values])


def _batch(*special: tuple[TP, int, bytes]) -> list[Chunk]:
    """Offsets 10-29 of partition 0 and 0-9 of partition 1 (with gaps), values ``ok``
    but the special ones."""
    values = {(tp, offset): value for tp, offset, value in special}
    return [_chunk(TP0, 10, *((o, values.get((TP0, o), b"ok")) for o in range(10, 30))),
            _chunk(TP1, 0, *((o, values.get((TP1, o), b"ok")) for o in range(1, 10, 2)))]


def _everything_but(*culprits: tuple[int, int]) -> list[tuple[int, int]]:
    every = [(0, o) for o in range(10, 30)] + [(1, o) for o in range(1, 10, 2)]
    return [entry for entry in every if entry not in culprits]


def _done(consumer: Any) -> dict[int, list[int]]:
    return {tp.partition: sorted(offsets) for tp, offsets in consumer._acked.items()}


async def test_a_record_a_transform_fails_on_is_rejected_and_the_rest_applied_once() -> None:
    store = Store()
    engine, shell, consumer = _engine(store)
    await engine.process(_batch((TP0, 17, b"bad")))
    assert shell.rejected == [(0, 17, "KeyError")]
    assert sorted(store.written) == _everything_but((0, 17))  # each once, none lost
    assert _done(consumer) == {0: list(range(10, 30)), 1: list(range(0, 10))}


async def test_a_message_kafka_refuses_is_found_by_halves() -> None:
    store = Store(refuse=b"huge")
    engine, shell, consumer = _engine(store)
    await engine.process(_batch((TP1, 5, b"huge")))
    assert shell.rejected == [(1, 5, "MessageSizeTooLargeError")]
    assert sorted(store.written) == _everything_but((1, 5))
    assert _done(consumer) == {0: list(range(10, 30)), 1: list(range(0, 10))}


async def test_a_record_that_fails_once_only_is_applied_on_the_retry() -> None:
    store = Store(fail_once=b"flaky")
    engine, shell, consumer = _engine(store)
    await engine.process(_batch((TP0, 12, b"flaky")))
    assert shell.rejected == []
    assert sorted(store.written) == _everything_but()


async def test_a_failure_of_the_worker_itself_rejects_nothing() -> None:
    store = Store()
    engine, shell, consumer = _engine(store)
    with pytest.raises(FatalError):
        await engine.process(_batch((TP0, 20, b"newer-state")))
    assert shell.rejected == [] and store.written == [] and _done(consumer) == {}


async def test_a_single_record_batch_is_retried_before_it_is_rejected() -> None:
    store = Store(fail_once=b"flaky")
    engine, shell, _ = _engine(store)
    await engine.process([_chunk(TP0, 3, (4, b"flaky"))])
    assert shell.rejected == [] and store.written == [(0, 4)]
    await engine.process([_chunk(TP0, 5, (5, b"bad"))])
    assert shell.rejected == [(0, 5, "KeyError")]


async def test_one_wait_for_the_output_of_every_route_before_any_state_is_written() -> None:
    """A batch of two routes sends both outputs, then waits once: no state is written while
    either output is unacknowledged."""
    events: list[str] = []
    acks = {name: asyncio.get_running_loop().create_future() for name in ("raw", "other")}

    def route(name: str) -> Route:
        async def send(_: Any) -> list[Any]:
            events.append(f"send {name}")
            return [acks[name]]
        return Route(lambda *_: None, SimpleNamespace(), send,  # type: ignore[arg-type]
                     lambda _: events.append(f"write {name}"))
    engine, _, consumer = _engine(Store(), ("other", route("other")))
    engine.routes["raw"] = route("raw")
    batch = [_chunk(TP0, 0, (0, b"ok")), _chunk(TP("other", 0), 0, (0, b"ok"))]
    ending = asyncio.create_task(engine.process(batch))
    await asyncio.sleep(0)
    assert events == ["send raw", "send other"]
    acks["raw"].set_result(None)
    await asyncio.sleep(0)
    assert events == ["send raw", "send other"] and _done(consumer) == {}
    acks["other"].set_result(None)
    await ending
    assert events == ["send raw", "send other", "write raw", "write other"]
    assert _done(consumer) == {0: [0]}


def test_parts_start_where_the_part_before_ended() -> None:
    chunks = _batch()
    culprit = chunks[0].records[5]  # offset 15
    parts = split(chunks, culprit)
    assert [([(c.tp.partition, c.start, c.end) for c in part], alone) for part, alone in parts] \
        == [([(0, 10, 15)], False), ([(0, 15, 16)], True), ([(0, 16, 30), (1, 0, 10)], False)]
    halves = split([chunks[1]], None)
    assert [[(c.start, c.end) for c in part] for part, _ in halves] == [[(0, 4)], [(4, 10)]]
