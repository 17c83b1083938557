"""The values table of the chart's README, made from the chart's values.yaml.

A ``# --`` comment documents the key on the line below it (the convention of helm-docs);
the table lists each documented key with its default and that text. ``python -m
tests.chart_values --write`` (``make helm-readme``) writes the table into the README, and
without ``--write`` says whether it is up to date, as tests/test_helm_chart.py checks.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "deploy" / "helm" / "drs-exporter"
VALUES_FILE = CHART / "values.yaml"
README = CHART / "README.md"

BEGIN = "<!-- values table: made from values.yaml by `make helm-readme`; edit values.yaml -->"
END = "<!-- end of the values table -->"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w]*):")
_DOC_START = re.compile(r"^ *# -- ?(?P<text>.*)$")
_DOC_MORE = re.compile(r"^ *#(?: (?P<text>.*))?$")


@dataclass(frozen=True)
class Value:
    """A documented key of values.yaml: its dotted path, default and description."""

    path: str
    default: Any
    description: str


def documented(text: str) -> list[Value]:
    """The documented keys of a values.yaml, in file order."""
    data = yaml.safe_load(text)
    values: list[Value] = []
    parents: list[tuple[int, str]] = []  # (indent, key) of the keys enclosing this line
    description: list[str] | None = None
    for line in text.splitlines():
        if match := _DOC_START.match(line):
            description = [match["text"]]
        elif description is not None and (match := _DOC_MORE.match(line)):
            description.append(match["text"] or "")
        elif match := _KEY.match(line):
            indent = len(match["indent"])
            while parents and parents[-1][0] >= indent:
                parents.pop()
            parents.append((indent, match["key"]))
            if description is not None:
                keys = [key for _, key in parents]
                default = data
                for key in keys:
                    default = default[key]
                values.append(Value(".".join(keys), default, " ".join(description).strip()))
            description = None
        else:
            description = None  # a blank line or another comment ends a description
    return values


def table(values: list[Value]) -> str:
    """The Markdown table of the values: key, default (as JSON) and description."""
    rows = ["| Key | Default | Description |", "|---|---|---|"]
    for value in values:
        default = json.dumps(value.default, separators=(", ", ": "))
        rows.append(f"| `{value.path}` | `{default}` | {value.description} |")
    return "\n".join(rows)


def readme_with_table(readme: str, values: list[Value]) -> str:
    """The README with the text between its markers replaced by the table."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(values)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    """``--write``: bring the README's table up to date; without it, say whether it is."""
    current = README.read_text()
    updated = readme_with_table(current, documented(VALUES_FILE.read_text()))
    if argv == ["--write"]:
        README.write_text(updated)
    elif updated != current:
        print(f"{README}: its values table is not values.yaml's; run `make helm-readme`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
