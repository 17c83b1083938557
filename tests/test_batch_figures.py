"""Reading the v3 batch answers: every odd figure and answer gives no value, never a 0."""

from __future__ import annotations

import json
from typing import Any

import pytest

from drs_exporter.drs.batch_calls import figure
from drs_exporter.drs.batch_figures import job_health
from drs_exporter.drs.decode import Progress, Status, read_progress
from drs_exporter.errors import ApiError
from drs_exporter.model import Job, JobHealth


def job(status: str, error_message: str = "", job_id: str = "j1") -> Job:
    return Job(
        id=job_id,
        name="n",
        status=status,
        engine_type="mysql",
        net_type="vpc",
        job_direction="up",
        task_type="FULL_INCR_TRANS",
        job_mode="",
        job_mode_role="",
        charging_mode="",
        enterprise_project_id="",
        created=None,
        error_message=error_message,
    )


SYNCING = job("INCRE_TRANSFER_STARTED")
FULL = job("FULL_TRANSFER_STARTED")
FAILED = job("INCRE_TRANSFER_FAILED")


def progress(**fields: Any) -> Progress:
    return Progress(job_id="j1", **fields)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", 12.5),
        ("94%", 94.0),
        (" 7 ", 7.0),
        (3, 3.0),
        (0.5, 0.5),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("-", None),
        ("N/A", None),
        ("null", None),
        ("NaN", None),
        ("inf", None),
        (True, None),
        ({"value": 1}, None),
        ([1], None),
    ],
)
def test_a_figure_is_a_number_or_nothing(value: Any, expected: float | None) -> None:
    assert figure(value) == expected


def test_a_syncing_job_gets_every_figure() -> None:
    found = job_health(
        SYNCING,
        progress(
            progress="100",
            incre_trans_delay="3",
            incre_trans_delay_millis="2500",
            remaining_time="0",
            process_time="1700000000123",
        ),
        None,
    )
    assert found == JobHealth(progress=1.0, delay=2.5, remaining=0.0, updated=1_700_000_000.123)


def test_the_delay_in_seconds_stands_in_when_the_milliseconds_are_not_a_number() -> None:
    for millis in ("", "-", None, "-5"):
        found = job_health(
            SYNCING, progress(incre_trans_delay="42", incre_trans_delay_millis=millis), None
        )
        assert found is not None and found.delay == 42.0


@pytest.mark.parametrize("value", [None, "", "-", "N/A", "null", "-1", "100.5", "250", "abc"])
def test_a_progress_that_is_missing_or_out_of_range_gives_no_value(value: Any) -> None:
    found = job_health(FULL, progress(progress=value, remaining_time="60"), None)
    assert found is not None and found.progress is None and found.remaining == 60.0


def test_negative_times_give_no_value() -> None:
    found = job_health(
        SYNCING,
        progress(progress="50", incre_trans_delay="-3", remaining_time="-1", process_time="-1"),
        None,
    )
    assert found == JobHealth(progress=0.5)


def test_a_result_without_any_number_gives_no_health_at_all() -> None:
    empty = progress(progress="", incre_trans_delay="-", remaining_time="N/A", process_time="null")
    assert job_health(SYNCING, empty, None) is None
    assert job_health(SYNCING, None, None) is None


def test_a_full_transfer_has_no_delay_even_if_the_api_sends_one() -> None:
    found = job_health(FULL, progress(progress="93", incre_trans_delay="30"), None)
    assert found == JobHealth(progress=0.93)


def test_jobs_in_other_statuses_have_no_health() -> None:
    done = job("FULL_TRANSFER_COMPLETE")
    assert job_health(done, progress(progress="100"), Status(id="j1", error_code="X")) is None


def test_a_failed_job_gets_its_reason_on_one_short_line() -> None:
    message = "line one\nline two\t" + "x" * 500
    found = job_health(
        FAILED, None, Status(id="j1", error_code="DRS.M05004", error_message=message)
    )
    assert found is not None and found.error_code == "DRS.M05004"
    assert found.error_message.startswith("line one line two x")
    assert "\n" not in found.error_message and len(found.error_message) == 200


def test_a_failed_job_without_a_batch_reason_keeps_its_subtask_error_msg() -> None:
    child = job("CHILD_TRANSFER_FAILED", error_message="源数据库连接失败")
    assert job_health(child, None, None) == JobHealth(error_message="源数据库连接失败")
    empty = Status(id="j1", error_code="", error_message=None)
    assert job_health(child, None, empty) == JobHealth(error_message="源数据库连接失败")
    assert job_health(FAILED, None, empty) is None  # nothing said: no series


def answer(results: Any, key: str = "results") -> bytes:
    return json.dumps({"count": 1, key: results}).encode()


def test_results_keep_only_asked_ids_and_the_first_of_a_repeated_one() -> None:
    body = answer(
        [
            {"job_id": "a", "progress": "10"},
            {"job_id": "not-asked", "progress": "20"},
            {"job_id": "a", "progress": "99"},
            "not an object",
            {"progress": "no id"},
            {"job_id": 7},
        ]
    )
    found = read_progress(body, ["a", "b"], "v3_batch_progress")
    assert found == {"a": Progress(job_id="a", progress="10")}  # b asked, missing: absent


@pytest.mark.parametrize(
    "shape",
    [
        {"t1": {"completed": "94%", "remaining_time": "5"}},
        [{"name": "t1", "completed": "94%"}],
        "x",
    ],
    ids=["object", "list", "text"],
)
def test_progress_map_in_any_shape_leaves_the_figures_alone(shape: Any) -> None:
    body = answer([{"job_id": "j1", "progress": "94", "progress_map": shape}])
    found = job_health(FULL, read_progress(body, ["j1"], "p")["j1"], None)
    assert found == JobHealth(progress=0.94)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502</html>",
        b"[]",
        b'{"count": 1}',
        b'{"results": {"job_id": "j1"}}',
        b'{"results": null}',
        b"\xff\xfe",
    ],
    ids=["html", "list", "no-results", "results-object", "results-null", "not-utf8"],
)
def test_an_answer_that_is_not_a_batch_answer_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(ApiError) as info:
        read_progress(body, ["j1"], "v3_batch_progress")
    assert info.value.reason == "decode" and info.value.api == "v3_batch_progress"
