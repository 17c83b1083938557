"""The package's shape: one idea a file, said in its opening docstring, and data flowing one way.

The layers below are the architecture in one list: config, then the API layer (transport,
auth, client, paging, listing), the snapshot the poller builds, its exposition, and the HTTP
server; the exporter and the command line put them together. A module may import only from
layers below its own, so nothing reaches back against the flow.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "drs_exporter"
MAX_LINES = 400
LONG_FILE_REASON = "This file is long"  # said in the opening docstring of a longer file

LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "regions", "logs"),
    ("model", "list_apis"),
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
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


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


def imported_units(path: Path, text: str | None = None) -> set[str]:
    """The units of drs_exporter that a file (or ``text`` read as that file) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    here = path.relative_to(PACKAGE).parts
    found: set[str] = set()
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
            if not target:  # "from . import x": x is a module or a name of __init__
                target = [alias.name for alias in node.names][:1]
                if target[0] in init_names():
                    target = ["__init__"]
            found.add(target[0].removesuffix(".py"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "drs_exporter" and len(parts) > 1:
                    found.add(parts[1])
    found.discard(unit(path))
    return found


def test_every_module_is_in_a_layer() -> None:
    assert {unit(p) for p in sources()} == set(RANK)


def test_no_module_imports_against_the_flow() -> None:
    upward = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sources()
        for name in sorted(imported_units(path))
        if RANK[name] >= RANK[unit(path)]
    ]
    assert not upward


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


def test_the_source_layout_names_every_module() -> None:
    readme = (PACKAGE.parent / "docs" / "development.md").read_text(encoding="utf-8")
    section = readme.split("\n## Source layout\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([\w/.]+)` \|", section, re.M))
    expected = {
        str(p.relative_to(PACKAGE))
        for p in sources()
        if p.name != "__init__.py" and p.parent.name != "simulator"
    }
    assert {name for name in listed if name != "simulator/"} == expected
    simulator = {p.name for p in (PACKAGE / "simulator").glob("*.py")} - {"__init__.py"}
    row = next(line for line in section.splitlines() if line.startswith("| `simulator/`"))
    assert set(re.findall(r"`(\w+\.py)`", row)) == simulator


def test_the_layer_check_sees_every_kind_of_import() -> None:
    """So that the check above can fail: relative, absolute and subpackage imports."""
    text = (
        "from .poller import Poller\n"
        "from drs_exporter import exposition\n"
        "import drs_exporter.web.server\n"
        "from . import data\n"
    )
    assert imported_units(PACKAGE / "model.py", text) == {"poller", "exposition", "web", "data"}
    nested = imported_units(PACKAGE / "simulator" / "server.py", text + "from ..cloud import x\n")
    assert nested == {"exposition", "web", "cloud"}  # .poller and . are the simulator's own


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
