"""Events per second of the pure transforms on the ``day`` scenario, in one process.

Run: ``python -m bench.transforms [--rounds N]``. Each round replays every message of the day
(decode, deduplicate, apply, after-call-work join) through :class:`Runner`, the in-memory
wiring the GSP agents use; the decode-only rate of the same messages is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import time

from gim_faust.transforms.runner import Runner

from gim_faust.models.codec import Source, decode
from tests.support import scenario as sc


def measure(rounds: int) -> dict[str, float]:
    """Events/s of the transforms over the day (best round) and of decoding alone."""
    messages = [(f"acme.{m.topic_suffix}", m.value) for m in sc.interleaved("day")]
    view = sc.config_view("day")
    best = float("inf")
    for _ in range(rounds):
        runner = Runner(view, "acme", 1800)
        started = time.perf_counter()
        for topic, value in messages:
            runner.feed(topic, value)
        runner.finish()
        best = min(best, time.perf_counter() - started)
    sources = [(Source.of_topic(t), v) for t, v in messages]
    started = time.perf_counter()
    for source, value in sources:
        decode(value, source, "acme")
    decode_s = time.perf_counter() - started
    return {"events": len(messages), "events_per_s": len(messages) / best,
            "decode_events_per_s": len(messages) / decode_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.rounds)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"cores {os.cpu_count()}, {when}, {result['events']} events")
    print(f"transforms (decode + apply + join): {result['events_per_s']:,.0f} events/s "
          f"({1e6 / result['events_per_s']:.1f} us/event, best of {args.rounds})")
    print(f"decode alone:                       {result['decode_events_per_s']:,.0f} events/s")


if __name__ == "__main__":
    main()
