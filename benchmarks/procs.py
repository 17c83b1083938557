"""What the benchmark and the soak script both need: the exporter command, ports, /proc."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def exporter_command() -> list[str]:
    """The installed ``drs-exporter`` beside this Python, else the CLI module."""
    script = Path(sys.executable).with_name("drs-exporter")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "drs_exporter.cli"]


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB: resident memory now, and its peak."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # the kernel reports kB
    return values["VmRSS"], values["VmHWM"]
