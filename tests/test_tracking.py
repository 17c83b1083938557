"""A target's state across polls: ``tracking.advance`` alone, a pure function of (previous
state, what the poll brought, the time). Status history, last success, staleness and the
versions the exposition reuses lines by are derived there and checked here."""

from __future__ import annotations

from drs_exporter.model import Job, JobHealth
from drs_exporter.polling.snapshot import TargetKey
from drs_exporter.polling.tracking import Failed, Listed, Now, Tracked, advance

KEY = TargetKey("p", "ap-southeast-1", "sync")
STALE_AFTER = 600.0
T0 = 1_700_000_000.0


def job(job_id: str, status: str = "INCRE_TRANSFER_STARTED") -> Job:
    return Job(id=job_id, name=job_id, status=status, engine_type="mysql", net_type="eip")


def at(seconds: float) -> Now:
    """``seconds`` after T0, on both clocks."""
    return Now(wall=T0 + seconds, monotonic=seconds)


def listed(*jobs: Job, health: dict[str, JobHealth] | None = None) -> Listed:
    return Listed(tuple(jobs), health or {}, duration=0.5)


def test_a_new_target_has_nothing_and_every_version_zero() -> None:
    tracked = Tracked.new(KEY)
    assert not tracked.state.has_data and not tracked.state.polled
    assert (tracked.state.versions.jobs, tracked.state.versions.since) == (0, 0)


def test_the_first_success_records_jobs_times_and_bumps_versions() -> None:
    tracked = advance(Tracked.new(KEY), listed(job("a"), job("b")), at(0), STALE_AFTER)
    state = tracked.state
    assert state.up and state.has_data and state.last_success == T0
    assert dict(state.status_since) == {"a": T0, "b": T0}
    assert state.versions.jobs == 1 and state.versions.since == 1
    assert state.versions.health == 0  # nothing told, nothing changed


def test_the_same_jobs_again_keep_every_version_and_first_seen_times() -> None:
    first = advance(Tracked.new(KEY), listed(job("a")), at(0), STALE_AFTER)
    again = advance(first, listed(job("a")), at(60), STALE_AFTER)
    assert again.state.versions == first.state.versions
    assert again.state.jobs is first.state.jobs  # handed on, not copied
    assert dict(again.state.status_since) == {"a": T0}
    assert again.state.last_success == T0 + 60


def test_a_status_change_bumps_jobs_and_times_and_restarts_only_that_jobs_time() -> None:
    first = advance(Tracked.new(KEY), listed(job("a"), job("b")), at(0), STALE_AFTER)
    changed = advance(first, listed(job("a", "INCRE_TRANSFER_FAILED"), job("b")), at(60), 600)
    assert changed.state.versions.jobs == 2 and changed.state.versions.since == 2
    assert dict(changed.state.status_since) == {"a": T0 + 60, "b": T0}


def test_a_new_name_bumps_the_jobs_but_not_the_status_times() -> None:
    first = advance(Tracked.new(KEY), listed(job("a")), at(0), STALE_AFTER)
    renamed = Job(id="a", name="new", status=job("a").status, engine_type="mysql", net_type="eip")
    after = advance(first, listed(renamed), at(60), STALE_AFTER)
    assert after.state.versions.jobs == 2
    assert after.state.versions.since == 1
    assert after.state.status_since is first.state.status_since


def test_a_vanished_job_is_forgotten_and_starts_again_when_it_comes_back() -> None:
    first = advance(Tracked.new(KEY), listed(job("a"), job("b")), at(0), STALE_AFTER)
    gone = advance(first, listed(job("a")), at(60), STALE_AFTER)
    back = advance(gone, listed(job("a"), job("b")), at(120), STALE_AFTER)
    assert dict(back.state.status_since) == {"a": T0, "b": T0 + 120}


def test_new_health_bumps_only_the_health_version() -> None:
    first = advance(Tracked.new(KEY), listed(job("a")), at(0), STALE_AFTER)
    told = {"a": JobHealth(delay=3.0)}
    second = advance(first, listed(job("a"), health=told), at(60), STALE_AFTER)
    assert second.state.versions.health == first.state.versions.health + 1
    assert second.state.versions.jobs == first.state.versions.jobs
    third = advance(second, listed(job("a"), health=dict(told)), at(120), STALE_AFTER)
    assert third.state.versions == second.state.versions  # equal figures: unchanged
    assert dict(third.state.health) == told


def test_a_failure_within_stale_after_keeps_the_jobs_and_their_versions() -> None:
    first = advance(Tracked.new(KEY), listed(job("a")), at(0), STALE_AFTER)
    failed = advance(first, Failed(2.0), at(STALE_AFTER - 1), STALE_AFTER)
    state = failed.state
    assert not state.up and state.has_data and state.jobs == first.state.jobs
    assert state.versions == first.state.versions
    assert state.last_success == T0 and state.last_poll_duration == 2.0


def test_a_failure_past_stale_after_drops_the_jobs_and_keeps_the_history() -> None:
    first = advance(Tracked.new(KEY), listed(job("a")), at(0), STALE_AFTER)
    stale = advance(first, Failed(2.0), at(STALE_AFTER), STALE_AFTER)
    state = stale.state
    assert not state.up and not state.has_data and state.jobs == ()
    assert not state.status_since and not state.health
    assert state.versions.jobs > first.state.versions.jobs
    assert state.last_success == T0  # still when it last worked
    # Once the target answers again, a job in the same status keeps its first-seen time.
    back = advance(stale, listed(job("a")), at(STALE_AFTER + 60), STALE_AFTER)
    assert back.state.has_data and dict(back.state.status_since) == {"a": T0}
    assert back.state.versions.since > state.versions.since


def test_a_target_that_never_succeeded_fails_without_data() -> None:
    failed = advance(Tracked.new(KEY), Failed(1.0), at(0), STALE_AFTER)
    assert not failed.state.up and not failed.state.has_data and failed.state.polled
    assert failed.success_at is None
