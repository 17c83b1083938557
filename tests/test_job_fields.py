"""The table of job fields (``Job`` and its rows) is what both readers build, what
drs_job_info carries and what the samples escape: nothing else lists the fields."""

from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec
import pytest

from drs_exporter.config import MetricsConfig
from drs_exporter.drs.decode import read_page, read_page_tolerantly
from drs_exporter.metrics.exposition import render
from drs_exporter.metrics.families import INFO_LABELS, JOB_LABELS
from drs_exporter.model import (
    INFO_FIELDS,
    JOB_FIELDS,
    JOB_FROM_MAPPING,
    MAX_LABEL_LENGTH,
    Job,
    few,
    fields_of,
    text,
    timestamp,
)
from drs_exporter.polling.snapshot import Snapshot, TargetKey, TargetState

from .test_exposition import families

# Job objects as the API may send them: every documented type, and odd ones.
RAW_JOBS: list[dict[str, Any]] = [
    {
        "id": "j1",
        "name": "orders",
        "status": "INCRE_TRANSFER_STARTED",
        "engine_type": "mysql-to-mysql",
        "net_type": "eip",
        "job_direction": "up",
        "task_type": "FULL_INCR_TRANS",
        "job_mode": "single",
        "job_mode_role": "",
        "charging_mode": "on_demand",
        "enterprise_project_id": "0",
        "create_time": "2022-11-07T16:15:18Z",
        "error_msg": "a\n  b",
    },
    {"id": "j2", "create_time": 1667837718000, "name": None, "status": None},
    {"id": "j3", "create_time": "1667837718", "net_type": "x" * 1000},
    {"id": 7, "name": 1.5, "status": True, "engine_type": {"a": 1}, "create_time": [1]},
    {"id": None, "name": "no id"},
    {},
]


def by_the_rows(raw: dict[str, Any], parent_id: str) -> Job:
    """What a job object should give, read field by field straight from the rows."""
    return Job(
        **{
            name: parent_id if row.key is None else row.parse(raw.get(row.key))
            for name, row in JOB_FIELDS.items()
        }
    )


def test_every_field_of_job_has_its_row_in_jobs_order() -> None:
    assert tuple(JOB_FIELDS) == Job.__struct_fields__
    assert [row.key for row in JOB_FIELDS.values()].count(None) == 1  # parent_id only


@pytest.mark.parametrize("raw", RAW_JOBS, ids=range(len(RAW_JOBS)))
@pytest.mark.parametrize("parent_id", ["", "parent-1"])
def test_the_tolerant_reader_reads_each_field_as_its_row_says(
    raw: dict[str, Any], parent_id: str
) -> None:
    assert JOB_FROM_MAPPING(raw, parent_id) == by_the_rows(raw, parent_id)


@pytest.mark.parametrize(("api", "total_key"), [("v5", "total_count"), ("v3", "total_record")])
def test_both_readers_give_what_the_rows_say(api: str, total_key: str) -> None:
    subtask = {"id": "c1", "status": "CHILD_TRANSFER_FAILED", "error_msg": "x\ny"}
    jobs = [{**RAW_JOBS[0], "children": [subtask]}, RAW_JOBS[1], RAW_JOBS[2]]
    body = json.dumps({total_key: 3, "jobs": jobs}).encode()
    want = [by_the_rows(RAW_JOBS[0], ""), by_the_rows(subtask, "j1")]
    want += [by_the_rows(RAW_JOBS[1], ""), by_the_rows(RAW_JOBS[2], "")]
    assert read_page(body, total_key, api).jobs == want  # the fast reader: msgspec
    assert read_page_tolerantly(body, total_key, api).jobs == want
    assert want[0].error_message == "a b" and want[1].parent_id == "j1"
    assert len(want[3].net_type) == MAX_LABEL_LENGTH


@pytest.mark.parametrize("openmetrics", [False, True])
def test_every_labelled_field_reaches_drs_job_info_escaped(openmetrics: bool) -> None:
    # Each text field a different value that needs escaping: a field mixed up with another,
    # or left unescaped, shows.
    values = {
        name: f'{name} "quoted" back\\slash\nline'
        for name, row in JOB_FIELDS.items()
        if row.value_type is str
    }
    job = Job(**values)
    key = TargetKey("p", "r", "migration")
    state = TargetState(key, last_poll_duration=1.0, up=True, jobs=(job,), has_data=True)
    exposition = render(Snapshot(targets=(state,)), MetricsConfig(), "1")
    (info,) = families(exposition, openmetrics=openmetrics)["drs_job_info"].samples
    assert info.labels == {
        "project_id": "p",
        "region": "r",
        "job_type": "migration",
        **{label: values[field] for label, field in INFO_FIELDS},
    }
    assert list(info.labels) == list(INFO_LABELS)  # as the family and docs/metrics.md list them
    assert INFO_LABELS[: len(JOB_LABELS)] == JOB_LABELS  # the job's identity first


def test_a_field_whose_type_is_not_its_rows_is_refused() -> None:
    class Timed(msgspec.Struct):
        id: Annotated[str, text("id")]
        created: Annotated[str, timestamp("create_time")]  # a timestamp is a float or None

    with pytest.raises(TypeError, match="created"):
        fields_of(Timed)


def test_a_field_without_a_row_or_with_an_odd_key_or_a_label_twice_is_refused() -> None:
    class Bare(msgspec.Struct):
        id: Annotated[str, text("id")]
        name: str

    class OddKey(msgspec.Struct):
        id: Annotated[str, text("id); import os; (")]

    class Twice(msgspec.Struct):
        engine: Annotated[str, few("engine_type", label="engine")]
        engine_v3: Annotated[str, few("engine", label="engine")]

    for record, word in [(Bare, "name"), (OddKey, "plain name"), (Twice, "same label")]:
        with pytest.raises(TypeError, match=word):
            fields_of(record)
