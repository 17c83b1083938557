"""drs-exporter at 10,000 DRS jobs: poll cycle, /metrics scrapes, memory and CPU, and growth.

    make bench         # python benchmarks/bench.py: the README's figures, a few minutes
    make bench-smoke   # python benchmarks/bench.py --tiny: every step at toy size, seconds

Everything runs on loopback, each in a process of its own: the built-in simulator
(``drs-exporter simulate``), the exporter (the real ``drs-exporter`` command and a generated
config file) and, side by side with it, the straightforward prometheus_client exporter of
benchmarks/baseline.py, holding the same jobs.

How each figure is taken:

- First full cycle: the exporter starts polling every target at once; once it is ready and
  quiet, one scrape reads the largest ``drs_last_poll_duration_seconds`` (every target
  starts with the cycle, so the slowest target's poll is the cycle), the requests it
  made, and its CPU from when the server first answers (polling starts with it) to quiet.
  The simulator has answered the same requests before (the baseline's and the
  benchmark's own, batch-detail's included), so its caches are as warm as in a steady
  cycle: this is the exporter's cold start alone. The targets on it are judged on
  exporters started afresh after the steady cycles, ``Plan.fresh_starts`` with the rate
  of the cycles (rate-bound) and as many with a rate that never binds
  (concurrency-bound), in turn: the median of each kind's ratios to what bounds each
  start. One start is one sample of a shared machine: five of one run, concurrency-bound,
  took 1.01 to 1.22 x what bounds them.
- Steady cycles: the rounds of the exporter's own schedule. Every target polls each
  ``Plan.interval``, all together (they started together, and no round outlasts the
  interval); a cycle is one such round, measured from just before it starts until the
  exporter is quiet again. Other settings (rate, health, batch size) are written to the
  config and loaded with ``POST /-/reload`` (the exporter runs with
  ``--web.enable-lifecycle``) between two rounds: each target's next poll follows them.
  While the benchmark scrapes, the interval is an hour, so that no round runs meanwhile.
  Statuses are frozen, and the figures that move over time (progress, delays, update
  times) have moved: the interval is at least the simulator's TICK, as real rounds a minute
  apart would see them. Cycles are measured with health on (the default) and with
  ``metrics.health: false``.
- The ideal is the round trips that cannot overlap, with R requests (the cycle's own: every
  page of each target's v5 and v3 listings, and its batch calls), C = max_concurrency,
  Q = max_requests_per_second and RTT = one page's round trip measured alone:
  ideal = max(ceil(R / C) * RTT, (R - 1) / Q + RTT, D * RTT), D the requests a target must
  make one after the other (its first page; its other pages; its batch calls, which need
  the listing's statuses). The CPU floor is what the machine allows: neither the exporter
  nor the simulator can use more than one CPU, and together no more than all of them.
- CPU per cycle: utime + stime of the exporter (and of the simulator) from /proc/PID/stat,
  from the reload's answer to the cycle's last CPU tick. json.loads: the benchmark fetches
  the bodies of one cycle itself (benchmarks/bodies.py) and times the standard library's
  decoder on them right after each measured cycle, so that both see the machine at the
  same speed (it drifts by half over a run on a shared machine); a CPU ratio is the median
  of the cycles' ratios. The same again for a world of compact job records (``--compact``).
- RSS: VmRSS of /proc/PID/status after the cycles (only Prometheus-style scrapes so far),
  then after plain text, gzip text and plain OpenMetrics scrapes, each read 1.5 s after the
  last scrape (the exporter gives back what an uncompressed scrape freed within a second);
  VmHWM is the peak.
- Scrapes: sequential GETs of /metrics over keep-alive connections, alternating between the
  exporter and the baseline, timed from request to last body byte; p99 by nearest rank.
  The text format uncompressed on both sides (the same bytes to move), and the exporter's
  answer to what Prometheus asks for (OpenMetrics, gzip), which the baseline does not offer.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import json
import math
import os
import platform
import re
import select
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from bodies import cycle_bodies, loads_seconds
from procs import exporter_command, free_port, memory_mib

from drs_exporter import __version__
from drs_exporter.config import PollConfig
from drs_exporter.drs.batch_calls import BATCH_DETAIL, DR_JOB_TYPE, INSTANCE_STATUSES
from drs_exporter.list_apis import LIST_APIS, MAX_PER_PAGE
from drs_exporter.polling.counters import DRS_API_NAMES, IAM_API_NAMES
from drs_exporter.simulator.health import TICK

TOKEN = "bench-token-not-a-secret"
REGION = "ap-southeast-1"
PROMETHEUS_HEADERS = {  # what Prometheus 2 sends
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
SETTLE = 0.5  # seconds without a CPU tick after which a process counts as idle
LEAD = 1.0  # seconds before a round that a new setting must be loaded, and its CPU read
QUIET = "1h"  # the interval while the benchmark scrapes: no round runs meanwhile
CPU_SAMPLE = 0.05  # seconds between /proc samples while waiting for a cycle
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
CPUS = len(os.sched_getaffinity(0))
# The performance targets; ratios within one run, so the machine's speed cancels out.
SCRAPE_SPEEDUP_TARGET = 20.0
FIRST_CYCLE_TARGET = 1.2  # first full cycle, times its ideal
CPU_RATIO_TARGET = 3.0  # CPU per steady cycle, times json.loads on the same bodies
RSS_TARGETS_MB = {10_000: 70.0, 50_000: 200.0}  # after every kind of scrape
BATCH_SIZE = 100  # the exporter's default poll.batch_size
# A third of the 1,076 requests a 10,000-job cycle took with batches of 10 ids, before the
# DR calls and the quota were added.
REQUESTS_TARGET = 1_076 // 3
UNBOUND_RPS = 10_000.0  # a max_requests_per_second that never binds here (the largest allowed)
NARROW_BATCH = 10  # batch_size of the cycles that show what a server taking 10 ids costs


@dataclass(frozen=True)
class Plan:
    """What one run of the benchmark does."""

    projects: int
    jobs: int  # the headline size
    growth: tuple[int, ...]  # sizes of the growth table (the headline size among them)
    # Share of migration and sync jobs with subtasks (the simulator gives DR jobs none):
    # 0.15 of two thirds makes 10% of all jobs.
    children_ratio: float
    page_cap: int
    latency: float  # seconds from each request to its answer at the simulator
    page_size: int  # what the exporter asks for; above page_cap, so the server's cap applies
    concurrency: int
    fast_rps: float  # so high that max_concurrency bounds the cycle
    slow_rps: float  # low enough to bound it instead
    scrapes: int
    # The baseline takes seconds per scrape at 10,000 jobs: it is scraped alongside until its
    # scrapes took this long in all (but at least min_baseline_scrapes times).
    baseline_budget: float
    min_baseline_scrapes: int
    cycles: int  # measured cycles per size
    fresh_starts: int  # exporters started afresh for each kind of first cycle judged
    interval: float  # seconds between rounds: at least TICK, and longer than any round


FULL = Plan(
    projects=10,
    jobs=10_000,
    growth=(1_000, 10_000, 50_000),
    children_ratio=0.15,
    page_cap=100,
    latency=0.05,
    page_size=1000,
    concurrency=64,
    fast_rps=1000.0,
    slow_rps=50.0,
    scrapes=200,
    baseline_budget=60.0,
    min_baseline_scrapes=10,
    cycles=3,
    fresh_starts=3,
    interval=2.0 * TICK,  # the figures move between rounds; a 50,000-job round fits in it
)
TINY = Plan(
    projects=2,
    jobs=600,
    growth=(120, 600),
    children_ratio=0.15,
    page_cap=20,
    latency=0.01,
    page_size=1000,
    concurrency=16,
    fast_rps=1000.0,
    slow_rps=100.0,
    scrapes=20,
    baseline_budget=2.0,
    min_baseline_scrapes=5,
    cycles=1,
    fresh_starts=1,
    interval=2.0,  # a smoke run: some figures stand still between its rounds
)


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Processes --------------------------------------------------------------------------------


class Process:
    """A child process with its stderr in a log file; stopped by its own pid only."""

    def __init__(self, name: str, argv: Sequence[str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        # Unbuffered: select() on the pipe must not miss lines already read into a buffer.
        self.popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            bufsize=0,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> None:
        """Raise BenchError if the process has exited."""
        code = self.popen.poll()
        if code is not None:
            raise BenchError(f"{self.name} exited with status {code}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(f"  {line}" for line in text[-lines:]) or "  (no output)"

    def read_line(self, prefix: str, timeout: float) -> str:
        """The first stdout line starting with ``prefix``, without it."""
        stdout = self.popen.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.name} did not say {prefix!r} within {timeout:g}s")
            ready, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
            if ready:
                line = stdout.readline().decode(errors="replace")
                if not line:
                    self.alive()
                    raise BenchError(f"{self.name} closed its output")
                if line.startswith(prefix):
                    return line[len(prefix) :].strip()
            else:
                self.alive()

    def cpu_seconds(self) -> float:
        """utime + stime of the process, all threads."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MB."""
        return memory_mib(self.pid)

    def settled_rss(self) -> float:
        """VmRSS in MB once the exporter has given back what its last scrapes freed (it does
        within a second of an uncompressed one)."""
        time.sleep(1.5)
        return self.memory_mb()[0]

    def wait_idle(self, timeout: float) -> float:
        """Wait until no CPU tick for SETTLE seconds; return the CPU seconds at the last tick."""
        deadline = time.monotonic() + timeout
        last = self.cpu_seconds()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < SETTLE:
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not go idle within {timeout:g}s")
            time.sleep(CPU_SAMPLE)
            self.alive()
            now = self.cpu_seconds()
            if now != last:
                last, quiet_since = now, time.monotonic()
        return last

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()


# --- HTTP ---------------------------------------------------------------------------------------


class Http:
    """A keep-alive HTTP/1.1 connection to one loopback server."""

    def __init__(self, base_url: str, timeout: float = 300.0) -> None:
        host, _, port = base_url.removeprefix("http://").rstrip("/").rpartition(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self._conn.request(method, path, headers=dict(headers or {}))
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._conn.close()  # the server closed an idle connection: once more
                if attempt == 2:
                    raise
            except BaseException:
                self._conn.close()  # else http.client refuses the next request
                raise
        raise AssertionError("unreachable")

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> bytes:
        status, body = self.request("GET", path, headers)
        if status != 200:
            raise BenchError(f"GET {path}: HTTP {status}: {body[:200]!r}")
        return body

    def close(self) -> None:
        self._conn.close()


def timed(call: Callable[[], bytes]) -> tuple[float, bytes]:
    started = time.perf_counter()
    body = call()
    return time.perf_counter() - started, body


@dataclass(frozen=True)
class Latency:
    median: float  # seconds
    p99: float
    count: int

    @staticmethod
    def of(samples: Sequence[float]) -> Latency:
        ordered = sorted(samples)
        return Latency(
            statistics.median(ordered), ordered[math.ceil(0.99 * len(ordered)) - 1], len(ordered)
        )

    def __str__(self) -> str:
        return f"{ms(self.median)} / {ms(self.p99)}"


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


# --- The metrics the benchmark reads back --------------------------------------------------------

_HEALTH = re.compile(
    rb"^(drs_last_poll_duration_seconds|drs_last_poll_success_timestamp_seconds)"
    rb"\{(project_id=\"[^\"]*\",region=\"[^\"]*\",job_type=\"[^\"]*\")\} (\S+)$",
    re.M,
)
_REQUESTS = re.compile(rb'^drs_api_requests_total\{[^}]*api="([^"]*)"[^}]*\} (\S+)$', re.M)
_PARENT = re.compile(rb'parent_job_id="([^"]+)"')


@dataclass(frozen=True)
class Health:
    durations: dict[str, float]  # target labels -> drs_last_poll_duration_seconds
    successes: dict[str, float]  # target labels -> drs_last_poll_success_timestamp_seconds
    requests: Counter[str]  # drs_api_requests_total by api


def read_health(body: bytes) -> Health:
    # The health families come after the per-job ones: search only the tail of the body.
    tail = body[body.find(b"# HELP drs_up ") :]
    durations: dict[str, float] = {}
    successes: dict[str, float] = {}
    for name, target, value in _HEALTH.findall(tail):
        (durations if name.endswith(b"duration_seconds") else successes)[target.decode()] = float(
            value
        )
    requests: Counter[str] = Counter()
    for api, value in _REQUESTS.findall(tail):
        requests[api.decode()] += float(value)
    return Health(durations, successes, requests)


def sample_count(body: bytes) -> int:
    """Sample lines of a text-format body."""
    return body.count(b"\n") - body.count(b"\n#") - (1 if body.startswith(b"#") else 0)


# --- One size ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    url: str
    projects: list[str]
    targets: int
    pages: int  # listing requests of one full cycle, both APIs
    jobs: int
    with_subtasks: int  # top-level jobs with subtasks (filled in from the exporter's body)
    subtasks: int
    turns: int = 1  # cycles until every DR job has had its DR monitoring turn


@dataclass(frozen=True)
class Cycle:
    seconds: float  # largest drs_last_poll_duration_seconds
    cpu: float  # CPU seconds of the exporter
    simulator_cpu: float  # CPU seconds of the simulator, which serves one request at a time
    requests_by_api: Mapping[str, float]  # drs_api_requests_total increase by api
    loads: float | None = None  # json.loads on the same bodies, timed right after the cycle

    @property
    def requests(self) -> float:
        return sum(self.requests_by_api.values())

    def floor(self, cpus: int) -> float:
        """What this machine's CPUs allow at best: neither process can use more than one."""
        return max(self.cpu, self.simulator_cpu, (self.cpu + self.simulator_cpu) / cpus)


@dataclass(frozen=True)
class Decoding:
    """json.loads' CPU seconds on the bodies of one cycle, with and without health."""

    health_on: float
    health_off: float
    narrow_batches: float  # health on, NARROW_BATCH ids a batch request
    megabytes: float  # the bodies with health on
    # The bodies themselves by (health, batch size), timed again after each measured cycle.
    bodies: Mapping[tuple[bool, int], list[bytes]] = field(repr=False, default_factory=dict)

    def timed_after(self, cycle: Cycle, health: bool, batch_size: int) -> Cycle:
        """The cycle with json.loads timed now on its bodies: side by side with it, so
        that the machine's speed, which drifts over a run, is the same for both."""
        return replace(cycle, loads=loads_seconds(self.bodies[(health, batch_size)], 3))


@dataclass(frozen=True)
class SizeResult:
    world: World
    rtt: float
    loads: Decoding
    first: Cycle  # the first full cycle after the exporter started
    # Fresh exporters' first cycles by max_requests_per_second (headline only)
    fresh: Mapping[float, list[Cycle]]
    steady: list[Cycle]  # health on, as by default
    health_off: list[Cycle]
    narrow_batches: list[Cycle]  # health on, NARROW_BATCH ids a batch request (headline)
    slow: list[Cycle]  # empty unless measured at this size
    ours: Latency
    ours_prometheus: Latency
    baseline: Latency
    body_text: int
    body_gzip: int
    samples_ours: int
    samples_baseline: int
    rss: dict[str, float]  # MB after each kind of scrape, in the order made
    hwm: float  # MB, the peak
    baseline_rss: float


@dataclass(frozen=True)
class CompactResult:
    """The same world with compact job records: steady cycles against json.loads."""

    loads: Decoding
    steady: list[Cycle]  # health on
    health_off: list[Cycle]


LISTING_APIS = tuple(a.api for a in LIST_APIS)


def ideal(cycle: Cycle, world: World, rtt: float, concurrency: int, rps: float) -> float:
    """Round trips that cannot overlap; see the module docstring."""
    requests = cycle.requests
    bound = max(math.ceil(requests / concurrency) * rtt, (requests - 1) / rps + rtt, rtt)
    # A target's other pages wait for its first (with one page each, nothing waits), and
    # its batch calls wait for its listing.
    listing = sum(cycle.requests_by_api.get(api, 0) for api in LISTING_APIS)
    depth = 2 if listing > len(LISTING_APIS) * world.targets else 1
    if requests > listing:
        depth += 1
    return max(bound, depth * rtt)


def median_cycle(cycles: Sequence[Cycle]) -> Cycle:
    return sorted(cycles, key=lambda c: c.seconds)[len(cycles) // 2]


def median_loads(cycles: Sequence[Cycle]) -> float:
    """json.loads on the bodies of these cycles, timed after each: the median."""
    return statistics.median(c.loads or 0.0 for c in cycles)


def mean_cpu(cycles: Sequence[Cycle]) -> float:
    """CPU per cycle: the mean, as /proc counts in ticks of 10 ms (a median would round)."""
    return statistics.fmean(c.cpu for c in cycles)


def start_simulator(
    plan: Plan, jobs: int, workdir: Path, stack: contextlib.ExitStack, compact: bool = False
) -> tuple[Process, World]:
    argv = [
        *exporter_command(),
        "simulate",
        "--web.listen-address=127.0.0.1:0",
        f"--projects={plan.projects}",
        f"--jobs={jobs}",
        f"--children-ratio={plan.children_ratio}",
        f"--page-cap={plan.page_cap}",
        f"--latency={plan.latency}",
        "--status-period=0",
        "--seed=1",
        f"--token={TOKEN}",
        "--log.level=warn",
        *(["--compact"] if compact else []),
    ]
    sim = Process("simulator-compact" if compact else "simulator", argv, workdir)
    stack.callback(sim.stop)
    url = sim.read_line("DRS simulator listening on ", timeout=300)
    projects = sim.read_line("projects: ", timeout=10).split()
    client = Http(url)
    stack.callback(client.close)
    summary = json.loads(client.get("/_sim/summary"))
    total = sum(sum(s.values()) for p in projects for s in summary["counts"][p].values())
    subtasks = sum(sum(s.values()) for p in projects for s in summary["subtasks"][p].values())
    # Each list API pages the jobs it lists (v3 at most 100 a page).
    pages = sum(
        max(1, math.ceil(sum(statuses.values()) / min(plan.page_cap, 100)))
        for api in ("v5", "v3")
        for p in projects
        for statuses in summary["apis"][api]["counts"][p].values()
    )
    # DR monitoring asks a target's DR jobs in turns: cycles until each had its turn.
    turn = 10 * PollConfig().rotation_requests
    transferring = (
        sum(
            n
            for kind in ("counts", "subtasks")  # a DR job's subtasks are asked too
            for status, n in summary[kind][p].get(DR_JOB_TYPE, {}).items()
            if status in INSTANCE_STATUSES
        )
        for p in projects
    )
    turns = max((math.ceil(n / turn) for n in transferring), default=1)
    return sim, World(url, projects, 3 * len(projects), pages, total, 0, subtasks, max(1, turns))


def measure_rtt(world: World, plan: Plan) -> float:
    """Median round trip of one full page, alone on the connection."""
    client = Http(world.url)
    path = (
        f"/v5/{world.projects[0]}/jobs?job_type=sync&offset=0&limit={plan.page_size}"
        "&sort_key=create_time&sort_dir=asc"
    )
    try:
        samples = [timed(lambda: client.get(path, {"X-Auth-Token": TOKEN}))[0] for _ in range(9)]
    finally:
        client.close()
    return statistics.median(samples)


def measure_loads(world: World, plan: Plan) -> Decoding:
    """json.loads on what a cycle reads, with everything on and off, and with narrow batches."""

    def bodies(health: bool, batch_size: int = BATCH_SIZE) -> list[bytes]:
        return cycle_bodies(world.url, TOKEN, world.projects, plan.page_size, batch_size, health)

    # What only a first cycle asks, asked once here too: the simulator has answered every
    # request of the exporter's first cycle before, which then measures the exporter alone.
    cycle_bodies(
        world.url, TOKEN, world.projects, plan.page_size, BATCH_SIZE, health=True, first=True
    )
    found = {
        (health, size): bodies(health, size)
        for health, size in ((True, BATCH_SIZE), (False, BATCH_SIZE), (True, NARROW_BATCH))
    }
    return Decoding(
        loads_seconds(found[(True, BATCH_SIZE)]),
        loads_seconds(found[(False, BATCH_SIZE)]),
        loads_seconds(found[(True, NARROW_BATCH)]),
        sum(map(len, found[(True, BATCH_SIZE)])) / 1e6,
        found,
    )


def write_config(
    path: Path,
    plan: Plan,
    world: World,
    rps: float,
    health: bool = True,
    batch_size: int = BATCH_SIZE,
    interval: str | None = None,
) -> None:
    """The exporter's config: every round ``plan.interval`` apart, or ``interval``."""
    config = {
        "credentials": {"token": TOKEN},
        "targets": [
            {"project_id": p, "region": REGION, "endpoint": world.url} for p in world.projects
        ],
        "poll": {
            "interval": interval or f"{plan.interval:g}s",
            "page_size": plan.page_size,
            "timeout": "60s",
            "retries": 3,
            "max_concurrency": plan.concurrency,
            "max_requests_per_second": rps,
            "batch_size": batch_size,
        },
        # "health" here is every batch call and the quota: all on (the default) or all off.
        "metrics": {"health": health, "dr": health, "quotas": health},
    }
    path.write_text(yaml.safe_dump(config))


def wait_for(exporter: Process, client: Http, path: str, timeout: float) -> None:
    """Until ``path`` answers 200 (``/-/healthy``: serving; ``/-/ready``: every target
    polled once)."""
    deadline = time.monotonic() + timeout
    while True:
        exporter.alive()
        with contextlib.suppress(OSError, http.client.HTTPException):
            if client.request("GET", path)[0] == 200:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"the exporter's {path} did not answer 200 within {timeout:g}s")
        time.sleep(0.01)


def scraped_health(client: Http) -> Health:
    # As Prometheus asks: the cheapest scrape, and the one a real deployment gets.
    return read_health(gzip.decompress(client.get("/metrics", PROMETHEUS_HEADERS)))


def first_cycle(exporter: Process, simulator: Process, client: Http, timeout: float) -> Cycle:
    """The cycle the exporter ran at start, read once it is ready and quiet; its CPU from
    when the server answers (the polls start with it) to quiet."""
    simulator_start = simulator.cpu_seconds()
    wait_for(exporter, client, "/-/healthy", timeout)
    cpu_start = exporter.cpu_seconds()
    wait_for(exporter, client, "/-/ready", timeout)
    cpu_end = exporter.wait_idle(timeout)
    health = scraped_health(client)
    return Cycle(
        max(health.durations.values()),
        cpu_end - cpu_start,
        simulator.cpu_seconds() - simulator_start,
        dict(health.requests),
    )


def poll_starts(health: Health) -> dict[str, float]:
    """When each target's last poll started, in Unix seconds."""
    return {t: at - health.durations[t] for t, at in health.successes.items()}


class Rounds:
    """The exporter's rounds of polls, on its own schedule, one at a time on demand.

    The settings of a round (``next``) are loaded between rounds; ``quiet`` stops the rounds
    while the benchmark scrapes (an interval of an hour), and the next ``next`` resumes them.
    """

    def __init__(
        self,
        plan: Plan,
        world: World,
        config: Path,
        exporter: Process,
        simulator: Process,
        client: Http,
        timeout: float,
    ) -> None:
        self.plan, self.world, self.config = plan, world, config
        self.exporter, self.simulator, self.client = exporter, simulator, client
        self.timeout = timeout
        self.settings: tuple[float, bool, int, str | None] = (
            plan.fast_rps,
            True,
            BATCH_SIZE,
            None,
        )

    def quiet(self) -> None:
        """No round until the next ``next``."""
        self._load(replace_setting(self.settings, QUIET))

    def next(self, rps: float, health: bool = True, batch_size: int = BATCH_SIZE) -> Cycle:
        """The next round with these settings, measured."""
        self._load((rps, health, batch_size, None))
        start = self._next_start()
        time.sleep(max(0.0, start - LEAD / 2 - time.time()))
        before = scraped_health(self.client)
        cpu_start = self.exporter.cpu_seconds()
        simulator_start = self.simulator.cpu_seconds()
        time.sleep(max(0.0, start + SETTLE - time.time()))
        deadline = time.monotonic() + self.timeout
        while True:
            # Scraping while the round runs would cost the exporter CPU: wait for quiet first.
            cpu_end = self.exporter.wait_idle(self.timeout)
            health = scraped_health(self.client)
            started = poll_starts(health)
            done = [t for t, at in started.items() if at >= start - LEAD / 2]
            if len(done) == self.world.targets:
                return Cycle(
                    max(health.durations[t] for t in done),
                    cpu_end - cpu_start,
                    self.simulator.cpu_seconds() - simulator_start,
                    dict(health.requests - before.requests),
                )
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the round did not finish within {self.timeout:g}s ({len(done)} targets)"
                )

    def _load(self, settings: tuple[float, bool, int, str | None]) -> None:
        if settings == self.settings:
            return
        rps, health, batch_size, interval = settings
        self.exporter.wait_idle(self.timeout)  # between two rounds
        write_config(self.config, self.plan, self.world, rps, health, batch_size, interval)
        status, body = self.client.request("POST", "/-/reload")
        if status != 200:
            raise BenchError(f"POST /-/reload: HTTP {status}: {body[:200]!r}")
        self.settings = settings

    def _next_start(self) -> float:
        """When the next round starts that is at least LEAD seconds away. The rounds follow
        one grid, an interval apart, from the last one (which a new interval may have
        started at once, when it was loaded)."""
        time.sleep(SETTLE / 2)
        self.exporter.wait_idle(self.timeout)
        last = max(poll_starts(scraped_health(self.client)).values())
        rounds = max(1, math.ceil((time.time() + LEAD - last) / self.plan.interval))
        return last + rounds * self.plan.interval


def replace_setting(
    settings: tuple[float, bool, int, str | None], interval: str
) -> tuple[float, bool, int, str | None]:
    return (*settings[:3], interval)


def scrape_side_by_side(
    ours: Http, baseline: Http, plan: Plan
) -> tuple[Latency, Latency, Latency, bytes, bytes, bytes]:
    """Alternate scrapes of both exporters; the baseline's stop at its time budget."""
    text: list[float] = []
    prometheus: list[float] = []
    straightforward: list[float] = []
    text_body = gzip_body = baseline_body = b""
    for i in range(plan.scrapes):
        seconds, text_body = timed(lambda: ours.get("/metrics"))
        text.append(seconds)
        seconds, gzip_body = timed(lambda: ours.get("/metrics", PROMETHEUS_HEADERS))
        prometheus.append(seconds)
        if i < plan.min_baseline_scrapes or sum(straightforward) < plan.baseline_budget:
            seconds, baseline_body = timed(lambda: baseline.get("/metrics"))
            straightforward.append(seconds)
    return (
        Latency.of(text),
        Latency.of(prometheus),
        Latency.of(straightforward),
        text_body,
        gzip_body,
        baseline_body,
    )


SCRAPE_KINDS = {  # the variants a scraper may ask for, after the two the side by side makes
    "text, gzip": {"Accept-Encoding": "gzip"},
    "OpenMetrics, plain": {"Accept": "application/openmetrics-text;version=1.0.0"},
}


class _Spawner:
    """Child processes that stop with the size's ExitStack; their logs on failure."""

    def __init__(self, stack: contextlib.ExitStack, workdir: Path) -> None:
        self.stack = stack
        self.workdir = workdir
        self.processes: list[Process] = []

    def __call__(self, name: str, argv: Sequence[str]) -> Process:
        process = Process(name, argv, self.workdir)
        self.processes.append(process)
        self.stack.callback(process.stop)
        return process

    def exporter(self, argv: Sequence[str], config: Path) -> tuple[Process, Http]:
        port = free_port()
        exporter = self(
            "exporter",
            [
                *argv,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",  # the benchmark loads settings with POST /-/reload
                "--log.level=warn",
            ],
        )
        client = Http(f"http://127.0.0.1:{port}")
        self.stack.callback(client.close)
        return exporter, client

    def dump_logs(self) -> None:
        for process in self.processes:
            say(f"--- {process.name} log (last lines):\n{process.log_tail()}")


def cycle_timeout(plan: Plan, world: World) -> float:
    # Listing pages, and at most one batch request per ten jobs and subtasks.
    requests = world.pages + (world.jobs + world.subtasks) / NARROW_BATCH
    return 120.0 + 20 * requests / plan.slow_rps


def run_size(plan: Plan, jobs: int, exporter_argv: Sequence[str], headline: bool) -> SizeResult:
    label = f"[{jobs:,} jobs]"
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drs-bench-")))
        spawn = _Spawner(stack, workdir)
        try:
            t0 = time.monotonic()
            simulator, world = start_simulator(plan, jobs, workdir, stack)
            spawn.processes.append(simulator)
            rtt = measure_rtt(world, plan)
            say(
                f"{label} simulator up in {time.monotonic() - t0:.1f}s: {world.jobs:,} jobs, "
                f"{world.subtasks:,} subtasks, {world.pages} pages; page round trip {ms(rtt)}"
            )
            loads = measure_loads(world, plan)  # also warms the simulator's caches
            say(
                f"{label} json.loads of a cycle's {loads.megabytes:.1f} MB: "
                f"{loads.health_on:.3f}s (health off {loads.health_off:.3f}s)"
            )
            startup = 300.0 + jobs / 100
            baseline = spawn(
                "baseline",
                [
                    sys.executable,
                    str(Path(__file__).with_name("baseline.py")),
                    f"--endpoint={world.url}",
                    f"--token={TOKEN}",
                    f"--page-size={plan.page_size}",
                    *(f"--project={p}" for p in world.projects),
                ],
            )
            straightforward = Http(baseline.read_line("baseline listening on ", startup))
            stack.callback(straightforward.close)
            baseline.wait_idle(startup)
            config = workdir / "config.yaml"
            write_config(config, plan, world, plan.fast_rps)
            exporter, ours = spawn.exporter(exporter_argv, config)
            first = first_cycle(exporter, simulator, ours, startup)
            say(
                f"{label} exporter up in {time.monotonic() - t0:.1f}s; "
                f"first cycle {first.seconds:.2f}s"
            )

            rounds = Rounds(
                plan, world, config, exporter, simulator, ours, cycle_timeout(plan, world)
            )

            def cycles(
                n: int, rps: float, health: bool, batch_size: int = BATCH_SIZE
            ) -> list[Cycle]:
                return [
                    loads.timed_after(rounds.next(rps, health, batch_size), health, batch_size)
                    for _ in range(n)
                ]

            # Steady means every DR job has had its DR monitoring turn (the first cycle was one).
            cycles(world.turns - 1, plan.fast_rps, True)
            steady = cycles(plan.cycles, plan.fast_rps, True)
            say(
                f"{label} steady cycles: "
                + ", ".join(f"{c.seconds:.2f}s/{c.cpu:.2f}s CPU" for c in steady)
            )
            rounds.quiet()
            rss = {"after the cycles (OpenMetrics, gzip: as Prometheus)": exporter.memory_mb()[0]}
            text, prometheus, slow_baseline, text_body, gzip_body, baseline_body = (
                scrape_side_by_side(ours, straightforward, plan)
            )
            say(
                f"{label} scrapes: ours {text}, Prometheus-style {prometheus}, "
                f"baseline {slow_baseline}"
            )
            rss["+ text, plain"] = exporter.settled_rss()
            for kind, headers in SCRAPE_KINDS.items():
                for _ in range(max(5, plan.scrapes // 10)):
                    ours.get("/metrics", headers)
                rss[f"+ {kind}"] = exporter.settled_rss()
            hwm = exporter.memory_mb()[1]
            baseline_rss = baseline.memory_mb()[0]
            world = replace(world, with_subtasks=len(set(_PARENT.findall(text_body))))

            health_off = cycles(max(plan.cycles, 5), plan.fast_rps, False)
            say(f"{label} cycles without health: {median_cycle(health_off).seconds:.2f}s")
            narrow = cycles(plan.cycles, plan.fast_rps, True, NARROW_BATCH) if headline else []
            slow = cycles(1, plan.slow_rps, True) if headline else []
            fresh: dict[float, list[Cycle]] = {}
            if headline:
                say(f"{label} rate-bound cycle: {slow[0].seconds:.2f}s")
                # Fresh exporters, the first cycle of each: with the rate limit of the cycles
                # above (rate-bound) and with one that never binds (concurrency-bound), in
                # turn, a few times (one start is one sample of a shared machine).
                configs = {
                    rps: workdir / f"first-{rps:g}.yaml" for rps in (plan.fast_rps, UNBOUND_RPS)
                }
                for rps, path in configs.items():
                    write_config(path, plan, world, rps)
                for _ in range(plan.fresh_starts):
                    for rps, path in configs.items():
                        exporter.stop()
                        exporter, ours = spawn.exporter(exporter_argv, path)
                        started = first_cycle(exporter, simulator, ours, startup)
                        fresh.setdefault(rps, []).append(started)
                for rps, starts in fresh.items():
                    say(
                        f"{label} first cycles at max_requests_per_second {rps:g}: "
                        + ", ".join(f"{c.seconds:.2f}s" for c in starts)
                    )
            return SizeResult(
                world=world,
                rtt=rtt,
                loads=loads,
                first=first,
                fresh=fresh,
                steady=steady,
                health_off=health_off,
                narrow_batches=narrow,
                slow=slow,
                ours=text,
                ours_prometheus=prometheus,
                baseline=slow_baseline,
                body_text=len(text_body),
                body_gzip=len(gzip_body),
                samples_ours=sample_count(text_body),
                samples_baseline=sample_count(baseline_body),
                rss=rss,
                hwm=hwm,
                baseline_rss=baseline_rss,
            )
        except BenchError:
            spawn.dump_logs()
            raise


def run_compact(plan: Plan, exporter_argv: Sequence[str]) -> CompactResult:
    """The headline size with compact job records: steady cycles against json.loads."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drs-bench-")))
        spawn = _Spawner(stack, workdir)
        try:
            simulator, world = start_simulator(plan, plan.jobs, workdir, stack, compact=True)
            spawn.processes.append(simulator)
            loads = measure_loads(world, plan)
            config = workdir / "config.yaml"
            write_config(config, plan, world, plan.fast_rps)
            exporter, ours = spawn.exporter(exporter_argv, config)
            first_cycle(exporter, simulator, ours, 300.0 + plan.jobs / 100)
            rounds = Rounds(
                plan, world, config, exporter, simulator, ours, cycle_timeout(plan, world)
            )

            def cycle(health: bool) -> Cycle:
                return loads.timed_after(rounds.next(plan.fast_rps, health), health, BATCH_SIZE)

            on = [cycle(True) for _ in range(plan.cycles)]
            off = [cycle(False) for _ in range(max(plan.cycles, 5))]
            say(
                f"[compact records] json.loads {median_loads(on):.3f}s, steady CPU "
                f"{mean_cpu(on):.3f}s; health off {median_loads(off):.3f}s, {mean_cpu(off):.3f}s"
            )
            return CompactResult(loads, on, off)
        except BenchError:
            spawn.dump_logs()
            raise


# --- Report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    what: str
    result: str
    target: str
    met: bool | None  # None: no target


def cycle_verdict(
    plan: Plan,
    result: SizeResult,
    rps: float,
    cycle: Cycle,
    what: str,
    target: float | None = None,
) -> Verdict:
    best = ideal(cycle, result.world, result.rtt, plan.concurrency, rps)
    bound = (
        "concurrency"
        if best == math.ceil(cycle.requests / plan.concurrency) * result.rtt
        else "rate"
    )
    floor = cycle.floor(CPUS)
    bound_by = bounded_by(plan, result, rps, cycle)
    return Verdict(
        f"{what}, max_concurrency {plan.concurrency}, max_requests_per_second {rps:g} "
        f"({bound}-bound, {cycle.requests:.0f} requests)",
        f"{cycle.seconds:.2f} s = {cycle.seconds / best:.2f} x ideal {best:.2f} s; "
        f"CPU floor {floor:.2f} s"
        + (f" ({cycle.seconds / bound_by:.2f} x the larger)" if floor > best else ""),
        "" if target is None else f"<= {target:g} x the ideal or the CPU floor, the larger",
        None if target is None else cycle.seconds <= target * bound_by,
    )


def bounded_by(plan: Plan, result: SizeResult, rps: float, cycle: Cycle) -> float:
    """What bounds the cycle: the round trips, or the CPU the machine has for it."""
    return max(ideal(cycle, result.world, result.rtt, plan.concurrency, rps), cycle.floor(CPUS))


def cpu_verdict(what: str, cycles: Sequence[Cycle], target: bool = True) -> Verdict:
    """CPU per cycle against json.loads timed after each: the median of the ratios;
    ``target``: held to CPU_RATIO_TARGET, else only shown."""
    ratio = statistics.median(c.cpu / (c.loads or math.inf) for c in cycles)
    return Verdict(
        f"CPU per steady cycle, {what}: exporter; json.loads of the same bodies",
        f"{mean_cpu(cycles):.3f} s; {median_loads(cycles):.3f} s: {ratio:.2f} x",
        f"<= {CPU_RATIO_TARGET:g} x (stretch: 1 x)" if target else "",
        ratio <= CPU_RATIO_TARGET if target else None,
    )


def detail_verdict(result: SizeResult) -> Verdict:
    """batch-detail: every job in the first cycle, a sixtieth of them a steady one at most
    (none is due within ``poll.detail_interval``, an hour, of its last answer)."""
    first = result.first.requests_by_api.get(BATCH_DETAIL.api, 0)
    most = max(c.requests_by_api.get(BATCH_DETAIL.api, 0) for c in result.steady)
    # A request carries at most MAX_PER_PAGE ids; a sixtieth of the jobs, in whole requests.
    allowed = math.ceil(result.world.jobs / 60 / MAX_PER_PAGE) + result.world.targets
    return Verdict(
        "batch-detail requests: the first cycle (every top-level job); the most in a steady cycle",
        f"{first:.0f}; {most:.0f}",
        f"a steady cycle <= {allowed} (a sixtieth of {result.world.jobs:,} jobs)",
        most <= allowed,
    )


def requests_by_api(cycle: Cycle) -> str:
    """``v5_jobs 120, v3_jobs 130, ...``: a cycle's requests by api, in a fixed order."""
    order = (*DRS_API_NAMES, *IAM_API_NAMES)
    counts = cycle.requests_by_api
    return ", ".join(f"{api} {counts[api]:.0f}" for api in order if counts.get(api))


def rss_verdict(result: SizeResult) -> Verdict:
    target = RSS_TARGETS_MB.get(result.world.jobs)
    worst = max(result.rss.values())
    return Verdict(
        "Exporter resident memory: " + "; ".join(result.rss),
        "; ".join(f"{mb:.0f} MB" for mb in result.rss.values()) + f" (peak {result.hwm:.0f} MB)",
        "" if target is None else f"< {target:g} MB after each",
        None if target is None else worst < target,
    )


def first_verdict(plan: Plan, result: SizeResult, rps: float) -> Verdict:
    """The first full cycle at ``rps``: the median of the fresh exporters' against what
    bounds each."""
    starts = result.fresh[rps]
    ratios = [c.seconds / bounded_by(plan, result, rps, c) for c in starts]
    median = sorted(range(len(starts)), key=ratios.__getitem__)[len(starts) // 2]
    what = "First full cycle after start"
    if len(starts) > 1:
        what += (
            f" (the median of {len(starts)} fresh starts: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + " x the larger)"
        )
    return cycle_verdict(plan, result, rps, starts[median], what, FIRST_CYCLE_TARGET)


def verdicts(plan: Plan, main: SizeResult, compact: CompactResult | None) -> list[Verdict]:
    steady, off = median_cycle(main.steady), median_cycle(main.health_off)
    rows = [
        first_verdict(plan, main, plan.fast_rps),
        first_verdict(plan, main, UNBOUND_RPS),
        cycle_verdict(plan, main, plan.fast_rps, steady, "Steady cycle"),
        cycle_verdict(plan, main, plan.fast_rps, off, "Steady cycle, metrics.health false"),
    ]
    if main.slow:
        rows.append(cycle_verdict(plan, main, plan.slow_rps, main.slow[0], "Steady cycle"))
    rows += [
        Verdict(
            "Requests per cycle by api: everything on; health, dr and quotas off",
            f"{requests_by_api(steady)} (total {steady.requests:,.0f}); {requests_by_api(off)}",
            f"<= {REQUESTS_TARGET:,} with everything on",
            steady.requests <= REQUESTS_TARGET,
        ),
        detail_verdict(main),
        cpu_verdict("the simulator's records", main.steady),
        cpu_verdict("the simulator's records, metrics.health false", main.health_off),
    ]
    if main.narrow_batches:
        rows.append(
            cpu_verdict(
                f"the simulator's records, a server taking {NARROW_BATCH} ids a batch",
                main.narrow_batches,
                target=False,  # what such a server costs: no target of ours
            )
        )
    if compact is not None:
        rows += [
            cpu_verdict("compact records", compact.steady),
            cpu_verdict("compact records, metrics.health false", compact.health_off),
        ]
    speedup = main.baseline.median / main.ours.median
    rows += [
        Verdict(
            f"/metrics scrape, text format ({mb(main.body_text)}), median / p99",
            str(main.ours),
            "",
            None,
        ),
        Verdict(
            "The same with prometheus_client Gauges, generate_latest() per scrape "
            f"({main.baseline.count} scrapes)",
            str(main.baseline),
            "",
            None,
        ),
        Verdict(
            "Scrape speed-up (medians)",
            f"{speedup:.0f} x",
            f">= {SCRAPE_SPEEDUP_TARGET:g} x",
            speedup >= SCRAPE_SPEEDUP_TARGET,
        ),
        Verdict(
            f"/metrics scrape as Prometheus asks (OpenMetrics, gzip, {mb(main.body_gzip)})",
            str(main.ours_prometheus),
            "",
            None,
        ),
        rss_verdict(main),
        Verdict(
            "prometheus_client baseline's resident memory", f"{main.baseline_rss:.0f} MB", "", None
        ),
        Verdict("Simulator CPU per steady cycle", f"{steady.simulator_cpu:.2f} s", "", None),
    ]
    return rows


def report(
    plan: Plan, command: str, results: Mapping[int, SizeResult], compact: CompactResult | None
) -> list[Verdict]:
    """Print the markdown for the README; return the verdicts (the growth sizes' too)."""
    main = results[plan.jobs]
    w = main.world
    out = [
        f"### Performance at {w.jobs:,} DRS jobs",
        "",
        f"`{command}`: drs-exporter {__version__}, Python {platform.python_version()}, "
        f"{CPUS} CPUs shared by the simulator, the exporter, the baseline and the client.",
        "",
        f"Simulator: {plan.projects} projects x 3 job types = {w.targets} targets, "
        f"{w.jobs:,} jobs ({w.with_subtasks:,} with subtasks, {w.subtasks:,} subtasks), "
        f"server-side page cap {plan.page_cap}, each request answered {plan.latency * 1000:g} "
        f"ms after it came (the simulator's work on it done meanwhile), statuses frozen. "
        f"Exporter: page_size {plan.page_size}, batch_size {BATCH_SIZE}, default metrics "
        f"(per-job series with health, sparse status). One page's round trip, alone: "
        f"{ms(main.rtt)}. A cycle reads {main.loads.megabytes:.1f} MB.",
        "",
        "| Measure | Result | Target |",
        "|---|---|---|",
    ]
    rows = verdicts(plan, main, compact)
    for jobs, result in sorted(results.items()):
        if jobs != plan.jobs and jobs in RSS_TARGETS_MB:
            row = rss_verdict(result)
            rows.append(replace(row, what=f"At {jobs:,} jobs: {row.what[0].lower()}{row.what[1:]}"))
    for v in rows:
        mark = "" if v.met is None else (" (met)" if v.met else " (**missed**)")
        out.append(f"| {v.what} | {v.result} | {v.target}{mark} |")
    out += [
        "",
        "Ideal cycle = max(ceil(R / C) x RTT, (R - 1) / Q + RTT, D x RTT), with R the "
        "cycle's requests, C = max_concurrency, Q = max_requests_per_second, RTT = one page's "
        "round trip, D = 3 with health (first page, other pages, batch calls), else 2. "
        f"CPU floor = max(exporter CPU, simulator CPU, their sum / {CPUS}); a target on a "
        "cycle's time holds it to the larger of its ideal and its CPU floor (a first cycle "
        "decodes and renders every job once, from a cold start). CPU per cycle: the "
        "mean of the measured cycles, from /proc; json.loads: the least of three runs over the "
        "bodies of one cycle, fetched by the benchmark itself, timed right after each measured "
        "cycle (the median; a ratio is the median of the cycles' ratios). Scrapes: "
        f"{main.ours.count} of each kind, sequential, alternating between the exporters, over "
        "keep-alive loopback connections; p99 by nearest rank. Both serve the same job series "
        f"({main.samples_ours:,} samples with the process metrics; prometheus_client "
        f"{main.samples_baseline:,}).",
        "",
        f"Growth (max_concurrency {plan.concurrency}, max_requests_per_second {plan.fast_rps:g}):",
        "",
        "| Jobs | Requests | First cycle (ideal) | Steady cycle; CPU | json.loads | "
        "Scrape median / p99 | prometheus_client median (scrapes) | Speed-up | "
        "Body text / gzip | RSS after each kind of scrape (peak) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for jobs in sorted(results):
        r = results[jobs]
        c = median_cycle(r.steady)
        best = ideal(r.first, r.world, r.rtt, plan.concurrency, plan.fast_rps)
        out.append(
            f"| {r.world.jobs:,} | {c.requests:.0f} "
            f"| {r.first.seconds:.2f} s ({best:.2f} s) | {c.seconds:.2f} s; "
            f"{mean_cpu(r.steady):.2f} s | {median_loads(r.steady):.2f} s "
            f"| {r.ours} | {ms(r.baseline.median)} ({r.baseline.count}) "
            f"| {r.baseline.median / r.ours.median:.0f} x "
            f"| {mb(r.body_text)} / {mb(r.body_gzip)} "
            f"| {' / '.join(f'{v:.0f}' for v in r.rss.values())} MB ({r.hwm:.0f} MB) |"
        )
    print("\n".join(out))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes: a smoke run for CI")
    parser.add_argument("--scrapes", type=int, help="scrapes of each kind per size")
    parser.add_argument("--cycles", type=int, help="measured poll cycles per size")
    parser.add_argument(
        "--sizes", help="comma-separated job counts for the growth table (first: headline)"
    )
    parser.add_argument("--no-compact", action="store_true", help="skip the compact records run")
    parser.add_argument(
        "--exporter",
        help="command that runs the exporter (default: drs-exporter); it must exec, not fork",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    plan = TINY if args.tiny else FULL
    if args.scrapes is not None:
        plan = replace(plan, scrapes=max(1, args.scrapes))
    if args.cycles is not None:
        plan = replace(plan, cycles=max(1, args.cycles))
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        plan = replace(plan, jobs=sizes[0], growth=tuple(sorted(set(sizes))))
    exporter_argv = shlex.split(args.exporter) if args.exporter else exporter_command()
    if not Path("/proc/self/stat").exists() or shutil.which(exporter_argv[0]) is None:
        say("bench: needs Linux /proc and the drs-exporter command")
        return 2

    command = "python benchmarks/bench.py" + (" --tiny" if args.tiny else "")
    results: dict[int, SizeResult] = {}
    compact: CompactResult | None = None
    try:
        for jobs in plan.growth:
            results[jobs] = run_size(plan, jobs, exporter_argv, headline=jobs == plan.jobs)
        if not args.no_compact:
            compact = run_compact(plan, exporter_argv)
    except (BenchError, OSError, http.client.HTTPException, RuntimeError) as exc:
        say(f"bench: {exc}")
        return 1
    rows = report(plan, command, results, compact)
    missed = [v.what for v in rows if v.met is False]
    if missed:
        say("targets missed: " + "; ".join(missed))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
