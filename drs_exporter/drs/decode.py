"""Reading the DRS API's answers: list pages into Jobs, batch answers into results by job id.

Two readers give the same result. The fast one is msgspec, which reads straight from the
bytes into typed structs, only the fields the exporter uses: faster than ``json.loads``,
with no dict per job (``benchmarks/decoding.py`` times both readers). When an answer holds
a value of another type than the API documents (a number for a name, an object for a
job), it cannot say which, so the tolerant reader reads the answer again: ``json.loads``
and the field-by-field checks of ``model.parse_jobs``, which keep what can be kept and name
what is wrong. Both build each Job as the table of job fields (``model.Job``) says. Either
way an answer that is not a listing or batch answer at all is ``ApiError("decode")``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args, get_origin

import msgspec

from ..errors import ApiError
from ..list_apis import LIST_APIS
from ..model import JOB_FIELDS, JOB_FROM_STRUCT, Job, parse_jobs

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S", bound=msgspec.Struct)
_Text = str | None
_Scalar = str | int | float | None  # numbers come as text, sometimes as numbers


@dataclass(frozen=True, slots=True)
class Page:
    """One answer of a job listing."""

    total: int | None  # the total the server said, None when it left it out
    count: int  # entries in the page's jobs list, whatever they held: paging counts these
    jobs: list[Job]  # the jobs and their subtasks, parents first


# A job object as a list page holds it, the keys the exporter reads (a subtask as is), and
# the pages of each list API, by the key of their total: made from the table of job fields.
_Child: Any = msgspec.defstruct(
    "_Child",
    [(row.key, row.json_type, None) for row in JOB_FIELDS.values() if row.key is not None],
    gc=False,
)
_Job: Any = msgspec.defstruct(
    "_Job", [("children", list[_Child] | None, None)], bases=(_Child,), gc=False
)


def _page_type(total_key: str) -> Any:
    return msgspec.defstruct(
        "_Page", [(total_key, int | None, None), ("jobs", list[_Job] | None, None)]
    )


class Progress(msgspec.Struct, gc=False):
    """A batch-progress result: the figures the exporter reads, as the API sent them."""

    job_id: _Text = None
    progress: _Scalar = None
    incre_trans_delay: _Scalar = None
    incre_trans_delay_millis: _Scalar = None
    remaining_time: _Scalar = None
    process_time: _Scalar = None
    apply_rows_rate: _Scalar = None
    apply_bytes_rate: _Scalar = None


class Status(msgspec.Struct, gc=False):
    """A batch-status result: the job's failure reason, as the API sent it."""

    id: _Text = None
    error_code: _Scalar = None
    error_message: _Scalar = None


class Objective(msgspec.Struct, gc=False):
    """An ``rpo_info`` or ``rto_info``: ``delay`` in milliseconds, as text by the SDK."""

    delay: _Scalar = None


class RpoRto(msgspec.Struct, gc=False):
    """A batch-rpo-and-rto result."""

    job_id: _Text = None
    rpo_info: Objective | None = None
    rto_info: Objective | None = None


class Monitor(msgspec.Struct, gc=False):
    """A DR monitoring result's ``data_guard_minitor`` (sic), the keys as DRS spells them."""

    src_normal: bool | _Scalar = None
    dst_normal: bool | _Scalar = None
    cpu_used_percent: _Scalar = msgspec.field(default=None, name="cpuUsed_percent")
    mem_used_mb: _Scalar = msgspec.field(default=None, name="mem_used_inMB")
    node_mem_mb: _Scalar = msgspec.field(default=None, name="node_mem_inMB")
    volume_used_gb: _Scalar = msgspec.field(default=None, name="volume_used_inGB")
    node_volume_gb: _Scalar = msgspec.field(default=None, name="node_volume_inGB")


class Monitoring(msgspec.Struct, gc=False):
    """A DR monitoring result."""

    id: _Text = None
    data_guard_minitor: Monitor | None = None


class PeriodOrder(msgspec.Struct, gc=False):
    """A batch-detail result's ``period_order``: the subscription of a job billed by period."""

    exp_time: _Scalar = None
    is_auto_renew: _Scalar = None


class AlarmNotify(msgspec.Struct, gc=False):
    """A batch-detail result's ``alarm_notify``: the thresholds of the job's DRS alarms. Its
    ``subscriptions`` (e-mail addresses, phone numbers) are not read at all."""

    delay_time: _Scalar = None
    rpo_delay: _Scalar = None
    rto_delay: _Scalar = None


class Detail(msgspec.Struct, gc=False):
    """A batch-detail result (SDK ``QueryJobResp``): only what the exporter reads. ``tags``
    as sent, to be read entry by entry: one odd entry must not lose the others."""

    id: _Text = None
    period_order: PeriodOrder | None = None
    alarm_notify: AlarmNotify | None = None
    tags: list[Any] | None = None


class _ProgressAnswer(msgspec.Struct):
    results: list[Progress] | None = None


class _StatusAnswer(msgspec.Struct):
    results: list[Status] | None = None


class _RpoRtoAnswer(msgspec.Struct):
    results: list[RpoRto] | None = None


class _MonitoringAnswer(msgspec.Struct):
    results: list[Monitoring] | None = None


class _DetailAnswer(msgspec.Struct):
    results: list[Detail] | None = None


_PAGES: dict[str, msgspec.json.Decoder[Any]] = {
    api.total_key: msgspec.json.Decoder(_page_type(api.total_key)) for api in LIST_APIS
}
# Each batch answer's decoder, by the kind of its results.
_ANSWERS: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {
    Progress: msgspec.json.Decoder(_ProgressAnswer),
    Status: msgspec.json.Decoder(_StatusAnswer),
    RpoRto: msgspec.json.Decoder(_RpoRtoAnswer),
    Monitoring: msgspec.json.Decoder(_MonitoringAnswer),
    Detail: msgspec.json.Decoder(_DetailAnswer),
}


def read_page(body: bytes, total_key: str, api: str) -> Page:
    """A 200 answer of a list API; ApiError(decode) if it is not one.

    ``total_key`` is where the API puts its total (``ListApi.total_key``).
    """
    try:
        page = _PAGES[total_key].decode(body)
    except (msgspec.DecodeError, RecursionError):  # also a ValidationError: an odd value
        return read_page_tolerantly(body, total_key, api)
    total: int | None = getattr(page, total_key)
    jobs: list[Any] | None = page.jobs
    _check_page(total, jobs, total_key, api)
    return Page(total, len(jobs or ()), list(_jobs(jobs or ())))


def read_page_tolerantly(body: bytes, total_key: str, api: str) -> Page:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # also JSON nested too deeply
        raise ApiError("decode", "answer is not valid JSON", api=api) from None
    if not isinstance(data, dict):
        raise ApiError("decode", "answer is not a JSON object", api=api)
    total = data.get(total_key)
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        raise ApiError("decode", f"{total_key} is not a non-negative integer", api=api)
    jobs = data.get("jobs")
    _check_page(total, jobs, total_key, api)
    if jobs is None:
        jobs = []  # a total of 0 without a list: an empty listing
    if not isinstance(jobs, list):
        raise ApiError("decode", "jobs is not a list", api=api)
    return Page(total, len(jobs), parse_jobs(jobs))


def _check_page(total: int | None, jobs: object, total_key: str, api: str) -> None:
    if total is not None and total < 0:
        raise ApiError("decode", f"{total_key} is not a non-negative integer", api=api)
    if jobs is None and total is None:
        # Some other JSON object (a proxy's status page, say): taking it for an empty
        # listing would make every job vanish with drs_up still 1.
        raise ApiError("decode", f"answer has neither jobs nor {total_key}", api=api)
    if jobs is None and total != 0:
        raise ApiError("decode", "answer has no jobs list", api=api)


def _jobs(raws: Iterable[Any]) -> Iterable[Job]:
    """The jobs and their subtasks, as model.parse_jobs makes them: no id, no job."""
    for raw in raws:
        job = JOB_FROM_STRUCT(raw, "")
        if not job.id:
            continue
        yield job
        for child in raw.children or ():
            subtask = JOB_FROM_STRUCT(child, job.id)
            if subtask.id:
                yield subtask


def read_results(
    body: bytes, asked: Sequence[str], api: str, kind: type[S], id_key: str
) -> dict[str, S]:
    """A batch answer's results of kind ``kind`` by job id (``id_key``; see ``_by_id``)."""
    try:
        results = _ANSWERS[kind].decode(body).results
    except (msgspec.DecodeError, RecursionError):  # nested too deeply: the slow path says so
        return _by_id(results_tolerantly(body, api, kind), id_key, asked)
    if results is None:
        raise ApiError("decode", "answer has no results list", api=api)
    return _by_id(results, id_key, asked)


def read_progress(body: bytes, asked: Sequence[str], api: str) -> dict[str, Progress]:
    """A batch-progress answer's results by job id."""
    return read_results(body, asked, api, Progress, "job_id")


def read_status(body: bytes, asked: Sequence[str], api: str) -> dict[str, Status]:
    """A batch-status answer's results by job id."""
    return read_results(body, asked, api, Status, "id")


def results_tolerantly(body: bytes, api: str, kind: type[S]) -> list[S]:
    """The results of an answer with odd values: each result object with the values of the
    documented types kept (others as if absent); entries that are not objects dropped."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # also JSON nested too deeply
        raise ApiError("decode", "answer is not valid JSON", api=api) from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ApiError("decode", "answer has no results list", api=api)
    return [_lenient(kind, result) for result in results if isinstance(result, Mapping)]


def _lenient(kind: type[S], raw: Mapping[str, Any]) -> S:
    """``kind`` from ``raw``, each field that does not have its documented type left out (an
    object field read leniently in turn)."""
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(kind):
        if field.encode_name not in raw:
            continue
        value = raw[field.encode_name]
        nested = next((t for t in get_args(field.type) if _is_struct(t)), None)
        if nested is not None:
            if isinstance(value, Mapping):
                values[field.name] = _lenient(nested, value)
        elif _plain(value) or ((value is True or value is False) and bool in get_args(field.type)):
            values[field.name] = value
        elif isinstance(value, list) and any(get_origin(t) is list for t in get_args(field.type)):
            values[field.name] = value  # read entry by entry where it is used
    return kind(**values)


def _is_struct(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _plain(value: object) -> bool:
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


def _by_id(results: list[Any], id_key: str, asked: Sequence[str]) -> dict[str, Any]:
    """Results of ids that were asked for only, the first result of an id winning."""
    wanted = set(asked)
    found: dict[str, Any] = {}
    for result in results:
        job_id = getattr(result, id_key)
        if isinstance(job_id, str) and job_id in wanted and job_id not in found:
            found[job_id] = result
    return found


class AnswerCache(Generic[T]):
    """What each request of a target's last poll was answered, decoded: an answer whose
    bytes come back the same is not decoded again, and gives the very same records (so the
    exposition can keep what it rendered of them).

    Answers are told apart by a 64-bit hash of their bytes and their length. What is made
    of them (``derive``) is kept too, for as long as it is made of the very same records.
    ``prune`` after a successful poll forgets the requests it did not make.
    """

    def __init__(self) -> None:
        self._answers: dict[Hashable, tuple[int, int, T]] = {}
        self._derived: dict[Hashable, tuple[tuple[object, ...], Any]] = {}
        self._used: set[Hashable] = set()

    def read(self, request: Hashable, body: bytes, decode: Callable[[bytes], T]) -> T:
        """``decode(body)``, or what it gave last time this request had these bytes."""
        self._used.add(request)
        fingerprint = hash(body)
        known = self._answers.get(request)
        if known is not None and known[0] == fingerprint and known[1] == len(body):
            return known[2]
        decoded = decode(body)
        self._answers[request] = (fingerprint, len(body), decoded)
        return decoded

    def derive(self, key: Hashable, inputs: Sequence[object], make: Callable[[], R]) -> R:
        """``make()``, or what it gave last time ``key`` was made of the same objects."""
        self._used.add(key)
        known = self._derived.get(key)
        if known is not None and _same_objects(known[0], inputs):
            result: R = known[1]
            return result
        made = make()
        self._derived[key] = (tuple(inputs), made)
        return made

    def prune(self) -> None:
        """Forget the requests (and what was made of them) not used since the last prune."""
        for request in set(self._answers) - self._used:
            del self._answers[request]
        for key in set(self._derived) - self._used:
            del self._derived[key]
        self._used.clear()


def _same_objects(before: Sequence[object], now: Sequence[object]) -> bool:
    return len(before) == len(now) and all(a is b for a, b in zip(before, now, strict=True))
