"""How fast raw bytes become events: ``python -m bench.decode [--scenario day] [--rounds N]``.

Decodes every message of a scenario's four raw topics, round after round: by ``decode`` (the
fast path, msgspec, with the checks behind it), by the checks alone (``check``, as every
message was decoded before the fast path), and by ``orjson.loads`` alone, the floor no decoder
built on orjson can beat; measured in the same run so all three see the same machine. Each
figure is the median of the rounds (the best round is shown too); the garbage collector is off
while a round runs, as ``timeit`` does, so a collection that happens to fall in one round does
not skew it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson

from gim_faust.models.codec import Rejection, Source, check, decode

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

    def check_all() -> None:
        for source, value in messages:
            check(value, source, TENANT)

    def loads_all() -> None:
        loads = orjson.loads
        for value in values:
            loads(value)

    works = {"decode": decode_all, "check alone": check_all, "orjson.loads": loads_all}
    for work in works.values():  # warm-up: caches, allocator, branch predictors
        _rounds(work, 3)
    # Interleaved, so a slow phase of the machine hits all sides alike.
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(args.rounds):
        for name, work in works.items():
            times[name] += _rounds(work, 1)

    n = len(messages)
    mean_bytes = sum(map(len, values)) / n
    median = {name: statistics.median(spent) for name, spent in times.items()}
    print(f"scenario {args.scenario}: {n} events, {mean_bytes:.0f} bytes on average, "
          f"{args.rounds} rounds, Python {sys.version.split()[0]}, orjson {orjson.__version__}, "
          f"msgspec {msgspec.__version__}")
    for name, spent in times.items():
        print(f"{name:<13}: {n / median[name]:12,.0f} events/s  "
              f"{median[name] / n * 1e6:7.2f} µs/event (best round {min(spent) / n * 1e6:.2f} µs)")
    print(f"decode / check alone: {median['decode'] / median['check alone']:.2f}x; "
          f"decode / orjson.loads: {median['decode'] / median['orjson.loads']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
