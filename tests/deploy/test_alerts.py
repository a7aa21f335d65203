"""The chart's alert rules: `promtool check rules` accepts them as rendered with the default
and the production-like values, and `promtool test rules` (alerts_test.yaml) fires and
resolves every alert."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import PRODUCTION, Render, run

UNIT_TESTS = Path(__file__).parent / "alerts_test.yaml"


def rule_groups(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (rule,) = [d for d in manifests if d["kind"] == "PrometheusRule"]
    return {"groups": rule["spec"]["groups"]}


def alert_names(groups: dict[str, Any]) -> set[str]:
    return {r["alert"] for g in groups["groups"] for r in g["rules"] if "alert" in r}


def test_promtool_accepts_the_rules_of_every_values_file(render: Render, promtool: str,
                                                         tmp_path: Path) -> None:
    for name, manifests in (("default", render(prometheusRule__enabled="true", tenant="acme")),
                            ("production", render(PRODUCTION))):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(rule_groups(manifests)))
        done = run(promtool, "check", "rules", path)
        assert "SUCCESS" in done.stdout


def test_every_alert_fires_and_resolves_in_promtool_unit_tests(render: Render, promtool: str,
                                                               tmp_path: Path) -> None:
    groups = rule_groups(render(prometheusRule__enabled="true", tenant="acme"))
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    done = run(promtool, "test", "rules", tmp_path / UNIT_TESTS.name)
    assert "SUCCESS" in done.stdout
    # Each alert has a case where it fires and a later one where it is gone again.
    fired: dict[str, list[tuple[str, bool]]] = {}
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            fired.setdefault(check["alertname"], []).append(
                (check["eval_time"], bool(check["exp_alerts"])))
    assert set(fired) == alert_names(groups)
    for alert, checks in fired.items():
        states = [state for _, state in checks]
        assert True in states and states[-1] is False, alert
