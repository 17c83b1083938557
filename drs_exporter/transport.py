"""One HTTP request to DRS or IAM: within the shared limits, timed out, capped, counted.

Every request of the exporter (each DRS call and each IAM login) goes through
``Transport.send``, which waits for a slot of the shared ``Limiter`` (in turn with the other
parties), applies the per-request timeout and the body size cap, counts the request by
(region, api, code) and its wait by region, and turns what went wrong on the way into an
``ApiError``. ``api_error`` reads a failed answer's DRS or
gateway error code. Nothing here knows what a DRS job is.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from yarl import URL

from .config import HttpConfig
from .errors import ApiError, ConfigError, reason_for_status
from .limiter import Limiter, Party
from .model import one_line

MAX_BODY_BYTES = 32 * 1024 * 1024  # far above any real answer; stops a runaway one
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
                    headers=dict(headers),
                    data=body or None,
                    proxy=self._proxy_for(target),
                    ssl=self._ssl,
                    allow_redirects=False,
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


async def _read_capped(resp: aiohttp.ClientResponse, api: str) -> bytes:
    length = resp.content_length
    if length is not None:
        if length > MAX_BODY_BYTES:
            raise ApiError("decode", f"answer of {length} bytes exceeds {MAX_BODY_BYTES}", api=api)
        return await resp.read()  # the size is known and bounded: read it in one go
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError("decode", f"answer exceeds {MAX_BODY_BYTES} bytes", api=api)
        chunks.append(chunk)
    return b"".join(chunks)


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
