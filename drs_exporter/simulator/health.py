"""How far along and how far behind a simulated job is: its batch-progress figures over time.

Like its status, a job's figures are a pure function of (seed, job key, simulated second):

- ``FULL_TRANSFER_STARTED``: progress climbs from where the job stood (a head start for a
  job already transferring when the world began) towards 100 % at the second the job leaves
  the status (or over a duration drawn for it, stopping at 99 %, when that is not known);
  remaining time falls; ``process_time`` moves every ``TICK`` seconds.
- ``CHILD_TRANSFER_STARTED``: the same over a drawn duration, up to 100 %, and a delay too.
- ``INCRE_TRANSFER_STARTED``: progress 100, no time remaining, a delay that wanders over
  time (most jobs within seconds, some tens of seconds, a few minutes to 40 minutes), and
  ``process_time`` moving.
- ``*_COMPLETE`` of a transfer: 100 %, and ``process_time`` the second it completed.
- Anything else: the figures blank, in the job's own way ("", "-", or left out), with the
  failure reason for a ``*_FAILED`` status.

A job's health pins (``HealthPins``) override this: a fixed delay, a fixed progress, a
frozen job (progress and ``process_time`` stop where they were, the delay grows by the
second) or a given failure reason.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from .lifecycle import hash64, unit
from .reasons import Reason

TICK = 5  # seconds between progress updates of a transferring job
KNOT = 60  # seconds between the points a delay wanders through
PROGRESS_STATES = frozenset({"FULL_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"})
DELAY_STATES = frozenset({"INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"})
DONE_STATES = frozenset({"FULL_TRANSFER_COMPLETE", "CHILD_TRANSFER_COMPLETE"})
# (share of jobs, lowest delay, highest delay) in milliseconds
DELAY_CLASSES = ((0.80, 0, 3_000), (0.12, 5_000, 60_000), (0.08, 120_000, 2_400_000))
FIGURES = ("progress", "incre_trans_delay", "incre_trans_delay_millis", "remaining_time")
BLANK_STYLES = ("", "-", None)  # None: the figure is left out
_DRAWS = 0x4EA17  # keeps these draws apart from the status walk's


@dataclass(frozen=True)
class HealthPins:
    """What a test has fixed about a job's health; None leaves a figure to the model."""

    delay_seconds: float | None = None
    frozen_at: int | None = None  # the simulated second the job froze
    progress: float | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def public(self) -> dict[str, Any]:
        """As ``/_sim/jobs/{id}/health`` shows them."""
        return {
            "delay_seconds": self.delay_seconds,
            "frozen": self.frozen_at is not None,
            "progress": self.progress,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


NO_PINS = HealthPins()
PIN_KEYS = ("delay_seconds", "frozen", "progress", "error_code", "error_message")


def change_pins(pins: HealthPins, changes: dict[str, Any], now: int) -> HealthPins:
    """``pins`` with ``changes`` applied (each key of PIN_KEYS; null unpins that one);
    ValueError naming the first bad one."""
    unknown = sorted(set(changes) - set(PIN_KEYS))
    if unknown:
        raise ValueError(f"unknown health key(s): {', '.join(unknown)}")
    new: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "frozen":
            if value is not None and not isinstance(value, bool):
                raise ValueError("frozen must be true, false or null")
            keep = pins.frozen_at if pins.frozen_at is not None else now
            new["frozen_at"] = keep if value else None
        elif name in ("error_code", "error_message"):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string or null")
            new[name] = value
        else:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            top = 100.0 if name == "progress" else math.inf
            if value is not None and not (number and 0 <= value <= top):
                raise ValueError(f"{name} must be a number from 0 to {top:g}, or null")
            new[name] = None if value is None else float(value)
    return replace(pins, **new)


@dataclass(frozen=True)
class Stay:
    """Where a job is: its status, the second it entered it, the second it leaves it (None:
    not known), and whether the world began with the job in it (so it has a head start)."""

    status: str
    since: int
    until: int | None
    head_start: bool


# A batch-progress answer draws the same numbers for a job again and again (its traits every
# time, a wander's knots for a minute): remembered, a 10,000-job world answers in a third of
# the time. The bound keeps a long-running simulator's memory flat.
@functools.lru_cache(maxsize=1 << 17)
def _u(seed: int, key: int, n: int) -> float:
    return unit(seed ^ _DRAWS, key, n)


@functools.lru_cache(maxsize=1 << 15)
def _style(seed: int, key: int) -> str | None:
    return BLANK_STYLES[hash64(seed ^ _DRAWS, key) % len(BLANK_STYLES)]


def _wander(seed: int, key: int, t: int, lane: int) -> float:
    """A value in [0, 1) that drifts smoothly from one KNOT to the next."""
    knot, into = divmod(t, KNOT)
    a = _u(seed, key, lane + 4 * knot)
    b = _u(seed, key, lane + 4 * (knot + 1))
    return a + (b - a) * into / KNOT


def _delay_class(u: float) -> tuple[int, int]:
    for share, low, high in DELAY_CLASSES:
        if u < share:
            return low, high
        u -= share
    return DELAY_CLASSES[-1][1:]


def delay_ms(seed: int, key: int, t: int) -> int:
    """A replicating job's delay at second ``t``, in milliseconds."""
    low, high = _delay_class(_u(seed, key, 1))
    return round(low + (high - low) * _wander(seed, key, t, 2))


def _progress(seed: int, key: int, stay: Stay, t: int, pinned: float | None) -> tuple[float, int]:
    """Percent done and seconds remaining at second ``t`` of a transfer."""
    known = stay.status == "FULL_TRANSFER_STARTED" and stay.until is not None
    duration = (stay.until or 0) - stay.since if known else 600 + round(_u(seed, key, 5) * 7200)
    head = _u(seed, key, 6) * 80 if stay.head_start else 0.0
    done = min(1.0, max(0.0, (t - stay.since) / max(1, duration)))
    percent = head + (100 - head) * done if pinned is None else pinned
    if stay.status == "FULL_TRANSFER_STARTED" and pinned is None:
        percent = min(percent, 99.0)  # 100 % is the status after this one
    left = math.ceil(duration * (100 - percent) / (100 - head)) if percent < 100 else 0
    return percent, left


def progress_result(
    job_id: str,
    task_mode: str,
    stay: Stay,
    t: int,
    start: float,
    seed: int,
    key: int,
    failure: Reason | None,
    pins: HealthPins = NO_PINS,
) -> dict[str, Any]:
    """One job's batch-progress result at second ``t`` of a world that began at Unix
    ``start``; ``failure`` is its reason when it has failed."""
    status = stay.status
    moving = t if pins.frozen_at is None else min(t, pins.frozen_at)
    style = _style(seed, key)
    out: dict[str, Any] = {"job_id": job_id}
    figures: dict[str, Any] = dict.fromkeys(FIGURES, style)
    process: Any = style
    progress_map: Any = {} if style is not None else None
    if status in PROGRESS_STATES or pins.progress is not None:
        percent, left = _progress(seed, key, stay, moving, pins.progress)
        figures["progress"] = str(math.floor(percent))
        figures["remaining_time"] = str(left)
        progress_map = _progress_map(percent, left)
        process = _process_time(start, stay.since, moving, key)
    elif status in DONE_STATES or status == "INCRE_TRANSFER_STARTED":
        figures["progress"], figures["remaining_time"] = "100", "0"
        progress_map = _progress_map(100.0, 0)
        done_at = stay.since if status in DONE_STATES else moving
        process = _process_time(start, stay.since, done_at, key)
    delay: int | None = None
    if pins.delay_seconds is not None:
        delay = round(pins.delay_seconds * 1000)
    elif status in DELAY_STATES:
        delay = delay_ms(seed, key, moving) + (t - moving) * 1000
    if delay is not None:
        figures["incre_trans_delay"] = str(delay // 1000)
        figures["incre_trans_delay_millis"] = str(delay)
    replicating = status in DELAY_STATES
    rows = round(50 + 5000 * _wander(seed, key, moving, 3)) if replicating else -1
    if replicating and pins.frozen_at is not None:
        rows = 0
    code, message = failure if failure is not None else ("", "")
    out.update(
        progress=figures["progress"],
        incre_trans_delay=figures["incre_trans_delay"],
        incre_trans_delay_millis=figures["incre_trans_delay_millis"],
        task_mode=task_mode,
        transfer_status=status,
        process_time=process,
        remaining_time=figures["remaining_time"],
        progress_map=progress_map,
        error_code=pins.error_code if pins.error_code is not None else code,
        error_msg=pins.error_message if pins.error_message is not None else message,
        apply_rows_rate=rows,
        apply_bytes_rate=rows * (150 + hash64(seed, key) % 400) if rows > 0 else rows,
    )
    return {k: v for k, v in out.items() if v is not None}


def _process_time(start: float, since: int, t: int, key: int) -> str:
    """Unix milliseconds of the last progress update at or before second ``t``."""
    tick = since + (t - since) // TICK * TICK
    return str(math.floor((start + tick) * 1000) - key % 997)


def _progress_map(percent: float, left: int) -> dict[str, dict[str, str]]:
    structure = min(100.0, percent * 4)
    index = max(0.0, percent * 2 - 100)
    return {
        "structure": {"completed": f"{math.floor(structure)}%", "remaining_time": "0"},
        "data": {"completed": f"{math.floor(percent)}%", "remaining_time": str(left)},
        "index": {"completed": f"{math.floor(index)}%", "remaining_time": str(left)},
    }


GARBLES = ("map_as_list", "numbers", "not_a_number", "fractions", "out_of_range", "duplicate")


def garble(result: dict[str, Any], seed: int, key: int, t: int) -> tuple[dict[str, Any], bool]:
    """A result changed in one of the ways a sloppy server might (GARBLES), chosen by the
    job and the second; True when it should also be sent twice."""
    kind = GARBLES[hash64(seed ^ _DRAWS ^ t, key) % len(GARBLES)]
    out = dict(result)
    if kind == "map_as_list" and isinstance(out.get("progress_map"), dict):
        out["progress_map"] = [{"name": k, **v} for k, v in out["progress_map"].items()]
    elif kind == "numbers":
        for name in FIGURES:
            if isinstance(out.get(name), str) and out[name].isdigit():
                out[name] = int(out[name])
    elif kind == "not_a_number":
        out.update(progress="N/A", incre_trans_delay="null", incre_trans_delay_millis="N/A")
    elif kind == "fractions":
        out.update(progress="12.5", remaining_time="-30", incre_trans_delay_millis="1500.5")
    elif kind == "out_of_range":
        out.update(progress="130", incre_trans_delay="-5", incre_trans_delay_millis="-5000")
    return out, kind == "duplicate"
