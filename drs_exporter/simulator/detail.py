"""What batch-detail says of a simulated job: its yearly/monthly subscription, the alarm
thresholds its owner set in DRS, and its tags.

A pure function of (seed, job key) and the world's start, in the shape of Huawei's SDK model
``QueryJobResp`` (``period_order``: ``PeriodOrderResp``; ``alarm_notify``:
``QuerySmnInfoResp``; ``tags``: ``Tag``):

- ``period_order`` for a top-level job billed by period (``charging_mode`` ``period`` in its
  v5 listing), ending a day to a year after the world started: a tenth within three days and
  as many within two weeks, so that the shipped alerts show in a demo; half of them renew
  automatically. ``exp_time`` and ``eff_time`` come in each of the forms DRS has been seen to
  send: ISO 8601 with ``Z``, ``yyyy-MM-dd HH:mm:ss`` (UTC), and Unix milliseconds as text.
  A job billed on demand has none, absent or null.
- ``alarm_notify`` for about half of the jobs: ``delay_time`` (seconds of replication delay)
  and, for DR jobs, ``rpo_delay`` and ``rto_delay`` (seconds); a threshold not set is left
  out, null or 0. With them a topic and subscriptions: e-mail addresses and phone numbers,
  the personal data the exporter must never show.
- ``tags`` for most jobs: keys as operators write them, some no Prometheus label name can
  hold (``cost-center``, ``app.kubernetes.io/name``, ``环境``), and for a few jobs two keys
  that collide once made label names (``cost-center`` and ``cost_center``).

A job a test added as JSON answers with the ``period_order``, ``alarm_notify`` and ``tags``
it was given, as given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .lifecycle import unit

_DRAWS = 0xDE7A11  # keeps these draws apart from the other models'
DAY = 86400
DETAIL_FIELDS = ("period_order", "alarm_notify", "tags")  # what a test's JSON may set
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
SPACE_FORMAT = "%Y-%m-%d %H:%M:%S"
TAG_SETS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("env", "prod"), ("team", "dba"), ("cost-center", "cc-1001")),
    (("env", "staging"), ("team", "payments")),
    (("env", "prod"), ("app.kubernetes.io/name", "orders"), ("Owner", "li.wei")),
    (("环境", "生产"), ("team", "search")),
    (("env", "dev"),),
    # Two keys that collide as label names: the first one wins.
    (("cost-center", "cc-2002"), ("cost_center", "cc-9999"), ("env", "prod")),
)


def _u(seed: int, key: int, n: int) -> float:
    return unit(seed ^ _DRAWS, key, n)


def time_text(unix: float, form: int) -> str:
    """``unix`` as DRS writes a time: 0 ISO 8601 with Z, 1 ``yyyy-MM-dd HH:mm:ss`` (UTC),
    2 Unix milliseconds as text."""
    if form == 2:
        return str(round(unix * 1000))
    at = dt.datetime.fromtimestamp(unix, dt.timezone.utc)
    return at.strftime(ISO_FORMAT if form == 0 else SPACE_FORMAT)


def period_order(seed: int, key: int, start: float, created: float) -> dict[str, Any]:
    """The subscription of a job billed by period."""
    u = _u(seed, key, 1)
    if u < 0.1:
        days = 0.5 + 2 * _u(seed, key, 2)  # ends within three days
    elif u < 0.2:
        days = 4 + 9 * _u(seed, key, 2)  # within two weeks
    else:
        days = 20 + 345 * _u(seed, key, 2)
    form = int(_u(seed, key, 3) * 3)
    yearly = _u(seed, key, 4) < 0.3
    return {
        "status": "COMPLETED",
        "order_id": f"CS{2000000000 + key * 7919 % 1000000000}",
        "charging_mode": 0,
        "period_type": 3 if yearly else 2,  # 2 month, 3 year
        "period_num": 1,
        "is_auto_renew": 1 if _u(seed, key, 5) < 0.5 else 0,
        "eff_time": time_text(created or start, form),
        "exp_time": time_text(float(round(start + days * DAY)), form),
    }


def alarm_notify(seed: int, key: int, job_type: str) -> dict[str, Any] | None:
    """The thresholds and subscribers of the job's DRS alarms; None for half the jobs."""
    if _u(seed, key, 10) >= 0.5:
        return None
    notify: dict[str, Any] = {
        "topic_name": f"drs-alarms-{key}",
        "alarm_to_user": True,
        "subscriptions": [
            {"protocol": "email", "endpoints": [f"dba{key}@example.com"]},
            {"protocol": "sms", "endpoints": [f"+86138{key % 100000000:08d}"]},
        ],
        "delay_time": (60, 300, 600, 1800)[int(_u(seed, key, 11) * 4)],
    }
    if job_type == "cloudDataGuard":
        notify["rpo_delay"] = (30, 60, 300)[int(_u(seed, key, 12) * 3)]
        notify["rto_delay"] = (60, 300, 600)[int(_u(seed, key, 13) * 3)]
    # A threshold not set: left out, null or 0, as a console may save it.
    unset = int(_u(seed, key, 14) * 6)
    if unset == 0:
        del notify["delay_time"]
    elif unset == 1:
        notify["delay_time"] = None
    elif unset == 2 and "rpo_delay" not in notify:
        notify["rpo_delay"] = 0
        notify["rto_delay"] = 0
    return notify


def tags(seed: int, key: int) -> list[dict[str, str]]:
    """The job's tags; none for a fifth of the jobs."""
    u = _u(seed, key, 20)
    if u < 0.2:
        return []
    chosen = TAG_SETS[int(_u(seed, key, 21) * len(TAG_SETS))]
    return [{"key": k, "value": v} for k, v in chosen]


def detail_result(
    job: Mapping[str, Any],
    *,
    job_type: str,
    period: bool,
    seed: int,
    key: int,
    start: float,
    created: float,
    parent_id: str = "",
    given: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One batch-detail result: the job as listed (``job``), with what only batch-detail
    tells; ``given`` is a test's JSON of the job, whose detail fields win."""
    result: dict[str, Any] = {
        "id": job.get("id"),
        "parent_id": parent_id,
        "name": job.get("name"),
        "status": job.get("status"),
        "description": job.get("description"),
        "create_time": job.get("create_time"),
        "task_type": job.get("task_type"),
        "net_type": job.get("net_type"),
        "job_direction": job.get("job_direction"),
        "db_use_type": job_type,
        "is_multi_az": job.get("is_multi_az"),
        "node_role": job.get("node_role"),
    }
    if given is not None:
        result.update({name: given[name] for name in DETAIL_FIELDS if name in given})
        return result
    if parent_id:
        return result  # a subtask is billed, alarmed and tagged with its parent
    if period:
        result["period_order"] = period_order(seed, key, start, created)
    elif _u(seed, key, 30) < 0.5:
        result["period_order"] = None
    notify = alarm_notify(seed, key, job_type)
    if notify is not None:
        result["alarm_notify"] = notify
    result["tags"] = tags(seed, key)
    return result
