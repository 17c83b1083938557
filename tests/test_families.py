"""The table of metric families is what the exposition writes and what docs/metrics.md documents."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from drs_exporter.config import MetricsConfig
from drs_exporter.errors import REASONS, reason_for_status
from drs_exporter.metrics.exposition import render
from drs_exporter.metrics.families import FAMILIES
from drs_exporter.metrics.family import Family

from .test_exposition import sample_snapshot

METRICS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def documented_row(family: Family) -> str:
    """The family's row in the metric table of docs/metrics.md."""
    labels = ", ".join(family.documented_labels) or "(none)"
    meaning = f"{family.help} {family.note}".strip()
    return f"| `{family.name}` | {family.kind} | {labels} | {meaning} |"


def documented_metric_rows() -> list[str]:
    """The rows of the page's metric table whose first column is a drs_ metric name."""
    text = METRICS_PAGE.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if re.match(r"\| `drs_\w+` \|", line)]


def test_the_documented_metric_table_is_the_table_of_families() -> None:
    expected = [documented_row(family) for family in FAMILIES]
    assert documented_metric_rows() == expected, "docs/metrics.md should read:\n" + "\n".join(
        expected
    )


def test_the_exposition_writes_every_family_in_the_tables_order() -> None:
    body = render(sample_snapshot(), MetricsConfig(), "1.2.3").body(openmetrics=False, gzip=False)
    helps = re.findall(rb"^# HELP (\S+) ", body, re.M)
    assert [name.decode() for name in helps] == [family.name for family in FAMILIES]


def test_every_sample_carries_exactly_its_familys_labels() -> None:
    body = render(sample_snapshot(), MetricsConfig(dense_status=True), "1.2.3").body(
        openmetrics=False, gzip=False
    )
    by_name = {family.name: family for family in FAMILIES}
    seen = set()
    for parsed in text_string_to_metric_families(body.decode()):
        for sample in parsed.samples:
            family = by_name[sample.name]
            own = {name for name in sample.labels if name not in family.labels}
            assert set(family.labels) <= set(sample.labels), sample.name
            # Only a family with labels of its own has more, all with its prefix.
            assert all(family.own_labels and name.startswith(family.own_labels) for name in own)
            seen.add(family.name)
    assert seen == set(by_name), "the sample snapshot should give every family a sample"


def test_help_texts_are_single_lines_and_names_are_unique() -> None:
    names = [family.name for family in FAMILIES]
    assert len(names) == len(set(names))
    for family in FAMILIES:
        assert "\n" not in family.help and "\\" not in family.help, family.name
        assert family.name.startswith("drs_"), family.name
        assert family.name.endswith("_total") == (family.kind == "counter"), family.name


def test_no_module_but_the_table_names_a_family() -> None:
    # A family named anywhere else (a dict key, a list of names) is a second declaration
    # that the table cannot keep true.
    names = {family.name for family in FAMILIES} | {family.family_name for family in FAMILIES}
    package = Path(__file__).resolve().parents[1] / "drs_exporter"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "families.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(package)}:{node.lineno}: {node.value}")
    assert not found


def test_every_reason_the_exporter_fails_with_is_one_the_docs_give() -> None:
    """The reasons drs_poll_errors_total's note lists (``errors.REASONS``) cover every reason
    the code gives an ApiError or counts, and every way an HTTP status is classified."""
    package = METRICS_PAGE.parents[1] / "drs_exporter"
    given: set[str] = set()
    for path in package.rglob("*.py"):
        if "simulator" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        given |= set(re.findall(r'ApiError\(\s*"(\w+)"', text))
        given |= set(re.findall(r'count_poll_error\(\w+, "(\w+)"\)', text))
    given |= {reason_for_status(status) for status in (302, 401, 404, 429, 503)}
    assert {"decode", "internal", "http_3xx", "throttled"} <= given  # the search found them
    assert given <= set(REASONS)
    note = next(f.note for f in FAMILIES if f.name == "drs_poll_errors_total")
    assert all(f"`{reason}`" in note for reason in REASONS)
