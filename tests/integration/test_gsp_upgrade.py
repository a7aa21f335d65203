"""An upgrade of a running deployment: the previous GSP (Faust agents, states without a
format, no clock log) stopped as a rolling update stops it, the new one started on its state
directory, consumer group and changelog topics, then scaled to two workers, while the day
still arrives.

The previous version runs as it was supported: one worker (its chart's ``gsp.replicas: 1``;
its docs/gsp.md kept several workers off until rebalances under load were shown safe). Two
of its workers lose events in a rebalance under load (its own two-worker test failed 1 run in
12 here, an interaction's first events missing), which is what the batch engine fixed; an
upgrade cannot repair what the previous version lost before it, so docs/gsp.md "Upgrades"
has the order: update the one worker, then scale."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_gsp import assert_exact_once_caught_up, trickle
from tests.support import pipeline as pl
from tests.support import scenario as sc
from tests.support.deployment import Deployment

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
    old = deployment.gsp("gsp-a", program=previous)
    loader = deployment.gim()
    deployment.wait_gsp_caught_up(old, timeout_s=180)
    assert "_interaction_agent]: Starting" in old.log.read_text(errors="replace")
    publisher = trickle(deployment, day[half:], pieces=20, every_s=1.0)
    publisher.start()
    try:
        time.sleep(3.0)
        old.stop()  # SIGTERM, as Kubernetes stops the pod it updates
        assert old.proc is not None and old.proc.returncode == 0, old.tail()
        new = [deployment.gsp("gsp-a")]  # the new version on the same volume
        time.sleep(5.0)
        new.append(deployment.gsp("gsp-b"))  # then scaled to two workers
        time.sleep(3.0)
        assert publisher.is_alive(), "the update ended after the last events; slow them"
    finally:
        publisher.join()
    assert_exact_once_caught_up(deployment, new, loader)
