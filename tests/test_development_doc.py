"""docs/development.md names files that exist, and with its source layout it names
every module: a newcomer who follows it finds what it says."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "development.md"
PACKAGE = REPO / "drs_exporter"
FILE_ENDINGS = (".py", ".md", ".yaml", ".yml", ".json", ".toml")


def named_paths(text: str) -> set[str]:
    """The repository paths a Markdown text names in backticks: with a folder, or a file
    ending; not URL paths (``/metrics``) nor code (``model.Job``)."""
    words = re.findall(r"`([^`\s]+)`", text)
    return {
        word
        for word in words
        if re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", word)
        and ("/" in word or word.endswith(FILE_ENDINGS))
    }


def readme_layout() -> set[str]:
    """The modules the source layout lists (a section of the README, or of a page in docs/),
    as paths inside the package."""
    listed: set[str] = set()
    for page in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        text = page.read_text(encoding="utf-8")
        if "\n## Source layout\n" not in text:
            continue
        section = text.split("\n## Source layout\n", 1)[1].split("\n## ", 1)[0]
        listed |= set(re.findall(r"^\| `([\w/.]+\.py)` \|", section, re.M))
    return listed


def guide_without_layout() -> str:
    """The guide without its source layout, whose names are inside the package (and which
    tests/test_architecture.py makes of the modules' docstrings)."""
    text = GUIDE.read_text(encoding="utf-8")
    before, _, after = text.partition("\n## Source layout\n")
    return before + ("\n## " + after.split("\n## ", 1)[1] if "\n## " in after else "")


def test_every_path_the_guide_names_exists() -> None:
    paths = named_paths(guide_without_layout())
    assert {"drs_exporter/model.py", "config.example.yaml", "benchmarks/soak.py"} <= paths
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert missing == [], f"docs/development.md names files that do not exist: {missing}"


def test_every_module_is_named_in_the_guide_or_the_source_layout() -> None:
    in_guide = {
        p.removeprefix("drs_exporter/")
        for p in named_paths(guide_without_layout())
        if p.startswith("drs_exporter/")
    }
    modules = {
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
    }
    unnamed = sorted(modules - in_guide - readme_layout())
    assert unnamed == [], (
        f"modules neither docs/development.md nor the source layout names: {unnamed}"
    )


def test_the_path_finder_tells_paths_from_code_and_urls() -> None:
    """So that the checks above can fail: what counts as a named path."""
    text = "`drs_exporter/model.py`, `config.example.yaml`, `deploy/`, `/metrics`, `model.Job`"
    assert named_paths(text + ", `_PAGES`, `a b/c.py`") == {
        "drs_exporter/model.py",
        "config.example.yaml",
        "deploy/",
    }
