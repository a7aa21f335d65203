"""``gim-faust replay``: move a consumer group back to a point in time, for reprocessing.

For each partition of the given topics, the new position is the first record at or after
``--from-time`` (Kafka's offsets-for-times; the end of the partition when there is none).
The group must not be running: a live member would overwrite the move with its next commit,
so the command refuses while the group has members.

Where the position lives depends on the reader:

- the GSP (raw topics; default group ``GIM_GSP_APP_ID``) and any plain Kafka consumer: the
  group's committed offsets in Kafka;
- the GIM loader (the fact topic; default group ``gim-loader-<prefix>``): ``ctl_kafka_offset``
  in the Info Mart, which the loader trusts over Kafka (docs/loader.md), so it is moved there.

Reprocessing changes nothing that is already right: fact keys and versions are deterministic
and the loader keeps the highest version. Replaying raw topics into the GSP's own group
recomputes nothing within its dedupe window (its state knows every event it has applied, by
``seq``, with tombstones for 24 h of event time after an interaction ends); older
interactions are computed again, at versions no higher than the loaded ones, so no row
changes. To compute facts again from raw events, replay into a fresh group and run a GSP
with ``GIM_GSP_APP_ID`` set to it: its state starts empty (docs/gsp.md). A time past where
the group stands is refused: it would skip records the group has not read.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from gim_faust.errors import ConfigError, FatalError
from gim_faust.kafka import (
    committed_offsets,
    group_state,
    move_group,
    partition_counts,
    plain_consumer,
)
from gim_faust.loaders.writer import Writer
from gim_faust.settings import Settings, parse_ts
from gim_faust.topics import Topics


@dataclass(frozen=True)
class Move:
    tp: TopicPartition
    current: int | None   # where the group stands now (None: never committed)
    target: int           # first offset at or after --from-time
    window_end: int       # first offset at or after --to-time (the partition's end without):
                          # only counted; workers read on to the end of the topic

    @property
    def records(self) -> int:
        return max(0, self.window_end - self.target)


def default_group(settings: Settings, topics: list[str]) -> str:
    names = Topics(settings.topic_prefix)
    if all(t == names.facts for t in topics):
        return names.loader_group
    if all(t in names.raw_all for t in topics):
        return settings.gsp_app_id
    raise ConfigError("--group is required for these topics (the default group is the GSP's for "
                      "raw topics and the loader's for the fact topic)")


async def partitions(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    counts = await partition_counts(settings.kafka, topics)
    missing = [t for t, n in counts.items() if n is None]
    if missing:
        raise ConfigError(f"topic(s) {', '.join(missing)} do not exist")
    return [TopicPartition(t, p) for t in topics for p in range(counts[t] or 0)]


async def plan(settings: Settings, tps: list[TopicPartition], from_ms: int, to_ms: int | None,
               current: dict[TopicPartition, int]) -> list[Move]:
    async with plain_consumer(settings.kafka) as consumer:
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, from_ms))
        stops = (await consumer.offsets_for_times(dict.fromkeys(tps, to_ms))
                 if to_ms is not None else {})

    def first_at(found: dict[TopicPartition, Any], tp: TopicPartition) -> int:
        hit = found.get(tp)
        return ends[tp] if hit is None else hit.offset
    return [Move(tp, current.get(tp), first_at(starts, tp), first_at(stops, tp)) for tp in tps]


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
    topics = list(dict.fromkeys(args.topic))
    group = args.group or default_group(settings, topics)
    from_ms = _ms(args.from_time, "--from-time")
    to_ms = _ms(args.to_time, "--to-time") if args.to_time else None
    if to_ms is not None and to_ms <= from_ms:
        raise ConfigError("--to-time must be after --from-time")
    state, members = await group_state(settings.kafka, group)
    if members:
        raise FatalError(f"consumer group {group!r} has {members} member(s) (state {state}): "
                         "stop its workers first, then replay (a GSP worker is a static "
                         "member and stays one until its session times out, 60 s after it "
                         "stopped)")
    tps = await partitions(settings, topics)
    writer = (Writer(settings.infomart_db_url, group)
              if group == Topics(settings.topic_prefix).loader_group else None)
    try:
        if writer is not None:
            current = {TopicPartition(t, p): o for (t, p), o in
                       writer.stored_offsets([(tp.topic, tp.partition) for tp in tps]).items()}
        else:
            current = await committed_offsets(settings.kafka, group, tps)
        moves = await plan(settings, tps, from_ms, to_ms, current)
        _print(moves, group, "the Info Mart (ctl_kafka_offset)" if writer else "Kafka")
        ahead = [m for m in moves if m.current is not None and m.target > m.current]
        if ahead:
            raise FatalError(f"--from-time is past where group {group!r} stands on "
                             f"{len(ahead)} partition(s), e.g. {ahead[0].tp.topic}"
                             f"[{ahead[0].tp.partition}] at {ahead[0].current}: moving there "
                             "would skip records it has not read; choose an earlier time")
        if args.dry_run:
            print("dry run: nothing changed")
            return 0
        if writer is not None:
            writer.move_offsets({(m.tp.topic, m.tp.partition): m.target for m in moves})
            if (await group_state(settings.kafka, group))[1]:   # the loader has no fence of its own
                raise FatalError(f"a loader of {group!r} started during the move and may have "
                                 "written its own offsets over it: stop it and replay again")
        else:
            await move_group(settings.kafka, group, {m.tp: m.target for m in moves},
                             "gim-faust replay")
    finally:
        if writer is not None:
            writer.close()
    print(f"moved {len(moves)} partition(s) of group {group!r}; start its workers to reprocess")
    return 0


def _ms(text: str, what: str) -> int:
    return int(parse_ts(text, what).timestamp() * 1000)


def _print(moves: list[Move], group: str, where: str) -> None:
    print(f"group {group!r}, offsets kept in {where}:")
    print(f"{'topic':<48} {'part':>4} {'current':>10} {'new':>10} {'records in window':>18}")
    for m in moves:
        current = "-" if m.current is None else str(m.current)
        print(f"{m.tp.topic:<48} {m.tp.partition:>4} {current:>10} {m.target:>10} "
              f"{m.records:>18}")


def run(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_replay(settings, args))
