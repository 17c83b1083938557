"""What tests script for the next API calls: set answers, and jobs changing between pages.

``Scripted`` is the simulator's answer override in tests (``simulated.Simulated`` installs
it): after the gateway's auth check, a listing request (v5 or v3) meets its drift, if one
is due, and any API call takes its set answer, if one is left for that API. Scripts are
checked whole when they are set (``ScriptError`` says what is wrong), so a request only
ever takes a well-formed answer or drift off the front of a queue.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from drs_exporter.model import JOB_TYPES
from drs_exporter.simulator import ApiCall, World

from .sim_stats import BATCH_APIS, LISTING_API, V3_LISTING_API, RequestStats, first, integer

# The APIs an answer may be scripted for, as the simulator names their routes.
SCRIPTABLE_APIS = (LISTING_API, V3_LISTING_API, *BATCH_APIS, "v3_quotas")

MAX_SCRIPTED_BYTES = 1 << 30  # a body times its repeat: large enough to pass any cap
ANSWER_KEYS = frozenset(
    {
        "status",
        "headers",
        "body",
        "body_base64",
        "repeat",
        "chunked",
        "cut",
        "hang",
        "until_in_flight",
    }
)
# Framing is the simulator's business: use "cut", "chunked" and "repeat" to break it.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
STREAM_PIECE = 1 << 16  # bytes per write of a streamed answer


class ScriptError(ValueError):
    """A script or drift that cannot be run, and why."""


@dataclass(frozen=True)
class ScriptedAnswer:
    """One set answer to a listing request.

    With neither ``status`` nor a body, the answer is the normal listing (no fault draws),
    after any ``hang`` and with any ``headers``, ``cut`` or ``chunked`` framing.
    """

    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    repeat: int = 1
    chunked: bool = False
    cut: bool = False
    hang: float = 0.0
    until_in_flight: int | None = None

    @property
    def listing(self) -> bool:
        """True when the normal listing is the answer's body."""
        return self.status is None and self.body is None

    @property
    def streamed(self) -> bool:
        """True when the answer must be written piece by piece rather than in one go."""
        return self.cut or self.chunked or self.repeat > 1


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(value: Any) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and value >= 0


def _body(obj: Mapping[str, Any], where: str) -> bytes | None:
    if "body" in obj and "body_base64" in obj:
        raise ScriptError(f"{where}: give body or body_base64, not both")
    if "body_base64" in obj:
        encoded = obj["body_base64"]
        if not isinstance(encoded, str):
            raise ScriptError(f"{where}.body_base64: must be a string")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ScriptError(f"{where}.body_base64: not valid base64") from None
    if "body" in obj:
        body = obj["body"]
        # A string is sent as it is; anything else is sent as its JSON text.
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")
    return None


def _headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise ScriptError(f"{where}.headers: must map header names to strings")
    framing = sorted(k for k in value if k.lower() in FRAMING_HEADERS)
    if framing:
        raise ScriptError(f"{where}.headers: {framing[0]} is set by the simulator")
    if any("\r" in s or "\n" in s for item in value.items() for s in item):
        raise ScriptError(f"{where}.headers: no line breaks in headers")
    return tuple(value.items())


def parse_answer(obj: Any, where: str = "answer") -> ScriptedAnswer:
    """Check one scripted answer, given as a JSON-like mapping; raise ScriptError naming the
    bad field.

    Its keys: ``status`` (200-599), ``headers`` (a mapping; not Content-Length or
    Transfer-Encoding), ``body`` (a string, sent as is, or any other JSON value, sent as its
    JSON text) or ``body_base64`` (raw bytes), ``repeat`` (send the body n times over, for
    oversized answers), ``chunked`` (no Content-Length), ``cut`` (announce the whole body,
    send half, drop the connection), ``hang`` (seconds to wait before answering) and
    ``until_in_flight`` (with ``hang``: stop waiting once this many API requests are in
    flight at once). With neither status nor body the body is the normal listing.
    Content-Type is ``application/json`` unless ``headers`` say otherwise.
    """
    if not isinstance(obj, Mapping):
        raise ScriptError(f"{where}: must be an object")
    unknown = sorted(set(obj) - ANSWER_KEYS)
    if unknown:
        raise ScriptError(f"{where}: unknown key(s): {', '.join(unknown)}")
    status = obj.get("status")
    if status is not None and not (_whole(status) and 200 <= status <= 599):
        raise ScriptError(f"{where}.status: must be an HTTP status from 200 to 599")
    body = _body(obj, where)
    repeat = obj.get("repeat", 1)
    if not _whole(repeat) or repeat < 1:
        raise ScriptError(f"{where}.repeat: must be a whole number, at least 1")
    if repeat > 1 and not body:
        raise ScriptError(f"{where}.repeat: needs a non-empty body to repeat")
    if body is not None and len(body) * repeat > MAX_SCRIPTED_BYTES:
        raise ScriptError(f"{where}.repeat: the body would exceed {MAX_SCRIPTED_BYTES} bytes")
    flags = {name: obj.get(name, False) for name in ("chunked", "cut")}
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise ScriptError(f"{where}.{name}: must be true or false")
    hang = obj.get("hang", 0.0)
    if not _seconds(hang):
        raise ScriptError(f"{where}.hang: must be a non-negative number of seconds")
    until = obj.get("until_in_flight")
    if until is not None and not (_whole(until) and until >= 1):
        raise ScriptError(f"{where}.until_in_flight: must be a whole number, at least 1")
    if until is not None and "hang" not in obj:
        raise ScriptError(f"{where}.until_in_flight: needs hang, the longest to wait")
    return ScriptedAnswer(
        status=status,
        headers=_headers(obj.get("headers", {}), where),
        body=body,
        repeat=repeat,
        chunked=flags["chunked"],
        cut=flags["cut"],
        hang=float(hang),
        until_in_flight=until,
    )


def parse_answers(obj: Any) -> list[ScriptedAnswer]:
    """Check a list of scripted answers; raise ScriptError naming the first bad one."""
    if not isinstance(obj, (list, tuple)):
        raise ScriptError("answers: must be a list")
    return [parse_answer(item, f"answers[{i}]") for i, item in enumerate(obj)]


class Script:
    """Queues of set answers, per project id ("" for any project)."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], deque[ScriptedAnswer]] = {}

    def replace(
        self, project_id: str, answers: Sequence[ScriptedAnswer], api: str = LISTING_API
    ) -> None:
        """The answers the next calls to ``api`` (of this project, if one is given) get, in
        order."""
        self._queues[(api, project_id)] = deque(answers)

    def take(self, project_id: str, api: str = LISTING_API) -> ScriptedAnswer | None:
        """The next set answer for a call to ``api`` of this project, or None: answer
        normally."""
        for scope in (project_id, ""):
            queue = self._queues.get((api, scope))
            if queue:
                return queue.popleft()
        return None

    def left(self) -> int:
        """Set answers not yet given, over all projects."""
        return sum(len(q) for q in self._queues.values())


@dataclass(frozen=True)
class Drift:
    """Jobs to delete and add just before a listing (``api``: ``v5_jobs`` or ``v3_jobs``)
    asks for a page past the first; the jobs added are listed by that API."""

    project_id: str
    job_type: str
    add: tuple[Mapping[str, Any], ...] = ()
    delete: tuple[str, ...] = ()
    api: str = LISTING_API


def check_drift(
    project_id: Any, job_type: Any, add: Any, delete: Any, api: Any = LISTING_API
) -> Drift:
    """Check a drift's parts; raise ScriptError naming the bad one."""
    if api not in (LISTING_API, V3_LISTING_API):
        raise ScriptError(f"api: must be {LISTING_API} or {V3_LISTING_API}")
    if not isinstance(project_id, str) or not project_id:
        raise ScriptError("project_id: must be a non-empty string")
    if job_type not in JOB_TYPES:
        raise ScriptError(f"job_type: must be one of {', '.join(JOB_TYPES)}")
    if not isinstance(add, (list, tuple)) or not all(isinstance(j, Mapping) for j in add):
        raise ScriptError("add: must be a list of job objects")
    if not isinstance(delete, (list, tuple)) or not all(isinstance(i, str) and i for i in delete):
        raise ScriptError("delete: must be a list of job ids")
    if not add and not delete:
        raise ScriptError("a drift must add or delete at least one job")
    return Drift(project_id, job_type, tuple(add), tuple(delete), api)


class Drifts:
    """Drifts waiting for their listing, in order, per (project id, job type)."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str, str], deque[Drift]] = {}

    def add(self, drift: Drift) -> None:
        """Queue a drift behind any others of its API, project and job type."""
        key = (drift.api, drift.project_id, drift.job_type)
        self._queues.setdefault(key, deque()).append(drift)

    def take(
        self, project_id: str, job_type: str | None, past_first: bool, api: str = LISTING_API
    ) -> Drift | None:
        """The drift due before this listing request: one per request past the first page."""
        if job_type is None or not past_first:
            return None
        queue = self._queues.get((api, project_id, job_type))
        return queue.popleft() if queue else None

    def left(self) -> int:
        """Drifts not yet applied."""
        return sum(len(q) for q in self._queues.values())


def apply_drift(world: World, drift: Drift) -> None:
    """Delete, then add, the drift's jobs (adding as ``POST /_sim/jobs`` does)."""
    # A change the world has already made some other way is skipped: the drift is what
    # the listing should meet, and it meets it either way.
    for job_id in drift.delete:
        world.delete(job_id)
    apis = ["v5" if drift.api == LISTING_API else "v3"]
    for job in drift.add:
        with contextlib.suppress(ValueError):
            world.add_job(drift.project_id, drift.job_type, job, apis)


class Scripted:
    """The set answers and drifts waiting for listings: an answer override for the simulator."""

    def __init__(self, stats: RequestStats) -> None:
        self.script = Script()
        self.drifts = Drifts()
        self._stats = stats

    async def __call__(self, call: ApiCall) -> web.StreamResponse | None:
        """A listing's drift, if due, then the call's set answer, if any (None: answer as
        usual)."""
        drift = None
        if call.api == LISTING_API:
            offset = integer(call.query, "offset", 0)
            job_type = first(call.query, "job_type")
            drift = self.drifts.take(call.project_id, job_type, (offset or 0) > 0)
        elif call.api == V3_LISTING_API and isinstance(call.body, Mapping):
            page, job_type = call.body.get("cur_page", 1), call.body.get("db_use_type")
            past_first = isinstance(page, int) and page > 1
            drift = self.drifts.take(call.project_id, str(job_type), past_first, call.api)
        if drift is not None:
            apply_drift(call.world, drift)
        answer = self.script.take(call.project_id, call.api)
        if answer is None:
            return None
        return await self._give(call, answer)

    async def _give(self, call: ApiCall, answer: ScriptedAnswer) -> web.StreamResponse:
        """Give a set answer, after its hang; the normal listing when it sets no body."""
        until = answer.until_in_flight
        await call.pause(answer.hang, None if until is None else self._stats.reached(until))
        content_type = "application/json"
        if answer.listing:
            normal = call.normal()
            status, data = normal.status, normal.body
            content_type = normal.headers["Content-Type"]
        else:
            status, data = answer.status or 200, answer.body or b""
        response = (
            web.StreamResponse(status=status)
            if answer.streamed
            else web.Response(status=status, body=data)
        )
        response.headers["Content-Type"] = content_type
        response.headers.update(answer.headers)
        if not answer.streamed:
            return response
        response.headers["X-Request-Id"] = uuid.uuid4().hex
        return await _stream(call.request, response, data, answer)


async def _stream(
    request: web.Request, response: web.StreamResponse, data: bytes, answer: ScriptedAnswer
) -> web.StreamResponse:
    """Write ``data`` ``repeat`` times, chunked or with its length announced; or, with
    ``cut``, announce the whole and drop the connection halfway through."""
    total = len(data) * answer.repeat
    if answer.chunked:
        response.enable_chunked_encoding()
    else:
        response.content_length = max(total, 1) if answer.cut else total
    send = total // 2 if answer.cut else total
    try:
        await response.prepare(request)
        for piece in _pieces(data, send):
            await response.write(piece)
        if answer.cut and request.transport is not None:
            request.transport.close()
        else:
            await response.write_eof()
    except ConnectionError:
        pass  # the client hung up first (at its body size cap, say): nothing more to send
    return response


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``data`` repeated, in pieces of about STREAM_PIECE."""
    if not data:
        return
    block = data * max(1, STREAM_PIECE // len(data))  # whole copies: pieces stay aligned
    while size > 0:
        piece = block[:size]
        size -= len(piece)
        yield piece
