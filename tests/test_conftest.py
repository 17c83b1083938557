"""The suite's own reporting: a run that skipped tests for want of a tool names the tools at
its end, so that a local run that checked less than CI says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_run_names_the_tools_whose_tests_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_terminal_summary\n")
    (tmp_path / "test_tools.py").write_text(
        "import pytest\n"
        "def test_rules(): pytest.skip('promtool is not installed')\n"
        "def test_metrics(): pytest.skip('promtool is not installed: it comes from Debian')\n"
        "@pytest.mark.skipif(True, reason='amtool is not installed')\n"
        "def test_alertmanager(): pass\n"
        "def test_other(): pytest.skip('not on this platform')\n"
        "def test_passes(): pass\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "missing binaries" in line]
    assert lines == [
        "skipped for missing binaries: amtool (1 test), promtool (2 tests); "
        "the README's quick start says where they come from"
    ]
