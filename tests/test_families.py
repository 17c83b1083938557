"""The table of metric families is what the exposition writes and what the README documents."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from drs_exporter.exposition import ExpositionOptions, render
from drs_exporter.families import FAMILIES, Family

from .test_exposition import sample_snapshot

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_row(family: Family) -> str:
    """The family's row in the README's metric table."""
    labels = ", ".join(family.labels) or "(none)"
    meaning = f"{family.help} {family.note}".strip()
    return f"| `{family.name}` | {family.kind} | {labels} | {meaning} |"


def readme_metric_rows() -> list[str]:
    """The rows of the README table whose first column is a drs_ metric name."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if re.match(r"\| `drs_\w+` \|", line)]


def test_the_readme_metric_table_is_the_table_of_families() -> None:
    expected = [readme_row(family) for family in FAMILIES]
    assert readme_metric_rows() == expected, "README table should read:\n" + "\n".join(expected)


def test_the_exposition_writes_every_family_in_the_tables_order() -> None:
    body = render(sample_snapshot(), ExpositionOptions(), "1.2.3").body(
        openmetrics=False, gzip=False
    )
    helps = re.findall(rb"^# HELP (\S+) ", body, re.M)
    assert [name.decode() for name in helps] == [family.name for family in FAMILIES]


def test_every_sample_carries_exactly_its_familys_labels() -> None:
    body = render(sample_snapshot(), ExpositionOptions(dense_status=True), "1.2.3").body(
        openmetrics=False, gzip=False
    )
    by_name = {family.name: family for family in FAMILIES}
    seen = set()
    for parsed in text_string_to_metric_families(body.decode()):
        for sample in parsed.samples:
            family = by_name[sample.name]
            assert sorted(sample.labels) == sorted(family.labels), sample.name
            seen.add(family.name)
    assert seen == set(by_name), "the sample snapshot should give every family a sample"


def test_help_texts_are_single_lines_and_names_are_unique() -> None:
    names = [family.name for family in FAMILIES]
    assert len(names) == len(set(names))
    for family in FAMILIES:
        assert "\n" not in family.help and "\\" not in family.help, family.name
        assert family.name.startswith("drs_"), family.name
        assert family.name.endswith("_total") == (family.kind == "counter"), family.name
