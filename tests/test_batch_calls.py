"""The batch-call table, the learned batch sizes and the quota reader, one piece at a time."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgspec
import pytest

from drs_exporter.config import MetricsConfig
from drs_exporter.drs.batch_calls import (
    BATCH_CALLS,
    BATCH_DETAIL,
    BATCH_PROGRESS,
    BATCH_RPO_RTO,
    BATCH_STATUS,
    DR_JOB_TYPE,
    DR_MONITORING,
    PROGRESS_STATUSES,
    switched_on,
    tell_instance,
    tell_objectives,
)
from drs_exporter.drs.batch_sizes import RETRY_LARGER, BatchSizes
from drs_exporter.drs.decode import Monitoring, RpoRto, read_results
from drs_exporter.drs.quotas import read_quota
from drs_exporter.errors import ApiError
from drs_exporter.metrics.families import FAMILIES
from drs_exporter.model import KNOWN_STATUSES

from .test_batch_figures import job


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_every_batch_call_feeds_families_of_the_table_and_names_its_api_once() -> None:
    fed = {family.call for family in FAMILIES if family.call is not None}
    assert fed == set(BATCH_CALLS)  # no call asked for nothing shown, no family of no call
    assert len({call.api for call in BATCH_CALLS}) == len(BATCH_CALLS)
    assert DR_MONITORING.max_ids == 10


def test_each_call_asks_about_the_jobs_its_rule_names_in_their_order() -> None:
    # Every status DRS has, one never seen (a new failure), each as a job and as a subtask.
    statuses = [*KNOWN_STATUSES, "SOMETHING_NEW_FAILED"]
    jobs = [
        msgspec.structs.replace(job(status, job_id=f"{kind}{status}"), parent_id=parent)
        for status in sorted(statuses)
        for kind, parent in (("j", ""), ("s", "p1"))
    ]
    for call in BATCH_CALLS:
        for job_type in ("migration", "sync", DR_JOB_TYPE):
            by_rule = [j.id for j in jobs if call.wanted(job_type, j)]
            assert call.wanted_ids(job_type, jobs) == by_rule
    failed = BATCH_STATUS.wanted_ids("sync", jobs)
    assert "jSOMETHING_NEW_FAILED" in failed and "sSOMETHING_NEW_FAILED" in failed
    assert not any(i.startswith("s") for i in BATCH_DETAIL.wanted_ids("sync", jobs))
    assert len(BATCH_PROGRESS.wanted_ids("sync", jobs)) == 2 * len(PROGRESS_STATUSES)


def test_a_size_halves_when_refused_and_is_remembered_per_call_and_endpoint() -> None:
    clock = Clock()
    sizes = BatchSizes(clock)
    assert sizes.size("a", "e1", 100) == 100
    assert sizes.too_large("a", "e1", 100) == 50
    assert sizes.too_large("a", "e1", 50) == 25
    assert sizes.size("a", "e1", 100) == 25
    assert sizes.size("a", "e2", 100) == 100  # another endpoint
    assert sizes.size("b", "e1", 100) == 100  # another call
    assert sizes.size("a", "e1", 10) == 10  # a smaller configured size wins
    assert sizes.learned() == {}  # ... and makes what was learned moot


def test_a_larger_size_is_tried_again_after_an_hour_never_above_the_largest() -> None:
    clock = Clock()
    sizes = BatchSizes(clock)
    sizes.too_large("a", "e", 100)
    sizes.too_large("a", "e", 50)
    clock.now += RETRY_LARGER - 1
    assert sizes.size("a", "e", 100) == 25
    clock.now += 1
    assert sizes.size("a", "e", 100) == 50
    assert sizes.size("a", "e", 100) == 50  # the next hour's try is an hour away
    clock.now += RETRY_LARGER
    assert sizes.size("a", "e", 100) == 100
    assert sizes.learned() == {}


def test_a_refusal_of_one_id_never_goes_below_one() -> None:
    sizes = BatchSizes(Clock())
    assert sizes.too_large("a", "e", 1) == 1


def monitoring(**minitor: Any) -> Monitoring:
    body = json.dumps({"results": [{"id": "j1", "data_guard_minitor": minitor}]}).encode()
    return read_results(body, ["j1"], "v3_dr_monitoring", Monitoring, "id")["j1"]


def test_instance_figures_as_strings_or_numbers_keys_as_drs_spells_them() -> None:
    told = tell_instance(
        job("INCRE_TRANSFER_STARTED"),
        monitoring(
            src_normal=True,
            dst_normal="false",
            cpuUsed_percent="12.5",
            mem_used_inMB="512",
            node_mem_inMB=4096,
            volume_used_inGB=3,
            node_volume_inGB="100",
        ),
    )
    assert told == {
        "source_connected": 1.0,
        "target_connected": 0.0,
        "cpu": 0.125,
        "memory_used": 512 * 2**20,
        "memory": 4096 * 2**20,
        "disk_used": 3 * 2**30,
        "disk": 100 * 2**30,
    }


@pytest.mark.parametrize("junk", [None, "", "N/A", "-1", [], {}, "yes"])
def test_a_missing_or_junk_instance_figure_tells_nothing(junk: Any) -> None:
    fields = {"src_normal": junk, "cpuUsed_percent": junk, "volume_used_inGB": junk}
    told = tell_instance(job("INCRE_TRANSFER_STARTED"), monitoring(**fields))
    assert (told["source_connected"], told["cpu"], told["disk_used"]) == (None, None, None)


def test_a_connection_flag_is_a_boolean_not_a_number() -> None:
    told = tell_instance(job("INCRE_TRANSFER_STARTED"), monitoring(src_normal=1, dst_normal=0))
    assert (told["source_connected"], told["target_connected"]) == (None, None)


def test_rpo_and_rto_are_seconds_from_milliseconds_in_text() -> None:
    body = json.dumps(
        {
            "count": 2,
            "results": [
                {"job_id": "j1", "rpo_info": {"delay": "1500"}, "rto_info": {"delay": 250}},
                {"job_id": "j2", "rpo_info": "junk", "rto_info": {"delay": "N/A"}},
            ],
        }
    ).encode()
    found = read_results(body, ["j1", "j2"], "v3_batch_rpo_rto", RpoRto, "job_id")
    syncing = job("INCRE_TRANSFER_STARTED")
    assert tell_objectives(syncing, found["j1"]) == {"rpo": 1.5, "rto": 0.25}
    assert tell_objectives(syncing, found["j2"]) == {"rpo": None, "rto": None}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"quotas": {"resource": {"type": "instances", "quota": 50, "used": 7}}},
            {"instances": (7.0, 50.0)},
        ),
        (
            {"quotas": {"resources": [{"type": "instances", "quota": "50", "used": "N/A"}]}},
            {"instances": (None, 50.0)},
        ),
        ({"quotas": {"resource": {"quota": 50, "used": 7}}}, {}),
        ({"quotas": {}}, {}),
    ],
)
def test_the_quota_reader_keeps_what_is_a_number(
    answer: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert read_quota(json.dumps(answer).encode(), "v3_quotas") == expected


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"quota": 1}', b'{"quotas": []}'])
def test_an_answer_that_is_not_a_quota_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        read_quota(body, "v3_quotas")
    assert raised.value.reason == "decode"


def test_a_call_is_switched_on_by_a_metrics_switch_and_only_with_per_job() -> None:
    with pytest.raises(ValueError, match=r"metrics\.page_size is not a switch"):
        dataclasses.replace(BATCH_PROGRESS, switch="page_size")
    assert switched_on(MetricsConfig()) == BATCH_CALLS
    assert switched_on(MetricsConfig(dr=False, detail=False)) == (BATCH_PROGRESS, BATCH_STATUS)
    assert switched_on(MetricsConfig(health=False, detail=False)) == (BATCH_RPO_RTO, DR_MONITORING)
    assert switched_on(MetricsConfig(health=False, dr=False)) == (BATCH_DETAIL,)
    assert switched_on(MetricsConfig(per_job=False)) == ()
