"""A large account at the exporter's defaults: every target up at every scrape, every job served.

    python benchmarks/account.py                          # 100,000 jobs in 10 projects
    python benchmarks/account.py --jobs 20000 --rounds 2  # smaller, quicker

The simulator (page cap 100, each request answered 50 ms after it came, statuses frozen)
holds the jobs; the real ``drs-exporter`` polls it with nothing in its config but the
targets: every ``poll`` and ``metrics`` default, so a round of every target needs several
times the requests that ``max_requests_per_second`` allows in one ``interval``, and each
round stretches. /metrics is scraped as Prometheus does (OpenMetrics, gzip) every ``--every``
seconds until every target has finished ``--rounds`` more polls after its first.

It prints each target's first poll, the rounds (length, requests, overruns, the time
requests waited for the limiter), the exporter's resident memory, and fails (exit 1) if any
scrape after a target's first poll showed it down, or the jobs served were not the
simulator's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from bench import PROMETHEUS_HEADERS, BenchError, Http, Process
from procs import exporter_command, free_port

TOKEN = "account-token-not-a-secret"
REGION = "ap-southeast-1"
_TARGET = r'project_id="([^"]*)",region="[^"]*",job_type="([^"]*)"'
_UP = re.compile(rf"^drs_up\{{{_TARGET}\}} (\S+)$", re.M)
_SUCCESS = re.compile(rf"^drs_last_poll_success_timestamp_seconds\{{{_TARGET}\}} (\S+)$", re.M)
_DURATION = re.compile(rf"^drs_last_poll_duration_seconds\{{{_TARGET}\}} (\S+)$", re.M)
# job_id comes fourth; names may hold any character, so parent_job_id is found from the end.
_TOP_LEVEL = re.compile(
    r'^drs_job_info\{(?:[a-z_]+="[^"]*",){3}job_id="([^"]*)",.*,parent_job_id=""\} 1$', re.M
)
_COUNTER = r"^{}_total\{{[^}}]*\}} (\S+)$"


def total(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(_COUNTER.format(name), text, re.M))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="rounds after the first")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between scrapes")
    parser.add_argument(
        "--rate", type=float, help="poll.max_requests_per_second (default: the default)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="drs-account-") as tmp:
        workdir = Path(tmp)
        simulator = Process(
            "simulator",
            [
                *exporter_command(),
                "simulate",
                "--web.listen-address=127.0.0.1:0",
                f"--projects={args.projects}",
                f"--jobs={args.jobs}",
                "--page-cap=100",
                "--latency=0.05",
                "--status-period=0",
                "--seed=1",
                f"--token={TOKEN}",
                "--log.level=warn",
            ],
            workdir,
        )
        exporter: Process | None = None
        try:
            url = simulator.read_line("DRS simulator listening on ", 600)
            projects = simulator.read_line("projects: ", 10).split()
            sim = Http(url)
            summary = json.loads(sim.get("/_sim/summary?ids=true"))
            sim.close()
            truth = {
                job_id
                for by_project in summary["ids"].values()
                for by_type in by_project.values()
                for ids in by_type.values()
                for job_id in ids
            }
            config = workdir / "config.yaml"
            targets = "".join(
                f"  - {{project_id: {p}, region: {REGION}, endpoint: '{url}'}}\n" for p in projects
            )
            poll = (
                "" if args.rate is None else f"poll: {{max_requests_per_second: {args.rate:g}}}\n"
            )
            config.write_text(f"credentials: {{token: {TOKEN}}}\ntargets:\n{targets}{poll}")
            port = free_port()
            exporter = Process(
                "exporter",
                [
                    *exporter_command(),
                    f"--config.file={config}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                workdir,
            )
            return watch(exporter, Http(f"http://127.0.0.1:{port}"), truth, 3 * len(projects), args)
        except BenchError as exc:
            print(f"account: {exc}", file=sys.stderr)
            for process in (simulator, exporter):
                if process is not None:
                    print(f"--- {process.name}:\n{process.log_tail()}", file=sys.stderr)
            return 1
        finally:
            for process in (exporter, simulator):
                if process is not None:
                    process.stop()


def watch(
    exporter: Process, client: Http, truth: set[str], targets: int, args: argparse.Namespace
) -> int:
    started = time.time()
    first: dict[tuple[str, str], float] = {}  # target -> when its first poll ended
    successes: dict[tuple[str, str], list[float]] = defaultdict(list)
    downs: list[str] = []
    scrapes = 0
    served: set[str] = set()
    requests_at: list[tuple[float, float]] = []  # (time, requests so far)
    text = ""
    while True:
        time.sleep(args.every)
        exporter.alive()
        status, body = client.request("GET", "/metrics", PROMETHEUS_HEADERS)
        if status != 200:
            raise BenchError(f"GET /metrics: HTTP {status}")
        text = gzip.decompress(body).decode()
        scrapes += 1
        now = time.time()
        for project, job_type, at in _SUCCESS.findall(text):
            times = successes[(project, job_type)]
            if not times or times[-1] != float(at):
                times.append(float(at))
            first.setdefault((project, job_type), now - started)
        for project, job_type, up in _UP.findall(text):
            if (project, job_type) in first and up != "1":
                downs.append(f"{project}/{job_type} at {now - started:.0f}s")
        if len(first) == targets:
            served = set(_TOP_LEVEL.findall(text))
            requests_at.append((now, total(text, "drs_api_requests")))
        done = min((len(t) for t in successes.values()), default=0)
        print(
            f"{now - started:6.0f}s  targets polled {len(first)}/{targets}, rounds {done - 1}, "
            f"jobs served {len(set(_TOP_LEVEL.findall(text))):,}/{len(truth):,}",
            file=sys.stderr,
            flush=True,
        )
        if len(first) == targets and done >= args.rounds + 1:
            break
    rss, peak = exporter.memory_mb()
    durations = [float(d) for *_, d in _DURATION.findall(text)]
    gaps = [b - a for times in successes.values() for a, b in pairwise(times)]
    span = requests_at[-1][0] - requests_at[0][0]
    per_second = (requests_at[-1][1] - requests_at[0][1]) / span if span else 0.0
    round_seconds = statistics.median(gaps)
    print(
        f"account: {len(truth):,} jobs in {targets} targets, "
        + ("every default" if args.rate is None else f"{args.rate:g} requests a second")
        + "\n"
        f"first poll of every target done within {max(first.values()):.0f}s "
        f"(first at {min(first.values()):.0f}s; scraped every {args.every:g}s)\n"
        f"rounds: median {round_seconds:.0f}s between a target's successes (max "
        f"{max(gaps):.0f}s), poll durations {min(durations):.0f}s to {max(durations):.0f}s\n"
        f"requests: {per_second:.2f}/s, about {per_second * round_seconds:,.0f} a round\n"
        f"overruns {total(text, 'drs_poll_overruns'):.0f}, waited for the limiter "
        f"{total(text, 'drs_api_rate_limit_wait_seconds'):,.0f}s in all\n"
        f"exporter resident memory {rss:.0f} MB (peak {peak:.0f} MB)\n"
        f"scrapes {scrapes}; down after a first poll: {len(downs)}; jobs served "
        f"{len(served):,} of {len(truth):,}"
    )
    ok = not downs and served == truth
    print("ok" if ok else f"FAILED: downs {downs[:5]}, jobs missing {len(truth - served)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
