"""docker-compose.yml and the Docker branch of scripts/services.sh.

No Docker engine runs here or in CI, so the file is checked for what the project relies on
(the same ports, credentials and commands as the local services and the contract), and
services.sh is run against a stand-in `docker` that answers `info` and records what it is
asked, while the real local services answer the readiness probes.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from gim_faust.settings import SETTINGS
from tests.deploy.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
CONTRACT = {"gca": (["gca", "run"], 9250), "gsp": (["gsp", "worker"], 9249),
            "gim": (["gim", "worker"], 8249)}
FOREIGN_ENV = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
               "AWS_DEFAULT_REGION"}


def test_compose_runs_the_three_services_of_the_one_image() -> None:
    known = {s.env for s in SETTINGS} | FOREIGN_ENV
    for name, (command, port) in CONTRACT.items():
        service = SERVICES[name]
        assert service["build"] == "." and service["image"] == "gim-faust:local"
        assert service["command"] == command
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert set(service["environment"]) <= known, set(service["environment"]) - known
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert {"kafka", "postgres", "s3-bucket"} <= set(service["depends_on"])
    assert SERVICES["gsp"]["environment"]["GIM_STATE_DIR"] in \
        SERVICES["gsp"]["volumes"][0].split(":")[1]


def test_compose_infrastructure_matches_the_local_services() -> None:
    env = dict(line.split("=", 1) for line in subprocess.run(
        ["bash", REPO / "scripts" / "services.sh", "env"], capture_output=True, text=True,
        check=True).stdout.splitlines())
    assert SERVICES["kafka"]["image"] == "apache/kafka:4.1.2"   # the local Kafka's version
    assert SERVICES["kafka"]["ports"] == ["127.0.0.1:${GIM_KAFKA_PORT:-9092}:9092"]
    assert SERVICES["postgres"]["ports"] == ["127.0.0.1:${GIM_PG_PORT:-5432}:5432"]
    assert SERVICES["postgres"]["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    s3 = SERVICES["s3"]["environment"]
    assert (s3["S3PROXY_IDENTITY"], s3["S3PROXY_CREDENTIAL"]) == \
        (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    assert SERVICES["s3"]["ports"] == ["127.0.0.1:${GIM_S3_PORT:-9000}:80"]
    gim = SERVICES["gca"]["environment"]
    assert gim["GIM_OBJECT_STORE"].startswith(f"s3://{env['GIM_TEST_S3_BUCKET']}/")


def _fake_docker(bin_dir: Path, calls: Path, engine: bool) -> None:
    """A `docker` whose `info` succeeds (or not) and whose compose commands succeed."""
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"""#!/bin/sh
echo "GIM_PG_USER=$GIM_PG_USER $*" >> {calls}
[ "$1" = info ] && exit {0 if engine else 1}
exit 0
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.integration
def test_services_sh_uses_compose_when_a_docker_engine_answers(tmp_path: Path) -> None:
    # A copy of the scripts, so its .local/ is the test's own.
    root = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", root / "scripts")
    shutil.copy(REPO / "docker-compose.yml", root)
    calls = tmp_path / "calls"
    _fake_docker(tmp_path / "bin", calls, engine=True)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
           "GIM_SERVICES_TIMEOUT": "30"}
    done = subprocess.run(["bash", root / "scripts" / "services.sh", "up"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    asked = calls.read_text().splitlines()
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    assert f"GIM_PG_USER={user} compose -f {root}/docker-compose.yml up -d kafka postgres s3" \
        in asked
    assert "a Docker engine answers" in done.stdout
    written = (root / ".local" / "services.env").read_text()
    assert "GIM_KAFKA_BOOTSTRAP=127.0.0.1:" in written
    assert not (root / ".local" / "run").exists() or not list((root / ".local" / "run").iterdir())
    # Told never to use Docker, it does not even ask whether an engine answers.
    calls.unlink()
    subprocess.run(["bash", root / "scripts" / "services.sh", "status"],
                   env={**env, "GIM_SERVICES_DOCKER": "never"}, capture_output=True, timeout=60)
    assert not calls.exists()
