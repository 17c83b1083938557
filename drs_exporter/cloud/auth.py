"""How a request to DRS proves who sent it: AK/SK signature, IAM password token, static token."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ..config import Credentials, IamCredentials
from ..errors import ApiError, reason_for_status
from ..model import parse_time
from ..regions import iam_endpoint
from . import signer
from .transport import Response

log = logging.getLogger(__name__)

# Sends one HTTP request (method, url, headers, body) and returns the answer; raises ApiError
# on transport failures. The client provides it, so IAM logins are limited and counted too.
Send = Callable[[str, str, Mapping[str, str], bytes], Awaitable[Response]]
# Told every credential issued to the exporter, so that it is redacted wherever it is echoed.
OnIssued = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Request:
    """What an authenticator needs to see of a request before it is sent."""

    method: str
    url: str  # scheme://host[:port]/path, no query
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes = b""


class Authenticator(Protocol):
    """Adds credentials to a request for one project."""

    async def headers(self, request: Request, send: Send) -> dict[str, str]:
        """Return the request's headers with credentials added."""
        ...

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        """Forget the credential in ``sent`` after a 401; True if a retry may now succeed."""
        ...


class StaticToken:
    """An ``X-Auth-Token`` given in the config, sent as is."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def headers(self, request: Request, send: Send) -> dict[str, str]:
        return {**request.headers, "X-Auth-Token": self._token}

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        return False


class AkSkSigner:
    """Signs each request with SDK-HMAC-SHA256, Huawei Cloud's AK/SK signature (``signer``)."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        security_token: str | None = None,
        utcnow: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    ) -> None:
        self._ak = access_key
        self._sk = secret_key
        self._security_token = security_token
        self._utcnow = utcnow

    async def headers(self, request: Request, send: Send) -> dict[str, str]:
        parts = urlsplit(request.url)
        headers = dict(request.headers)
        if self._security_token:
            headers["X-Security-Token"] = self._security_token
        return signer.sign(
            request.method,
            parts.netloc,
            parts.path,
            request.query,
            headers,
            request.body,
            self._ak,
            self._sk,
            self._utcnow(),
        )

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        return False


class IamToken:
    """An IAM token from a password login, cached and refreshed before expiry.

    Scoped to ``project_id`` for DRS; with None, to the account (domain), as Huawei's global
    services such as IAM itself take it. ``endpoint`` overrides the login's IAM endpoint.
    """

    def __init__(
        self,
        iam: IamCredentials,
        project_id: str | None,
        region: str,
        clock: Callable[[], float],
        endpoint: str | None = None,
        on_issued: OnIssued | None = None,
    ) -> None:
        self._iam = iam
        self._on_issued = on_issued
        self._project_id = project_id
        base = endpoint or iam.endpoint or iam_endpoint(region)
        self._url = base.rstrip("/") + "/v3/auth/tokens"
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def headers(self, request: Request, send: Send) -> dict[str, str]:
        token = await self._current(send)
        return {**request.headers, "X-Auth-Token": token}

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        # Concurrent requests may all be refused the same token: drop it once, and let the
        # others retry with whatever token is current by then.
        used = sent.get("X-Auth-Token")
        if used is None:  # the login itself was refused: trying again will not help
            return False
        if self._token == used:
            self._token = None
        return True

    async def _current(self, send: Send) -> str:
        async with self._lock:  # one login at a time, however many pages wait for it
            if self._token is None or self._clock() >= self._refresh_at:
                self._token, self._refresh_at = await self._login(send)
            return self._token

    async def _login(self, send: Send) -> tuple[str, float]:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "domain": {"name": self._iam.domain_name},
                            "name": self._iam.username,
                            "password": self._iam.password,
                        }
                    },
                },
                "scope": (
                    {"project": {"id": self._project_id}}
                    if self._project_id is not None
                    else {"domain": {"name": self._iam.domain_name}}
                ),
            }
        }
        issued = self._clock()
        response = await send(
            "POST",
            self._url + "?nocatalog=true",
            {"Content-Type": "application/json"},
            json.dumps(body).encode(),
        )
        status = response.status
        request_id = response.headers.get("X-Request-Id", "")
        if status != 201 and status != 200:
            reason = "auth" if status == 400 else reason_for_status(status)
            raise ApiError(
                reason, "IAM token request refused", status=status, request_id=request_id
            )
        token = response.headers.get("X-Subject-Token", "")
        if not token:
            raise ApiError("decode", "IAM answered without X-Subject-Token", status=status)
        if self._on_issued is not None:  # before any request can carry it, or echo it
            self._on_issued(token)
        expires = None
        with contextlib.suppress(ValueError, KeyError, TypeError, RecursionError):
            expires = parse_time(json.loads(response.body)["token"]["expires_at"])
        if expires is None:
            expires = issued + 3600.0  # unknown lifetime: assume the shortest usual one
            log.warning("IAM token has no readable expires_at; refreshing it within the hour")
        lifetime = max(expires - issued, 0.0)
        margin = min(lifetime / 10.0, 600.0)
        scope = self._project_id or "the account"
        log.debug("IAM token issued for %s, lifetime %.0fs", scope, lifetime)
        return token, expires - margin


def authenticator(
    credentials: Credentials,
    project_id: str | None,
    region: str,
    clock: Callable[[], float],
    on_issued: OnIssued | None = None,
    iam_endpoint: str | None = None,
) -> Authenticator:
    """Build the authenticator that the credentials call for: for one project, or with
    ``project_id`` None for the account (IAM's own calls, at ``iam_endpoint``); ``on_issued``
    hears of each token IAM issues."""
    if credentials.iam is not None:
        return IamToken(
            credentials.iam, project_id, region, clock, iam_endpoint, on_issued=on_issued
        )
    if credentials.token is not None:
        return StaticToken(credentials.token)
    if credentials.access_key is None or credentials.secret_key is None:
        raise ValueError("credentials carry neither AK/SK, IAM login nor token")
    return AkSkSigner(credentials.access_key, credentials.secret_key, credentials.security_token)
