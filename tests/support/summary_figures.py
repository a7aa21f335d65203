"""The queue and agent figures of the ``make demo`` summary, the HTML report and the Info Mart
dashboard (``loaders/summary.py``: ``QUEUE_HOURS``, ``AGENT_HOURS``), computed in Python from
a scenario's ``expected-aggregates.json`` (the independent simulator's aggregate rows) and its
configuration, independently of their SQL: per queue or agent, one row per local hour, then
its total over the hours (hour None), ratios rounded to 6 places. And an Info Mart loaded
with a scenario and its aggregates, for them to read."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from gim_faust.loaders import aggregate

from tests.support import aggregates
from tests.support import gim_jobs as jobs
from tests.support import scenario as sc

QUEUE_TYPES = ("ACDQueue", "VirtualQueue", "InteractionQueue")
Row = tuple[Any, ...]


def load(infomart_url: str, config_url: str, versions: list[Any], scenario: str = "day") -> str:
    """The scenario's fact versions loaded, the configuration dimensions (queue and agent
    names) GCA writes, and the aggregates the loader keeps, with the scenario's time zone and
    thresholds."""
    jobs.infomart(infomart_url)
    jobs.load_facts(infomart_url, versions)
    jobs.sync_dimensions(jobs.config_db(config_url, scenario), infomart_url)
    meta = aggregates.expected(scenario)["meta"]
    aggregate.run_pending(infomart_url, aggregate.Rules(meta["timezone"],
                                                        meta["service_level_threshold"],
                                                        meta["short_abandon_threshold"]))
    return infomart_url


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _per_hour(rows: Iterable[Mapping[str, Any]], names: Mapping[tuple[str, str], str]
              ) -> dict[str, dict[datetime | None, Counter[str]]]:
    """Each named resource's figures summed per hour (over media), and over all hours."""
    out: dict[str, dict[datetime | None, Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter))
    for row in rows:
        name = names.get(tuple(row["resource"]))
        if name is not None:
            figures = {k: v for k, v in row.items() if isinstance(v, int)}
            out[name][datetime.fromisoformat(row["interval_start_ts"])].update(figures)
            out[name][None].update(figures)
    return out


def ordered(rows: Iterable[Row]) -> list[Row]:
    """By name, then hour, each total last: a stable order whatever the server's collation."""
    return sorted(rows, key=lambda r: (r[0], r[1] is None, r[1] or datetime.min))


def rounded(rows: Iterable[Row]) -> list[Row]:
    """Rows as the SQL gives them, its numeric ratios as floats rounded like :func:`_ratio`."""
    return [tuple(round(float(v), 6) if isinstance(v, Decimal) else v for v in row)
            for row in rows]


def queue_hours(scenario: str) -> list[Row]:
    """(queue, hour, offered, accepted, abandoned, service level, ASA)."""
    names = {(r[3], r[2]): r[4] or r[2] for r in sc.config_rows(scenario)["cfg_dn"]
             if r[3] in QUEUE_TYPES}
    return ordered(
        (queue, hour, f["entered"], f["accepted"], f["abandoned"],
         _ratio(f["accepted_within_sl"], f["accepted"] + f["abandoned"]),
         _ratio(f["accepted_wait_duration"], f["accepted"]))
        for queue, hours in _per_hour(aggregates.expected(scenario)["ag2_queue_hour"],
                                      names).items()
        for hour, f in hours.items())


def agent_hours(scenario: str) -> list[Row]:
    """(agent, hour, handled, average handle time, occupancy)."""
    names = {("Agent", r[2]): r[3] for r in sc.config_rows(scenario)["cfg_person"]}
    return ordered(
        (agent, hour, f["accepted"], _ratio(f["handle_duration"], f["accepted"]),
         _ratio(f["handle_duration"],
                f["ready_duration"] + f["after_call_work_state_duration"]))
        for agent, hours in _per_hour(aggregates.expected(scenario)["ag2_agent_hour"],
                                      names).items()
        for hour, f in hours.items())
