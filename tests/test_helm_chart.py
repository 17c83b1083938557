"""The Helm chart (deploy/helm/drs-exporter), rendered and checked with the real tools.

Each set of values in the chart's ci/ folder passes ``helm lint --strict``, and what ``helm
template`` makes of it passes the Kubernetes schemas (``kubernetes-validate --strict``); the
custom resources have tests of their own, the rules through promtool. With the release name
drs-exporter, the chart renders what ``kubectl kustomize`` builds from deploy/kubernetes
(names, pod, config, Service, ServiceMonitor, rules). The values schema refuses mistakes,
the README lists values.yaml, and ``helm package`` builds the archive.
"""

from __future__ import annotations

import copy
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from drs_exporter import __version__

from . import chart_values
from .test_deploy import (
    ALERTS_FILE,
    CHART,
    CUSTOM_KINDS,
    DASHBOARD_FILE,
    check_prometheus_rule,
    kustomize,
    run,
    tool,
    validate_kubernetes,
)

# The release name that gives the chart's resources the manifests' names.
RELEASE = "drs-exporter"
VALUE_SETS = {path.name.removesuffix("-values.yaml"): path for path in CHART.glob("ci/*.yaml")}
EVERYTHING = yaml.safe_load(VALUE_SETS["everything"].read_text())
INSTANCE = "app.kubernetes.io/instance"  # the chart's label beside the manifests' name label


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return run(tool("helm"), *args)


def render(*args: str) -> list[dict[str, Any]]:
    """The documents `helm template` makes of the chart with these values arguments."""
    result = helm("template", RELEASE, str(CHART), *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def only(documents: list[dict[str, Any]], kind: str, name: str = RELEASE) -> dict[str, Any]:
    (document,) = (d for d in documents if (d["kind"], d["metadata"]["name"]) == (kind, name))
    return document


def pod_of(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (workload,) = (d for d in documents if d["kind"] in ("Deployment", "StatefulSet"))
    template: dict[str, Any] = workload["spec"]["template"]
    return template


def test_the_value_sets_are_the_defaults_sharded_and_everything() -> None:
    assert sorted(VALUE_SETS) == ["default", "everything", "sharded"]
    assert yaml.safe_load(VALUE_SETS["default"].read_text()) == {}


# --- helm lint, helm template, the Kubernetes schemas ---------------------------------------


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_chart_passes_helm_lint_strict(value_set: str) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(VALUE_SETS[value_set]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("value_set", "kinds"),
    [
        ("default", ["ConfigMap", "Deployment", "Service"]),
        ("sharded", ["ConfigMap", "Service", "StatefulSet"]),
        (
            "everything",
            [
                "ConfigMap",
                "ConfigMap",
                "PrometheusRule",
                "Service",
                "ServiceMonitor",
                "StatefulSet",
            ],
        ),
    ],
)
def test_chart_renders_what_the_kubernetes_schemas_accept(
    value_set: str, kinds: list[str], tmp_path: Path
) -> None:
    documents = render("-f", str(VALUE_SETS[value_set]))
    assert sorted(d["kind"] for d in documents) == kinds
    validate_kubernetes(yaml.safe_dump_all(documents), tmp_path / f"{value_set}.yaml")


# --- the chart and the manifests -------------------------------------------------------------


def _without(data: Any, key: str) -> Any:
    """``data`` with ``key`` removed from every mapping in it."""
    if isinstance(data, dict):
        return {k: _without(v, key) for k, v in data.items() if k != key}
    if isinstance(data, list):
        return [_without(v, key) for v in data]
    return data


def _essence(documents: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """What the chart and the manifests must agree on: each resource's kind, name and spec
    (a ConfigMap's data, parsed), leaving out the chart's instance label and pod annotations."""
    essence = {}
    for document in documents:
        if document["kind"] == "ConfigMap":
            body = {key: yaml.safe_load(value) for key, value in document["data"].items()}
        else:
            body = copy.deepcopy(document["spec"])
            body.get("template", {}).get("metadata", {}).pop("annotations", None)
        essence[document["kind"], document["metadata"]["name"]] = _without(body, INSTANCE)
    return essence


@pytest.mark.parametrize(
    ("directory", "shards"), [("", 1), ("sharded", 3)], ids=["base", "sharded"]
)
def test_chart_renders_what_the_manifests_build(directory: str, shards: int) -> None:
    """Named drs-exporter, with the Prometheus Operator's parts on, the chart makes the very
    resources of deploy/kubernetes: the same pod (image, args, probes, port, security
    contexts, mounts), config, Service, ServiceMonitor and rules."""
    chart = render(
        *("--set", f"shards={shards}"),
        *("--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true"),
    )
    expected = _essence(kustomize(directory))
    rendered = _essence(chart)
    assert rendered.keys() == expected.keys()
    for key, body in expected.items():
        assert rendered[key] == body, key
    assert pod_of(chart)["metadata"]["annotations"].keys() == {"checksum/config"}


def test_the_default_image_is_the_exporters_version() -> None:
    (container,) = pod_of(render())["spec"]["containers"]
    assert container["image"] == f"drs-exporter:{__version__}"


def test_a_new_config_rolls_the_pods() -> None:
    """The exporter reads its config at start: the pod template changes with it."""
    before = pod_of(render())["metadata"]["annotations"]["checksum/config"]
    after = pod_of(render("--set", "config.poll.interval=2m"))["metadata"]["annotations"]
    assert after["checksum/config"] != before


# --- every optional part ------------------------------------------------------------------


def test_every_optional_part_reaches_the_pod() -> None:
    documents = render("-f", str(VALUE_SETS["everything"]))
    template = pod_of(documents)
    pod = template["spec"]
    (container,) = pod["containers"]
    for key in ("imagePullSecrets", "nodeSelector", "tolerations", "affinity", "priorityClassName"):
        assert pod[key] == EVERYTHING[key], key
    assert pod["topologySpreadConstraints"] == EVERYTHING["topologySpreadConstraints"]
    assert (
        pod["securityContext"]
        == yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    )
    assert template["metadata"]["labels"].items() >= EVERYTHING["podLabels"].items()
    assert template["metadata"]["annotations"].items() >= EVERYTHING["podAnnotations"].items()

    image = EVERYTHING["image"]
    assert container["image"] == f"{image['repository']}:{image['tag']}"
    assert container["imagePullPolicy"] == image["pullPolicy"]
    shards = EVERYTHING["shards"]
    assert container["args"][-3:] == [
        f"--total-shards={shards}",
        "--shard=auto",
        *EVERYTHING["extraArgs"],
    ]
    assert container["env"] == EVERYTHING["extraEnv"]
    assert container["resources"] == {
        "requests": EVERYTHING["resources"]["requests"],
        "limits": {"memory": EVERYTHING["resources"]["limits"]["memory"]},  # cpu: null drops it
    }
    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert probe["httpGet"]["scheme"] == "HTTPS"
        assert probe["httpGet"]["httpHeaders"] == EVERYTHING["webConfig"]["probeHeaders"]

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    web = volumes["web-config"]["secret"]
    assert web["secretName"] == EVERYTHING["webConfig"]["existingSecret"]
    assert volumes["credentials"]["secret"]["secretName"] == EVERYTHING["existingSecret"]
    for extra in EVERYTHING["extraVolumes"]:
        assert volumes[extra["name"]] == extra
    for extra in EVERYTHING["extraVolumeMounts"]:
        assert extra in container["volumeMounts"]

    config = yaml.safe_load(
        only(documents, "ConfigMap", f"{RELEASE}-config")["data"]["config.yaml"]
    )
    assert config["web"]["config_file"] == f"{mounts['web-config']}/web-config.yml"
    assert config["discovery"]["regions"] == EVERYTHING["config"]["discovery"]["regions"]
    assert config["credentials"]["access_key_file"].startswith(mounts["credentials"] + "/")

    service = only(documents, "Service")
    assert service["spec"]["ports"][0]["port"] == EVERYTHING["service"]["port"]
    assert service["metadata"]["labels"].items() >= EVERYTHING["service"]["labels"].items()
    assert service["metadata"]["annotations"] == EVERYTHING["service"]["annotations"]


def test_the_custom_resources_of_every_optional_part(tmp_path: Path) -> None:
    documents = render("-f", str(VALUE_SETS["everything"]))
    assert {d["kind"] for d in documents} >= CUSTOM_KINDS

    rule = only(documents, "PrometheusRule")
    check_prometheus_rule(rule, tmp_path)
    assert rule["metadata"]["labels"].items() >= EVERYTHING["prometheusRule"]["labels"].items()

    monitor = only(documents, "ServiceMonitor")
    values = EVERYTHING["serviceMonitor"]
    service = only(documents, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"].items() >= values["labels"].items()
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {
        "port": service["spec"]["ports"][0]["name"],
        "path": "/metrics",
        "scheme": "https",
        **{key: values[key] for key in values if key not in ("enabled", "labels")},
    }

    dashboard = only(documents, "ConfigMap", f"{RELEASE}-dashboard")
    grafana = EVERYTHING["grafanaDashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["labels"].items() >= grafana["labels"].items()
    assert dashboard["metadata"]["namespace"] == grafana["namespace"]
    assert dashboard["metadata"]["annotations"] == grafana["annotations"]
    assert json.loads(dashboard["data"]["drs-dashboard.json"]) == json.loads(
        DASHBOARD_FILE.read_text()
    )


def test_a_custom_metrics_path_reaches_the_service_monitor() -> None:
    monitor = only(
        render("--set", "serviceMonitor.enabled=true,config.web.telemetry_path=/drs"),
        "ServiceMonitor",
    )
    assert monitor["spec"]["endpoints"][0]["path"] == "/drs"


def test_credentials_given_another_way_mount_no_secret() -> None:
    """Without existingSecret the config must not read files from the empty mount point."""
    result = helm("template", RELEASE, str(CHART), "--set", "existingSecret=")
    assert result.returncode != 0
    assert "existingSecret is empty" in result.stderr
    pod = pod_of(render("--set", "existingSecret=,config.credentials=null"))["spec"]
    assert "credentials" not in {v["name"] for v in pod["volumes"]}


# --- the values schema ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("imag.tag=0.1.0", "additional properties 'imag' not allowed"),
        ("shards=0", "/shards"),
        ("shards=three", "/shards"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("serviceMonitor.enabled=yes", "/serviceMonitor/enabled"),
        ("serviceMonitor.interval=30", "/serviceMonitor/interval"),
        ("fullnameOverride=exporter", "/fullnameOverride"),
        ("config.web.listen_address=:9100", "/config/web/listen_address"),
        ("webConfig.tls=on", "/webConfig/tls"),
    ],
)
def test_a_mistaken_value_fails_the_install(value: str, complaint: str) -> None:
    result = helm("install", RELEASE, str(CHART), "--dry-run=client", "--set", value)
    assert result.returncode != 0, result.stdout
    assert "values don't meet the specifications of the schema" in result.stderr
    assert complaint in result.stderr


def test_the_schema_knows_every_value_and_no_other() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def check(node: dict[str, Any], data: dict[str, Any], where: str) -> None:
        if node.get("additionalProperties") is not False:
            return  # a mapping passed on as it is (resources, config, ...)
        assert set(node["properties"]) - {"global"} == set(data), where
        for key, child in node["properties"].items():
            if isinstance(data.get(key), dict):
                check(child, data[key], f"{where}.{key}")

    check(schema, values, "values")


# --- NOTES, README, package ---------------------------------------------------------------


@pytest.mark.parametrize("value_set", ["default", "sharded"])
def test_notes_say_how_to_reach_metrics_and_readiness(value_set: str) -> None:
    result = helm(
        "install", RELEASE, str(CHART), "-n", "monitoring", "--dry-run=client",
        "-f", str(VALUE_SETS[value_set]),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("\nNOTES:\n", 1)[1]
    target = "pod/drs-exporter-0" if value_set == "sharded" else "deployment/drs-exporter"
    assert f"kubectl port-forward -n monitoring {target} 9877" in notes
    assert "curl http://127.0.0.1:9877/-/ready" in notes
    assert "curl http://127.0.0.1:9877/metrics" in notes
    assert "kubectl create secret generic drs-exporter-credentials -n monitoring" in notes


def test_readme_lists_every_value_of_values_yaml() -> None:
    """The table is values.yaml's (`make helm-readme` writes it), and documents every key."""
    assert chart_values.main([]) == 0, "run `make helm-readme`"
    documented = {
        value.path for value in chart_values.documented(chart_values.VALUES_FILE.read_text())
    }

    def check(data: dict[str, Any], prefix: str) -> None:
        for key, value in data.items():
            path = f"{prefix}{key}"
            if path not in documented:
                assert isinstance(value, dict) and value, f"{path} is not documented"
                check(value, f"{path}.")

    check(yaml.safe_load(chart_values.VALUES_FILE.read_text()), "")


def test_documented_reads_keys_defaults_and_descriptions() -> None:
    text = (
        "# a heading, not a description\n\n"
        "# -- First line\n# second line.\nouter:\n"
        "  # -- Inner.\n  inner: [1, 2]\n  plain: 3\n"
        "# -- Last.\nlast: {}\n"
    )
    assert [(v.path, v.default, v.description) for v in chart_values.documented(text)] == [
        ("outer", {"inner": [1, 2], "plain": 3}, "First line second line."),
        ("outer.inner", [1, 2], "Inner."),
        ("last", {}, "Last."),
    ]


def test_helm_package_builds_the_archive_with_the_rules_and_dashboard(tmp_path: Path) -> None:
    result = helm("package", str(CHART), "-d", str(tmp_path))
    assert result.returncode == 0, result.stderr
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    archive = tmp_path / f"{chart['name']}-{chart['version']}.tgz"
    assert f"Successfully packaged chart and saved it to: {archive}" in result.stdout
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        root = chart["name"]
        for source, member in (
            (ALERTS_FILE, "files/drs-alerts.yml"),
            (DASHBOARD_FILE, "files/drs-dashboard.json"),
        ):
            info = tar.getmember(f"{root}/{member}")
            assert info.isfile(), member  # the contents, not a link that leads nowhere
            extracted = tar.extractfile(info)
            assert extracted is not None and extracted.read() == source.read_bytes()
    for member in ("values.schema.json", "README.md", "templates/NOTES.txt"):
        assert f"{root}/{member}" in names
    assert not any(name.startswith(f"{root}/ci/") for name in names)
    # Installed from the archive, the chart makes what it makes from this folder.
    everything = ("-f", str(VALUE_SETS["everything"]))
    packaged = helm("template", RELEASE, str(archive), *everything)
    assert packaged.returncode == 0, packaged.stderr
    assert [*yaml.safe_load_all(packaged.stdout)] == render(*everything)
