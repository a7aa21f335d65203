"""Settings: variables, flag overrides, parse errors and masking (contract ``operations.md``)."""

from __future__ import annotations

import os

import pytest

from gim_faust.errors import ConfigError
from gim_faust.settings import SETTINGS, default_instance_id, load_settings, mask_url

BASE = {"GIM_TENANT": "acme"}


def test_defaults_follow_the_contract() -> None:
    s = load_settings(environ=BASE)
    assert s.tenant == "acme"
    assert s.topic_prefix == "acme"
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.config_db_url == "postgresql://127.0.0.1:5432/gim_config"
    assert s.infomart_db_url == "postgresql://127.0.0.1:5432/gim_infomart_acme"
    assert s.object_store == "file://./var/objects"
    assert s.state_dir == "./var/state"
    assert s.interaction_timeout == 14400
    assert s.gca_poll_interval == 30.0
    assert s.snapshot_interval == 300.0
    assert s.metrics_port is None


def test_a_gsp_worker_is_a_static_member_by_default() -> None:
    """Restarted on the same host and state directory, a worker keeps its identity, so it
    takes its partitions back at once; two directories on one host are two workers."""
    one = load_settings(environ={**BASE, "GIM_STATE_DIR": "/var/gsp-a"}).gsp_instance_id
    assert one == load_settings(environ={**BASE, "GIM_STATE_DIR": "/var/gsp-a"}).gsp_instance_id
    assert one != load_settings(environ={**BASE, "GIM_STATE_DIR": "/var/gsp-b"}).gsp_instance_id
    assert load_settings(environ={**BASE, "GIM_GSP_INSTANCE_ID": "acme-gsp-0"}
                         ).gsp_instance_id == "acme-gsp-0"
    assert default_instance_id("pod 7/x", "rel/dir") == default_instance_id(
        "pod 7/x", f"{os.getcwd()}/rel/dir")
    assert default_instance_id("pod 7/x", "d").startswith("pod-7-x-")
    assert len(default_instance_id("h" * 300, "d")) <= 100


def test_every_contract_variable_is_declared() -> None:
    declared = {s.env for s in SETTINGS}
    assert {"GIM_TENANT", "GIM_TOPIC_PREFIX", "GIM_KAFKA_BOOTSTRAP",
            "GIM_KAFKA_SECURITY_PROTOCOL", "GIM_KAFKA_SASL_MECHANISM",
            "GIM_KAFKA_SASL_USERNAME", "GIM_KAFKA_SASL_PASSWORD", "GIM_KAFKA_SSL_CAFILE",
            "GIM_CONFIG_DB_URL", "GIM_INFOMART_DB_URL", "GIM_OBJECT_STORE", "GIM_STATE_DIR",
            "GIM_INTERACTION_TIMEOUT", "GIM_GCA_POLL_INTERVAL",
            "GIM_SNAPSHOT_INTERVAL"} <= declared


def test_environment_is_read_and_parsed() -> None:
    s = load_settings(environ={**BASE, "GIM_TOPIC_PREFIX": "acme-test",
                               "GIM_KAFKA_BOOTSTRAP": " k1:9092 , k2:9093 ,",
                               "GIM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
                               "GIM_INTERACTION_TIMEOUT": "1800",
                               "GIM_GCA_POLL_INTERVAL": "0.5",
                               "GIM_LOG_LEVEL": "debug",
                               "GIM_OBJECT_STORE": "s3://bucket/prefix/"})
    assert s.topic_prefix == "acme-test"
    assert s.kafka_bootstrap == "k1:9092,k2:9093"
    assert s.kafka_security_protocol == "SASL_SSL"
    assert s.interaction_timeout == 1800
    assert s.gca_poll_interval == 0.5
    assert s.log_level == "DEBUG"
    assert s.object_store == "s3://bucket/prefix"


def test_flags_override_the_environment() -> None:
    env = {**BASE, "GIM_KAFKA_BOOTSTRAP": "env-host:9092", "GIM_INTERACTION_TIMEOUT": "60"}
    s = load_settings({"kafka_bootstrap": "flag-host:19092", "interaction_timeout": None,
                       "tenant": "globex"}, environ=env)
    assert s.kafka_bootstrap == "flag-host:19092"
    assert s.interaction_timeout == 60  # a flag left unset (None) does not hide the variable
    assert s.tenant == "globex"
    assert s.infomart_db_url.endswith("/gim_infomart_globex")


def test_an_empty_variable_counts_as_unset() -> None:
    s = load_settings(environ={**BASE, "GIM_KAFKA_BOOTSTRAP": ""})
    assert s.kafka_bootstrap == "127.0.0.1:9092"


@pytest.mark.parametrize("value", ["nonsense", "host", "host:", ":9092", "host:0",
                                   "host:70000", "a:1,b", "host:port", "ho st:9092"])
def test_a_bad_bootstrap_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={**BASE, "GIM_KAFKA_BOOTSTRAP": value})
    message = str(info.value)
    assert "GIM_KAFKA_BOOTSTRAP" in message and "\n" not in message


def test_a_bad_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--kafka-bootstrap"):
        load_settings({"kafka_bootstrap": "nonsense"}, environ=BASE)


@pytest.mark.parametrize("env, value", [
    ("GIM_TENANT", "acme corp"), ("GIM_INTERACTION_TIMEOUT", "0"),
    ("GIM_INTERACTION_TIMEOUT", "soon"), ("GIM_METRICS_PORT", "65536"),
    ("GIM_KAFKA_SECURITY_PROTOCOL", "TLS"), ("GIM_OBJECT_STORE", "s3://"),
    ("GIM_OBJECT_STORE", "ftp://x"), ("GIM_INFOMART_DB_URL", "mysql://h/db"),
    ("GIM_SNAPSHOT_INTERVAL", "-1"),
])
def test_malformed_values_are_config_errors(env: str, value: str) -> None:
    with pytest.raises(ConfigError, match=env):
        load_settings(environ={**BASE, env: value})


def test_the_tenant_is_required() -> None:
    with pytest.raises(ConfigError, match="GIM_TENANT"):
        load_settings(environ={})


def test_secrets_are_masked_in_repr() -> None:
    s = load_settings(environ={
        **BASE,
        "GIM_INFOMART_DB_URL": "postgresql://gim:im-secret-1@db:5432/gim_infomart_acme",
        "GIM_CONFIG_DB_URL": "postgresql://reader:im-secret-2@cfg/gim_config",
        "GIM_KAFKA_SASL_USERNAME": "svc", "GIM_KAFKA_SASL_PASSWORD": "im-secret-3"})
    for shown in (repr(s), str(s)):
        assert "im-secret" not in shown
        assert "postgresql://gim:***@db:5432/gim_infomart_acme" in shown
        assert "kafka_sasl_password='***'" in shown
        assert "kafka_sasl_username='svc'" in shown  # only secrets are masked
    assert s.kafka_sasl_password == "im-secret-3"  # masking is for display only


def test_a_bad_secret_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={**BASE, "GIM_CONFIG_DB_URL": "mysql://u:im-secret@h/db"})
    assert "im-secret" not in str(info.value)


@pytest.mark.parametrize("url, shown", [
    ("postgresql://u:p@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("postgresql://h/db", "postgresql://h/db"),
    ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
    ("postgresql://h/db?user=u&password=s3cret&sslmode=verify-full",
     "postgresql://h/db?user=u&password=***&sslmode=verify-full"),
    ("postgresql://h/db?PASSWORD=s3cret", "postgresql://h/db?PASSWORD=***"),
    ("postgresql://u:p@h/db?sslpassword=k3y", "postgresql://u:***@h/db?sslpassword=***"),
    ("host=h dbname=db user=u password=s3cret", "host=h dbname=db user=u password=***"),
    ("host=h password = 's3 cr\\'et' dbname=db", "host=h password = *** dbname=db"),
    ("host=h sslpassword=k3y", "host=h sslpassword=***"),
])
def test_mask_url(url: str, shown: str) -> None:
    """Every form libpq accepts: a password in any of them was printed unmasked before."""
    assert mask_url(url) == shown
