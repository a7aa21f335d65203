"""What the alerts and the dashboard watch is what the services export.

GCA, GSP and GIM run as processes on the real services through the day scenario, with one
export recorded before; their ``/metrics`` are scraped, each passes ``promtool check metrics``,
and every metric name used by the chart's alert rules and by docs/grafana/gim-faust.json is
among the names they serve.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gim_faust.metrics import free_port
from tests.deploy.conftest import HELM, PRODUCTION, REPO, template, tool
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

DASHBOARD = REPO / "docs" / "grafana" / "gim-faust.json"
# Every metric of the project is gim_* or gca_*; `up` is Prometheus' own, made per target.
NAME = re.compile(r"\b(?:gim|gca)_[a-z0-9_]+\b")
PROMETHEUS_OWN = {"up"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum",
                                                              "_created"),
            "gauge": ("",), "summary": ("_count", "_sum", "_created")}


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def served_names(text: str) -> set[str]:
    """Every series name the exposition can produce, also of families with no sample yet."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def used_names() -> dict[str, set[str]]:
    rule = next(d for d in template(tool(HELM), PRODUCTION) if d["kind"] == "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return {"alerts": {n for e in exprs for n in NAME.findall(e)},
            "dashboard": {n for q in queries for n in NAME.findall(q)}}


def wait_for(port: int, name: str, timeout: float = 60.0) -> str:
    """The exposition once ``name`` is in it (workers register some metrics once running)."""
    def exposition() -> str | None:
        try:
            text = scrape(port)
        except OSError:
            return None
        return text if name in text else None
    return wait_until(exposition, f"{name} on :{port}/metrics", timeout, interval_s=0.5)


def test_every_metric_in_alerts_and_dashboard_is_served(deployment: Deployment,
                                                        tmp_path: Path) -> None:
    d = deployment
    promtool = tool("promtool")
    used = used_names()
    assert len(used["alerts"]) >= 10 and len(used["dashboard"]) >= 25
    d.publish_scenario(partitions=3)
    d.run("gca", "run", "--once")   # the config topic, which the GSP needs to start
    d.run("gim", "export")          # records its run, which the loader then serves
    before_start = time.time()
    ports = {name: free_port() for name in ("gca", "gsp", "gim")}
    services = {
        "gca": d.start("gca", "run", name="gca", GIM_METRICS_PORT=str(ports["gca"])),
        "gsp": d.start("gsp", "worker", name="gsp", GIM_METRICS_PORT=str(ports["gsp"]),
                       GIM_STATE_DIR=str(tmp_path / "state")),
        "gim": d.start("gim", "worker", name="gim", GIM_METRICS_PORT=str(ports["gim"])),
    }
    d.wait_gsp_caught_up(services["gsp"])
    d.wait_loaded(services["gim"])
    texts = {
        "gca": wait_for(ports["gca"], "gca_last_success_timestamp_seconds"),
        "gsp": wait_for(ports["gsp"], "gim_gsp_events_in_total"),
        "gim": wait_for(ports["gim"], 'task="export"'),
    }
    served: set[str] = set()
    for name, text in texts.items():
        served |= served_names(text)
        checked = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                                 capture_output=True, timeout=60)
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"
    for where, names in used.items():
        assert not names - served, f"{where} use metrics no service serves: {names - served}"
    # The loader serves the export recorded before it started, and a fresh freshness gauge.
    samples = [s for f in text_string_to_metric_families(texts["gim"]) for s in f.samples]
    jobs = {s.labels["task"]: s.value for s in samples
            if s.name == "gim_job_last_completed_timestamp_seconds"}
    assert before_start - 120 < jobs["export"] <= before_start
    assert jobs["maintenance"] <= jobs["export"]   # none yet: the schema's creation
    caught_up = next(s.value for s in samples
                     if s.name == "gim_loader_caught_up_timestamp_seconds")
    assert caught_up >= before_start
