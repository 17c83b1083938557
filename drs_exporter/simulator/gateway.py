"""The simulated API gateway and IAM: who may call, checked the way Huawei Cloud does.

AK/SK requests are verified by rebuilding the canonical request from what was received,
with the same signer the exporter uses. Tokens are the static ``--token`` or ones issued by
``POST /v3/auth/tokens``, which die ``token_ttl`` simulated seconds after issue. Error texts
say what was wrong, never what the credentials were.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..cloud import signer
from .options import SimulatorOptions
from .query import parse_pairs

MAX_SKEW = 15 * 60  # seconds the gateway tolerates between X-Sdk-Date and its clock
AUTH_CODE = "APIGW.0301"
AUTH_PREFIX = "Incorrect IAM authentication information: "
IAM_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Denied:
    """Why a request was refused, as the HTTP status and DRS-style error body to send."""

    status: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Issued:
    """A token issued by the simulated IAM, and the 201 body that announces it."""

    token: str
    body: Mapping[str, Any]


def _denied(reason: str) -> Denied:
    return Denied(401, {"error_code": AUTH_CODE, "error_msg": AUTH_PREFIX + reason})


def _iam_error(status: int, message: str) -> Denied:
    # IAM answers in Keystone's shape, not DRS's.
    title = "Unauthorized" if status == 401 else "Bad Request"
    return Denied(status, {"error": {"code": str(status), "title": title, "message": message}})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _iso(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.timezone.utc).strftime(IAM_TIME_FORMAT)


class Gateway:
    """Admits or refuses API requests, and issues IAM tokens.

    ``clock`` is the real clock that X-Sdk-Date is checked against; ``sim_now`` is the
    simulated time that token lifetimes run on (it moves with /_sim/advance).
    """

    def __init__(
        self,
        options: SimulatorOptions,
        clock: Callable[[], float],
        sim_now: Callable[[], float],
    ) -> None:
        self._options = options
        self._clock = clock
        self._sim_now = sim_now
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (project id, expiry)

    def check(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Mapping[str, str],
        body: bytes,
        project_id: str | None,
    ) -> Denied | None:
        """None when the request may pass, else why not. ``headers`` is case-insensitive.

        ``project_id`` None: a global service's request (IAM), which takes a token of any
        scope, as Keystone lists the projects of whichever token's user.
        """
        o = self._options
        if not o.needs_auth:
            return None
        token = headers.get("X-Auth-Token")
        if token is not None and (o.token is not None or o.iam):
            return self._check_token(token, project_id)
        authorization = headers.get("Authorization")
        if authorization is not None and o.aksk:
            return self._check_signature(method, raw_path, raw_query, headers, body)
        return _denied("no valid credentials in the request")

    def check_global(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Mapping[str, str],
        body: bytes,
        domain_id: str | None,
    ) -> Denied | None:
        """As ``check``, for a global service (IAM): any token scope; an AK/SK signature must
        also sign ``X-Domain-Id`` naming the account (``domain_id``), unless None (the
        account-id lookup itself, which Huawei's SDK signs without it)."""
        denied = self.check(method, raw_path, raw_query, headers, body, None)
        if denied is not None or domain_id is None or not self._options.aksk:
            return denied
        authorization = headers.get("Authorization")
        if authorization is None or headers.get("X-Auth-Token") is not None:
            return None
        signed = signer.parse_authorization(authorization).signed_headers
        if "x-domain-id" not in signed or headers.get("X-Domain-Id") != domain_id:
            return _denied("a global service's request must sign X-Domain-Id, the account id")
        return None

    def _check_token(self, token: str, project_id: str | None) -> Denied | None:
        if self._options.token is not None and _same(token, self._options.token):
            return None
        issued = self._tokens.get(token)
        if issued is None:
            return _denied("the token is invalid")
        scope, expires = issued
        if self._sim_now() >= expires:
            return _denied("the token has expired")
        if project_id is not None and scope != project_id:
            return _denied("the token is scoped to another project")
        return None

    def _check_signature(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Denied | None:
        o = self._options
        assert o.access_key is not None and o.secret_key is not None
        try:
            auth = signer.parse_authorization(headers.get("Authorization", ""))
        except ValueError as e:
            return _denied(f"malformed Authorization header ({e})")
        if not _same(auth.access_key, o.access_key):
            return _denied("the access key does not exist")
        sdk_date = headers.get(signer.DATE_HEADER)
        if sdk_date is None or signer.DATE_HEADER.lower() not in auth.signed_headers:
            return _denied("X-Sdk-Date is missing or not signed")
        try:
            when = dt.datetime.strptime(sdk_date, signer.DATE_FORMAT)
        except ValueError:
            return _denied("X-Sdk-Date is not in the format YYYYMMDDTHHMMSSZ")
        skew = when.replace(tzinfo=dt.timezone.utc).timestamp() - self._clock()
        if abs(skew) > MAX_SKEW:
            return _denied("the request time differs from the server time by over 15 minutes")
        signed = {name: headers[name] for name in auth.signed_headers if name in headers}
        try:
            canonical = signer.canonical_request(
                method,
                raw_path,
                signer.canonical_query(parse_pairs(raw_query)),
                signed,
                auth.signed_headers,
                body,
            )
        except ValueError:
            return _denied("a signed header is missing from the request")
        expected = signer.signature(o.secret_key, signer.string_to_sign(canonical, sdk_date))
        if not _same(auth.signature, expected):
            return _denied("verify aksk signature fail")
        return None

    def issue(self, body: bytes) -> Issued | Denied:
        """Answer ``POST /v3/auth/tokens``: a project- or account-scoped token, or why not."""
        o = self._options
        try:
            request = json.loads(body)
            identity = request["auth"]["identity"]
            user = identity["password"]["user"]
            domain, name, password = user["domain"]["name"], user["name"], user["password"]
            scope = request["auth"]["scope"]
            # A token for one project, or for the account (domain): IAM's own APIs take it.
            project_id = scope["project"]["id"] if "project" in scope else ""
            if "project" not in scope and not isinstance(scope["domain"]["name"], str):
                raise TypeError
            methods = identity["methods"]
        except (ValueError, KeyError, TypeError):
            return _iam_error(400, "The request body is not a password authentication.")
        fields = (domain, name, password)
        bad_project = not isinstance(project_id, str) or ("project" in scope and not project_id)
        bad_fields = not all(isinstance(v, str) and v for v in fields)
        if bad_project or bad_fields or not isinstance(methods, list):
            return _iam_error(400, "The request body is not a password authentication.")
        if "password" not in methods:
            return _iam_error(400, "Only the password method is supported.")
        assert o.iam_domain is not None and o.iam_user is not None and o.iam_password is not None
        # Every comparison runs, so timing does not tell which part was wrong.
        matches = [
            _same(domain, o.iam_domain),
            _same(name, o.iam_user),
            _same(password, o.iam_password),
        ]
        if not all(matches):
            return _iam_error(401, "The username or password is wrong.")
        return self._new_token(project_id)

    def _new_token(self, project_id: str) -> Issued:
        o = self._options
        now = self._sim_now()
        expires = now + o.token_ttl
        self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        token = "MII" + secrets.token_urlsafe(48)
        self._tokens[token] = (project_id, expires)
        domain = {"id": "0" * 32, "name": o.iam_domain}
        body = {
            "token": {
                "expires_at": _iso(expires),
                "issued_at": _iso(now),
                "methods": ["password"],
                **(
                    {"project": {"id": project_id, "name": "", "domain": domain}}
                    if project_id
                    else {"domain": domain}
                ),
                "user": {"id": "1" * 32, "name": o.iam_user, "domain": domain},
                "roles": [{"id": "2" * 32, "name": "te_admin"}],
            }
        }
        return Issued(token, body)
