"""How fast raw bytes become events: ``python -m bench.decode [--scenario day] [--rounds N]``.

Decodes every message of a scenario's four raw topics, round after round, and compares the
result with the floor that no decoder built on orjson can beat: ``orjson.loads`` alone on the
same bytes, measured in the same run so both see the same machine. Each figure is the median
of the rounds (the best round is shown too); the garbage collector is off while a round runs,
as ``timeit`` does, so a collection that happens to fall in one round does not skew it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from gim_faust.models.codec import Rejection, Source, decode

SCENARIOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "scenarios"
TOPICS = ("voice.interactions", "voice.agents", "digital.interactions", "digital.agents")
TENANT = "acme"


def load(scenario: str) -> list[tuple[Source, bytes]]:
    """(source, raw message) of every event of the scenario, topic by topic."""
    messages = []
    for suffix in TOPICS:
        topic = f"{TENANT}.{suffix}"
        source = Source.of_topic(topic)
        path = SCENARIOS / scenario / f"{topic}.jsonl"
        messages += [(source, line) for line in path.read_bytes().splitlines() if line.strip()]
    return messages


def _rounds(work: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        gc.disable()
        try:
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__)
    parser.add_argument("--scenario", default="day", help="folder under tests/data/scenarios")
    parser.add_argument("--rounds", type=int, default=30, help="timed passes over all events")
    args = parser.parse_args(argv)

    messages = load(args.scenario)
    rejected = [r for s, v in messages if isinstance(r := decode(v, s, TENANT), Rejection)]
    if rejected:
        print(f"{len(rejected)} scenario events were rejected, e.g. {rejected[0]}",
              file=sys.stderr)
        return 1
    values = [v for _, v in messages]

    def decode_all() -> None:
        for source, value in messages:
            decode(value, source, TENANT)

    def loads_all() -> None:
        loads = orjson.loads
        for value in values:
            loads(value)

    for work in (decode_all, loads_all):  # warm-up: caches, allocator, branch predictors
        _rounds(work, 3)
    # Interleaved, so a slow phase of the machine hits both sides alike.
    decode_times: list[float] = []
    loads_times: list[float] = []
    for _ in range(args.rounds):
        decode_times += _rounds(decode_all, 1)
        loads_times += _rounds(loads_all, 1)

    n = len(messages)
    mean_bytes = sum(map(len, values)) / n
    decode_s, loads_s = statistics.median(decode_times), statistics.median(loads_times)
    print(f"scenario {args.scenario}: {n} events, {mean_bytes:.0f} bytes on average, "
          f"{args.rounds} rounds, Python {sys.version.split()[0]}, orjson {orjson.__version__}")
    print(f"decode        : {n / decode_s:12,.0f} events/s  {decode_s / n * 1e6:7.2f} µs/event "
          f"(best round {min(decode_times) / n * 1e6:.2f} µs)")
    print(f"orjson.loads  : {n / loads_s:12,.0f} events/s  {loads_s / n * 1e6:7.2f} µs/event "
          f"(best round {min(loads_times) / n * 1e6:.2f} µs)")
    print(f"decode / loads: {decode_s / loads_s:.1f}x the floor; validation and building the "
          f"event cost {(decode_s - loads_s) / n * 1e6:.2f} µs/event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
