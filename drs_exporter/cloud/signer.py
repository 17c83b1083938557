"""Huawei Cloud AK/SK request signing (``SDK-HMAC-SHA256``), as pure functions.

The same functions sign requests in the exporter and verify them in the simulator, so the
canonical form is written down once. See the APIG "API Request Signing Guide".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
DATE_HEADER = "X-Sdk-Date"

_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def quote(s: str) -> str:
    """Percent-encode everything but unreserved characters (space is ``%20``)."""
    return urllib.parse.quote(s, safe="~")


def canonical_uri(path: str) -> str:
    """Decode the path, re-encode each segment and make sure it ends with ``/``."""
    segments = urllib.parse.unquote(path).split("/")
    uri = "/".join(quote(segment) for segment in segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Sort the (key, value) pairs, repeated keys by value, and join them ``k=v&k=v``."""
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(pairs))


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """The canonical request of the signing guide, over the ``signed_headers`` only.

    ``query`` is already canonical; ``path`` is the path as sent. Raises ValueError when a
    signed header is not among ``headers``.
    """
    by_name = {name.lower(): value for name, value in headers.items()}
    names = [name.lower() for name in signed_headers]
    lines = []
    for name in names:
        if name not in by_name:
            raise ValueError(f"signed header {name!r} is not in the request")
        lines.append(f"{name}:{by_name[name].strip()}\n")
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            query,
            "".join(lines),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def string_to_sign(canonical_req: str, sdk_date: str) -> str:
    """``ALGORITHM``, the ``X-Sdk-Date`` value and the hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(canonical_req.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign, keyed by the secret key as is."""
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sdk_date(now: dt.datetime) -> str:
    """The ``X-Sdk-Date`` value for ``now`` (a naive datetime is taken as UTC)."""
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc)
    return now.strftime(DATE_FORMAT)


def sign(
    method: str,
    host: str,
    path: str,
    query_pairs: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    now: dt.datetime,
) -> dict[str, str]:
    """Return a new header dict: the given headers plus Host, X-Sdk-Date and Authorization.

    Signs every given header whose name has no ``_``, plus host and x-sdk-date. ``host`` is
    host[:port] as sent; the caller sends ``canonical_query(query_pairs)`` as the query.
    """
    replaced = {"host", DATE_HEADER.lower(), "authorization"}
    out = {name: value for name, value in headers.items() if name.lower() not in replaced}
    out["Host"] = host
    out[DATE_HEADER] = sdk_date(now)
    # The gateway never signs a header with '_' in its name (proxies may drop them).
    signed = sorted({name.lower() for name in out if "_" not in name})
    canonical = canonical_request(method, path, canonical_query(query_pairs), out, signed, body)
    sig = signature(secret_key, string_to_sign(canonical, out[DATE_HEADER]))
    out["Authorization"] = (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed)}, Signature={sig}"
    )
    return out


@dataclass(frozen=True)
class Authorization:
    """The parts of an ``SDK-HMAC-SHA256`` Authorization header."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization:
    """Split an Authorization header into its parts; raise ValueError when it is malformed.

    The error text never repeats the header, which carries the access key.
    """
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        raise ValueError(f"authorization scheme is not {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, field_value = part.strip().partition("=")
        if not sep or key in fields:
            raise ValueError("malformed authorization parameters")
        fields[key] = field_value.strip()
    if set(fields) != {"Access", "SignedHeaders", "Signature"}:
        raise ValueError("authorization needs exactly Access, SignedHeaders and Signature")
    signed_headers = tuple(fields["SignedHeaders"].split(";"))
    if not fields["Access"] or not all(signed_headers):
        raise ValueError("empty access key or signed header name")
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise ValueError("signature is not 64 hex digits")
    return Authorization(fields["Access"], signed_headers, fields["Signature"])
