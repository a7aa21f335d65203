"""The Config Adapter's metrics, in a registry of its own (``gim_faust.metrics`` serves it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gim_faust.gca.changes import KIND_ORDER

# Where a cycle can fail; the label of gca_errors_total.
# "internal": a bug between stages (building objects, diffing), never a dependency's fault.
STAGES = ("read", "migrate", "kafka", "snapshot_load", "publish", "infomart", "snapshot_write",
          "internal")
OPS = ("created", "changed", "deleted")


class GcaMetrics:
    """The service's instruments, in their own registry (``gim_faust.metrics``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.cycles = Counter("gca_cycles", "Cycles run, by result (ok, error)", ["result"],
                              registry=r)
        self.objects = Gauge("gca_objects", "Objects in the last reading, by kind", ["kind"],
                             registry=r)
        self.published = Counter("gca_changes_published",
                                 "Records published to the config topic, by kind and op "
                                 "(created, changed, deleted = tombstone)", ["kind", "op"],
                                 registry=r)
        self.duration = Histogram("gca_cycle_duration_seconds", "Duration of a cycle",
                                  buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120),
                                  registry=r)
        self.last_success = Gauge("gca_last_success_timestamp_seconds",
                                  "Unix time at which the last successful cycle ended",
                                  registry=r)
        self.errors = Counter("gca_errors", "Failed cycles, by the stage that failed",
                              ["stage"], registry=r)
        self.infomart_rows = Counter("gca_infomart_rows_written",
                                     "Info Mart rows written, by table and op (upsert, "
                                     "delete, end, start)", ["table", "op"], registry=r)
        self.snapshots = Counter("gca_snapshots_written", "Snapshots written", registry=r)
        for kind in KIND_ORDER:
            self.objects.labels(kind)
            for op in OPS:
                self.published.labels(kind, op)
        for stage in STAGES:
            self.errors.labels(stage)
        for result in ("ok", "error"):
            self.cycles.labels(result)
