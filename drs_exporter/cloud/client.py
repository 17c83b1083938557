"""A DRS API call for one project: authenticated, retried, and answered 2xx or ApiError.

What every DRS call shares (the v5 listing today; any other call of the same API later):
the request headers, the credentials of the project's Authenticator (signing covers the
query and the body), one fresh login and retry when a token is refused with 401, and
retries with exponential backoff and full jitter, or as ``Retry-After`` says, on throttling,
5xx and network errors, never on other 4xx. Success is any 2xx: DRS documents 200 for most
calls and 202 for some (batch-rpo-and-rto); whether the body is the JSON the call expects
is its decoder's to say.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence

from ..config import Project
from ..errors import ApiError
from .auth import Authenticator, Request, Send
from .limiter import OWN
from .signer import canonical_query
from .transport import Response, Transport, api_error

log = logging.getLogger(__name__)

BACKOFF_BASE = 1.0  # seconds; full jitter, doubled per attempt
BACKOFF_CAP = 30.0  # seconds
IAM_API = "iam_tokens"  # how logins are counted in drs_api_requests_total


class DrsClient:
    """Makes DRS API calls over one Transport, with ``retries`` more tries for each."""

    def __init__(self, transport: Transport, retries: int, rng: random.Random | None = None):
        self._transport = transport
        self._retries = retries
        self._rng = rng or random.Random()

    def login_sender(self, region: str) -> Send:
        """How an authenticator of ``region`` sends its own requests (IAM logins): they wait
        for the limiter as the exporter's own, not as the target's that needs the token."""

        async def send(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response:
            return await self._transport.send(region, IAM_API, method, url, headers, body, OWN)

        return send

    async def call(
        self,
        project: Project,
        auth: Authenticator,
        api: str,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> bytes:
        """The body of a 2xx answer to ``method path?query``; ApiError once retries are spent.

        ``api`` names the call in drs_api_requests_total and in logs.
        """
        headers = {
            "Content-Type": "application/json",
            "X-Project-Id": project.project_id,
            "X-Language": "en-us",
        }
        url = f"{project.endpoint}{path}"
        return await self.request(project.region, auth, api, method, url, headers, query, body)

    async def request(
        self,
        region: str,
        auth: Authenticator,
        api: str,
        method: str,
        url: str,
        base_headers: Mapping[str, str],
        query: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> bytes:
        """As ``call``, for any URL: ``region`` labels the request in drs_api_requests_total.

        IAM's project list is asked this way: a global service, of no project.
        """
        full_url = f"{url}?{canonical_query(query)}" if query else url
        request = Request(method, url, query, base_headers, body)
        send = self.login_sender(region)
        reauthenticated = False
        attempt = 0
        while True:
            headers: Mapping[str, str] = {}  # stays empty if authenticating itself fails
            try:
                headers = await auth.headers(request, send)
                response = await self._transport.send(region, api, method, full_url, headers, body)
                if not 200 <= response.status < 300:
                    raise api_error(response, api)
                return response.body
            except ApiError as exc:
                if exc.reason == "auth" and exc.status == 401 and not reauthenticated:
                    reauthenticated = True
                    if auth.invalidate(headers):
                        log.info("token refused (HTTP 401), logging in again")
                        continue
                if not exc.retryable or attempt >= self._retries:
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = self._rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
                attempt += 1
                log.debug(
                    "retry %d/%d of %s (%s) in %.2fs: %s",
                    attempt,
                    self._retries,
                    api,
                    base_headers.get("X-Project-Id", region),
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
