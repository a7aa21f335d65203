"""Settings: declared once, read from ``GIM_*`` variables, overridden by command-line flags.

Each setting names its variable, its default, how to parse it and whether it is secret. The
same declarations build the command-line flags, so the two can never drift apart. Parsing
errors become :class:`ConfigError`, which the CLI turns into exit 2 and one line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import socket
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gim_faust.errors import ConfigError
from gim_faust.topics import Topics

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HOSTPORT = re.compile(r"^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$")


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("use letters, digits, '.', '_' or '-' (at most 100)")
    return value


def _bootstrap(value: str) -> str:
    hosts = [h.strip() for h in value.split(",") if h.strip()]
    if not hosts or not all(_HOSTPORT.match(h) and 0 < int(h.rsplit(":", 1)[1]) < 65536
                            for h in hosts):
        raise ValueError("expected host:port[,host:port...], e.g. 127.0.0.1:9092")
    return ",".join(hosts)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.upper() not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value.upper()
    return parse


def _compression(value: str) -> str | None:
    """The codec as aiokafka names it; None for ``none``."""
    codec = _choice("LZ4", "NONE")(value).lower()
    return None if codec == "none" else codec


def _postgres_url(value: str) -> str:
    if urlsplit(value).scheme not in ("postgresql", "postgres"):
        raise ValueError("expected postgresql://host:port/dbname")
    return value


def _object_store(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in ("s3", "file") or (scheme == "s3" and not urlsplit(value).netloc):
        raise ValueError("expected s3://bucket[/prefix] or file:///path")
    return value.rstrip("/")


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError("must be greater than 0")
        return number
    return parse


def _non_negative(kind: type) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        number = kind(value)
        if number < 0:
            raise ValueError("must be 0 or more")
        return number
    return parse


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA time zone name, e.g. UTC, Europe/Paris or "
                         "America/New_York") from None
    return value


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port < 65536:
        raise ValueError("must be a TCP port (0 picks a free one)")
    return port


# libpq's secrets, as ``key=value`` in a conninfo string or in a URL's query.
_KEYWORD_SECRET = re.compile(r"\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)
_QUERY_SECRET = re.compile(r"(^|&)((?:ssl)?password=)[^&]*", re.I)


def mask_url(dsn: str) -> str:
    """The connection string with every secret replaced by ``***``, in each of libpq's forms:
    a URL's user info, its query (``?password=``), or ``key=value`` pairs. Safe to print and
    log."""
    if "://" not in dsn:
        return _KEYWORD_SECRET.sub(r"\1***", dsn)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc,
                                     query=_QUERY_SECRET.sub(r"\1\2***", parts.query)))


@dataclass(frozen=True)
class Setting:
    """One setting: its attribute, variable, default and parser."""

    attr: str
    env: str
    help: str
    parse: Callable[[str], Any] = str
    default: str | None = None
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("tenant", "GIM_TENANT", "the tenant this process serves (required)", _name),
    Setting("topic_prefix", "GIM_TOPIC_PREFIX", "prefix of every topic name (default: the tenant)",
            _name),
    Setting("kafka_bootstrap", "GIM_KAFKA_BOOTSTRAP", "Kafka bootstrap servers", _bootstrap,
            "127.0.0.1:9092"),
    Setting("kafka_security_protocol", "GIM_KAFKA_SECURITY_PROTOCOL", "Kafka security protocol",
            _choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"), "PLAINTEXT"),
    Setting("kafka_sasl_mechanism", "GIM_KAFKA_SASL_MECHANISM", "SASL mechanism",
            _choice("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")),
    Setting("kafka_sasl_username", "GIM_KAFKA_SASL_USERNAME", "SASL user name"),
    Setting("kafka_sasl_password", "GIM_KAFKA_SASL_PASSWORD", "SASL password", secret=True),
    Setting("kafka_ssl_cafile", "GIM_KAFKA_SSL_CAFILE", "CA file for Kafka TLS"),
    Setting("kafka_replication_factor", "GIM_KAFKA_REPLICATION_FACTOR",
            "replication factor of the topics gim-faust creates", _positive(int), "1"),
    Setting("config_db_url", "GIM_CONFIG_DB_URL", "the Configuration Database (GCA; simulate writes it)",
            _postgres_url, "postgresql://127.0.0.1:5432/gim_config", secret=True),
    Setting("infomart_db_url", "GIM_INFOMART_DB_URL",
            "the tenant's Info Mart (default: postgresql://127.0.0.1:5432/gim_infomart_<tenant>)",
            _postgres_url, secret=True),
    Setting("object_store", "GIM_OBJECT_STORE", "s3://bucket/prefix or file:///path",
            _object_store, "file://./var/objects"),
    Setting("state_dir", "GIM_STATE_DIR", "local RocksDB state of the GSP", str, "./var/state"),
    Setting("interaction_timeout", "GIM_INTERACTION_TIMEOUT",
            "seconds of event time without an event before an interaction times out",
            _positive(int), "14400"),
    Setting("max_clock_skew", "GIM_MAX_CLOCK_SKEW",
            "seconds an event's ts may lie ahead of the GSP's clock before it is rejected",
            _non_negative(int), "300"),
    Setting("gca_poll_interval", "GIM_GCA_POLL_INTERVAL",
            "seconds between two reads of the Configuration Database", _positive(float), "30"),
    Setting("snapshot_interval", "GIM_SNAPSHOT_INTERVAL",
            "seconds between two GSP state snapshots", _positive(float), "300"),
    Setting("snapshot_keep", "GIM_SNAPSHOT_KEEP",
            "how many of its newest state snapshots each GSP worker keeps", _positive(int), "3"),
    Setting("gsp_compression", "GIM_GSP_COMPRESSION",
            "compression of the batches the GSP sends to Kafka (facts, ended parties, "
            "changelogs): lz4, or none while a release that cannot read lz4 still runs "
            "(docs/gsp.md, 'Upgrades')", _compression, "lz4"),
    Setting("loader_batch_rows", "GIM_LOADER_BATCH_ROWS",
            "the GIM loader writes a batch once it holds this many records", _positive(int),
            "5000"),
    Setting("loader_batch_delay_ms", "GIM_LOADER_BATCH_DELAY_MS",
            "... or this many milliseconds after the batch's first record arrived",
            _positive(int), "100"),
    Setting("retention_days", "GIM_RETENTION_DAYS",
            "`gim maintenance` drops fact partitions (and purges audit rows) older than this many "
            "days; active rows are kept whatever their age", _positive(int), "400"),
    Setting("subhr_retention_days", "GIM_AGGREGATE_SUBHR_RETENTION_DAYS",
            "`gim maintenance` deletes 15-minute aggregate rows (ag2_*_subhr) older than this "
            "many days; hour and day rows are kept as long as the facts", _positive(int), "62"),
    Setting("partitions_ahead_days", "GIM_PARTITIONS_AHEAD_DAYS",
            "`gim maintenance` keeps daily fact partitions created this many days ahead",
            _positive(int), "14"),
    Setting("maintenance_interval", "GIM_MAINTENANCE_INTERVAL",
            "seconds between two maintenance runs inside the GIM worker (0: never; run "
            "`gim maintenance` from a scheduler instead)", _non_negative(float), "86400"),
    Setting("timezone", "GIM_TIMEZONE",
            "the tenant's IANA time zone: the local hours and days of the aggregates", _zone,
            "UTC"),
    Setting("service_level_threshold", "GIM_SERVICE_LEVEL_THRESHOLD",
            "seconds: a queue's interaction accepted or abandoned within this wait counts within "
            "service level (a DN's cfg_dn_annex option overrides it)", _non_negative(int), "20"),
    Setting("short_abandon_threshold", "GIM_SHORT_ABANDON_THRESHOLD",
            "seconds: an abandon after a shorter wait is a short abandon (a DN's cfg_dn_annex "
            "option overrides it)", _non_negative(int), "10"),
    Setting("aggregate_delay", "GIM_AGGREGATE_DELAY",
            "the most seconds by which the aggregate tables may lag the loaded facts",
            _positive(float), "10"),
    Setting("gsp_instance_id", "GIM_GSP_INSTANCE_ID",
            "stable identity of a GSP worker, its static membership of the consumer group: a "
            "restarted worker takes its partitions back at once instead of after the session "
            "timeout (default: <host name>-<hash of GIM_STATE_DIR>; the chart sets the pod name)",
            _name),
    Setting("gsp_app_id", "GIM_GSP_APP_ID",
            "Faust app id (= consumer group, changelog names) of the GSP (default: gim-gsp-<prefix>); "
            "a new id starts with empty state, e.g. to reprocess raw topics after `replay`", _name),
    Setting("metrics_port", "GIM_METRICS_PORT",
            "port of /metrics, /healthz, /readyz (default: 9250 GCA, 9249 GSP, 8249 GIM)", _port),
    Setting("metrics_host", "GIM_METRICS_HOST", "address the metrics server binds", str,
            "0.0.0.0"),
    Setting("log_level", "GIM_LOG_LEVEL", "logging level",
            _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
)

_BY_ATTR = {s.attr: s for s in SETTINGS}


@dataclass(frozen=True)
class KafkaSettings:
    """How every service reaches Kafka, and how the topics gim-faust creates are replicated."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    replication_factor: int = 1


@dataclass(frozen=True)
class MetricsSettings:
    """Where a service serves /metrics, /healthz and /readyz (port None: the service's
    default, 0: a free one)."""

    port: int | None
    host: str


@dataclass(frozen=True)
class Settings:
    """The typed settings of one process, one field per row of :data:`SETTINGS` (so the
    environment and the flags never drift), and the sections a service hands to a library
    (:attr:`kafka`, :attr:`metrics`; the databases and the object store are one URL each,
    the database jobs take an ``InfoMart``). ``repr`` masks every secret."""

    tenant: str
    topic_prefix: str
    kafka_bootstrap: str
    kafka_security_protocol: str
    kafka_sasl_mechanism: str | None
    kafka_sasl_username: str | None
    kafka_sasl_password: str | None = field(repr=False)
    kafka_ssl_cafile: str | None
    kafka_replication_factor: int
    config_db_url: str = field(repr=False)
    infomart_db_url: str = field(repr=False)
    object_store: str
    state_dir: str
    interaction_timeout: int
    max_clock_skew: int
    gca_poll_interval: float
    snapshot_interval: float
    snapshot_keep: int
    gsp_instance_id: str
    gsp_app_id: str
    gsp_compression: str | None  # as aiokafka's compression_type: None is uncompressed
    loader_batch_rows: int
    loader_batch_delay_ms: int
    retention_days: int
    subhr_retention_days: int
    partitions_ahead_days: int
    maintenance_interval: float
    timezone: str
    service_level_threshold: int
    short_abandon_threshold: int
    aggregate_delay: float
    metrics_port: int | None
    metrics_host: str
    log_level: str

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if _BY_ATTR[f.name].secret and value is not None:
                value = mask_url(value) if "://" in value else "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(self.kafka_bootstrap, self.kafka_security_protocol,
                             self.kafka_sasl_mechanism, self.kafka_sasl_username,
                             self.kafka_sasl_password, self.kafka_ssl_cafile,
                             self.kafka_replication_factor)

    @property
    def metrics(self) -> MetricsSettings:
        return MetricsSettings(self.metrics_port, self.metrics_host)


def default_instance_id(host: str, state_dir: str) -> str:
    """A GSP worker's identity when none is given: what survives its restart is its host and
    its state directory, and two workers on one host need two directories (each locks its
    own), so the pair names exactly one worker."""
    digest = hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '-', host)[:80] or 'host'}-{digest}"


def load_settings(overrides: Mapping[str, str | None] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``), with non-None ``overrides`` on top.

    ``overrides`` maps attribute names to raw strings, as command-line flags give them.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = overrides.get(s.attr)
        source = f"--{s.attr.replace('_', '-')}"
        if raw is None:
            raw, source = environ.get(s.env) or None, s.env
        if raw is None:
            raw, source = s.default, f"the default of {s.env}"
        try:
            values[s.attr] = None if raw is None else s.parse(raw)
        except ValueError as exc:
            shown = "***" if s.secret else repr(raw)
            raise ConfigError(f"{source}={shown} is not valid: {exc}") from None
    if values["tenant"] is None:
        raise ConfigError("GIM_TENANT is not set: set it (or pass --tenant) to the tenant name")
    values["topic_prefix"] = values["topic_prefix"] or values["tenant"]
    values["gsp_app_id"] = values["gsp_app_id"] or Topics(values["topic_prefix"]).gsp_app_id
    values["gsp_instance_id"] = (values["gsp_instance_id"] or
                                 default_instance_id(socket.gethostname(), values["state_dir"]))
    values["infomart_db_url"] = (values["infomart_db_url"] or
                                 f"postgresql://127.0.0.1:5432/gim_infomart_{values['tenant']}")
    return Settings(**values)


def parse_ts(text: str, what: str) -> datetime:
    """An ISO 8601 time an operator typed (``--from``, ``--start``); naive means UTC (contract:
    UTC everywhere)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not an ISO 8601 time, e.g. "
                          f"2026-11-02T00:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
