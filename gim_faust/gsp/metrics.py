"""The Stream Processor's metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.processing = Histogram("gim_gsp_event_processing_seconds",
                                    "Time to process one raw event", registry=r,
                                    buckets=(1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1, 1))
