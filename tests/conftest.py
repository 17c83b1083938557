"""Shared fixtures: a real simulator on a loopback port, and exporter configs pointing at it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import resource
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from drs_exporter import simulator
from drs_exporter.config import Config, Credentials, PollConfig, Project

from .simulated import Simulated

StartSim = Callable[..., Awaitable[Simulated]]

# The console script installed beside this Python, as an operator would run it.
EXE = str(Path(sys.executable).parent / "drs-exporter")


T0 = 1_700_000_000.0  # the frozen clock of the simulator tests


def fixed(at: float = T0) -> Callable[[], float]:
    """A clock that always says ``at``."""
    return lambda: at


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ipv6_loopback() -> bool:
    """True where this host can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def wait_ready(session: aiohttp.ClientSession, base: str, tries: int = 400) -> None:
    """Poll ``base``/-/ready until it answers 200 (bounded: a stuck process fails the test)."""
    for _ in range(tries):
        try:
            async with session.get(base + "/-/ready") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    pytest.fail(f"{base} never became ready")


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """Start simulators (with the test hooks) with the given options; all are closed after
    the test."""
    running: list[Simulated] = []

    async def start(clock: Callable[[], float] | None = None, **options: Any) -> Simulated:
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        sim = await Simulated.start(simulator.SimulatorOptions(**options), **kwargs)
        running.append(sim)
        return sim

    yield start
    for sim in running:
        await sim.close()


def sim_config(
    sim: Simulated,
    credentials: Credentials | None = None,
    projects: Iterable[str] | None = None,
    **poll: Any,
) -> Config:
    """An exporter config with one target per simulator project, polling fast."""
    creds = credentials or Credentials(token="test-token")
    return Config(
        targets=tuple(
            Project(project_id=p, region="ap-southeast-1", endpoint=sim.url, credentials=creds)
            for p in (sim.project_ids if projects is None else projects)
        ),
        # A short interval for quick polls: a poll that outlasts it only overruns.
        poll=dataclasses.replace(PollConfig(interval=1.0, timeout=5.0, retries=0), **poll),
    )


async def sim_call(sim: Simulated, method: str, path: str, body: Any = None) -> Any:
    """Call one of the simulator's /_sim/ control endpoints."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sim.url + path, json=body) as resp,
    ):
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.content_type == "application/json" else None


Sample = tuple[str, dict[str, str], float]


def samples(exposition: bytes | str) -> list[Sample]:
    """Every sample of a text exposition as (name, labels, value), parsed by prometheus_client."""
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def select(all_samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [
        s for s in all_samples if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())
    ]


@pytest.fixture
def start(start_sim: StartSim) -> StartSim:
    """For the simulator's own tests: simulators on a frozen clock unless given one; closed
    after the test."""

    async def run(clock: Callable[[], float] | None = None, **options: Any) -> Simulated:
        return await start_sim(clock=clock or fixed(), **options)

    return run


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the test's requests."""
    async with aiohttp.ClientSession() as session:
        yield session


async def start_serving(config_path: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """``drs-exporter --config.file config_path *args`` serving on a free loopback port: the
    process (its log on stderr, read by ``stop``) and its base URL."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        EXE,
        "--config.file",
        str(config_path),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}"


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> str:
    """Signal the exporter to stop, wait for it (bounded) and return its log."""
    proc.send_signal(sig)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return err.decode()


# How a test says it was skipped for want of a tool (tests/test_deploy.py's ``tool``).
_MISSING_TOOL = re.compile(r"\b([\w.+-]+) is not installed\b")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line naming the tools whose tests were skipped, so that a run that checked less
    than CI does says so at its end (CI=true fails those tests instead)."""
    missing: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        found = _MISSING_TOOL.search(reason)
        if found:
            missing[found[1]] += 1
    if missing:
        tools = ", ".join(
            f"{name} ({n} {'test' if n == 1 else 'tests'})" for name, n in sorted(missing.items())
        )
        terminalreporter.write_line(
            f"skipped for missing binaries: {tools}; the README's quick start says where they come from"
        )


class Served:
    """An exporter process serving on a loopback port."""

    def __init__(self, proc: asyncio.subprocess.Process, base: str, log: Path) -> None:
        self.proc = proc
        self.base = base
        self.log = log
        self.port = int(base.rsplit(":", 1)[1])

    def rss_mib(self) -> float:
        return self.memory_mib("VmRSS")

    def memory_mib(self, field: str) -> float:
        """Resident memory in MiB: ``VmRSS`` now, ``VmHWM`` at its highest so far."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith(field))
        return kib / 1024

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    async def stop(self) -> str:
        """Stop the exporter (bounded) and return its log."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), 30)
        return self.log.read_text()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    running: list[Served] = []

    async def start(
        config: Path, *args: str, fd_limit: int | None = None, tls: bool = False
    ) -> Served:
        port = free_port()

        def limit_fds() -> None:
            if fd_limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        log = tmp_path / f"exporter-{port}.log"  # a file: a pipe nobody reads would fill up
        proc = await asyncio.create_subprocess_exec(
            EXE,
            "--config.file",
            str(config),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log.open("w"),
            preexec_fn=limit_fds,
        )
        served = Served(proc, f"{'https' if tls else 'http'}://127.0.0.1:{port}", log)
        running.append(served)
        async with aiohttp.ClientSession() as session:
            for _ in range(400):
                try:
                    async with session.get(served.base + "/-/healthy", ssl=False) as resp:
                        if resp.status in (200, 401):
                            return served
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
        pytest.fail("the exporter did not start")

    yield start
    for served in running:
        if served.proc.returncode is None:
            served.proc.kill()
            await served.proc.wait()
