"""The process families: prometheus_client's collectors, this process's figures, both formats."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from drs_exporter.config import MetricsConfig
from drs_exporter.metrics.exposition import render
from drs_exporter.metrics.process import ProcessMetrics
from tests.test_exposition import promtool_check, sample_snapshot

# As the parsers name them: counters without their _total.
PROCESS_FAMILIES = {
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
}
PYTHON_FAMILIES = {
    "python_info",
    "python_gc_objects_collected",
    "python_gc_objects_uncollectable",
    "python_gc_collections",
}
needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="the process collector reads /proc"
)


def parsed(openmetrics: bool) -> dict[str, Metric]:
    body = ProcessMetrics().render(openmetrics=openmetrics).decode()
    if openmetrics:
        assert "# EOF" not in body  # the whole body's end, not this part's
        families = parse_openmetrics(body + "# EOF\n")  # type: ignore[no-untyped-call]
    else:
        families = parse_text(body)
    return {family.name: family for family in families}


def value(got: dict[str, Metric], name: str) -> float:
    (sample,) = got[name].samples
    return sample.value


@needs_proc
@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_the_process_families_are_this_processs(openmetrics: bool) -> None:
    got = parsed(openmetrics)
    assert set(got) >= PROCESS_FAMILIES | PYTHON_FAMILIES
    assert got["process_cpu_seconds"].type == "counter"
    assert value(got, "process_cpu_seconds") > 0
    assert value(got, "process_resident_memory_bytes") > 0
    assert value(got, "process_virtual_memory_bytes") >= value(got, "process_resident_memory_bytes")
    assert 3 <= value(got, "process_open_fds") <= value(got, "process_max_fds")
    # This test run's start: not 0, not the boot time. (/proc counts from a boot time in
    # whole seconds, hence the second of slack; tests/test_cli.py pins a fresh process's.)
    assert time.time() - 86_400 < value(got, "process_start_time_seconds") <= time.time() + 1
    (info,) = got["python_info"].samples
    assert info.labels["version"] == platform.python_version() and info.value == 1
    generations = {s.labels["generation"] for s in got["python_gc_collections"].samples}
    assert generations == {"0", "1", "2"}


def test_a_registry_of_its_own() -> None:
    """The global registry stays as it was, and two instances do not clash."""
    before = [family.name for family in REGISTRY.collect()]
    ProcessMetrics(), ProcessMetrics()
    assert [family.name for family in REGISTRY.collect()] == before


@needs_proc
def test_promtool_accepts_the_families_followed_by_the_process_part() -> None:
    exposition = render(sample_snapshot(), MetricsConfig(), "1.2.3")
    body = exposition.body(
        openmetrics=False, gzip=False, extra=ProcessMetrics().render(openmetrics=False)
    )
    assert b"\nprocess_resident_memory_bytes " in body
    result = promtool_check(body)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""
