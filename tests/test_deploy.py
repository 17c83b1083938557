"""The files under deploy/, checked with the real tools and against the metric contract.

Alert rules go through ``promtool check rules`` and their unit tests through ``promtool test
rules``; the Kubernetes manifests through ``kubectl kustomize`` and the Kubernetes schemas
(``kubernetes-validate``); every PromQL expression of the rules and the dashboard may only
use metrics the exporter exports. The Helm chart has its own module, test_helm_chart.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from drs_exporter import __version__
from drs_exporter.config import parse_config
from drs_exporter.metrics.families import FAMILIES
from drs_exporter.simulator import SimulatorOptions, start

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCS = sorted((REPO / "docs").glob("*.md"))  # the reference pages the README points to
ALERTING = REPO / "docs" / "alerting.md"
ALERTS_FILE = DEPLOY / "prometheus" / "drs-alerts.yml"
ALERT_TESTS_FILE = DEPLOY / "prometheus" / "drs-alerts.test.yml"
DASHBOARD_FILE = DEPLOY / "grafana" / "drs-dashboard.json"
K8S = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm" / "drs-exporter"
# The Kubernetes version whose schemas the rendered manifests must pass.
KUBERNETES_VERSION = "1.33"
# Kinds of the Prometheus Operator, which the Kubernetes schemas do not know: their own tests
# check them (the rules through promtool).
CUSTOM_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})

ALERTS = (
    "DRSJobFailed",
    "DRSFailedJobsInProject",
    "DRSReplicationDelayHigh",
    "DRSJobProgressStalled",
    "DRSDatabaseUnreachable",
    "DRSInstanceDiskFull",
    "DRSRecoveryPointObjectiveHigh",
    "DRSJobSubscriptionExpiring",  # a warning from 14 days,
    "DRSJobSubscriptionExpiring",  # a page from 3
    "DRSReplicationDelayAboveJobThreshold",
    "DRSRecoveryObjectiveAboveJobThreshold",
    "DRSQuotaNearlyUsed",
    "DRSTargetDown",
    "DRSDataStale",
    "DRSAPIThrottled",
    "DRSPollsOverrunning",
    "DRSExporterDown",
    "DRSConfigReloadFailed",
)

# Every family the exporter writes; `up` is Prometheus' own.
METRICS = frozenset({family.name for family in FAMILIES} | {"up"})

# The group drs-exporter-shards, at the end of the file: the replicas of a sharded deployment.
SHARD_ALERTS = ("DRSExporterShardDown", "DRSExporterShardMissing", "DRSExporterShardDuplicated")


# --- helpers shared with test_prometheus_integration.py ----------------------------------


# Where each tool comes from; CI installs them all.
_TOOL_SOURCES = {
    "prometheus": "Debian's prometheus package",
    "promtool": "Debian's prometheus package",
    "amtool": "Debian's prometheus-alertmanager package",
    "helm": "`make deploy-tools`",
    "kubectl": "`make deploy-tools`",
    "kubernetes-validate": "the test extra (`make`'s .venv has it)",
}


def tool(name: str) -> str:
    """Path of a tool: the venv's first (where `make deploy-tools` puts the pinned helm and
    kubectl), then PATH. Skip without it, but fail in CI (CI=true), which installs them all."""
    beside_python = Path(sys.executable).parent / name
    path = str(beside_python) if beside_python.exists() else shutil.which(name)
    if path is None and Path(f"/usr/bin/{name}").exists():
        path = f"/usr/bin/{name}"
    if path is None:
        message = f"{name} is not installed: it comes from {_TOOL_SOURCES[name]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing its output; a hung tool fails the test instead of blocking it."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of deploy/prometheus/drs-alerts.yml."""
    data = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in data["groups"] for rule in group["rules"] if "alert" in rule]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # panels inside collapsed rows


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text())
    return data


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of every panel, with Grafana variables in."""
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard()["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def variable_queries() -> list[tuple[str, str]]:
    """(variable name, PromQL) for each query variable: label_values(S, L) as a PromQL query."""
    queries = []
    for var in dashboard()["templating"]["list"]:
        if var["type"] != "query":
            continue
        match = _LABEL_VALUES.match(var["query"].strip())
        assert match, f"variable {var['name']}: not a label_values() query"
        queries.append((var["name"], f"count by ({match['label']}) ({match['selector']})"))
    return queries


def substitute_variables(expr: str) -> str:
    """The PromQL Grafana would send with every variable at "All" and a 1m rate interval."""
    for name in ("$__rate_interval", "$__interval", "$__range"):
        expr = expr.replace(name, "1m")
    return re.sub(r"\$\{?(project_id|region|job_type)\}?", ".*", expr)


_KEYWORDS = frozenset(
    {
        *("and", "or", "unless", "bool", "offset", "inf", "nan"),
        *("by", "without", "on", "ignoring", "group_left", "group_right"),
        *("sum", "min", "max", "avg", "count", "group", "stddev", "stdvar"),
        *("topk", "bottomk", "quantile", "count_values"),
    }
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range and subquery durations
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", s):
        if s[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group() not in _KEYWORDS:
            names.add(match.group())
    return names


# --- alert rules ---------------------------------------------------------------------------


def test_metric_names_finds_only_metric_names() -> None:
    expr = (
        'sum by (a) (rate(x_total{b="c}", d=~"$e"}[5m])) * on(f) group_left(g) y offset 15m '
        "> bool 1e3 or absent(up{job=~'.*drs.*'}) and time() - z"
    )
    assert metric_names(expr) == {"x_total", "y", "up", "z"}


def test_alert_rules_pass_promtool_check() -> None:
    result = run(tool("promtool"), "check", "rules", str(ALERTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS + SHARD_ALERTS)} rules found" in result.stdout


def test_alert_unit_tests_pass() -> None:
    result = run(tool("promtool"), "test", "rules", ALERT_TESTS_FILE.name, cwd=ALERTS_FILE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_are_the_documented_ones() -> None:
    assert [rule["alert"] for rule in alert_rules()] == list(ALERTS + SHARD_ALERTS)


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    data = yaml.safe_load(ALERT_TESTS_FILE.read_text())
    assert data["rule_files"] == [ALERTS_FILE.name]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in data["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == set(ALERTS + SHARD_ALERTS)
    assert quiet == set(ALERTS + SHARD_ALERTS)


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    """The runbook's first steps travel in the alert: they work wherever the rules are loaded,
    where a link relative to a README would lead nowhere."""
    for rule in alert_rules():
        name = rule["alert"]
        page = "docs/scaling-out.md" if name in SHARD_ALERTS else "docs/alerting.md"
        text = (REPO / page).read_text()
        headings = {line.lstrip("#").strip() for line in text.splitlines() if line[:1] == "#"}
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook"}, name
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        runbook = annotations["runbook"]
        assert len(runbook) > 150 and "{{" not in runbook, name
        assert runbook.endswith(f'More: drs-exporter\'s {page}, "Runbook: {name}".'), name
        assert f"Runbook: {name}" in headings, f"{name}: no runbook section"


def test_the_alerting_page_quotes_the_delay_rule_as_shipped() -> None:
    """The alerting page names the threshold and the ending of DRSReplicationDelayHigh."""
    readme = ALERTING.read_text()
    (rule,) = (r for r in alert_rules() if r["alert"] == "DRSReplicationDelayHigh")
    quoted = re.search(r"in\s+its expression, `([^`]+)`", readme)
    assert quoted and quoted[1] in rule["expr"]
    assert "the rule as shipped ends in a bare `drs_job_info`" in " ".join(readme.split())
    assert rule["expr"].rstrip().endswith("\ndrs_job_info")


def test_alerts_use_only_exported_metrics() -> None:
    for rule in alert_rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= METRICS, f"{rule['alert']}: unknown metrics {names - METRICS}"


def check_prometheus_rule(manifest: dict[str, Any], tmp_path: Path) -> None:
    """A PrometheusRule holds exactly the groups of drs-alerts.yml, and promtool takes them."""
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["spec"]["groups"] == yaml.safe_load(ALERTS_FILE.read_text())["groups"]
    rules = tmp_path / f"{manifest['metadata']['name']}.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": manifest["spec"]["groups"]}))
    result = run(tool("promtool"), "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_rule_carries_the_same_rules(tmp_path: Path) -> None:
    check_prometheus_rule(_manifest("common/prometheusrule.yaml"), tmp_path)


def test_compose_prometheus_config_passes_promtool() -> None:
    # Also checks the rule file it names, which sits beside it as in the compose stack.
    result = run(tool("promtool"), "check", "config", str(DEPLOY / "prometheus/prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_passes_amtool() -> None:
    result = run(
        tool("amtool"),
        "check-config",
        str(DEPLOY / "alertmanager/alertmanager.yml"),
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- paths the documentation names ----------------------------------------------------------

# A path-like word: not inside a longer word, a URL, a variable or an absolute path (those
# are the image's or the machine's), and not an image name followed by its tag.
_PATH = re.compile(
    r"(?<![\w$/.:~@-])((?:\.\.?/)*\.?[A-Za-z_][\w.-]*(?:/[\w.-]*[\w-])*/?)(?![\w/]|:\w)"
)
_EXTENSIONS = (".yaml", ".yml", ".json", ".md", ".toml", ".sh", ".py")
# The operator's own files, in examples (kubectl create secret --from-file=access_key=./ak),
# and the key of the chart's webConfig.existingSecret that holds their web-config file.
_OPERATORS_FILES = {"./ak", "./sk", "web-config.yml"}


def _repository_entries() -> set[tuple[str, ...]]:
    """Every file and directory of the working tree, as path components."""
    skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
    return {
        path.relative_to(REPO).parts
        for path in REPO.rglob("*")
        if not skip & set(path.relative_to(REPO).parts) and ".egg-info" not in str(path)
    }


def _documents() -> list[Path]:
    """The README and the pages of docs/, the deploy files and what runs them; scripts only in
    their comments."""
    named = [REPO / "README.md", *DOCS, REPO / "Makefile", REPO / ".ci" / "run"]
    return named + sorted(p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix != ".json")


def _path_claims(document: Path, top: set[str]) -> Iterator[str]:
    text = document.read_text()
    if document.name == "Dockerfile" or document.suffix == ".sh":
        text = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for match in _PATH.finditer(text):
        word = match[1].rstrip("/")
        relative = word.startswith(("./", "../"))
        if "/" not in word and not word.endswith(_EXTENSIONS):
            continue
        if relative or word.split("/")[0] in top or word.endswith(_EXTENSIONS):
            yield word


def test_every_path_the_docs_and_the_deploy_files_name_exists() -> None:
    """A path may be written from the repository root, from the naming file, or as the tail
    of a longer one (``common/prometheusrule.yaml`` in the Kubernetes notes); each must name
    something that exists."""
    entries = _repository_entries()
    top = {parts[0] for parts in entries}
    top |= {parts[1] for parts in entries if parts[0] == "deploy" and len(parts) > 1}
    top |= {
        parts[2] for parts in entries if parts[:2] == ("deploy", "kubernetes") and len(parts) > 2
    }
    missing, checked = [], 0
    for document in _documents():
        for word in _path_claims(document, top):
            if word in _OPERATORS_FILES:
                continue
            checked += 1
            if (document.parent / word).exists():
                continue
            tail = tuple(part for part in word.split("/") if part not in (".", ".."))
            if not any(parts[-len(tail) :] == tail for parts in entries):
                missing.append(f"{document.relative_to(REPO)}: {word}")
    assert checked >= 100
    assert not missing, missing


def test_the_image_tag_is_the_package_version_everywhere() -> None:
    """The docs, the READMEs of deploy/ and of the chart, the kustomizations and the chart's
    default build and name one image."""
    version = __version__
    assert metadata.version("drs-exporter") == version  # the installed package's, from it
    tags = []
    readmes = (DEPLOY / "README.md", CHART / "README.md")
    for document in (REPO / "README.md", *DOCS, *readmes, DEPLOY / "Dockerfile"):
        text = document.read_text()
        tags += re.findall(r"-t (\S+) \.", text)
        assert "drs-exporter:latest" not in text, document
    for directory in ("", "sharded"):
        (image,) = _manifest(str(Path(directory, "kustomization.yaml")))["images"]
        tags.append(f"{image['newName']}:{image['newTag']}")
    # The chart's image tag defaults to its appVersion.
    image = yaml.safe_load((CHART / "values.yaml").read_text())["image"]
    assert image["tag"] == ""
    tags.append(
        f"{image['repository']}:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"
    )
    assert len(tags) >= 7
    assert set(tags) == {f"drs-exporter:{version}"}


def _pyproject(key: str) -> str:
    """The value of a top-level ``key = ...`` line of pyproject.toml, as written."""
    match = re.search(rf"^{re.escape(key)} = (.+)$", (REPO / "pyproject.toml").read_text(), re.M)
    assert match, key
    return match[1].strip('"')


def test_the_license_is_the_one_pyproject_declares() -> None:
    assert _pyproject("license") == "Apache-2.0"  # the SPDX string, not a table
    assert _pyproject("license-files") == '["LICENSE"]'
    # setuptools reads a license string and license-files from version 77 on.
    assert _pyproject("requires") == '["setuptools>=77"]'
    text = (REPO / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text


# --- Example queries of the docs ------------------------------------------------------------


def readme_queries() -> list[str]:
    """The example queries of the promql blocks of the README and docs/, one string per query.

    A query starts on an unindented line outside parentheses; the lines after it that are
    indented, or inside a parenthesis it opened, continue it. Comment lines are left out.
    """
    queries: list[str] = []
    text = "\n".join(page.read_text() for page in (REPO / "README.md", *DOCS))
    for block in re.findall(r"```promql\n(.*?)```", text, re.S):
        depth = 0
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if depth == 0 and not line[0].isspace():
                queries.append(line)
            else:
                queries[-1] += "\n" + line
            depth += line.count("(") - line.count(")")
        assert depth == 0, f"unbalanced parentheses in {queries[-1]}"
    return queries


def test_readme_example_queries_parse_and_use_exported_metrics(tmp_path: Path) -> None:
    queries = readme_queries()
    assert len(queries) >= 10
    rules = [{"record": f"readme:example_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "readme-examples.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "readme", "rules": rules}]}))
    result = run(tool("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    for query in queries:
        names = metric_names(query)
        assert names, query
        assert names <= METRICS, f"{query}: unknown metrics {names - METRICS}"


# --- dashboard -----------------------------------------------------------------------------


def test_dashboard_covers_what_operators_look_for() -> None:
    exprs = " ".join(expr for _, expr in dashboard_queries())
    assert "sum by (status) (drs_jobs" in exprs
    assert "group_left(name" in exprs and "drs_job_info" in exprs  # failed jobs by name
    assert "sum by (project_id, region) (drs_jobs" in exprs
    assert "sum by (engine_type) (drs_jobs" in exprs
    assert "drs_up{" in exprs
    assert "sum by (region, code) (rate(drs_api_requests_total" in exprs
    assert "sum by (reason) (rate(drs_poll_errors_total" in exprs
    assert "drs_last_poll_duration_seconds" in exprs
    assert [name for name, _ in variable_queries()] == ["project_id", "region", "job_type"]


def test_dashboard_shows_replication_health() -> None:
    queries = dict(dashboard_queries())
    delay = queries["Replication delay per job, worst first"]
    assert delay.startswith("sort_desc(drs_job_replication_delay_seconds{")
    assert "group_left(name" in delay and "drs_job_info" in delay
    running = " ".join(
        expr
        for panel in _panels(dashboard()["panels"])
        if panel["title"] == "Running transfers: progress and remaining time"
        for expr in (target["expr"] for target in panel["targets"])
    )
    for name in ("drs_job_progress_ratio", "drs_job_remaining_seconds", "drs_job_info"):
        assert name in running
    failed = queries["Failed jobs and subtasks, with the reason"]
    assert "group_left(error_code, error_message) drs_job_error_info" in failed
    assert " or on(" in failed  # failed jobs without a reason stay in the table


def test_dashboard_queries_use_only_exported_metrics() -> None:
    queries = dashboard_queries() + variable_queries()
    assert len(queries) >= 15
    for title, expr in queries:
        names = metric_names(expr)
        assert names, title
        assert names <= METRICS, f"{title}: unknown metrics {names - METRICS}"


def test_dashboard_panels_use_the_data_source_variable() -> None:
    data = dashboard()
    variables = {var["name"]: var for var in data["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    source = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == source, var["name"]
            assert var["includeAll"] and var["allValue"] == ".*", var["name"]
    ids = []
    for panel in _panels(data["panels"]):
        ids.append(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == source, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == source, panel["title"]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_grafana_provisioning_matches_the_compose_stack() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    volumes = dict(v.rsplit(":", 2)[:2] for v in compose["services"]["grafana"]["volumes"])
    sources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    assert [(s["type"], s["url"], s["isDefault"]) for s in sources] == [
        ("prometheus", "http://prometheus:9090", True)
    ]
    (provider,) = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/drs.yml").read_text())[
        "providers"
    ]
    mounted = Path(volumes["./grafana/drs-dashboard.json"])
    assert str(mounted.parent) == provider["options"]["path"]
    assert volumes["./grafana/provisioning"] == "/etc/grafana/provisioning"


# --- Kubernetes ----------------------------------------------------------------------------


def _manifest(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / name).read_text())
    return data


def kustomize(directory: str) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize` builds from a directory of deploy/kubernetes."""
    result = run(tool("kubectl"), "kustomize", str(K8S / directory))
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def validate_kubernetes(text: str, path: Path) -> None:
    """Check rendered manifests, written to ``path``, against the Kubernetes schemas: strictly
    (an unknown field is an error) and offline. kubernetes-validate has no schema for the
    custom resources, which are left to their own tests."""
    path.write_text(text)
    result = run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(path))
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode == 0, "\n".join(lines)
    for document in yaml.safe_load_all(text):
        if not document:
            continue
        kind, name = document["kind"], document["metadata"]["name"]
        if kind in CUSTOM_KINDS:
            expected = f"Couldn't find schema for kind {kind} "
        else:
            expected = f"passed for resource {kind.lower()}/{name} against version "
        assert any(expected in line for line in lines), (expected, lines)
    unexplained = [
        line
        for line in lines
        if " passed for resource " not in line
        and not any(f"find schema for kind {kind} " in line for kind in CUSTOM_KINDS)
    ]
    assert not unexplained, unexplained


def test_every_yaml_file_parses() -> None:
    """Every YAML file but the chart's templates, which are YAML only once rendered."""
    files = sorted(
        path
        for path in [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]
        if not path.is_relative_to(CHART / "templates")
    )
    assert len(files) >= 14
    for path in files:
        documents = list(yaml.safe_load_all(path.read_text()))
        assert documents and all(isinstance(d, dict) for d in documents), path


# Each kustomization directory and the other directories it takes resources from.
KUSTOMIZATIONS = {
    "": ("common",),  # one replica: a Deployment
    "common": (),  # what both workloads share
    "sharded": ("../common",),  # a StatefulSet of shards
}
# Each workload and the Service in front of it.
WORKLOADS = {
    "deployment": ("deployment.yaml", "service.yaml"),
    "statefulset": ("sharded/statefulset.yaml", "sharded/service.yaml"),
}


def test_every_kubernetes_directory_is_a_kustomization() -> None:
    found = {str(p.parent.relative_to(K8S)) for p in K8S.rglob("kustomization.yaml")}
    assert {"" if d == "." else d for d in found} == set(KUSTOMIZATIONS)
    dirs = {str(p.relative_to(K8S)) for p in K8S.rglob("*") if p.is_dir()}
    assert dirs == set(KUSTOMIZATIONS) - {""}


@pytest.mark.parametrize(
    ("directory", "bases"), KUSTOMIZATIONS.items(), ids=["base", "common", "sharded"]
)
def test_manifests_are_namespace_agnostic_and_all_in_the_kustomization(
    directory: str, bases: tuple[str, ...]
) -> None:
    kustomization = _manifest(str(Path(directory, "kustomization.yaml")))
    assert "namespace" not in kustomization
    listed = set(kustomization["resources"])
    files = {p.name for p in (K8S / directory).glob("*.yaml")} - {"kustomization.yaml"}
    # The example Secret stays out, so applying never overwrites real credentials.
    assert listed == (files - {"secret.example.yaml"}) | set(bases)
    for name in files:
        assert "namespace" not in _manifest(str(Path(directory, name)))["metadata"], name


@pytest.mark.parametrize("workload", [w for w, _ in WORKLOADS.values()], ids=list(WORKLOADS))
def test_workload_runs_locked_down(workload: str) -> None:
    pod = _manifest(workload)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


@pytest.mark.parametrize(("workload", "service_file"), WORKLOADS.values(), ids=list(WORKLOADS))
def test_workload_probes_and_service_port(workload: str, service_file: str) -> None:
    deployment = _manifest(workload)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [
        {"name": "http-metrics", "containerPort": 9877, "protocol": "TCP"}
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http-metrics"}

    service = _manifest(service_file)
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http-metrics", 9877, "http-metrics")
    ]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    monitor = _manifest("common/servicemonitor.yaml")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http-metrics"]


def test_statefulset_runs_the_deployments_pod_as_shards() -> None:
    """M replicas with --total-shards M --shard auto; otherwise the very pod of the Deployment."""
    statefulset = _manifest("sharded/statefulset.yaml")
    service = _manifest("sharded/service.yaml")
    spec = statefulset["spec"]
    replicas = spec["replicas"]
    assert replicas >= 2
    assert spec["serviceName"] == service["metadata"]["name"]
    assert spec["podManagementPolicy"] == "Parallel"
    # Headless, and scraped before a shard is ready, so that `up` says whether it runs.
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True

    pod = spec["template"]["spec"]  # read afresh: popping from it changes no other test
    base_pod = _manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert pod.pop("topologySpreadConstraints")[0]["topologyKey"] == "kubernetes.io/hostname"
    (container,) = pod["containers"]
    (base_container,) = base_pod["containers"]
    assert container.pop("args") == [
        *base_container["args"],
        f"--total-shards={replicas}",
        "--shard=auto",
    ]
    assert {**pod, "containers": [container]} == {
        **base_pod,
        "containers": [{k: v for k, v in base_container.items() if k != "args"}],
    }
    assert (
        spec["template"]["metadata"] == _manifest("deployment.yaml")["spec"]["template"]["metadata"]
    )


@pytest.mark.parametrize("workload", [w for w, _ in WORKLOADS.values()], ids=list(WORKLOADS))
def test_configmap_config_is_valid_and_reads_the_mounted_secret(
    tmp_path: Path, workload: str
) -> None:
    """The ConfigMap's config loads, and its *_file keys are the Secret's mounted keys."""
    pod = _manifest(workload)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    configmap = _manifest("common/configmap.yaml")
    secret = _manifest("secret.example.yaml")

    config_mount = mounts["config"]
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    assert f"--config.file={config_mount['mountPath']}" in container["args"]
    assert config_mount["subPath"] in configmap["data"]

    assert volumes["credentials"]["secret"]["secretName"] == secret["metadata"]["name"]
    secret_dir = mounts["credentials"]["mountPath"]
    data = yaml.safe_load(configmap["data"][config_mount["subPath"]])
    credentials = data["credentials"]
    files = {k: v for k, v in credentials.items() if k.endswith("_file")}
    assert sorted(files.values()) == sorted(f"{secret_dir}/{k}" for k in secret["stringData"])

    # Stand the mounted secret up in tmp_path and load the config against it.
    for key, value in secret["stringData"].items():
        (tmp_path / key).write_text(value + "\n")
    for key, path in files.items():
        credentials[key] = str(tmp_path / Path(path).name)
    config = parse_config(data, base_dir=str(tmp_path), environ={})
    # Zero configuration: discovery finds the projects, with the mounted credentials.
    assert config.discovery.enabled
    assert config.discovery.credentials is not None
    assert config.discovery.credentials.access_key == secret["stringData"]["access_key"]
    assert config.discovery.credentials.secret_key == secret["stringData"]["secret_key"]
    assert config.web.listen_address.endswith(":9877")


@pytest.mark.parametrize(
    ("directory", "workload"),
    [("", "Deployment"), ("sharded", "StatefulSet")],
    ids=["base", "sharded"],
)
def test_kustomize_builds_the_manifests(directory: str, workload: str, tmp_path: Path) -> None:
    documents = kustomize(directory)
    assert sorted(d["kind"] for d in documents) == sorted(
        ["ConfigMap", workload, "PrometheusRule", "Service", "ServiceMonitor"]
    )
    for document in documents:
        assert "namespace" not in document["metadata"], document["kind"]
        assert document["metadata"]["labels"]["app.kubernetes.io/name"] == "drs-exporter"
    (pods,) = (d for d in documents if d["kind"] == workload)
    image = pods["spec"]["template"]["spec"]["containers"][0]["image"]
    assert ":" in image and not image.endswith(":latest")
    (rules,) = (d for d in documents if d["kind"] == "PrometheusRule")
    check_prometheus_rule(rules, tmp_path)


@pytest.mark.parametrize("directory", ["", "sharded"], ids=["base", "sharded"])
def test_kustomize_output_passes_the_kubernetes_schemas(directory: str, tmp_path: Path) -> None:
    text = yaml.safe_dump_all(kustomize(directory))
    validate_kubernetes(text, tmp_path / f"kustomize-{directory or 'base'}.yaml")


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), " ".join(rest.split())))
    return instructions


def healthcheck_command() -> list[str]:
    """The exec-form command of the Dockerfile's HEALTHCHECK."""
    (arguments,) = (args for keyword, args in dockerfile_instructions() if keyword == "HEALTHCHECK")
    command: list[str] = json.loads(arguments.split(" CMD ", 1)[1])
    return command


def test_dockerfile_builds_small_and_runs_as_non_root() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.12-slim")  # before any FROM
    stages = [args for keyword, args in instructions if keyword == "FROM"]
    assert stages == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    keywords = dict(final)  # the last of each instruction in the final stage
    assert keywords["USER"] == "65532:65532"
    assert keywords["EXPOSE"] == "9877"
    assert json.loads(keywords["ENTRYPOINT"]) == ["drs-exporter"]
    assert json.loads(keywords["CMD"]) == ["--config.file=/etc/drs-exporter/config.yaml"]
    assert "ADD" not in keywords and "COPY" not in keywords  # only the build stage's wheels
    command = healthcheck_command()
    assert command[0] == "python" and "http://127.0.0.1:9877/-/healthy" in command[-1]


def test_dockerfile_copies_only_the_package_sources() -> None:
    """No config or secret is baked in, and every source it copies is in the repository."""
    sources = []
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in args:
            sources += shlex.split(args)[:-1]
    assert sorted(sources) == ["LICENSE", "README.md", "drs_exporter", "pyproject.toml"]
    for source in sources:
        assert (REPO / source).exists(), f"{source} is missing from the build context"


# --- docker-compose ------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def _flags(command: list[str]) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in command if arg.startswith("--") and "=" in arg)


def test_compose_stack_has_every_service_and_its_files() -> None:
    services = _compose()["services"]
    assert set(services) == {"simulator", "exporter", "prometheus", "alertmanager", "grafana"}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    assert services["simulator"]["command"][0] == "simulate"
    flags = _flags(services["simulator"]["command"])
    assert flags["--web.listen-address"] == "0.0.0.0:8080"


def test_compose_exporter_config_matches_the_simulator() -> None:
    services = _compose()["services"]
    sim_flags = _flags(services["simulator"]["command"])
    (mount,) = services["exporter"]["volumes"]
    source, target = mount.split(":")[:2]
    assert f"--config.file={target}" in services["exporter"]["command"]
    data = yaml.safe_load((DEPLOY / source).read_text())
    config = parse_config(data, base_dir=str(DEPLOY / "compose"), environ={})
    assert config.targets
    for target_config in config.targets:
        assert target_config.endpoint == "http://simulator:8080"
        assert target_config.credentials.token == sim_flags["--token"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    scraped = {
        t
        for job in prometheus["scrape_configs"]
        for c in job.get("static_configs", [])
        for t in c["targets"]
    }
    assert f"exporter:{config.web.listen_address.rsplit(':', 1)[1]}" in scraped


async def test_compose_config_lists_the_simulators_projects() -> None:
    """The simulator's seed and project count fix its project ids; the config must follow."""
    sim_flags = _flags(_compose()["services"]["simulator"]["command"])
    options = SimulatorOptions(
        seed=int(sim_flags["--seed"]),
        projects=int(sim_flags["--projects"]),
        jobs=int(sim_flags["--jobs"]),
    )
    simulator = await start(options, host="127.0.0.1", port=0)
    try:
        expected = sorted(simulator.project_ids)
    finally:
        await simulator.close()
    data = yaml.safe_load((DEPLOY / "compose/config.yaml").read_text())
    assert sorted(t["project_id"] for t in data["targets"]) == expected
