"""The loader's Prometheus metrics (served on 8249 by :func:`gim_faust.metrics.serve`).

Labels are table names, topic partitions and error kinds: never a URL, host name or
anything that could carry a secret (contract ``operations.md``).
"""

from __future__ import annotations

from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gim_faust.loaders.maintenance_plan import Report
from gim_faust.loaders.writer import BatchResult

# Batch latency: a batch takes a few ms at low load and up to a second or two for 5,000 rows
# of backlog; the upper buckets show a database that is struggling.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SIZE_BUCKETS = (1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 50000)


class LoaderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "gim_loader_records", "Records consumed from the fact topic, by outcome "
            "(loaded, bad: not decodable and skipped, rejected: refused by the database "
            "and skipped)", ["outcome"], registry=registry)
        self.rows = Counter(
            "gim_loader_rows", "Rows written per table after keeping the newest version in "
            "each batch, by kind: inserted, updated (a higher version replaced the stored "
            "one), unchanged (already stored at this or a higher version)",
            ["table", "kind"], registry=registry)
        self.batches = Counter("gim_loader_batches", "Batches committed to the Info Mart",
                               registry=registry)
        self.batch_seconds = Histogram(
            "gim_loader_batch_seconds", "Time to write and commit one batch",
            buckets=_LATENCY_BUCKETS, registry=registry)
        self.batch_records = Histogram(
            "gim_loader_batch_records", "Records per committed batch", buckets=_SIZE_BUCKETS,
            registry=registry)
        self.lag = Gauge(
            "gim_loader_lag_records", "Records on the topic not yet in the Info Mart, per "
            "partition (high watermark minus the offset the database holds)",
            ["topic", "partition"], registry=registry)
        self.last_load = Gauge(
            "gim_loader_last_load_timestamp_seconds", "Unix time of the last committed batch",
            registry=registry)
        self.db_errors = Counter(
            "gim_loader_db_errors", "Failed attempts to reach or write the Info Mart, by "
            "error class", ["error"], registry=registry)
        self.date_time_rows = Counter(
            "gim_loader_date_time_rows", "date_time rows the loader added", registry=registry)
        self.db_up = Gauge("gim_loader_db_up", "1 while the last database call succeeded",
                           registry=registry)
        self.assigned = Gauge("gim_loader_assigned_partitions",
                              "Fact topic partitions this worker owns", registry=registry)
        self.caught_up = Gauge(
            "gim_loader_caught_up_timestamp_seconds", "Unix time up to which the Info Mart is "
            "complete: every record on the owned fact topic partitions at that time is loaded "
            "(now minus this is the age of the oldest record not yet loaded, at most)",
            registry=registry)
        self.job_completed = Gauge(
            "gim_job_last_completed_timestamp_seconds", "Unix time of the newest completed "
            "maintenance run or successful export recorded in the Info Mart's ctl_audit_log, by "
            "any process (the schema's creation before the first), by task",
            ["task"], registry=registry)
        self.aggregated = Counter(
            "gim_aggregate_intervals", "15-minute intervals whose aggregates were recomputed "
            "after a load", registry=registry)
        self.aggregate_seconds = Histogram(
            "gim_aggregate_pass_seconds", "Time to recompute the pending intervals' aggregates",
            registry=registry, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def batch_done(self, result: BatchResult, records: int, bad: int, now: float) -> None:
        self.batches.inc()
        self.batch_seconds.observe(result.seconds)
        self.batch_records.observe(records)
        self.records.labels("loaded").inc(records - bad - len(result.rejected))
        if bad:
            self.records.labels("bad").inc(bad)
        if result.rejected:
            self.records.labels("rejected").inc(len(result.rejected))
        for table, counts in result.tables.items():
            self.rows.labels(table, "inserted").inc(counts.inserted)
            self.rows.labels(table, "updated").inc(counts.updated)
            self.rows.labels(table, "unchanged").inc(counts.unchanged)
        self.date_time_rows.inc(result.date_time_rows)
        self.last_load.set(now)
        self.db_up.set(1)


class Freshness:
    """Sets ``gim_loader_caught_up_timestamp_seconds`` from samples of the fact topic's high
    watermarks: the newest sample whose every offset the Info Mart holds tells when the
    Info Mart was last complete. Comparing timestamps of facts instead would call a quiet
    night stale, and waiting for zero lag would never see it under steady load.

    Samples are taken at most once per ``every`` seconds and at most ``keep`` are kept;
    dropping the oldest only delays the gauge (a newer sample covers everything an older one
    did), it never makes the Info Mart look fresher than it is.
    """

    def __init__(self, gauge: Gauge, every: float = 1.0, keep: int = 3600) -> None:
        self.gauge, self.every = gauge, every
        self.samples: deque[tuple[float, dict[tuple[str, int], int]]] = deque(maxlen=keep)

    def observe(self, now: float, highs: dict[tuple[str, int], int],
                loaded: dict[tuple[str, int], int]) -> None:
        if not self.samples or now - self.samples[-1][0] >= self.every:
            self.samples.append((now, dict(highs)))
        covered = None
        # Partitions no longer owned are some other worker's to report.
        while self.samples and all(loaded[tp] >= high for tp, high in self.samples[0][1].items()
                                   if tp in loaded):
            covered = self.samples.popleft()[0]
        if covered is not None:
            self.gauge.set(covered)


class MaintenanceMetrics:
    """What the maintenance runs scheduled inside the worker did (``gim_maintenance_*``).

    A one-shot ``gim-faust gim maintenance`` prints the same report instead (it has no
    metrics endpoint). Counters add up over the worker's life; the gauges describe the last run.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "gim_maintenance_runs", "Scheduled maintenance runs, by outcome: ok, partial (an "
            "operation was skipped, its locks stayed busy), busy (an export or another run held "
            "the job lock), failed", ["outcome"], registry=registry)
        self.partitions_created = Counter(
            "gim_maintenance_partitions_created", "Daily fact partitions created",
            ["table"], registry=registry)
        self.partitions_dropped = Counter(
            "gim_maintenance_partitions_dropped", "Fact partitions dropped past retention",
            ["table"], registry=registry)
        self.rows_moved = Counter(
            "gim_maintenance_rows_moved", "Fact rows moved out of the default partition",
            ["table"], registry=registry)
        self.rows_purged = Counter(
            "gim_maintenance_rows_purged", "Final fact rows removed past retention (with their "
            "partition, or deleted where active rows kept it)", ["table"], registry=registry)
        self.active_rows_kept = Gauge(
            "gim_maintenance_active_rows_kept", "Active fact rows past retention, kept "
            "untouched (last run)", ["table"], registry=registry)
        self.date_time_rows = Counter(
            "gim_maintenance_date_time_rows", "date_time rows added ahead", registry=registry)
        self.audit_rows_purged = Counter(
            "gim_maintenance_audit_rows_purged", "ctl_audit_log rows purged past retention",
            registry=registry)
        self.export_objects_deleted = Counter(
            "gim_maintenance_export_objects_deleted", "Objects of incomplete exports deleted "
            "from object storage", registry=registry)
        self.skipped = Counter(
            "gim_maintenance_skipped_operations", "Operations skipped because their locks "
            "stayed busy (done by the next run)", registry=registry)
        self.seconds = Gauge("gim_maintenance_last_run_seconds",
                             "Duration of the last run", registry=registry)
        self.last_success = Gauge(
            "gim_maintenance_last_success_timestamp_seconds",
            "Unix time of the last run that skipped nothing", registry=registry)

    def run_done(self, report: Report, now: float) -> None:
        self.runs.labels("partial" if report.skipped else "ok").inc()
        for table, counts in report.tables.items():
            self.partitions_created.labels(table).inc(counts.partitions_created)
            self.partitions_dropped.labels(table).inc(counts.partitions_dropped)
            self.rows_moved.labels(table).inc(counts.rows_moved)
            self.rows_purged.labels(table).inc(counts.rows_purged)
            self.active_rows_kept.labels(table).set(counts.active_rows_kept)
        self.date_time_rows.inc(report.date_time_rows)
        self.audit_rows_purged.inc(report.audit_rows_purged)
        self.export_objects_deleted.inc(report.export_objects_deleted)
        self.skipped.inc(len(report.skipped))
        self.seconds.set(report.seconds)
        if not report.skipped:
            self.last_success.set(now)
