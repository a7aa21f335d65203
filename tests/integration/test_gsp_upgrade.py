"""An upgrade of a running deployment: the previous GSP (Faust agents, states without a
format, no clock log) stopped as a rolling update stops it, the new one started on its state
directory, consumer group and changelog topics, while the day still arrives."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import pipeline as pl
from tests import scenario as sc
from tests.deployment import Deployment
from tests.integration.test_gsp import assert_exact_once_caught_up, trickle

pytestmark = pytest.mark.integration

# The last commit whose GSP ran one Faust agent per input topic (before the batch engine).
PREVIOUS = "b70a4cc"


def previous_gim_faust(tmp: Path) -> str:
    """That version's ``gim-faust`` on this virtual environment's packages (the
    dependencies did not change): its tree from git, with the package-dir mapping of
    pyproject.toml laid out as links, so none of today's modules is imported."""
    tree = tmp / "previous"
    tree.mkdir()
    git = ["git", "-C", str(pl.REPO)]
    if subprocess.run([*git, "cat-file", "-e", f"{PREVIOUS}^{{commit}}"]).returncode != 0:
        # A shallow clone: the history is where it was cloned from.
        subprocess.run([*git, "fetch", "-q", "--unshallow"], check=True)
    archive = subprocess.run([*git, "archive", PREVIOUS],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for package in ("tables", "transforms", "loaders"):
        (tree / "gim_faust" / package).symlink_to(tree / package)
    program = tmp / "gim-faust-previous"
    program.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(tree)!r})\n"
                       "from gim_faust.cli import main\nsys.exit(main())\n")
    program.chmod(0o755)
    return str(program)


def test_a_rolling_update_from_the_previous_gsp_keeps_every_row(
        deployment: Deployment, tmp_path: Path) -> None:
    previous = previous_gim_faust(tmp_path)
    day = sc.interleaved(deployment.scenario)
    half = len(day) // 2
    deployment.publish(day[:half], partitions=3)
    deployment.run("gca", "run", "--once")
    old = [deployment.gsp(f"gsp-{name}", program=previous) for name in "ab"]
    loader = deployment.gim()
    deployment.wait_gsp_caught_up(old[0], timeout_s=180)
    assert "_interaction_agent]: Starting" in old[0].log.read_text(errors="replace")
    publisher = trickle(deployment, day[half:], pieces=20, every_s=1.0)
    publisher.start()
    try:
        new = []
        for worker, name in zip(old, "ab", strict=True):  # one pod after the other
            time.sleep(3.0)
            worker.stop()  # SIGTERM, as Kubernetes stops a pod
            assert worker.proc is not None and worker.proc.returncode == 0, worker.tail()
            new.append(deployment.gsp(f"gsp-{name}"))
        assert publisher.is_alive(), "the update ended after the last events; slow them"
    finally:
        publisher.join()
    assert_exact_once_caught_up(deployment, new, loader)
