"""The pipeline over TLS (issue 21, finding 9): the GCA, the GSP and the loader reach Kafka
with SASL PLAIN over TLS and PostgreSQL with ``sslmode=verify-full``, each verifying the
server's certificate against the throwaway CA that ``scripts/services.sh`` makes. It runs on
the fault suite's set of services (tests/faults/conftest.py): local processes, which have TLS
listeners wherever the tests run, also where the main set comes from Docker."""

from __future__ import annotations

import certifi
import psycopg
import pytest

from tests.support import infomart
from tests.support.deployment import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("scenario_name", ["small"])]


def verify_full(url: str, ca: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}sslmode=verify-full&sslrootcert={ca}"


def test_every_service_runs_over_verified_tls(deployment: Deployment,
                                              fault_env: dict[str, str]) -> None:
    ca = fault_env["GIM_TEST_TLS_CA"]
    deployment.overrides.update({
        "GIM_KAFKA_BOOTSTRAP": fault_env["GIM_TEST_KAFKA_SASL_BOOTSTRAP"],
        "GIM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "GIM_KAFKA_SASL_MECHANISM": "PLAIN",
        "GIM_KAFKA_SASL_USERNAME": fault_env["GIM_TEST_KAFKA_SASL_USERNAME"],
        "GIM_KAFKA_SASL_PASSWORD": fault_env["GIM_TEST_KAFKA_SASL_PASSWORD"],
        "GIM_KAFKA_SSL_CAFILE": ca,
        "GIM_CONFIG_DB_URL": verify_full(deployment.config_db, ca),
        "GIM_INFOMART_DB_URL": verify_full(deployment.infomart_db, ca)})
    deployment.through_services()
    with infomart.connect(deployment.infomart_db) as conn:
        problems = infomart.row_problems(conn, deployment.scenario)
        assert not problems, "\n".join(problems[:30])
        # The loader's connections (this one aside) are encrypted.
        loader = conn.execute(
            "SELECT s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
            "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()").fetchall()
    assert loader and all(ssl for ssl, _ in loader), loader

    # The certificates are checked: against another CA, neither connection is made.
    untrusted = certifi.where()
    refused = deployment.run("gca", "run", "--once", check=False,
                             GIM_KAFKA_SSL_CAFILE=untrusted)
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, \
        refused.stderr[-2000:]
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(verify_full(deployment.infomart_db, untrusted)).close()
