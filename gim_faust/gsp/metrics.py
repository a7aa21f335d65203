"""The Stream Processor's metrics, in a registry of its own (one per app)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@cache
def child(metric: Any, *labels: str) -> Any:
    """A labelled metric, looked up once: ``labels()`` costs as much as an event's decode."""
    return metric.labels(*labels)


class GspMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.events_in = Counter("gim_gsp_events_in", "Raw events read, by topic and type",
                                 ["topic", "type"], registry=r)
        self.rejected = Counter("gim_gsp_events_rejected", "Messages rejected as bad input",
                                ["reason"], registry=r)
        self.duplicates = Counter("gim_gsp_events_duplicate",
                                  "Repeat deliveries that had no effect", ["topic"], registry=r)
        self.out_of_state = Counter("gim_gsp_events_out_of_state",
                                    "Events impossible in their state, applied as far as "
                                    "they made sense", ["topic"], registry=r)
        self.user_data_unconvertible = Counter(
            "gim_gsp_user_data_unconvertible", "User-data values that became NULL converted "
            "to their column's type, by key", ["key"], registry=r)
        self.facts_out = Counter("gim_gsp_facts_out", "Fact versions sent, by table",
                                 ["table"], registry=r)
        self.timed_out = Counter("gim_gsp_interactions_timed_out",
                                 "Interactions closed as timed out", ["channel"], registry=r)
        self.open_interactions = Gauge("gim_gsp_open_interactions",
                                       "Open interactions in this worker's partitions",
                                       ["channel"], registry=r)
        self.tombstones = Gauge("gim_gsp_ended_interactions_kept",
                                "Ended interactions kept for deduplication", ["channel"],
                                registry=r)
        self.lag = Gauge("gim_gsp_consumer_lag", "Messages behind the end of the partition",
                         ["topic", "partition"], registry=r)
        self.event_time = Gauge("gim_gsp_event_time_seconds",
                                "Newest event time seen, by topic partition",
                                ["topic", "partition"], registry=r)
        self.config_objects = Gauge("gim_gsp_config_objects",
                                    "Configuration objects in the view", registry=r)
        self.user_data_keys = Gauge("gim_gsp_user_data_keys_kept",
                                    "User-data keys the view keeps (valid cfg_user_data_key "
                                    "mappings GCA published)", registry=r)
        self.processing = Histogram("gim_gsp_event_processing_seconds",
                                    "Time to process one raw event", registry=r,
                                    buckets=(1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1, 1))
        self.snapshots = Counter("gim_gsp_snapshots", "State snapshots attempted, by result "
                                 "(ok, failed, skipped while recovering)", ["result"], registry=r)
        self.snapshot_last_success = Gauge("gim_gsp_snapshot_last_success_timestamp_seconds",
                                           "When the newest snapshot of this worker became "
                                           "visible (0: none yet)", registry=r)
        self.snapshot_age = Gauge("gim_gsp_snapshot_age_seconds",
                                  "Seconds since this worker's newest snapshot (since the "
                                  "worker started while it has none)", registry=r)
        self.snapshot_age.set_function(self._snapshot_age)
        self.snapshot_duration = Gauge("gim_gsp_snapshot_last_duration_seconds",
                                       "Duration of the newest snapshot, checkpoint to "
                                       "manifest", registry=r)
        self.snapshot_bytes = Gauge("gim_gsp_snapshot_last_bytes",
                                    "Size of the newest snapshot's files", registry=r)
        self.snapshot_interval = Gauge("gim_gsp_snapshot_interval_seconds",
                                       "GIM_SNAPSHOT_INTERVAL, for alerts on snapshot age",
                                       registry=r)
        self.restores = Counter("gim_gsp_restores", "Restore attempts at start or by command, "
                                "by result (ok; none: no usable snapshot, the changelog "
                                "rebuilds the state)", ["result"], registry=r)
        self.snapshots_refused = Counter("gim_gsp_snapshots_refused",
                                         "Snapshots a restore refused (corrupted, foreign, "
                                         "or beyond what the changelog retains)", registry=r)
        self.restore_duration = Gauge("gim_gsp_restore_last_duration_seconds",
                                      "Duration of the last restore (download, checks, "
                                      "install)", registry=r)
        self.restore_tail = Gauge("gim_gsp_restore_changelog_tail_records",
                                  "Changelog records after the restored snapshot's offsets, "
                                  "at restore time: what recovery has left to replay",
                                  registry=r)
        self.changelog_recovered = Counter("gim_gsp_changelog_records_recovered",
                                           "Changelog records applied to local state by "
                                           "recovery, by table", ["table"], registry=r)
        self._newest_snapshot = time.time()

    def _snapshot_age(self) -> float:
        return time.time() - self._newest_snapshot

    def snapshot_taken(self, done_at: float, seconds: float, size: int) -> None:
        self.snapshots.labels("ok").inc()
        self._newest_snapshot = done_at
        self.snapshot_last_success.set(done_at)
        self.snapshot_duration.set(seconds)
        self.snapshot_bytes.set(size)
