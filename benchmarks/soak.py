"""Soak run: the exporter under random faults and churning jobs; memory and series must level off.

    python benchmarks/soak.py                  # three minutes
    python benchmarks/soak.py --duration 60    # shorter

The simulator runs in this process, on a loopback port, with a fault mix that changes every
few seconds (server errors, 429 throttling, hanging requests, truncated or HTML bodies, and
calm spells) while jobs are created and deleted every second and move through their
statuses. The exporter is the real ``drs-exporter`` command, polling every second with a
short timeout and stale_after, so targets keep going down, stale and up again.

/metrics is scraped every second. After the warm-up and at the end the faults are switched
off for a few polls, so both measurements see every target up with the same number of jobs;
each is the median of the last samples of that calm spell. The exporter's resident memory
(VmRSS of /proc/PID/status) and its series count (sample lines of /metrics) are printed
then, and the run fails (exit 1) if either grew by more than its tolerance, if the exporter
died, logged a traceback or stopped answering scrapes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from procs import exporter_command, free_port, memory_mib

from drs_exporter import simulator
from drs_exporter.model import JOB_TYPES, STATUSES

TOKEN = "soak-token-not-a-secret"
REGION = "ap-southeast-1"
RSS_TOLERANCE_MIB = 8.0  # growth allowed after warm-up, or RSS_TOLERANCE_RATIO if larger
RSS_TOLERANCE_RATIO = 0.10
SERIES_TOLERANCE_RATIO = 0.05  # the job count is held constant; statuses still move
SERIES_TOLERANCE_ABS = 30
CALM = 4.0  # seconds without faults before a measurement (the exporter polls every second)
FAULT_EVERY = 5  # seconds between changes of the fault mix
LIVE_ADDED_JOBS = 40  # jobs created by the churn that exist at once
ENGINES = ("mysql-to-mysql", "oracle-to-gaussdbv5", "redis-to-gaussredis")

# (name, fault options): what the simulator is set to, one mix at a time.
FAULT_MIXES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("calm", {}),
    ("errors", {"error_rate": 0.3}),
    ("throttled", {"throttle_rate": 0.4, "retry_after": 0.2}),
    ("throttled-no-retry-after", {"throttle_rate": 0.3, "retry_after": None}),
    ("hangs", {"hang_rate": 0.15}),
    ("malformed", {"malformed_rate": 0.2}),
    (
        "storm",
        {"error_rate": 0.2, "throttle_rate": 0.2, "hang_rate": 0.1, "malformed_rate": 0.1},
    ),
    ("outage", {"error_rate": 1.0}),
)
NO_FAULTS = {
    "error_rate": 0.0,
    "throttle_rate": 0.0,
    "hang_rate": 0.0,
    "malformed_rate": 0.0,
    "retry_after": 1.0,
}


@dataclass(frozen=True)
class Sample:
    elapsed: float  # seconds since the exporter started
    rss_mib: float
    series: int


def say(message: str) -> None:
    print(message, flush=True)


def series_count(body: str) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


def write_config(path: Path, sim_url: str, projects: Sequence[str]) -> None:
    targets = "".join(
        f"  - project_id: {p}\n    region: {REGION}\n    endpoint: {sim_url}\n" for p in projects
    )
    path.write_text(
        f"credentials:\n  token: {TOKEN}\ntargets:\n{targets}"
        "poll:\n  interval: 1s\n  timeout: 1s\n  retries: 2\n  page_size: 50\n"
        "  max_concurrency: 8\n  max_requests_per_second: 100\n  stale_after: 3s\n"
    )


class Soak:
    """One run: the simulator, the exporter process, and what was seen of them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.samples: list[Sample] = []
        self.scrape_failures = 0
        self.mixes: collections.Counter[str] = collections.Counter()
        self.added: collections.deque[str] = collections.deque()
        self.next_job = 0
        self.last_body = ""

    async def run(self) -> int:
        a = self.args
        options = simulator.SimulatorOptions(
            seed=a.seed,
            projects=3,
            jobs=a.jobs,
            children_ratio=0.2,
            page_cap=25,  # several pages per target, so listings can drift between pages
            status_period=5.0,
            token=TOKEN,
            hang=3.0,
        )
        sim = await simulator.start(options, host="127.0.0.1", port=0)
        async with aiohttp.ClientSession() as session:
            for _ in range(LIVE_ADDED_JOBS):  # from here on, one job is created per deletion
                await self.churn(session, sim)
        workdir = Path(tempfile.mkdtemp(prefix="drs-soak-"))
        config = workdir / "config.yaml"
        write_config(config, sim.url, sim.project_ids)
        port = free_port()
        log_path = workdir / "exporter.log"
        with open(log_path, "wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                *exporter_command(),
                "--config.file",
                str(config),
                "--web.listen-address",
                f"127.0.0.1:{port}",
                "--log.level",
                "warn",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log_file,
            )
        say(
            f"soak: {a.duration:g}s (warm-up {a.warmup:g}s), seed {a.seed}, {a.jobs} jobs "
            f"+ {LIVE_ADDED_JOBS} churning, {len(sim.project_ids) * len(JOB_TYPES)} targets, "
            f"exporter pid {proc.pid}"
        )
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                return await self.drive(session, sim, proc, f"http://127.0.0.1:{port}", log_path)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
            await sim.close()

    async def drive(
        self,
        session: aiohttp.ClientSession,
        sim: simulator.RunningSimulator,
        proc: asyncio.subprocess.Process,
        base: str,
        log_path: Path,
    ) -> int:
        a = self.args
        await self.wait_ready(session, base, proc)
        started = time.monotonic()
        await self.sample(session, base, proc.pid, started)
        say(f"start          {self.samples[-1].elapsed:7.1f}s  {self.row(self.samples[-1])}")

        await self.churn_until(session, sim, base, proc, started, a.warmup)
        baseline = await self.calm_measure(session, sim, base, proc, started)
        say(f"after warm-up  {baseline.elapsed:7.1f}s  {self.row(baseline)}")

        await self.churn_until(session, sim, base, proc, started, a.duration - CALM)
        final = await self.calm_measure(session, sim, base, proc, started)
        say(f"end            {final.elapsed:7.1f}s  {self.row(final)}")

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
        return self.verdict(baseline, final, code, log_path)

    async def wait_ready(
        self, session: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process
    ) -> None:
        for _ in range(600):
            if proc.returncode is not None:
                raise RuntimeError(f"the exporter exited with status {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(base + "/-/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError("the exporter never became ready")

    async def churn_until(
        self,
        session: aiohttp.ClientSession,
        sim: simulator.RunningSimulator,
        base: str,
        proc: asyncio.subprocess.Process,
        started: float,
        until: float,
    ) -> None:
        """Every second: a scrape, a job created, the oldest deleted, maybe new faults."""
        tick = 0
        while time.monotonic() - started < until:
            if proc.returncode is not None:
                raise RuntimeError(f"the exporter exited with status {proc.returncode}")
            if tick % FAULT_EVERY == 0:
                name, faults = self.rng.choice(FAULT_MIXES)
                self.mixes[name] += 1
                await self.sim_post(session, sim, "/_sim/faults", {**NO_FAULTS, **faults})
            await self.churn(session, sim)
            await self.sample(session, base, proc.pid, started)
            tick += 1
            await asyncio.sleep(1.0)

    async def calm_measure(
        self,
        session: aiohttp.ClientSession,
        sim: simulator.RunningSimulator,
        base: str,
        proc: asyncio.subprocess.Process,
        started: float,
    ) -> Sample:
        """Faults off for a few polls, then the median of the last three samples."""
        await self.sim_post(session, sim, "/_sim/faults", NO_FAULTS)
        deadline = time.monotonic() + CALM
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            await self.sample(session, base, proc.pid, started)
        last = self.samples[-3:]
        return Sample(
            elapsed=last[-1].elapsed,
            rss_mib=statistics.median(s.rss_mib for s in last),
            series=int(statistics.median(s.series for s in last)),
        )

    async def churn(self, session: aiohttp.ClientSession, sim: simulator.RunningSimulator) -> None:
        """Create one job with a random status; delete the oldest beyond LIVE_ADDED_JOBS."""
        self.next_job += 1
        job_id = f"soak-{self.next_job:06d}"
        job = {
            "id": job_id,
            "name": f"soak job {self.next_job}",
            "status": self.rng.choice(STATUSES),
            "engine_type": self.rng.choice(ENGINES),
            "net_type": self.rng.choice(("eip", "vpc", "vpn")),
            "create_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        body = {
            "project_id": self.rng.choice(sim.project_ids),
            "job_type": self.rng.choice(JOB_TYPES),
            "job": job,
        }
        await self.sim_post(session, sim, "/_sim/jobs", body)
        self.added.append(job_id)
        if len(self.added) > LIVE_ADDED_JOBS:
            old = self.added.popleft()
            async with session.delete(f"{sim.url}/_sim/jobs/{old}") as resp:
                resp.raise_for_status()

    async def sim_post(
        self, session: aiohttp.ClientSession, sim: simulator.RunningSimulator, path: str, body: Any
    ) -> None:
        async with session.post(sim.url + path, json=body) as resp:
            resp.raise_for_status()

    async def sample(
        self, session: aiohttp.ClientSession, base: str, pid: int, started: float
    ) -> None:
        try:
            async with session.get(base + "/metrics") as resp:
                resp.raise_for_status()
                self.last_body = await resp.text()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            self.scrape_failures += 1
            return
        self.samples.append(
            Sample(time.monotonic() - started, memory_mib(pid)[0], series_count(self.last_body))
        )

    @staticmethod
    def row(s: Sample) -> str:
        return f"rss {s.rss_mib:6.1f} MiB  series {s.series:6d}"

    def verdict(self, baseline: Sample, final: Sample, code: int, log_path: Path) -> int:
        log = log_path.read_text(errors="replace")
        rss_limit = max(RSS_TOLERANCE_MIB, baseline.rss_mib * RSS_TOLERANCE_RATIO)
        series_limit = max(SERIES_TOLERANCE_ABS, int(baseline.series * SERIES_TOLERANCE_RATIO))
        rss_growth = final.rss_mib - baseline.rss_mib
        series_growth = final.series - baseline.series
        peak = max(s.rss_mib for s in self.samples)
        say(
            f"scrapes: {len(self.samples)} ok, {self.scrape_failures} failed; "
            f"peak rss {peak:.1f} MiB; jobs created {self.next_job}"
        )
        say("fault mixes: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.mixes.items())))
        say("api requests: " + self.counter_summary("drs_api_requests_total", "code"))
        say("poll errors:  " + self.counter_summary("drs_poll_errors_total", "reason"))
        say(f"exporter: exit status {code}, {len(log.splitlines())} log lines")
        problems: list[str] = []
        say(
            f"rss grew {rss_growth:+.1f} MiB (tolerance {rss_limit:.1f} MiB); "
            f"series grew {series_growth:+d} (tolerance {series_limit})"
        )
        if rss_growth > rss_limit:
            problems.append("resident memory grew beyond its tolerance")
        if series_growth > series_limit:
            problems.append("the series count grew beyond its tolerance")
        if self.scrape_failures:
            problems.append(f"{self.scrape_failures} scrapes failed")
        if "Traceback" in log:
            problems.append(f"the exporter logged a traceback (see {log_path})")
        if code != 0:
            problems.append(f"the exporter exited with status {code}")
        for problem in problems:
            say(f"FAIL: {problem}")
        if not problems:
            say("ok")
        return 1 if problems else 0

    def counter_summary(self, name: str, label: str) -> str:
        totals: collections.Counter[str] = collections.Counter()
        for line in self.last_body.splitlines():
            if line.startswith(name + "{"):
                labels, _, value = line.rpartition(" ")
                key = labels.split(f'{label}="', 1)[1].split('"', 1)[0]
                totals[key] += int(float(value))
        return ", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "none"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=180.0, help="seconds (default 180)")
    p.add_argument(
        "--warmup", type=float, default=None, help="seconds (default: a sixth, at least 20)"
    )
    p.add_argument("--jobs", type=int, default=300, help="simulated jobs (default 300)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.warmup is None:
        args.warmup = max(20.0, args.duration / 6)
    if args.duration < args.warmup + 2 * CALM + 5:
        p.error(f"--duration must exceed the warm-up by at least {2 * CALM + 5:g}s")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(Soak(args).run())
    except RuntimeError as exc:
        say(f"FAIL: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
