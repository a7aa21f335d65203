"""``make bench`` / ``python -m bench``: the six figures of the pipeline on the local services.

1. raw floor: consume + orjson + COPY one row per event, on the end-to-end backlog;
2. transforms alone on the ``day`` scenario, in this process;
3. GSP alone, raw topics -> fact topic, on its own copy of the first ``--gsp-events``,
   with a py-spy flame graph of the (first) worker beside the JSON file;
4. end to end, raw topics -> Info Mart, GSP and loader together, on the whole day of a center
   sized for about ``--events``;
5. freshness, publishing the center's next days, one per ``--rate`` (events/s), into that
   pipeline;
6. resources of each worker: peak RSS, CPU seconds per 1k events, RocksDB size;
7. aggregates (``bench/aggregate.py``): the loader's rate with and without the aggregator
   beside it, the aggregation's CPU per 1k fact versions, the lag from a batch to its
   aggregate rows.

Backlogs come from the simulator and are published before anything is timed. Prints a table
and writes ``bench/results/<date>-<time>.json`` (and ``-gsp.svg``). Needs ``make services``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import aggregate, floor, pipeline, source, transforms
from bench.harness import REPO, TENANT, Corner
from tests.conftest import _load_services_env

RESULTS = REPO / "bench" / "results"


def run(args: argparse.Namespace, log_dir: Path, profile: Path | None) -> dict[str, Any]:
    sim = source.options(args.events, TENANT)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(),
        "source": f"gim_faust.simulate: {sim.agents} agents, {sim.hours:g} h, seed {sim.seed}",
        "partitions": args.partitions, "gsp_workers": args.workers}
    e2e, alone = Corner("e2e", log_dir), Corner("gsp", log_dir)
    try:
        step("publishing the backlogs")
        report["events"] = source.prepare(e2e.settings, sim, None, args.partitions, args.open)
        report["left_open"] = args.open
        gsp_events = source.prepare(alone.settings, sim, args.gsp_events, args.partitions)
        step("raw floor")
        report["raw_floor"] = floor.raw_floor(e2e.settings, e2e.urls["floor"])
        step("transforms")
        report["transforms"] = transforms.measure(rounds=3)
        step("GSP alone")
        report["gsp"] = pipeline.gsp_alone(alone, gsp_events, args.workers, profile)
        alone.close()
        step("end to end")
        report["end_to_end"], services = pipeline.end_to_end(e2e, report["events"],
                                                             args.workers)
        report["freshness"] = []
        for later, rate in enumerate(args.rate, start=1):
            step(f"freshness at {rate:g} events/s")
            report["freshness"].append(pipeline.freshness(e2e, sim, services, rate,
                                                          args.fresh_seconds, later))
    finally:
        e2e.close()
        alone.close()
    step("aggregates")
    report["aggregates"] = aggregate.measure()
    return summarize(report)


def step(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures as top-level keys, beside the details."""
    e2e, fresh = report["end_to_end"], report["freshness"][0]
    floor_rate = report["raw_floor"]["events_per_s"]
    return {
        "raw_floor_events_per_s": round(floor_rate),
        "transforms_events_per_s": round(report["transforms"]["events_per_s"]),
        "gsp_events_per_s": round(report["gsp"]["events_per_s"]),
        "end_to_end_events_per_s": round(e2e["events_per_s"]),
        "ratio_to_raw_floor": float(f"{e2e['events_per_s'] / floor_rate:.3g}"),
        **{f"freshness_{p}_s": fresh[f"{p}_s"] for p in ("p50", "p95", "p99", "max")},
        "peak_rss_mb": e2e["peak_rss_mb"],
        "cpu_s_per_1k_events": e2e["cpu_s_per_1k_events"],
        "rocksdb_mb": e2e["rocksdb_mb"],
        "aggregation_cpu_s_per_1k_fact_versions": report["aggregates"]["aggregation_cpu_s_per_1k"],
        "aggregate_lag_p99_s": report["aggregates"]["lag_p99_s"],
        **report}


def table(r: dict[str, Any]) -> str:
    e2e, gsp, agg = r["end_to_end"], r["gsp"], r["aggregates"]
    workers = ", ".join(f"{name} {mb:.0f} MB / {r['cpu_s_per_1k_events'][name]:.2f} s"
                        for name, mb in r["peak_rss_mb"].items())
    rows = [
        ("raw floor (consume + orjson + COPY)",
         f"{r['raw_floor_events_per_s']:>9,} events/s", f"{r['raw_floor']['events']:,} events"),
        ("transforms alone (day scenario)", f"{r['transforms_events_per_s']:>9,} events/s",
         f"{r['transforms']['events']:,} events, in-process"),
        (f"GSP alone ({r['gsp_workers']} worker(s))", f"{r['gsp_events_per_s']:>9,} events/s",
         f"{gsp['events']:,} events, {gsp['seconds']:.0f} s"),
        ("end to end (raw -> Info Mart)", f"{r['end_to_end_events_per_s']:>9,} events/s",
         f"{e2e['events']:,} events, {e2e['seconds']:.0f} s, "
         f"{r['ratio_to_raw_floor']:.3g}x the raw floor"),
        *((f"freshness at {fresh['rate']:g} events/s",
           f"p50 {fresh['p50_s']:.2f} s  p95 {fresh['p95_s']:.2f} s",
           f"p99 {fresh['p99_s']:.2f} s, max {fresh['max_s']:.2f} s "
           f"({fresh['visible']}/{fresh['interactions']} interactions; "
           f"published at {fresh['published_per_s']:,}/s)")
          for fresh in r["freshness"]),
        ("resources: peak RSS / CPU per 1k events", workers,
         f"RocksDB {r['rocksdb_mb']:.0f} MB, {r['left_open']:,} calls left open"),
        ("aggregates: CPU per 1k fact versions", f"{agg['aggregation_cpu_s_per_1k']:.4f} s",
         f"loader's own {agg['loader_cpu_s_per_1k']:.4f} s; lag p50 {agg['lag_p50_s']:.2f} s, "
         f"p99 {agg['lag_p99_s']:.2f} s; loading {agg['loading_ratio']:.2f}x as fast beside "
         f"it, {agg['fact_versions']:,} versions"),
    ]
    width = max(len(name) for name, _, _ in rows)
    head = f"{r['date']}, {r['cores']} cores, {r['source']}, {r['partitions']} partitions"
    return "\n".join([head, *(f"{name:<{width}}  {figure}  ({detail})"
                              for name, figure, detail in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # The million-event backlog: 4-6 minutes in all on 2 cores (docs/performance.md).
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="end-to-end backlog (raw floor too): the whole day of a center "
                             "sized for about this many events; %(default)s")
    parser.add_argument("--gsp-events", type=int, default=50_000, help="GSP-alone backlog; %(default)s")
    parser.add_argument("--rate", type=float, nargs="+", default=[2000.0, 5000.0],
                        help="freshness: events/s, one run per rate; %(default)s")
    parser.add_argument("--fresh-seconds", type=float, default=20.0,
                        help="freshness: seconds of publishing; %(default)s")
    # Two, as the chart deploys (docs/gsp.md, "Several workers").
    parser.add_argument("--workers", type=int, default=2, help="GSP workers; %(default)s")
    # A multiple of the default workers: with 3, one of two workers had twice the other's work.
    parser.add_argument("--partitions", type=int, default=4,
                        help="partitions per raw topic; %(default)s")
    parser.add_argument("--open", type=int, default=0, metavar="N",
                        help="calls left open at the end of the end-to-end backlog, to "
                             "measure the workers' memory with that many; %(default)s")
    parser.add_argument("--output", type=Path, help="JSON file (default: bench/results/...)")
    parser.add_argument("--no-profile", action="store_true", help="no flame graph of the GSP")
    args = parser.parse_args(argv)
    _load_services_env()
    log_dir = Path(tempfile.mkdtemp(prefix="gim-bench-"))
    output = args.output or RESULTS / time.strftime("%Y-%m-%d-%H%M%S.json", time.gmtime())
    output.parent.mkdir(parents=True, exist_ok=True)
    profile = None if args.no_profile else output.with_name(f"{output.stem}-gsp.svg")
    result = run(args, log_dir, profile)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"results in {output}" + (f", GSP flame graph in {profile}" if profile else "")
          + f", service logs in {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
