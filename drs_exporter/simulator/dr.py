"""What a simulated DR job says of its recovery objectives and its replication instance, and
what a project's quota is, over time.

As with progress, a DR job's figures are a pure function of (seed, job key, simulated
second), in the shapes Huawei's SDK models give (``QueryRpoAndRtoResp``,
``QueryDataGuardMonitorResponse``, ``QuotaResource``):

- ``batch-rpo-and-rto``, for a ``cloudDataGuard`` job in ``INCRE_TRANSFER_STARTED``: RPO and
  RTO ``delay`` in milliseconds as text, wandering over time (some jobs seconds, a few
  minutes), ``time`` as ``yyyy-MM-dd HH:mm:ss``; any other job gets a result without them.
- DR monitoring data, for a ``cloudDataGuard`` job in ``FULL_TRANSFER_STARTED`` or
  ``INCRE_TRANSFER_STARTED``: the keys as DRS spells them (``data_guard_minitor``,
  ``cpuUsed_percent``, ``mem_used_inMB`` ...), numbers as the SDK types them (text for some,
  integers for others) and, for a share of the jobs, every number as text. Some jobs' source
  or target connection drops for a few minutes of every hour and comes back; some jobs'
  disks fill steadily until full; the others' figures wander.
- The quota: one ``instances`` resource, its ``used`` the project's jobs that still hold an
  instance, its ``quota`` the project's jobs rounded up to the next ``QUOTA_STEP`` (so a
  project with many released jobs has room, one without has little).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .lifecycle import hash64, unit

DR_JOB_TYPE = "cloudDataGuard"
OBJECTIVE_STATES = frozenset({"INCRE_TRANSFER_STARTED"})
INSTANCE_STATES = frozenset({"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED"})
RELEASED_STATES = frozenset({"RELEASE_RESOURCE_COMPLETE", "RELEASE_CHILD_TRANSFER_COMPLETE"})
MONITORING_CAP = 10  # documented: at most 10 jobs a request
KNOT = 60  # seconds between the points a figure wanders through
OUTAGE_PERIOD = 3600  # a flaky connection drops once an hour ...
OUTAGE = 300  # ... for this many seconds
FILL_SECONDS = 4 * 3600  # a filling disk goes from half full to full in this long
QUOTA_STEP = 50
_DRAWS = 0xD2A11  # keeps these draws apart from the other models'


def _u(seed: int, key: int, n: int) -> float:
    return unit(seed ^ _DRAWS, key, n)


def _wander(seed: int, key: int, t: int, lane: int) -> float:
    """A value in [0, 1) that drifts smoothly from one KNOT to the next."""
    knot, into = divmod(t, KNOT)
    a = _u(seed, key, lane + 8 * knot)
    b = _u(seed, key, lane + 8 * (knot + 1))
    return a + (b - a) * into / KNOT


def _clock_text(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def objectives_result(
    job_id: str, job_type: str, status: str, t: int, start: float, seed: int, key: int
) -> dict[str, Any]:
    """One job's batch-rpo-and-rto result at second ``t`` of a world begun at ``start``."""
    if job_type != DR_JOB_TYPE or status not in OBJECTIVE_STATES:
        return {"job_id": job_id, "error_code": "", "error_msg": ""}
    slow = _u(seed, key, 1) < 0.1  # a tenth of DR jobs lag by minutes
    top = 600_000 if slow else 5_000
    rpo = round(top * _wander(seed, key, t, 2))
    rto = round(rpo / 4 + 1000 * _wander(seed, key, t, 3))
    when = _clock_text(start + t)
    point = f"mysql-bin.{100 + t // 3600:06d}:{(key * 7919 + t * 131) % 10_000_000}"
    return {
        "job_id": job_id,
        "rpo_info": {"delay": str(rpo), "time": when, "check_point": point, "gtid_set": "NA"},
        "rto_info": {"delay": str(rto), "time": when, "check_point": point, "gtid_set": "NA"},
        "error_code": "",
        "error_msg": "",
    }


def _connected(seed: int, key: int, t: int, lane: int) -> bool:
    """Whether a connection is up at second ``t``: an eighth of the jobs' drops once an hour."""
    if _u(seed, key, lane) >= 0.125:
        return True
    phase = int(_u(seed, key, lane + 1) * OUTAGE_PERIOD)
    return (t + phase) % OUTAGE_PERIOD >= OUTAGE


def monitoring_result(
    job_id: str, job_type: str, status: str, t: int, seed: int, key: int
) -> dict[str, Any]:
    """One job's DR monitoring result at second ``t``."""
    if job_type != DR_JOB_TYPE or status not in INSTANCE_STATES:
        return {"id": job_id, "data_guard_minitor": {}}
    memory = (4096, 8192, 16384)[hash64(seed ^ _DRAWS, key) % 3]
    volume = (100, 200, 500)[hash64(seed ^ _DRAWS, key + 1) % 3]
    if _u(seed, key, 4) < 0.1:  # a tenth of the disks fill, then stay full
        used_share = min(1.0, 0.5 + 0.5 * t / FILL_SECONDS)
    else:
        used_share = 0.2 + 0.5 * _wander(seed, key, t, 5)
    figures: dict[str, Any] = {
        "bandwidth": f"{10 + 90 * _wander(seed, key, t, 6):.2f}",
        "cpuUsed_percent": f"{100 * _wander(seed, key, t, 7):.2f}",
        "dst_delay": round(2000 * _wander(seed, key, t, 2)),
        "dst_io": f"{_wander(seed, key, t, 3) * 50:.1f}",
        "dst_normal": _connected(seed, key, t, 20),
        "dst_offset": str(key * 1000 + t),
        "dst_rps": str(round(5000 * _wander(seed, key, t, 6))),
        "mem_used_inMB": f"{memory * (0.3 + 0.5 * _wander(seed, key, t, 3)):.1f}",
        "node_mem_inMB": memory,
        "node_offset": str(key * 1000 + t),
        "node_volume_inGB": volume,
        "sr_delay": round(1000 * _wander(seed, key, t, 7)),
        "sr_offset": str(key * 1000 + t + 5),
        "src_io": f"{_wander(seed, key, t, 5) * 50:.1f}",
        "src_normal": _connected(seed, key, t, 10),
        "src_rps": str(round(5000 * _wander(seed, key, t, 2))),
        "trans_inMB": f"{t * 0.5:.1f}",
        "trans_lines": str(t * 100),
        "volume_used_inGB": f"{volume * used_share:.2f}",
        "migration_bytes_per_second": round(1_000_000 * _wander(seed, key, t, 4)),
    }
    if _u(seed, key, 9) < 0.25:  # a quarter of the jobs send every number as text
        figures = {
            k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in figures.items()
        }
    return {"id": job_id, "data_guard_minitor": figures}


def quota_answer(in_use: int, jobs: int) -> dict[str, Any]:
    """The quota answer of a project of ``jobs`` jobs, ``in_use`` of them holding an
    instance."""
    quota = -(-(jobs + 1) // QUOTA_STEP) * QUOTA_STEP
    resource = {"type": "instances", "min": 0, "max": 10_000, "quota": quota, "used": in_use}
    return {"quotas": {"resource": resource}}
