"""How long reading and writing one 10,000-job listing takes, in this process, on this CPU.

    .venv/bin/python benchmarks/decoding.py [--jobs N] [--repeat R]

The listing is the simulator's: ``--jobs`` top-level jobs of one project and their subtasks,
in one body, in the words of each list API. Each time is the best of ``--repeat`` runs, so
that what else the machine does counts as little as it can: the fast reader (msgspec,
``decode.read_page``), the tolerant one (``json.loads`` and ``model.parse_jobs``,
``decode.read_page_tolerantly``) and the lines of the per-job families that the listing
feeds (``drs_job_info``, ``drs_job_status``, ...), escaping included.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable

from drs_exporter.drs.decode import read_page, read_page_tolerantly
from drs_exporter.metrics.families import FAMILIES
from drs_exporter.metrics.family import Reads, TargetFamily
from drs_exporter.metrics.samples import TargetView
from drs_exporter.model import JOB_TYPES, Job
from drs_exporter.polling.snapshot import TargetKey, TargetState
from drs_exporter.simulator import SimulatorOptions, World

TOTAL_KEYS = {"v5": "total_count", "v3": "total_record"}
# The per-job families written from the listing alone (not from the batch calls).
JOB_FAMILIES = [
    f
    for f in FAMILIES
    if isinstance(f, TargetFamily) and f.per_job and f.reads in (Reads.JOBS, Reads.SINCE)
]


def job_lines(jobs: tuple[Job, ...]) -> list[str]:
    """The listing's per-job lines of one target, by family, as the exposition writes them."""
    since = {job.id: 1.7e9 for job in jobs}
    state = TargetState(TargetKey("p", "r", "sync"), jobs=jobs, status_since=since)
    view = TargetView(state, dense_status=False)
    return [family.write(view) for family in JOB_FAMILIES]


def best(call: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` timed calls, in seconds (the collector left on, as in use)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", type=int, default=10_000, help="top-level jobs listed (default 10000)"
    )
    parser.add_argument("--repeat", type=int, default=15, help="runs of each step (default 15)")
    args = parser.parse_args()
    # Each list API lists the jobs of some engines only: a world three times the listing.
    options = SimulatorOptions(seed=1, projects=1, jobs=3 * args.jobs, children_ratio=0.1)
    world = World(options, time.time)
    for api, key in TOTAL_KEYS.items():
        listed = [j for t in JOB_TYPES for j in world.jobs(world.project_ids[0], t, api)]
        jobs = listed[: args.jobs]
        body = json.dumps({key: len(jobs), "jobs": jobs}).encode()
        page = read_page(body, key, api)
        fast = best(lambda: read_page(body, key, api), args.repeat)  # noqa: B023
        tolerant = best(lambda: read_page_tolerantly(body, key, api), args.repeat)  # noqa: B023
        lines = best(lambda: job_lines(tuple(page.jobs)), args.repeat)  # noqa: B023
        print(
            f"{api}: {len(page.jobs)} jobs and subtasks, {len(body) / 1e6:.1f} MB: "
            f"read_page {fast * 1e3:.1f} ms, read_page_tolerantly {tolerant * 1e3:.1f} ms, "
            f"job_lines {lines * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
