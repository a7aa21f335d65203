"""The fault suite runs on a set of services of its own.

``scripts/services.sh`` starts a second Kafka, PostgreSQL and S3 store under ``.local/faults``
on other ports (:data:`PORTS`), always as local processes (with TLS listeners, which the
Docker services lack). A fault stops one of them and starts it again. The rest of the suite,
running beside it under ``make test``, never notices. A test marked ``stops_services`` has the
set to itself; the others share it (:func:`set_in_use`). The fixtures the deployment
depends on (``kafka_bootstrap``, ``pg_url``, ``s3_settings`` and ``s3_client``) are overridden
to point there. Every session fixture that depends on one of them must be overridden too: it
is made once per test process, for whichever test asks first.

Each fault records its figures on its test report (``record``). At the end of a run,
:func:`pytest_terminal_summary` prints them and writes ``var/faults.json``.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO, connect_s3
from tests.integration.conftest import deployment, scenario_name  # noqa: F401 (fixtures)

FAULTS_DIR = REPO / ".local" / "faults"
PORTS = {"GIM_KAFKA_PORT": "19092", "GIM_KAFKA_CONTROLLER_PORT": "19093",
         "GIM_KAFKA_TLS_PORT": "19094", "GIM_KAFKA_SASL_PORT": "19095",
         "GIM_PG_PORT": "15432", "GIM_S3_PORT": "19000"}
RESULTS = REPO / "var" / "faults.json"


def services(*args: str) -> None:
    """``scripts/services.sh`` on the fault suite's set, one caller at a time (two test
    processes may start it at once)."""
    FAULTS_DIR.mkdir(parents=True, exist_ok=True)
    with (FAULTS_DIR.parent / "faults.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(["bash", str(REPO / "scripts" / "services.sh"), *args],
                              env={**os.environ, "GIM_SERVICES_DIR": str(FAULTS_DIR),
                                   "GIM_SERVICES_DOCKER": "never", **PORTS},
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"services.sh {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(autouse=True)
def set_in_use(request: pytest.FixtureRequest) -> Iterator[None]:
    """While a test runs: the set to itself if it stops a service, else shared with the
    other tests of the set (two test processes may run one each)."""
    exclusive = request.node.get_closest_marker("stops_services") is not None
    FAULTS_DIR.mkdir(parents=True, exist_ok=True)
    with (FAULTS_DIR.parent / "faults-in-use.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


@pytest.fixture(scope="session")
def fault_env() -> dict[str, str]:
    services("up")
    lines = (FAULTS_DIR / "services.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="session")
def kafka_bootstrap(fault_env: dict[str, str]) -> str:
    return fault_env["GIM_KAFKA_BOOTSTRAP"]


@pytest.fixture(scope="session")
def pg_url(fault_env: dict[str, str]) -> str:
    return fault_env["GIM_TEST_PG_URL"]


@pytest.fixture(scope="session")
def s3_settings(fault_env: dict[str, str]) -> dict[str, str]:
    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION", "GIM_TEST_S3_BUCKET")
    return {key: fault_env[key] for key in keys}


@pytest.fixture(scope="session")
def s3_client(s3_settings: dict[str, str]) -> Any:
    return connect_s3(s3_settings)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The figures of one fault: filled in by the test, kept on its report."""
    figures: dict[str, Any] = {"fault": request.node.name}
    # On the item before the test runs: its call report copies the list, and the dict in it
    # is filled by then.
    request.node.user_properties.append(("fault", figures))
    yield figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = [dict(value) for outcome in ("passed", "failed")
            for report in terminalreporter.stats.get(outcome, [])
            if getattr(report, "when", "") == "call"
            for name, value in report.user_properties if name == "fault"]
    if not rows:
        return
    terminalreporter.section("faults")
    columns = ("lost", "duplicated", "unexpected")
    terminalreporter.write_line(f"{'fault':<50} " + " ".join(f"{c:>10}" for c in columns)
                                + f" {'recovered (s)':>14}  notes")
    for row in sorted(rows, key=lambda r: r["fault"]):
        recovered = row.get("recovered_s")
        terminalreporter.write_line(
            f"{row['fault']:<50} " + " ".join(f"{row.get(c, '?'):>10}" for c in columns)
            + f" {'-' if recovered is None else f'{recovered:.1f}':>14}  {row.get('notes', '')}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
