"""The whole chain with the real programs: simulator -> exporter -> Prometheus -> alert.

The simulator and the exporter run as subprocesses of the ``drs-exporter`` command,
Prometheus as /usr/bin/prometheus, all on 127.0.0.1 with free ports. Prometheus scrapes
every second and evaluates a copy of deploy/prometheus/drs-alerts.yml whose ``for:``
durations are cut to 0s. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from .conftest import EXE, free_port
from .test_deploy import (
    ALERTS_FILE,
    dashboard_queries,
    healthcheck_command,
    substitute_variables,
    tool,
    variable_queries,
)
from .test_exposition import promtool_check

pytestmark = pytest.mark.prometheus

DEADLINE = 60.0  # seconds; generous, as the machines are shared
TOKEN = "integration-test-token"
REGION = "ap-southeast-1"
T = TypeVar("T")


def http(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(url: str) -> Any:
    status, body = http("GET", url)
    assert status == 200, f"GET {url}: {status} {body[:300]!r}"
    return json.loads(body)


@dataclass
class Stack:
    simulator: str
    exporter: str
    exporter_port: int
    prometheus: str
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def logs(self) -> str:
        """The last lines each process wrote, for failure messages."""
        parts = []
        for name, _, log in self.processes:
            lines = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            parts.append(f"--- {name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query; a query Prometheus rejects fails the test."""
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = http("GET", url)
        assert status == 200, f"{promql}: {status} {body[:500]!r}"
        answer = json.loads(body)
        assert answer["status"] == "success", f"{promql}: {answer}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def eventually(self, check: Callable[[], T | None], what: str) -> T:
        """Poll ``check`` until it returns something truthy, failing after the deadline."""
        deadline = time.monotonic() + DEADLINE
        error: Exception | None = None
        while True:
            try:
                result = check()
                if result:
                    return result
            except (OSError, ValueError, KeyError) as exc:  # not up yet, or a bad answer
                error = exc
            if time.monotonic() > deadline:
                pytest.fail(f"gave up waiting for {what} (last error: {error})\n{self.logs()}")
            time.sleep(0.5)


def _start(stack: Stack, name: str, argv: list[str], log: Path) -> None:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    stack.processes.append((name, process, log))


def _stop(stack: Stack) -> None:
    for _, process, _ in reversed(stack.processes):
        process.terminate()
    for _, process, _ in stack.processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _fast_rules(path: Path) -> None:
    """Write the alert rules with every `for:` cut to 0s, so alerts fire within seconds."""
    rules = yaml.safe_load(ALERTS_FILE.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin = tool("prometheus")
    command = EXE
    tmp = tmp_path_factory.mktemp("stack")
    sim_port, exporter_port, prom_port = free_port(), free_port(), free_port()
    stack = Stack(
        simulator=f"http://127.0.0.1:{sim_port}",
        exporter=f"http://127.0.0.1:{exporter_port}",
        exporter_port=exporter_port,
        prometheus=f"http://127.0.0.1:{prom_port}",
    )
    try:
        # Statuses frozen (--status-period 0), so counts compare exactly.
        _start(
            stack,
            "simulator",
            [
                command,
                "simulate",
                f"--web.listen-address=127.0.0.1:{sim_port}",
                f"--token={TOKEN}",
                "--seed=7",
                "--projects=2",
                "--jobs=24",
                "--status-period=0",
            ],
            tmp / "simulator.log",
        )
        summary = stack.eventually(
            lambda: get_json(f"{stack.simulator}/_sim/summary"), "the simulator"
        )
        config = {
            "credentials": {"token": TOKEN},
            "targets": [
                {"project_id": p, "region": REGION, "endpoint": stack.simulator}
                for p in summary["projects"]
            ],
            "poll": {
                "interval": "1s",
                "timeout": "5s",
                "retries": 0,
                "max_requests_per_second": 200,
            },
            "web": {"listen_address": f"127.0.0.1:{exporter_port}"},
        }
        (tmp / "exporter.yaml").write_text(yaml.safe_dump(config))
        _start(
            stack,
            "exporter",
            [
                command,
                f"--config.file={tmp / 'exporter.yaml'}",
                f"--web.listen-address=127.0.0.1:{exporter_port}",
            ],
            tmp / "exporter.log",
        )
        stack.eventually(
            lambda: http("GET", f"{stack.exporter}/-/ready")[0] == 200, "the exporter's readiness"
        )

        _fast_rules(tmp / "rules.yml")
        prometheus_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [
                {
                    "job_name": "drs-exporter",
                    "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                }
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config))
        _start(
            stack,
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            tmp / "prometheus.log",
        )
        stack.eventually(lambda: http("GET", f"{stack.prometheus}/-/ready")[0] == 200, "Prometheus")
        yield stack
    finally:
        _stop(stack)


def test_a_real_scrape_passes_promtool_check_metrics(stack: Stack) -> None:
    status, body = http("GET", f"{stack.exporter}/metrics")
    assert status == 200
    assert b"drs_jobs{" in body
    result = promtool_check(body)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert not (result.stdout + result.stderr).strip(), (result.stdout + result.stderr).decode()


def test_the_image_healthcheck_command_probes_the_exporter(stack: Stack) -> None:
    command = healthcheck_command()
    assert command[0] == "python"

    def probe(port: int) -> int:
        script = command[-1].replace("127.0.0.1:9877", f"127.0.0.1:{port}")
        argv = [sys.executable, *command[1:-1], script]
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode

    assert probe(stack.exporter_port) == 0
    assert probe(free_port()) != 0  # nothing listens there


def test_prometheus_sees_the_simulators_jobs(stack: Stack) -> None:
    stack.eventually(
        lambda: [s for s in stack.query('up{job="drs-exporter"}') if s["value"][1] == "1"],
        "the exporter target to be up",
    )
    summary = get_json(f"{stack.simulator}/_sim/summary")
    expected = {
        (project, job_type, status): n
        for project, types in summary["counts"].items()
        for job_type, statuses in types.items()
        for status, n in statuses.items()
        if n
    }
    total = sum(expected.values())
    assert total > 0

    def counted() -> bool:
        result = stack.query("sum(drs_jobs)")
        return bool(result) and float(result[0]["value"][1]) == total

    stack.eventually(counted, f"sum(drs_jobs) to equal the simulator's {total} jobs")
    got = {
        (s["metric"]["project_id"], s["metric"]["job_type"], s["metric"].get("status", "")): int(
            s["value"][1]
        )
        for s in stack.query("sum by (project_id, job_type, status) (drs_jobs)")
    }
    assert got == expected
    up = stack.query(f'drs_up{{region="{REGION}"}}')
    assert len(up) == len(summary["projects"]) * 3
    assert {s["value"][1] for s in up} == {"1"}


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    # Poll errors only exist once a poll has failed: make every API request fail for a
    # moment, then heal the API and wait for every target to be up again.
    assert http("POST", f"{stack.simulator}/_sim/faults", {"error_rate": 1.0})[0] == 200
    try:
        stack.eventually(lambda: stack.query("drs_poll_errors_total"), "a poll error")
    finally:
        assert http("POST", f"{stack.simulator}/_sim/faults", {"error_rate": 0.0})[0] == 200
    stack.eventually(
        lambda: stack.query("min(drs_up) == 1") and stack.query("rate(drs_poll_errors_total[1m])"),
        "every target to be up again",
    )
    queries = dashboard_queries() + variable_queries()
    for title, expr in queries:
        promql = substitute_variables(expr)
        assert "$" not in promql, f"{title}: unsubstituted variable in {promql}"
        stack.eventually(partial(stack.query, promql), f"data for {title!r}: {promql}")


def _failed_job_alerts(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    alerts = get_json(f"{stack.prometheus}/api/v1/alerts")["data"]["alerts"]
    return [
        a
        for a in alerts
        if a["labels"]["alertname"] == "DRSJobFailed" and a["labels"].get("job_id") == job_id
    ]


def test_a_job_that_fails_fires_drs_job_failed_with_its_name(stack: Stack) -> None:
    healthy = stack.eventually(
        lambda: stack.query(
            'drs_job_info{parent_job_id=""} * on(project_id, region, job_type, job_id)'
            ' group_left(status) (drs_job_status{status!~".*_FAILED"} == 1)'
        ),
        "a top-level job that has not failed",
    )
    job = healthy[0]["metric"]
    assert _failed_job_alerts(stack, job["job_id"]) == []

    url = f"{stack.simulator}/_sim/jobs/{urllib.parse.quote(job['job_id'], safe='')}/status"
    status, body = http("POST", url, {"status": "FULL_TRANSFER_FAILED"})
    assert status == 200, body

    def firing() -> list[dict[str, Any]]:
        return [a for a in _failed_job_alerts(stack, job["job_id"]) if a["state"] == "firing"]

    (alert,) = stack.eventually(firing, f"DRSJobFailed for job {job['job_id']}")
    labels = alert["labels"]
    assert labels["status"] == "FULL_TRANSFER_FAILED"
    assert labels["severity"] == "critical"
    for key in ("project_id", "region", "job_type", "name", "engine_type"):
        assert labels.get(key, "") == job.get(key, ""), key
    assert job.get("name", "") in alert["annotations"]["summary"]
    # The reason DRS gives for the failure is in the alert, joined from drs_job_error_info.
    selector = f'drs_job_error_info{{job_id="{job["job_id"]}"}}'
    (reason,) = stack.eventually(lambda: stack.query(selector), f"the reason of {job['job_id']}")
    code = reason["metric"]["error_code"]
    assert code

    def with_reason() -> list[dict[str, Any]]:
        return [a for a in firing() if code in a["annotations"]["description"]]

    (alert,) = stack.eventually(with_reason, f"DRSJobFailed for {job['job_id']} with {code}")
    assert code in alert["annotations"]["summary"]


def test_a_job_that_falls_behind_fires_drs_replication_delay_high(stack: Stack) -> None:
    syncing = stack.eventually(
        lambda: stack.query(
            "drs_job_replication_delay_seconds < 60 and on(project_id, region, job_type, job_id)"
            ' (drs_job_status{status="INCRE_TRANSFER_STARTED"} == 1)'
        ),
        "a synchronizing job that keeps up",
    )
    job_id = syncing[0]["metric"]["job_id"]

    def delay_alerts() -> list[dict[str, Any]]:
        alerts = get_json(f"{stack.prometheus}/api/v1/alerts")["data"]["alerts"]
        return [
            a
            for a in alerts
            if a["labels"]["alertname"] == "DRSReplicationDelayHigh"
            and a["labels"].get("job_id") == job_id
            and a["state"] == "firing"
        ]

    assert delay_alerts() == []
    url = f"{stack.simulator}/_sim/jobs/{urllib.parse.quote(job_id, safe='')}/health"
    status, body = http("POST", url, {"delay_seconds": 2400})  # 40 minutes behind
    assert status == 200, body
    (alert,) = stack.eventually(delay_alerts, f"DRSReplicationDelayHigh for job {job_id}")
    assert alert["labels"]["severity"]
    assert "40m 0s behind" in alert["annotations"]["description"], alert["annotations"]
