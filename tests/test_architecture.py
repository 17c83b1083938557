"""The package's shape: folders by stage, one idea a file said in its opening docstring, and
data flowing one way.

The stages below are the architecture in one list: a few basics, the config, the signed
calls to Huawei Cloud, the DRS API, polling, the metrics and the HTTP server; the exporter
and the command line put them together. A stage may import only from stages below its own,
so nothing reaches back against the flow. docs/development.md's source layout is made from
the docstrings (``python -m tests.test_architecture --write`` writes it) and checked here.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "drs_exporter"
GUIDE = PACKAGE.parent / "docs" / "development.md"
MAX_LINES = 400
LONG_FILE_REASON = "This file is long"  # said in the opening docstring of a longer file
MAX_TOP_MODULES = 8  # besides __init__ and __main__: the entry points and a few basics

# Each stage is top-level modules or subpackages (folders), bottom up.
STAGES: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "logs", "regions", "model", "list_apis"),
    ("config",),
    ("cloud",),
    ("drs",),
    ("polling",),
    ("metrics",),
    ("web",),
    ("exporter", "simulator"),
    ("check",),
    ("cli",),
)
RANK = {name: rank for rank, stage in enumerate(STAGES) for name in stage}
# The folders that show the flow, beside config/ and simulator/.
FLOW = ("cloud", "drs", "polling", "metrics", "web")


def unit(path: Path) -> str:
    """The top-level module or subpackage a file belongs to (``config``, ``cli``, ...)."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def init_names() -> set[str]:
    """The names the package's ``__init__`` assigns (``__version__``, ``NAME``)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def imported_modules(path: Path, text: str | None = None) -> set[tuple[str, ...]]:
    """What a file (or ``text`` read as that file) imports of drs_exporter, as paths inside
    the package (``("cloud", "client")``; ``("__init__",)`` for the package's own names)."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    here = path.relative_to(PACKAGE).parts
    found: set[tuple[str, ...]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "drs_exporter":
                    continue
                target = parts[1:]
            else:
                base = list(here[: len(here) - node.level])
                target = [*base, *(node.module.split(".") if node.module else [])]
            if not _is_package(target):
                found.add(tuple(target))
                continue
            for alias in node.names:  # "from .cloud import client": modules of a folder
                if not target and alias.name in init_names():  # "from . import NAME"
                    found.add(("__init__",))
                else:
                    found.add((*target, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "drs_exporter" and len(parts) > 1:
                    found.add(tuple(parts[1:]))
    return found


def _is_package(parts: list[str]) -> bool:
    return not parts or (PACKAGE.joinpath(*parts) / "__init__.py").exists()


def imported_units(path: Path, text: str | None = None) -> set[str]:
    """The units of drs_exporter that a file (or ``text`` read as that file) imports."""
    found = {parts[0].removesuffix(".py") for parts in imported_modules(path, text) if parts}
    found.discard(unit(path))
    return found


def test_every_module_is_in_a_stage() -> None:
    assert {unit(p) for p in sources()} == set(RANK)


def test_no_module_imports_against_the_flow() -> None:
    upward = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sources()
        for name in sorted(imported_units(path))
        if RANK[name] >= RANK[unit(path)]
    ]
    assert not upward


def test_the_folders_show_the_flow() -> None:
    """At most a few modules at the top; the stages between config and the exporter are
    folders, each of which imports only from the ones below it (checked above)."""
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert len(top) <= MAX_TOP_MODULES, sorted(top)
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders == {*FLOW, "config", "simulator"}
    assert [stage for stage in STAGES if set(stage) & set(FLOW)] == [(name,) for name in FLOW]


def test_no_import_cycle_inside_a_folder() -> None:
    """Within a folder too, modules import one way: an order exists in which each imports
    only the ones before it."""
    for folder in (p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
        modules = {p.stem for p in folder.glob("*.py")} - {"__init__"}
        imports = {
            name: {
                parts[1]
                for parts in imported_modules(folder / f"{name}.py")
                if len(parts) > 1 and parts[0] == folder.name and parts[1] in modules
            }
            - {name}
            for name in modules
        }
        placed: set[str] = set()
        while len(placed) < len(modules):
            ready = {m for m in modules - placed if imports[m] <= placed}
            assert ready, f"{folder.name}/: a cycle among {sorted(modules - placed)}"
            placed |= ready


def test_every_module_says_what_it_holds() -> None:
    for path in sources():
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert docstring, f"{path.relative_to(PACKAGE)} has no opening docstring"


def test_no_file_is_long_without_saying_why() -> None:
    for path in sources():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            assert LONG_FILE_REASON in docstring, f"{path.relative_to(PACKAGE)} is long"


def summary(path: Path) -> str:
    """What a module holds, as the first paragraph of its docstring says, on one line."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(docstring.split("\n\n", 1)[0].split())


def layout_rows() -> Iterator[str]:
    """The rows of the source layout: each stage's modules, and each folder with its own."""
    for stage in STAGES:
        for name in stage:
            folder = PACKAGE / name
            if not (folder / "__init__.py").exists():
                if name != "__init__":
                    yield f"| `{name}.py` | {summary(PACKAGE / f'{name}.py')} |"
                continue
            yield f"| `{name}/` | {summary(folder / '__init__.py')} |"
            for module in sorted(folder.glob("*.py")):
                if module.name != "__init__.py":
                    yield f"| `{name}/{module.name}` | {summary(module)} |"


def layout_table() -> str:
    return "\n".join(["| file | what it holds |", "|---|---|", *layout_rows()]) + "\n"


def guide_table() -> str:
    """The table of the guide's source layout, as it is."""
    section = GUIDE.read_text(encoding="utf-8").split("\n## Source layout\n", 1)[1]
    return "".join(re.findall(r"^\|.*\|\n", section.split("\n## ", 1)[0], re.M))


def test_the_source_layout_is_made_of_the_docstrings() -> None:
    """docs/development.md lists every module and folder in the order of the stages, each
    with the first paragraph of its docstring (``--write`` writes them so)."""
    assert guide_table() == layout_table(), (
        "docs/development.md's source layout is not the docstrings': "
        "run .venv/bin/python -m tests.test_architecture --write"
    )


def test_the_layer_check_sees_every_kind_of_import() -> None:
    """So that the check above can fail: relative, absolute and subpackage imports."""
    text = (
        "from .poller import Poller\n"
        "from drs_exporter import exposition\n"
        "import drs_exporter.web\n"
        "from . import data\n"
    )
    assert imported_units(PACKAGE / "model.py", text) == {"poller", "exposition", "web", "data"}
    nested = imported_units(PACKAGE / "simulator" / "server.py", text + "from ..cloud import x\n")
    assert nested == {"exposition", "web", "cloud"}  # .poller and . are the simulator's own
    inside = imported_modules(PACKAGE / "drs" / "listing.py", "from . import paging, decode\n")
    assert inside == {("drs", "paging"), ("drs", "decode")}
    top = imported_modules(PACKAGE / "cli.py", "from . import NAME, simulator\n")
    assert top == {("__init__",), ("simulator",)}


def test_the_exporter_does_not_load_the_simulator_it_only_names() -> None:
    """The command line lists the simulator's flags, but serving never loads its server and
    world (megabytes of resident code); they load when a simulator is started."""
    check = (
        "import sys, drs_exporter.cli\n"
        "loaded = [m for m in ('drs_exporter.simulator.server', 'drs_exporter.simulator.world')"
        " if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "from drs_exporter.simulator import World, start\n"
        "assert start.__module__ == 'drs_exporter.simulator.server', start.__module__\n"
        "assert World.__module__ == 'drs_exporter.simulator.world', World.__module__\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def write_layout() -> None:
    """Write docs/development.md's source layout table from the docstrings."""
    text = GUIDE.read_text(encoding="utf-8")
    old = guide_table()
    assert old and old in text, "no source layout table in docs/development.md"
    GUIDE.write_text(text.replace(old, layout_table()), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_architecture --write")
    write_layout()
