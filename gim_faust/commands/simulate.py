"""``gim-faust simulate``: a simulated day into the raw topics (or a JSONL file).

The configuration goes to the Configuration Database first (unless ``--no-config``), so GCA
can know every agent and DN before their events are read. Messages are published in
event-time order with the contract's keys, as fast as the broker takes them (``--speed
max``) or paced at a multiple of real time (``--speed 60`` plays an hour in a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from gim_faust.errors import ConfigError
from gim_faust.settings import Settings, mask_url, parse_ts
from gim_faust.simulate import SimMessage, SimOptions, generate, write_configuration
from gim_faust.simulate.publish import publish, write
from gim_faust.topics import RAW_SUFFIXES


def parse_speed(text: str) -> float | None:
    """``max`` (None: no pacing) or a factor of real time greater than 0."""
    if text.strip().lower() == "max":
        return None
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not factor > 0:
        raise ConfigError(f"simulate: --speed {text!r}: use 'max' or a number greater than 0, "
                          "e.g. 60 for an hour a minute")
    return factor


def options_of(settings: Settings, args: argparse.Namespace) -> SimOptions:
    try:
        return SimOptions(
            settings.tenant, agents=args.agents, hours=args.hours,
            calls_per_hour=args.calls_per_hour, seed=args.seed,
            start=parse_ts(args.start, "--start") if args.start else None,
            digital_share=args.digital_share)
    except ValueError as exc:
        raise ConfigError(f"simulate: {exc}") from None


def run(settings: Settings, args: argparse.Namespace) -> int:
    options = options_of(settings, args)
    pace = parse_speed(args.speed)
    if args.partitions < 1:
        raise ConfigError("simulate: --partitions must be 1 or more")
    if not args.no_config and not args.output:
        write_configuration(settings.config_db_url, options)
        print(f"configuration of tenant {options.tenant!r} written to "
              f"{mask_url(settings.config_db_url)}")
    by_topic: Counter[str] = Counter()

    def counted() -> Iterable[SimMessage]:
        for message in generate(options):
            by_topic[message.topic_suffix] += 1
            yield message

    began = time.monotonic()
    if args.output:
        total = write(Path(args.output), counted())
        where = args.output
    else:
        total = asyncio.run(publish(settings, counted(), args.partitions, pace))
        where = f"{settings.topic_prefix}.*"
    took = time.monotonic() - began
    shown = ", ".join(f"{by_topic[s]} {s}" for s in RAW_SUFFIXES)
    print(f"{total} events of {options.start:%Y-%m-%d %H:%M} UTC + {options.hours:g} h "
          f"({options.voice_agents} voice, {options.digital_agents} digital agents) to {where} "
          f"in {took:.1f} s ({total / max(took, 1e-9):,.0f}/s): {shown}", file=sys.stdout)
    return 0
