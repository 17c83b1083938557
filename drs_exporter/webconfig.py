"""The web-config file (TLS, basic auth, extra headers), in Prometheus exporter-toolkit's format.

``load_web_config`` validates the whole file once, including that the certificates load, and
raises ConfigError ("web.config_file: tls_server_config.cert_file: ...") for every mistake.
``BasicAuth`` checks request credentials against the bcrypt hashes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import bcrypt

from .config import read_yaml
from .errors import ConfigError

_FIELD = "web.config_file"

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = MappingProxyType(
    {
        "TLS10": ssl.TLSVersion.TLSv1,
        "TLS11": ssl.TLSVersion.TLSv1_1,
        "TLS12": ssl.TLSVersion.TLSv1_2,
        "TLS13": ssl.TLSVersion.TLSv1_3,
    }
)
# The headers exporter-toolkit lets an operator add, with their allowed values (None: any).
EXTRA_HEADERS: Mapping[str, tuple[str, ...] | None] = MappingProxyType(
    {
        "Strict-Transport-Security": None,
        "X-Content-Type-Options": ("nosniff",),
        "X-Frame-Options": ("deny", "sameorigin"),
        "X-XSS-Protection": None,
        "Content-Security-Policy": None,
    }
)

_TLS_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
        "client_ca_file",
        "client_auth_type",
        "min_version",
        "max_version",
        "prefer_server_cipher_suites",
    }
)
# Part of the format, but without an equivalent here: refused by name rather than ignored,
# so that nobody believes a restriction is in force when it is not.
_TLS_UNSUPPORTED = frozenset(
    {"cert", "key", "client_ca", "cipher_suites", "curve_preferences", "client_allowed_sans"}
)
_TOP_KEYS = frozenset({"tls_server_config", "http_server_config", "basic_auth_users"})
_TOP_UNSUPPORTED = frozenset({"rate_limit"})

_BCRYPT_HASH = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
# bcrypt looks at the first 72 bytes only; Go's bcrypt (and so exporter-toolkit) and htpasswd
# ignore the rest, while the Python package raises. Truncating keeps the two in agreement.
_BCRYPT_MAX_PASSWORD = 72
# Checked for unknown users, so that timing does not tell which user names exist.
_DUMMY_HASH = b"$2b$10$4cNj73pi8dn63rYzPMv3JOVFC0Ebd5NwhMavAHtIQV1EaGWvx5aVK"


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The ``tls_server_config`` section, with file paths made absolute."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True

    def ssl_context(self) -> ssl.SSLContext:
        """A fresh server-side context; reads the certificate files now."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = TLS_VERSIONS[self.min_version]
        context.maximum_version = TLS_VERSIONS[self.max_version]
        # An encrypted key would make OpenSSL prompt on the terminal; fail instead.
        context.load_cert_chain(self.cert_file, self.key_file, password=_no_password)
        if self.prefer_server_cipher_suites:
            context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        # Python cannot ask for a client certificate without verifying it, so
        # RequestClientCert (ask, never check, never use) is served as NoClientCert.
        if self.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
            context.verify_mode = (
                ssl.CERT_REQUIRED
                if self.client_auth_type == "RequireAndVerifyClientCert"
                else ssl.CERT_OPTIONAL
            )
            if self.client_ca_file:
                context.load_verify_locations(cafile=self.client_ca_file)
            else:  # as Go does when no client CAs are given: the system's roots
                context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        return context


@dataclass(frozen=True, slots=True)
class WebSecurity:
    """What the web-config file asks of the HTTP server: TLS, basic auth, extra headers."""

    tls: TlsSettings | None = None
    # user -> bcrypt hash
    basic_auth_users: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )
    headers: tuple[tuple[str, str], ...] = ()

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server SSL context when TLS is configured, else None."""
        return None if self.tls is None else self.tls.ssl_context()


def _no_password() -> bytes:
    raise ValueError("encrypted private keys are not supported")


def _error(where: str, message: str) -> ConfigError:
    return ConfigError(_FIELD, f"{where}: {message}" if where else message)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _error(where, f"must be a mapping, not {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise _error(where, f"keys must be strings, not {type(key).__name__} {key!r}")
    return value


def _check_keys(
    section: Mapping[str, Any], where: str, known: frozenset[str], unsupported: frozenset[str]
) -> None:
    for key in section:
        path = f"{where}.{key}" if where else key
        if key in unsupported:
            if section[key] in (None, [], ""):
                continue  # an empty setting asks for nothing
            raise _error(path, "is not supported by drs-exporter")
        if key not in known:
            raise _error(path, "unknown key")


def _string(section: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = section.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _error(f"{where}.{key}", f"must be a string, not {type(value).__name__}")
    return value


def _file(section: Mapping[str, Any], key: str, where: str, base_dir: str) -> str:
    """An existing, readable file, relative paths taken from the web-config file's directory."""
    value = _string(section, key, where)
    path = os.path.join(base_dir, os.path.expanduser(value))
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _error(f"{where}.{key}", f"cannot read {path}: {exc.strerror}") from None
    return path


def _parse_tls(raw: Any, base_dir: str) -> TlsSettings | None:
    where = "tls_server_config"
    section = _mapping(raw, where)
    _check_keys(section, where, _TLS_KEYS, _TLS_UNSUPPORTED)
    if not any(section.get(k) for k in ("cert_file", "key_file", "client_ca_file")):
        if section.get("client_auth_type") not in (None, "", "NoClientCert"):
            raise _error(f"{where}.cert_file", "required for client certificate checks")
        return None  # as in exporter-toolkit: no certificate, plain HTTP
    for key in ("cert_file", "key_file"):
        if not _string(section, key, where):
            raise _error(f"{where}.{key}", "required when TLS is configured")
    auth_type = _string(section, "client_auth_type", where, "NoClientCert")
    if auth_type not in CLIENT_AUTH_TYPES:
        raise _error(
            f"{where}.client_auth_type",
            f"unknown value {auth_type!r} (expected one of {', '.join(CLIENT_AUTH_TYPES)})",
        )
    if auth_type == "RequireAnyClientCert":
        raise _error(
            f"{where}.client_auth_type",
            "RequireAnyClientCert is not supported (Python's TLS cannot require a certificate "
            "without verifying it); use RequireAndVerifyClientCert with client_ca_file",
        )
    versions = {}
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        versions[key] = _string(section, key, where, default)
        if versions[key] not in TLS_VERSIONS:
            raise _error(
                f"{where}.{key}",
                f"unknown value {versions[key]!r} (expected one of {', '.join(TLS_VERSIONS)})",
            )
    if TLS_VERSIONS[versions["min_version"]] > TLS_VERSIONS[versions["max_version"]]:
        raise _error(f"{where}.min_version", "is above max_version")
    prefer = section.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise _error(f"{where}.prefer_server_cipher_suites", "must be true or false")
    client_ca = (
        _file(section, "client_ca_file", where, base_dir) if section.get("client_ca_file") else None
    )
    if client_ca and auth_type in ("NoClientCert", "RequestClientCert"):
        raise _error(
            f"{where}.client_ca_file",
            f"client certificates are not verified with client_auth_type {auth_type}; "
            "use RequireAndVerifyClientCert",
        )
    settings = TlsSettings(
        cert_file=_file(section, "cert_file", where, base_dir),
        key_file=_file(section, "key_file", where, base_dir),
        client_ca_file=client_ca,
        client_auth_type=auth_type,
        min_version=versions["min_version"],
        max_version=versions["max_version"],
        prefer_server_cipher_suites=prefer,
    )
    _try_tls(settings, where)
    return settings


def _try_tls(settings: TlsSettings, where: str) -> None:
    """Load every certificate now, so that a bad file fails the load, not each handshake."""
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for key, path in (
        ("cert_file", settings.cert_file),
        ("client_ca_file", settings.client_ca_file),
    ):
        if path is None:
            continue
        try:
            scratch.load_verify_locations(cafile=path)
        except (ssl.SSLError, ValueError) as exc:
            raise _error(f"{where}.{key}", f"{path}: no PEM certificate ({_reason(exc)})") from None
    try:
        settings.ssl_context()
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise _error(
            f"{where}.key_file", f"{settings.key_file}: unusable key ({_reason(exc)})"
        ) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def _parse_headers(raw: Any) -> tuple[tuple[str, str], ...]:
    where = "http_server_config"
    section = _mapping(raw, where)
    _check_keys(section, where, frozenset({"headers", "http2"}), frozenset())
    if not isinstance(section.get("http2", True), bool):
        raise _error(f"{where}.http2", "must be true or false")  # HTTP/1.1 is served either way
    canonical = {name.lower(): name for name in EXTRA_HEADERS}
    headers: list[tuple[str, str]] = []
    for name, value in _mapping(section.get("headers"), f"{where}.headers").items():
        path = f"{where}.headers.{name}"
        header = canonical.get(name.lower())
        if header is None:
            raise _error(path, f"cannot be configured (allowed: {', '.join(EXTRA_HEADERS)})")
        if value is None or value == "":
            continue  # "unset if blank"
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise _error(path, "must be a single-line string")
        allowed = EXTRA_HEADERS[header]
        if allowed is not None and value not in allowed:
            raise _error(path, f"must be one of {', '.join(allowed)}, not {value!r}")
        headers.append((header, value))
    return tuple(headers)


def _parse_users(raw: Any) -> Mapping[str, str]:
    where = "basic_auth_users"
    if isinstance(raw, Mapping):
        # YAML reads `1234: hash` with an integer key; it is still a user name.
        raw = {
            str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v
            for k, v in raw.items()
        }
    section = _mapping(raw, where)
    users: dict[str, str] = {}
    for user, hashed in section.items():
        path = f"{where}.{user}"
        if not user or ":" in user:
            raise _error(path, "a user name must be non-empty and contain no ':'")
        # The hash itself never goes into a message.
        if not isinstance(hashed, str):
            raise _error(path, "must be a bcrypt hash string")
        match = _BCRYPT_HASH.fullmatch(hashed)
        if match is None:
            raise _error(path, "not a bcrypt hash (expected $2y$, $2b$ or $2a$ and 60 characters)")
        if not 4 <= int(match.group(1)) <= 31:
            raise _error(path, "bcrypt cost must be between 4 and 31")
        users[user] = hashed
    return MappingProxyType(users)


def load_web_config(path: str) -> WebSecurity:
    """Read and validate the web-config file at ``path``; raise ConfigError on any mistake."""
    raw = read_yaml(path, _FIELD, "web config file")
    if raw is None:
        return WebSecurity()  # an empty file asks for nothing, as in exporter-toolkit
    top = _mapping(raw, "")
    _check_keys(top, "", _TOP_KEYS, _TOP_UNSUPPORTED)
    base_dir = os.path.dirname(os.path.abspath(path))
    return WebSecurity(
        tls=_parse_tls(top.get("tls_server_config"), base_dir),
        basic_auth_users=_parse_users(top.get("basic_auth_users")),
        headers=_parse_headers(top.get("http_server_config")),
    )


def _credentials(authorization: str | None) -> tuple[str, bytes] | None:
    """User and password from an ``Authorization: Basic ...`` header, or None."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user_bytes, colon, password = decoded.partition(b":")
        user = user_bytes.decode("utf-8")
    except (binascii.Error, ValueError):  # also UnicodeDecodeError and non-ASCII input
        return None
    return (user, password) if colon else None


def _bcrypt_matches(password: bytes, hashed: bytes) -> bool:
    try:
        return bool(bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], hashed))
    except ValueError:
        return False


class BasicAuth:
    """Checks basic-auth credentials against bcrypt hashes.

    bcrypt is slow on purpose (tens of milliseconds), so it runs in a thread, one check at a
    time, and a success is remembered as a keyed hash: the next scrape costs one HMAC.
    """

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = {user: hashed.encode("ascii") for user, hashed in users.items()}
        self._key = secrets.token_bytes(32)  # per process: the cache is useless to a reader
        self._verified: dict[str, bytes] = {}  # user -> digest of the last good password
        self._bcrypt_turn = asyncio.Lock()  # one bcrypt at a time: a flood cannot take all CPUs

    async def check(self, authorization: str | None) -> bool:
        """True when the ``Authorization`` header names a user with the right password."""
        credentials = _credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        digest = hmac.new(self._key, user.encode("utf-8") + b":" + password, hashlib.sha256)
        proof = digest.digest()
        if self._remembered(user, proof):
            return True
        async with self._bcrypt_turn:
            if self._remembered(user, proof):  # checked meanwhile by a concurrent request
                return True
            hashed = self._users.get(user)
            matches = await asyncio.to_thread(_bcrypt_matches, password, hashed or _DUMMY_HASH)
            if matches and hashed is not None:
                self._verified[user] = proof
                return True
        return False

    def _remembered(self, user: str, proof: bytes) -> bool:
        known = self._verified.get(user)
        return known is not None and hmac.compare_digest(known, proof)
