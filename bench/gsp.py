"""Events per second of the GSP alone on the real broker, and what it costs.

Run: ``python -m bench.gsp [--events N] [--workers N] [--profile SVG]`` (the local services
must be up). Publishes a simulated day of about N events to fresh topics, runs ``gca run
--once`` and the GSP worker(s), and reports the raw events per second from the workers'
start to the moment their consumer group has committed every input, each worker's peak RSS
and CPU seconds per 1,000 events. ``--profile`` records the first worker with py-spy into a
flame graph.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench import pipeline, source
from bench.harness import TENANT, Corner
from tests.conftest import _load_services_env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gsp", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=3, help="partitions per raw topic")
    parser.add_argument("--profile", type=Path, help="py-spy flame graph of the first worker "
                        "(.svg; collapsed stacks if .txt)")
    args = parser.parse_args(argv)
    _load_services_env()
    corner = Corner("gsp", Path(tempfile.mkdtemp(prefix="gim-bench-")))
    try:
        sim = source.options(args.events, TENANT)
        events = source.prepare(corner.settings, sim, args.events, args.partitions)
        result = pipeline.gsp_alone(corner, events, args.workers, args.profile)
    finally:
        corner.close()
    print(f"cores {os.cpu_count()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{events:,} simulated raw events ({sim.agents} agents), {args.partitions} partitions")
    print(f"GSP, {args.workers} worker(s), start to all inputs committed: "
          f"{result['events_per_s']:,.0f} events/s ({result['seconds']:.1f} s, including "
          f"start-up and configuration load)")
    for name, rss in result["peak_rss_mb"].items():
        print(f"{name}: peak RSS {rss:.0f} MB, CPU {result['cpu_s_per_1k_events'][name]:.2f} s "
              f"per 1k events")


if __name__ == "__main__":
    main()
