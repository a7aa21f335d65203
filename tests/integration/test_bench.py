"""The benchmark runner runs on a tiny input against the real services and writes every
figure it promises (their values are the machine's business, not the test's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import source
from bench.harness import TENANT

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
KEYS = ("raw_floor_events_per_s", "transforms_events_per_s", "gsp_events_per_s",
        "end_to_end_events_per_s", "ratio_to_raw_floor", "freshness_p50_s", "freshness_p95_s",
        "freshness_p99_s", "freshness_max_s", "aggregation_cpu_s_per_1k_fact_versions",
        "aggregate_lag_p99_s")


def test_bench_runs_on_a_tiny_input(kafka_bootstrap: str, tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--events", "3000", "--gsp-events", "1500",
         "--rate", "100", "200", "--fresh-seconds", "3", "--no-profile",
         "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    for key in KEYS:
        assert result[key] > 0, key
    assert result["cores"] >= 1 and result["date"]
    # the end-to-end backlog is the whole day, its logouts included (bench/source.py)
    whole_day = sum(1 for _ in source.day(source.options(3000, TENANT), None))
    assert result["events"] == result["raw_floor"]["events"] == whole_day
    assert set(result["peak_rss_mb"]) == {"gsp-0", "gsp-1", "loader"}
    assert all(mb > 0 for mb in result["peak_rss_mb"].values())
    assert result["rocksdb_mb"] > 0
    assert [fresh["rate"] for fresh in result["freshness"]] == [100, 200]
    for fresh in result["freshness"]:  # each rate on a day of its own
        assert fresh["interactions"] > 0 and fresh["visible"] == fresh["interactions"]
        assert fresh["published_per_s"] > 0  # what was achieved: a figure, not a check
    assert "end to end" in done.stdout and "freshness at 200 events/s" in done.stdout
    assert "published at" in done.stdout
    assert "aggregates: CPU per 1k fact versions" in done.stdout
