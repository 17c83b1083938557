"""The fast reader (msgspec) and the tolerant one (json) read every answer alike.

The corpus: every malformed listing of the reliability suite, the odd but readable ones, and
real pages of the simulator, in both list APIs' words; batch answers likewise.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from drs_exporter.drs.decode import (
    AnswerCache,
    Page,
    Progress,
    Status,
    read_page,
    read_page_tolerantly,
    read_progress,
    read_status,
    results_tolerantly,
)
from drs_exporter.errors import ApiError
from drs_exporter.simulator import SimulatorOptions, World

from .conftest import fixed
from .test_reliability import NOT_A_LISTING, for_api, job

TOTAL_KEYS = {"v5": "total_count", "v3": "total_record"}


def body_of(answer: dict[str, Any]) -> bytes:
    if "body_base64" in answer:
        return base64.b64decode(answer["body_base64"])
    body = answer["body"]
    text = body if isinstance(body, str) else json.dumps(body)
    return (text * answer.get("repeat", 1)).encode("utf-8", "surrogatepass")


def outcome(read: Any, *args: Any) -> Any:
    """What a reader makes of an answer: its result, or the decode error's message."""
    try:
        return read(*args)
    except ApiError as exc:
        assert exc.reason == "decode" and exc.api == "api"
        return ("decode", exc.message)


ODD_LISTINGS = [
    {"total_count": 9, "jobs": ["not an object", 17, None, {"name": "no id"}, job("plain")]},
    {"jobs": [{"id": 42, "name": {"nested": True}, "status": 7, "create_time": [1]}]},
    {"jobs": [job("kids", children=[1, {"id": "kid", "status": "CHILD_TRANSFER_STARTED"}, {}])]},
    {
        "jobs": [
            {"id": "nulls", "name": None, "status": None, "children": None, "engine_type": None}
        ]
    },
    {"total_count": 1, "jobs": [job("long", name="x" * 1000, status="S" * 300)]},
    {"total_count": 2, "jobs": [job("a"), job("a")]},
    {"total_count": 1, "jobs": [job("ms", create_time="1667837718000")]},
    {"total_count": 1, "jobs": [job("n", create_time=1667837718)]},
    {"total_count": 1, "jobs": [{**job("e"), "children": [{"id": "c", "error_msg": "a\nb  c"}]}]},
    {"total_count": 0},
    {"total_count": 0, "jobs": None},
]


@pytest.mark.parametrize("api", ["v5", "v3"])
@pytest.mark.parametrize("name", [n for n in NOT_A_LISTING if not n.startswith("oversized")])
def test_a_malformed_listing_is_a_decode_error_for_both_readers(api: str, name: str) -> None:
    body = body_of(for_api(NOT_A_LISTING[name], api))
    fast = outcome(read_page, body, TOTAL_KEYS[api], "api")
    assert fast[0] == "decode", fast
    assert fast == outcome(read_page_tolerantly, body, TOTAL_KEYS[api], "api")


@pytest.mark.parametrize("api", ["v5", "v3"])
@pytest.mark.parametrize("listing", ODD_LISTINGS, ids=range(len(ODD_LISTINGS)))
def test_an_odd_but_readable_listing_reads_alike(api: str, listing: dict[str, Any]) -> None:
    body = body_of(for_api({"body": listing}, api))
    fast = read_page(body, TOTAL_KEYS[api], "api")
    assert fast == read_page_tolerantly(body, TOTAL_KEYS[api], "api")


def test_the_simulators_pages_read_alike_and_fast() -> None:
    world = World(SimulatorOptions(seed=3, projects=2, jobs=400, children_ratio=0.3), fixed())
    pages = 0
    for project in world.project_ids:
        for job_type in ("migration", "sync", "cloudDataGuard"):
            for api, key in TOTAL_KEYS.items():
                jobs = world.jobs(project, job_type, api)
                body = json.dumps({key: len(jobs), "jobs": jobs}).encode()
                fast = read_page(body, key, "api")
                assert fast == read_page_tolerantly(body, key, "api")
                pages += bool(jobs)
    assert pages >= 8


PROGRESS_ANSWERS = [
    {"count": 2, "results": [{"job_id": "a", "progress": "10"}, {"job_id": "b", "progress": 5}]},
    {"results": [{"job_id": "a", "progress": {"x": 1}, "remaining_time": "9"}]},  # an object
    {"results": [{"job_id": "a", "progress": True}, "junk", 3, None]},
    {"results": [{"job_id": 7}, {"job_id": "a", "progress_map": [{"t": 1}]}]},
    {"results": [{"job_id": "a", "progress": "1"}, {"job_id": "a", "progress": "2"}]},
    {"results": []},
]


@pytest.mark.parametrize("answer", PROGRESS_ANSWERS, ids=range(len(PROGRESS_ANSWERS)))
def test_batch_answers_read_alike(answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    fast = read_progress(body, ["a", "b"], "api")
    tolerant: dict[str, Progress] = {}
    for result in results_tolerantly(body, "api", Progress):
        if result.job_id in ("a", "b"):
            tolerant.setdefault(result.job_id, result)  # the first of an id wins
    assert fast == tolerant


def test_batch_status_keeps_codes_of_any_plain_type() -> None:
    body = json.dumps({"results": [{"id": "a", "error_code": 500, "error_message": None}]})
    assert read_status(body.encode(), ["a"], "api") == {"a": Status(id="a", error_code=500)}


@pytest.mark.parametrize(
    "body", [b"", b"null", b"[]", b'{"count": 1}', b'{"results": {}}', b"<html>", b"\xff"]
)
def test_a_body_that_is_no_batch_answer_is_a_decode_error(body: bytes) -> None:
    for read in (read_progress, read_status):
        with pytest.raises(ApiError) as info:
            read(body, ["a"], "api")
        assert info.value.reason == "decode"


def test_an_answer_that_comes_back_the_same_is_not_decoded_again() -> None:
    cache: AnswerCache[Page] = AnswerCache()
    decoded: list[bytes] = []

    def decode(body: bytes) -> Page:
        decoded.append(body)
        return read_page(body, "total_count", "api")

    same = json.dumps({"total_count": 1, "jobs": [job("a")]}).encode()
    first = cache.read("page-1", same, decode)
    assert cache.read("page-1", bytes(same), decode) is first  # equal bytes, another object
    changed = cache.read("page-1", same.replace(b'"a"', b'"b"'), decode)
    assert changed is not first and [j.id for j in changed.jobs] == ["b"]
    assert len(decoded) == 2
    # What is made of the same records is made once; prune forgets what was not asked for.
    made = cache.derive("jobs", [changed], lambda: list(changed.jobs))
    assert cache.derive("jobs", [changed], lambda: []) is made
    cache.prune()
    cache.prune()  # nothing asked since the last one: all forgotten
    assert cache.read("page-1", same, decode) is not first and len(decoded) == 3
    assert cache.derive("jobs", [changed], lambda: []) == []
