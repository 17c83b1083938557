"""The job model: what the exporter makes of whatever the DRS API sends."""

import datetime as dt
import re

from huaweicloudsdkdrs.v3.model import job_info

from drs_exporter.model import (
    KNOWN_STATUSES,
    MAX_LABEL_LENGTH,
    STATUSES,
    V3_ONLY_STATUSES,
    is_failed,
    parse_jobs,
    parse_time,
)
from drs_exporter.simulator.lifecycle import CHAINS


def test_the_22_documented_statuses_and_which_are_failed() -> None:
    assert len(STATUSES) == len(set(STATUSES)) == 22
    failed = [s for s in STATUSES if is_failed(s)]
    assert failed == [
        "CREATE_FAILED",
        "START_JOB_FAILED",
        "FULL_TRANSFER_FAILED",
        "INCRE_TRANSFER_FAILED",
        "RELEASE_RESOURCE_FAILED",
        "CHANGE_JOB_FAILED",
        "CHILD_TRANSFER_FAILED",
    ]


def test_the_known_statuses_are_the_ones_the_v3_api_documents() -> None:
    """Huawei's SDK carries the v3 job listing's documented statuses in its model docs."""
    doc = job_info.JobInfo.status.__doc__  # the status field's own documentation
    assert doc
    # Each value is followed by a full-width colon and its Chinese description.
    documented = set(re.findall("- ([A-Z_]+)\uff1a", doc))
    assert len(documented) == 29
    assert set(KNOWN_STATUSES) == documented
    assert set(STATUSES) | set(V3_ONLY_STATUSES) == documented
    assert not set(STATUSES) & set(V3_ONLY_STATUSES)


def test_the_simulator_makes_only_documented_statuses() -> None:
    """So that the demo logs no "status the DRS API does not document" warning."""
    made = {
        status
        for chain in CHAINS.values()
        for status, step in chain.items()
        for status in (status, *(to for _, to in step.moves if to is not None))
    }
    assert made <= KNOWN_STATUSES, made - KNOWN_STATUSES
    assert made - set(STATUSES), "v3-only statuses, which have no dense_status line"


def test_create_time_in_both_formats_seen_from_the_api() -> None:
    iso = parse_time("2022-11-07T16:15:18Z")
    assert iso == dt.datetime(2022, 11, 7, 16, 15, 18, tzinfo=dt.timezone.utc).timestamp()
    spaced = parse_time("2020-12-21 10:57:49")
    assert spaced == dt.datetime(2020, 12, 21, 10, 57, 49, tzinfo=dt.timezone.utc).timestamp()
    assert parse_time("2020-12-21T10:57:49+08:00") == spaced - 8 * 3600
    assert parse_time(1_600_000_000_000) == 1_600_000_000.0  # epoch milliseconds
    assert parse_time("1600000000000") == 1_600_000_000.0  # the same, as text
    assert parse_time("1600000000") == 1_600_000_000.0


def test_unparsable_create_time_is_none_never_an_error() -> None:
    for value in (None, "", "yesterday", "2020-13-45 99:99:99", [], {}, True, float("nan"), -5):
        assert parse_time(value) is None


def test_children_are_flattened_after_their_parent_with_parent_id() -> None:
    jobs = parse_jobs(
        [
            {
                "id": "p1",
                "status": "CHILD_TRANSFER_STARTED",
                "children": [{"id": "c1", "status": "CHILD_TRANSFER_FAILED"}, {"id": "c2"}],
            },
            {"id": "p2", "status": "CONFIGURATION"},
        ]
    )
    assert [(j.id, j.parent_id) for j in jobs] == [
        ("p1", ""),
        ("c1", "p1"),
        ("c2", "p1"),
        ("p2", ""),
    ]
    assert jobs[1].failed and not jobs[0].failed


def test_missing_null_odd_and_unknown_fields_become_strings() -> None:
    (job,) = parse_jobs(
        [
            {
                "id": "j",
                "name": None,
                "status": "SOMETHING_NEW",
                "engine_type": "mysql-to-mysql",
                "net_type": 7,
                "job_direction": {"nested": 1},
                "charging_mode": True,
                "brand_new_field": [1, 2],
                "name_long": "x",
            }
        ]
    )
    assert job.name == "" and job.status == "SOMETHING_NEW" and job.engine_type == "mysql-to-mysql"
    assert job.net_type == "7" and job.job_direction == "" and job.charging_mode == "true"
    assert job.task_type == "" and job.created is None


def test_entries_that_are_not_jobs_are_skipped() -> None:
    jobs = parse_jobs(
        [None, 3, "x", [], {"name": "no id"}, {"id": ""}, {"id": "ok", "children": "no"}]
    )
    assert [j.id for j in jobs] == ["ok"]


def test_hostile_long_values_are_cut() -> None:
    (job,) = parse_jobs([{"id": "j", "name": "n" * 100_000}])
    assert len(job.name) == MAX_LABEL_LENGTH
