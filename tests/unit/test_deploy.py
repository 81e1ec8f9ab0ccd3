"""The production files in deploy/: what can be tested on a machine that cannot pull or build
images. Every Kubernetes manifest validates against the Kubernetes schemas
(`kubernetes-validate`, which ships them), the compose file against the compose
specification's schema (vendored by `check-jsonschema`), the Dockerfile passes hadolint; and
every container runs a real `demandflow` command with settings the settings object knows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from workers.cli.main import app as cli
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
COMPOSE = DEPLOY / "docker" / "compose.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
K8S_VERSION = "1.31"
SETTINGS = {name.upper() for name in Settings.model_fields}
COMMANDS = {c.name or c.callback.__name__.replace("_", "-") for c in cli.registered_commands}
SECRET_SETTINGS = {"DATABASE_URL", "MIGRATION_DATABASE_URL", "DATABASE_APP_PASSWORD"}


def documents() -> list[tuple[str, dict]]:
    return [
        (f"{path.name}#{i}", doc)
        for path in MANIFESTS
        for i, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        if doc
    ]


def containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    return pod.get("containers", [])


@pytest.mark.parametrize("name, doc", documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_manifest_validates_against_the_kubernetes_schema(name: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_manifests_cover_every_process() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in documents()}
    assert {
        ("Deployment", "demandflow-worker"),
        ("HorizontalPodAutoscaler", "demandflow-worker"),
        ("Deployment", "demandflow-api"),
        ("Service", "demandflow-api"),
        ("Job", "demandflow-migrate"),
        ("Deployment", "demandflow-deliver"),
        ("ConfigMap", "demandflow-config"),
    } <= kinds
    api = next(
        d
        for _, d in documents()
        if d["metadata"]["name"] == "demandflow-api" and d["kind"] == "Deployment"
    )
    probes = containers(api)[0]
    assert probes["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "livenessProbe" in probes


def test_every_container_runs_a_real_command_with_known_settings() -> None:
    config = next(d for _, d in documents() if d["kind"] == "ConfigMap")
    assert set(config["data"]) <= SETTINGS, set(config["data"]) - SETTINGS
    for name, doc in documents():
        for container in containers(doc):
            assert container["args"][0] in COMMANDS, (name, container["args"])
            assert {e["name"] for e in container.get("env", [])} <= SETTINGS, name
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    for service, spec in compose["services"].items():
        if spec.get("image", "").startswith("demandflow"):
            assert spec["command"][0] in COMMANDS, service
            assert set(spec["environment"]) <= SETTINGS, set(spec["environment"]) - SETTINGS
    assert SECRET_SETTINGS <= SETTINGS


def test_the_compose_file_validates_against_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)
    services = document["services"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["migrate"]
    assert {"temporal", "temporal-ui", "store-db", "deliver"} <= set(services)


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(
        Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hadolint"
    )
    done = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "USER 10001" in text and "HEALTHCHECK" in text
    assert 'ENTRYPOINT ["demandflow"]' in text


def test_the_installed_package_carries_the_console_and_the_migrations(tmp_path) -> None:
    """The image installs the package (not the checkout): its pages, labels, vendored assets
    and migrations must be inside the wheel."""
    import zipfile

    root = Path(__file__).resolve().parents[2]
    source = tmp_path / "source"  # a copy: setuptools writes build/ beside what it builds
    shutil.copytree(
        root,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "var", "tests", "bench", "build", "*.egg-info", "__pycache__"
        ),
    )
    uv = shutil.which("uv") or str(root / ".venv" / "bin" / "uv")
    done = subprocess.run(
        [uv, "build", "--wheel", "-q", "-o", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = set(zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl"))).namelist())
    for needed in (
        "api/console/templates/need.html",
        "api/console/zh_CN.yaml",
        "api/console/static/console.js",
        "api/static/vendor/echarts/echarts.min.js",
        "api/static/vendor/redoc/redoc.standalone.js",
        "store/migrations/versions/0009_outbox_webhooks.py",
    ):
        assert needed in names, needed


def test_the_grafana_dashboard_asks_only_for_metrics_we_define() -> None:
    """Its demandflow_* series exist in the application's registry (the SDK's temporal_* ones
    are checked against a live worker in tests/integration/test_stack.py)."""
    import re

    from prometheus_client import REGISTRY

    import api.metrics  # noqa: F401 - registers the HTTP metrics
    import telemetry.metrics  # noqa: F401 - registers the application's metrics

    dashboard = json.loads((DEPLOY / "grafana" / "demandflow.json").read_text(encoding="utf-8"))
    assert dashboard["timezone"] == "Asia/Shanghai"
    defined = {
        sample
        for family in REGISTRY.collect()
        if family.name.startswith("demandflow_")
        for sample in {family.name, f"{family.name}_total", f"{family.name}_bucket"}
    }
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bdemandflow_[a-z_]+", target["expr"])
    }
    assert used and used <= defined, used - defined
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_image_copies_every_package_the_project_installs() -> None:
    """The build stage installs from what it copied: a package left out of the image is an
    import error at the first start (telemetry/ once was)."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", DOCKERFILE.read_text(), flags=re.MULTILINE))
    assert {p.rstrip("*") for p in packages} <= copied
