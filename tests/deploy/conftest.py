"""Fixtures of the deployment tests: the chart rendered by a real helm, and promtool.

Both tools come from ``scripts/tools.sh`` (``make tools``, which ``make test`` runs): helm is
built once into ``.local/bin``, promtool is Debian's. A missing tool fails the test with that
hint, never skips it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
CHART = REPO / "helm" / "gim-faust"
PRODUCTION = CHART / "ci" / "production-values.yaml"
HELM = REPO / ".local" / "bin" / "helm"
HINT = "install it with `make tools` (bash scripts/tools.sh)"

Render = Callable[..., list[dict[str, Any]]]


def tool(path: Path | str) -> str:
    found = str(path) if Path(path).is_file() else shutil.which(str(path))
    if not found:
        pytest.fail(f"{path} is missing: {HINT}")
    return found


def run(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    if ok:
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def helm() -> str:
    return tool(HELM)


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool")


def template(helm: str, *values: Path, namespace: str = "gim-acme", release: str = "acme",
             **settings: str) -> list[dict[str, Any]]:
    """The manifests ``helm template`` makes of the chart with these values files and
    ``--set`` values (``a__b="1"`` sets ``a.b=1``)."""
    args: list[str | Path] = [helm, "template", release, CHART, "--namespace", namespace]
    for file in values:
        args += ["-f", file]
    for key, value in settings.items():
        args += ["--set", f"{key.replace('__', '.')}={value}"]
    return [doc for doc in yaml.safe_load_all(run(*args).stdout) if doc]


@pytest.fixture(scope="session")
def render(helm: str) -> Render:
    """``render(*values_files, **set)``: :func:`template` with the built helm."""
    return functools.partial(template, helm)


@pytest.fixture(scope="session", params=["default", "production"])
def manifests(request: pytest.FixtureRequest, render: Render) -> list[dict[str, Any]]:
    """Every manifest of the default values and of the production-like values file."""
    if request.param == "default":
        return render()
    return render(PRODUCTION)


def pod_specs(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod template of each workload, by kind/name."""
    found = {}
    for doc in manifests:
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = spec["template"]["spec"]
    return found
