"""One HTTP request to DRS or IAM: within the shared limits, timed out, capped, counted.

Every request of the exporter (each DRS call and each IAM login) goes through
``Transport.send``, which waits for a slot of the shared ``Limiter`` (in turn with the other
parties), applies the per-request timeout and the body size cap, counts the request by
(region, api, code) and its wait by region, and turns what went wrong on the way into an
``ApiError``. The cap counts what an answer holds: a compressed body is inflated here, in
bounded steps, not by aiohttp, so that it is counted as it grows. ``api_error`` reads a
failed answer's DRS or gateway error code. Nothing here knows what a DRS job is.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from yarl import URL

from ..config import HttpConfig
from ..errors import ApiError, ConfigError, reason_for_status
from ..model import one_line
from .limiter import Limiter, Party

MAX_BODY_BYTES = 32 * 1024 * 1024  # far above any real answer, once inflated; stops a runaway one
# The most one inflating step makes: a compressed answer is refused within a step of the cap,
# and a step is all a refused answer can leave behind.
INFLATE_STEP = 1 << 20
# The compressions the exporter offers to take: only those it inflates itself, step by step
# (aiohttp would also offer br and zstd where their packages are installed).
ACCEPT_ENCODING = "gzip, deflate"
RETRY_AFTER_CAP = 30.0  # seconds: the longest a server's Retry-After makes us wait


class RequestCounter(Protocol):
    """Where each request is counted, as drs_api_requests_total{region, api, code}."""

    def count_request(self, region: str, api: str, code: str) -> None:
        """``code`` is the HTTP status as text, or ``timeout`` / ``network`` / ``cancelled``."""
        ...

    def count_wait(self, region: str, seconds: float) -> None:
        """A request to ``region`` waited ``seconds`` for the limiter."""
        ...


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer, read whole."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport:
    """Sends requests over one aiohttp session, within one Limiter, counting each.

    The proxy is ``proxy`` if given, else the one the environment names for the URL
    (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), looked up once per host: aiohttp's own
    ``trust_env`` would look it (and ``~/.netrc``) up in a thread for every request.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        limiter: Limiter,
        counter: RequestCounter,
        timeout: float,
        *,
        proxy: str | None = None,
        ssl: Any = None,
        environ_proxies: Mapping[str, str] | None = None,
    ) -> None:
        self._session = session
        self._limiter = limiter
        self._counter = counter
        self._timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)
        self._proxy = proxy
        self._ssl = ssl
        self._environ_proxies = (
            urllib.request.getproxies_environment() if environ_proxies is None else environ_proxies
        )
        self._proxies: dict[tuple[str, str], str | None] = {}

    async def send(
        self,
        region: str,
        api: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        party: Party | None = None,
    ) -> Response:
        """One HTTP request; ApiError when no whole answer came (any status is an answer).

        ``url`` is sent byte for byte: a signed query must not be re-encoded. The request
        waits its turn as ``party``'s (by default, whom the calling task acts for).
        """
        code = "network"  # what drs_api_requests_total counts this request under
        async with self._limiter.slot(party) as waited:
            self._counter.count_wait(region, waited)
            try:
                target = URL(url, encoded=True)
                async with self._session.request(
                    method,
                    target,
                    headers={"Accept-Encoding": ACCEPT_ENCODING, **headers},
                    data=body or None,
                    proxy=self._proxy_for(target),
                    ssl=self._ssl,
                    allow_redirects=False,
                    auto_decompress=False,  # _read_capped inflates, counting what it makes
                    timeout=self._client_timeout,
                ) as resp:
                    code = str(resp.status)  # answered: even an over-long body counts as such
                    return Response(resp.status, resp.headers, await _read_capped(resp, api))
            except asyncio.CancelledError:
                # Given up by us (a reload, an opt-in deadline, shutdown), not lost on the way.
                code = "cancelled"
                raise
            except (asyncio.TimeoutError, TimeoutError):
                code = "timeout"
                raise ApiError("timeout", f"no answer within {self._timeout:g}s", api=api) from None
            except aiohttp.ClientPayloadError:
                code = "network"
                raise ApiError(
                    "network", "connection broke while reading the answer", api=api
                ) from None
            except aiohttp.ClientError as exc:
                code = "network"
                if _head_too_large(exc):
                    raise ApiError("headers_too_large", HEAD_TOO_LARGE, api=api) from None
                raise ApiError("network", _describe(exc, url), api=api) from None
            finally:
                self._counter.count_request(region, api, code)

    def _proxy_for(self, url: URL) -> str | None:
        if self._proxy is not None:
            return self._proxy
        where = (url.scheme, url.host or "")
        if where not in self._proxies:
            proxy = self._environ_proxies.get(url.scheme)
            if proxy and urllib.request.proxy_bypass(where[1], self._environ_proxies):
                proxy = None
            self._proxies[where] = proxy or None
        return self._proxies[where]


def api_error(response: Response, api: str) -> ApiError:
    """Turn a non-2xx answer to ``api`` into an ApiError with its error code and request id."""
    code, message = _error_fields(response.body)
    if 300 <= response.status < 400:
        message = _redirected(response.headers.get("Location", ""))
    return ApiError(
        reason_for_status(response.status, code),
        message or "request failed",
        api=api,
        status=response.status,
        code=code,
        request_id=response.headers.get("X-Request-Id", ""),
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def _error_fields(body: bytes) -> tuple[str, str]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return "", ""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]  # IAM's {"error": {"code": ..., "message": ...}}
    if not isinstance(data, dict):
        return "", ""
    code = next((data[k] for k in ("error_code", "errorCode", "code") if k in data), "")
    msg = next((data[k] for k in ("error_msg", "errorMsg", "message") if k in data), "")
    # Server text ends up in logs: keep it on one line and short.
    return one_line(code, 64), one_line(msg, 300)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _redirected(location: str) -> str:
    """What a redirect says: where it leads (without a query or user info, which may hold
    someone's secrets), and that it is not followed."""
    try:
        where = URL(location).with_user(None).with_query(None).with_fragment(None)
    except ValueError:
        where = URL()
    to = f"to {one_line(str(where), 200)}" if location else "without a Location"
    return (
        f"redirected {to}; redirects are never followed: if that is the DRS API, make it "
        "the endpoint"
    )


async def _read_capped(resp: aiohttp.ClientResponse, api: str) -> bytes:
    """The answer's body, inflated as its Content-Encoding says; ApiError(too_large) once it
    holds more than MAX_BODY_BYTES, whatever Content-Length said."""
    length = resp.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise ApiError("too_large", f"answer of {length} bytes exceeds {MAX_BODY_BYTES}", api=api)
    body = _Body(resp.headers.get("Content-Encoding", ""), api)
    async for chunk in resp.content.iter_any():
        body.add(chunk)
    return body.whole()


class _Body:
    """An answer's body as it arrives, inflated in steps of at most INFLATE_STEP bytes.

    Past the cap, or on a compressed stream that is broken, it drops what it holds before
    raising: an exception's traceback keeps its frames, and with them their locals, alive
    until the cyclic collector runs, so nothing large may be left reachable from one.
    """

    def __init__(self, encoding: str, api: str) -> None:
        self._api = api
        self._encoding = encoding.strip().lower()
        if self._encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise ApiError(
                "decode",
                f"answer in Content-Encoding {one_line(self._encoding, 40)!r}, which was not "
                f"asked for ({ACCEPT_ENCODING})",
                api=api,
            )
        self._parts: list[bytes] = []
        self._held = 0  # bytes of the body, inflated
        self._received = 0  # bytes as they came
        self._inflater: zlib._Decompress | None = None

    def add(self, data: bytes) -> None:
        """The next bytes received."""
        self._received += len(data)
        if self._received > MAX_BODY_BYTES:
            self._refuse("too_large", f"answer exceeds {MAX_BODY_BYTES} bytes")
        if self._encoding in ("", "identity"):
            self._keep(data)
            return
        inflater = self._inflater or self._start(data)
        while not inflater.eof:  # past its end, a compressed stream is ignored, as by aiohttp
            step = min(INFLATE_STEP, MAX_BODY_BYTES + 1 - self._held)  # one byte past the cap
            try:
                made = self._keep(inflater.decompress(data, step))
            except zlib.error:
                self._refuse("decode", f"answer is not valid {self._encoding} data")
            data = inflater.unconsumed_tail
            # A full step may leave output pending even when all input is taken.
            if not data and made < step:
                return

    def whole(self) -> bytes:
        """The body, once every byte was added."""
        if self._inflater is not None and not self._inflater.eof:
            self._refuse("decode", f"the {self._encoding} answer is cut short")
        body = b"".join(self._parts)
        self._parts.clear()
        return body

    def _start(self, data: bytes) -> zlib._Decompress:
        if self._encoding == "deflate" and not _zlib_header(data):
            # Many servers send raw deflate for "deflate", which means zlib-wrapped.
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        else:
            self._inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header
        return self._inflater

    def _keep(self, data: bytes) -> int:
        """Keep ``data``, and say how many bytes it held."""
        size = len(data)
        self._held += size
        if self._held > MAX_BODY_BYTES:
            del data  # the traceback keeps this frame, and would keep its locals
            inflated = " once inflated" if self._inflater is not None else ""
            self._refuse("too_large", f"answer exceeds {MAX_BODY_BYTES} bytes{inflated}")
        self._parts.append(data)
        return size

    def _refuse(self, reason: str, message: str) -> NoReturn:
        self._parts.clear()
        self._inflater = None  # its window and unconsumed input
        raise ApiError(reason, message, api=self._api)


def _zlib_header(data: bytes) -> bool:
    """Whether ``data`` starts with a zlib header (RFC 1950: deflate, a checksum of 31)."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


HEAD_TOO_LARGE = (
    "the answer's header section is larger than the HTTP client accepts (a header line, or "
    "the number of headers)"
)


def _head_too_large(exc: BaseException) -> bool:
    """Whether aiohttp refused the answer's head for its size: a line too long, or too many
    header lines (it says so only in the message). The refusal is the cause of the error
    it raises, or of the cause's cause."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, LineTooLong) or (
            isinstance(seen, HttpProcessingError) and "Too many headers" in seen.message
        ):
            return True
        seen = seen.__cause__
    return False


def _describe(exc: aiohttp.ClientError, url: str) -> str:
    """A network error's kind and host, never its text (which may quote a proxy's password)."""
    parsed = URL(url, encoded=True)
    where = f"{parsed.host}:{parsed.port}"
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.strerror:
        return f"cannot connect to {where}: {exc.os_error.strerror}"
    return f"{type(exc).__name__} talking to {where}"


def ssl_context(http: HttpConfig) -> ssl.SSLContext | bool | None:
    """The TLS settings for talking to DRS and IAM (None: the system defaults)."""
    if http.insecure_skip_verify:
        return False
    if http.ca_file:
        try:
            return ssl.create_default_context(cafile=http.ca_file)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise ConfigError("http.ca_file", f"cannot load CA certificates: {reason}") from None
    return None
