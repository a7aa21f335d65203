"""The Helm chart (helm/gim-faust): it lints, renders valid Kubernetes objects with the default
and the production-like values, meets the restricted Pod Security profile, keeps secrets out of
ConfigMaps and speaks the contract's settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from gim_faust.settings import SETTINGS
from tests.deploy.conftest import CHART, PRODUCTION, Render, pod_specs, run

# The Kubernetes version the manifests are validated against (kubernetes-validate's schemas).
KUBERNETES = "1.33.0"
# Prometheus Operator kinds: kubernetes-validate has no schema for CRDs; ours are hand-written
# subsets of the CRDs (tests/deploy/schemas/) that reject unknown fields.
CRD_SCHEMAS = {kind: json.loads((Path(__file__).parent / "schemas" / f"{kind.lower()}.json")
                                .read_text())
               for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule")}
SECRET_ENV = {s.env for s in SETTINGS if s.secret} | {
    "GIM_KAFKA_SASL_USERNAME", "GIM_KAFKA_SASL_PASSWORD", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY"}
# Variables the chart may set besides the project's own: boto3's, libpq's, and the temporary
# directory the read-only root filesystem requires.
FOREIGN_ENV = {"AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
               "AWS_SECRET_ACCESS_KEY", "PGSSLMODE", "PGSSLROOTCERT", "TMPDIR", "HOME"}
PORTS = {"gca": 9250, "gsp": 9249, "gim": 8249}
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]*:[^/@\s]*@")


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests if d["kind"] == kind}


def test_helm_lint_passes_with_default_and_production_values(helm: str) -> None:
    for args in ([], ["-f", str(PRODUCTION)]):
        done = run(helm, "lint", "--strict", CHART, *args)
        assert "0 chart(s) failed" in done.stdout


def test_every_manifest_validates_against_the_kubernetes_schemas(
        manifests: list[dict[str, Any]]) -> None:
    kinds = set()
    for doc in manifests:
        kinds.add(doc["kind"])
        if doc["kind"] in CRD_SCHEMAS:
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])
        else:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "NetworkPolicy",
            "CronJob"} <= kinds


def test_the_production_values_add_the_monitoring_objects(render: Render) -> None:
    kinds = {d["kind"] for d in render(PRODUCTION)}
    assert {"PodMonitor", "PrometheusRule"} <= kinds
    monitor = render(metrics__monitor__enabled="true")
    assert "ServiceMonitor" in {d["kind"] for d in monitor}
    for doc in monitor:
        if doc["kind"] in CRD_SCHEMAS:
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])


def test_every_pod_meets_the_restricted_pod_security_profile(
        manifests: list[dict[str, Any]]) -> None:
    pods = pod_specs(manifests)
    assert len(pods) >= 4   # gca, gim, gsp, export (and maintenance in cronjob mode)
    for name, spec in pods.items():
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] > 0, name
        assert security["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert all(set(v) & {"emptyDir", "secret"} for v in volumes.values()), name
        claims = {"state"} if name.startswith("StatefulSet/") else set()
        for container in _containers(spec):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["runAsNonRoot"] is True and not sc.get("privileged"), name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            # Writable: /tmp (an emptyDir) and the GSP's state volume; CAs are read-only.
            for mount in container["volumeMounts"]:
                writable = not mount.get("readOnly", False)
                source = volumes.get(mount["name"], {})
                assert not writable or "emptyDir" in source or mount["name"] in claims, \
                    (name, mount)
            assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp"}, name


def test_no_secret_value_can_reach_a_configmap(manifests: list[dict[str, Any]], helm: str) -> None:
    configmaps = [d for d in manifests if d["kind"] == "ConfigMap"]
    assert configmaps
    for cm in configmaps:
        data = cm.get("data", {})
        assert not set(data) & SECRET_ENV, cm["metadata"]["name"]
        assert not [v for v in data.values() if CREDENTIALS_IN_URL.search(str(v))]
        assert not [k for k in data if re.search("PASSWORD|SECRET|_DB_URL", k)]
    # Every secret setting a container gets is a reference to an existing Secret.
    for name, spec in pod_specs(manifests).items():
        for container in _containers(spec):
            for var, entry in _env(container).items():
                if var in SECRET_ENV:
                    assert set(entry) == {"name", "valueFrom"}, (name, var)
                    assert set(entry["valueFrom"]) == {"secretKeyRef"}, (name, var)
                    assert "value" not in entry
    # And the values offer no place for one: the schema refuses unknown keys.
    for key in ("database.infomartUrl", "kafka.sasl.password", "objectStore.secretAccessKey"):
        assert run(helm, "template", "x", CHART, "--set", f"{key}=hunter2",
                   ok=False).returncode != 0, key


def test_settings_are_the_contracts_variables(manifests: list[dict[str, Any]]) -> None:
    known = {s.env for s in SETTINGS} | FOREIGN_ENV
    configmap = next(d for d in manifests if d["kind"] == "ConfigMap")["data"]
    used = set(configmap)
    for spec in pod_specs(manifests).values():
        for container in _containers(spec):
            used |= set(_env(container))
            assert container["envFrom"] == [{"configMapRef": {
                "name": configmap_name(manifests)}}]
    assert used <= known, used - known
    assert {"GIM_TENANT", "GIM_KAFKA_BOOTSTRAP", "GIM_OBJECT_STORE"} <= set(configmap)


def configmap_name(manifests: list[dict[str, Any]]) -> str:
    return next(d for d in manifests if d["kind"] == "ConfigMap")["metadata"]["name"]


def test_workloads_gca_single_gsp_stateful_gim_single(manifests: list[dict[str, Any]]) -> None:
    deployments = _by_kind(manifests, "Deployment")
    gca = deployments["acme-gim-faust-gca"]["spec"]
    assert gca["replicas"] == 1 and gca["strategy"] == {"type": "Recreate"}
    assert deployments["acme-gim-faust-gim"]["spec"]["replicas"] == 1
    (gsp,) = _by_kind(manifests, "StatefulSet").values()
    assert gsp["spec"]["replicas"] >= 2  # docs/gsp.md "Several workers"
    container = gsp["spec"]["template"]["spec"]["containers"][0]
    env = _env(container)
    assert env["GIM_GSP_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    state = next(m for m in container["volumeMounts"] if m["name"] == "state")
    assert env["GIM_STATE_DIR"]["value"] == state["mountPath"]
    assert gsp["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    assert gsp["spec"]["serviceName"] in _by_kind(manifests, "Service")
    for name, spec in pod_specs(manifests).items():
        (container,) = spec["containers"]
        if name.startswith("CronJob/"):
            assert container["args"][:1] == ["gim"], name
            continue
        component = container["name"]
        assert container["ports"] == [{"name": "metrics", "containerPort": PORTS[component],
                                       "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_replica_count_of_gca_and_gim_is_not_a_value(render: Render, helm: str) -> None:
    for key in ("gca.replicas", "gim.replicas"):
        assert run(helm, "template", "x", CHART, "--set", f"{key}=2",
                   ok=False).returncode != 0, key
    (gsp,) = _by_kind(render(gsp__replicas="5"), "StatefulSet").values()
    assert gsp["spec"]["replicas"] == 5


def test_schedules_export_cronjob_and_maintenance_in_worker_or_cronjob(render: Render) -> None:
    default = render()
    cronjobs = _by_kind(default, "CronJob")
    assert set(cronjobs) == {"acme-gim-faust-export"}
    assert cronjobs["acme-gim-faust-export"]["spec"]["concurrencyPolicy"] == "Forbid"
    assert next(d for d in default if d["kind"] == "ConfigMap")["data"][
        "GIM_MAINTENANCE_INTERVAL"] == "86400"
    production = render(PRODUCTION)
    cronjobs = _by_kind(production, "CronJob")
    assert set(cronjobs) == {"acme-gim-faust-export", "acme-gim-faust-maintenance"}
    assert next(d for d in production if d["kind"] == "ConfigMap")["data"][
        "GIM_MAINTENANCE_INTERVAL"] == "0"   # the loader leaves it to the CronJob
    job = cronjobs["acme-gim-faust-maintenance"]["spec"]["jobTemplate"]["spec"]["template"]
    (container,) = job["spec"]["containers"]
    assert container["args"] == ["gim", "maintenance"]
    assert _env(container)["GIM_INFOMART_DB_URL"]["valueFrom"]["secretKeyRef"]["name"] == \
        "acme-infomart-owner"


def test_tls_settings_come_from_values_and_cas_are_mounted(render: Render, helm: str) -> None:
    production = render(PRODUCTION)
    data = next(d for d in production if d["kind"] == "ConfigMap")["data"]
    assert data["PGSSLMODE"] == "verify-full"
    assert data["GIM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    for spec in pod_specs(production).values():
        mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
        assert data["PGSSLROOTCERT"].rsplit("/", 1)[0] in mounts
        assert data["GIM_KAFKA_SSL_CAFILE"].rsplit("/", 1)[0] in mounts
    # verify-full without a CA is refused.
    assert run(helm, "template", "x", CHART, "--set", "database.tls.sslmode=verify-full",
               ok=False).returncode != 0


def test_network_policy_admits_only_the_metrics_ports(manifests: list[dict[str, Any]]) -> None:
    (policy,) = _by_kind(manifests, "NetworkPolicy").values()
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = spec["ingress"]
    assert {p["port"] for p in ingress["ports"]} == set(PORTS.values())
    ports = [{p["port"] for p in rule["ports"]} for rule in spec["egress"]]
    assert ports[0] == {53} and len(ports) == 4   # DNS, Kafka, PostgreSQL, object store
    services = _by_kind(manifests, "Service")
    assert {s["spec"]["ports"][0]["port"] for s in services.values()} == set(PORTS.values())
