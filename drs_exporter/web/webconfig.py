"""The web-config file (TLS, basic auth, extra headers), in Prometheus exporter-toolkit's format.

``load_web_config`` validates the whole file once, including that the certificates load, with
the config's own readers; every mistake is a ConfigError for ``web.config_file`` whose message
starts with the path inside this file ("web.config_file: tls_server_config.cert_file: ...").
``basicauth.BasicAuth`` checks request credentials against the bcrypt hashes it reads.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..config.loading import read_yaml
from ..config.validators import boolean, join_path, kind_of, mapping, nested_in, one_of
from ..errors import ConfigError

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

_TLS_KEYS = (
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_auth_type",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
)
# Part of the format, but without an equivalent here: refused by name rather than ignored,
# so that nobody believes a restriction is in force when it is not.
_TLS_UNSUPPORTED = (
    "cert",
    "key",
    "client_ca",
    "cipher_suites",
    "curve_preferences",
    "client_allowed_sans",
)
_HTTP_KEYS = ("headers", "http2")
_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
_TOP_UNSUPPORTED = ("rate_limit",)

_BCRYPT_HASH = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")


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

    def load_certificate(self, context: ssl.SSLContext) -> None:
        """Serve the certificate and key of these settings from ``context`` (its next
        connections, when it is in use)."""
        # An encrypted key would make OpenSSL prompt on the terminal; fail instead.
        context.load_cert_chain(self.cert_file, self.key_file, password=_no_password)

    def ssl_context(self) -> ssl.SSLContext:
        """A fresh server-side context; reads the certificate files now."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = TLS_VERSIONS[self.min_version]
        context.maximum_version = TLS_VERSIONS[self.max_version]
        self.load_certificate(context)
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


def _file_name(value: object, path: str) -> str:
    """The name of a file as given; no value is ""."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(path, f"must be a string naming a file, got {kind_of(value)}")
    return value


def _readable_file(value: object, path: str, base_dir: str) -> str:
    """An existing, readable file, relative paths taken from the web-config file's directory."""
    full = os.path.join(base_dir, os.path.expanduser(_file_name(value, path)))
    try:
        with open(full, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(path, f"cannot read '{full}': {exc.strerror}") from None
    return full


def _choice(
    section: Mapping[str, Any], key: str, where: str, options: Collection[str], default: str
) -> str:
    """``section[key]``, one of ``options``; no value is ``default``."""
    value = section.get(key)
    return default if value is None else one_of(value, join_path(where, key), options, "value")


def _parse_tls(raw: Any, base_dir: str) -> TlsSettings | None:
    where = "tls_server_config"
    section = mapping(raw, where, _TLS_KEYS, unsupported=_TLS_UNSUPPORTED)
    if not any(section.get(k) for k in ("cert_file", "key_file", "client_ca_file")):
        if section.get("client_auth_type") not in (None, "", "NoClientCert"):
            raise ConfigError(
                join_path(where, "cert_file"), "required for client certificate checks"
            )
        return None  # as in exporter-toolkit: no certificate, plain HTTP
    for key in ("cert_file", "key_file"):
        if not _file_name(section.get(key), join_path(where, key)):
            raise ConfigError(join_path(where, key), "required when TLS is configured")
    auth_type = _choice(section, "client_auth_type", where, CLIENT_AUTH_TYPES, "NoClientCert")
    if auth_type == "RequireAnyClientCert":
        raise ConfigError(
            join_path(where, "client_auth_type"),
            "RequireAnyClientCert is not supported (Python's TLS cannot require a certificate "
            "without verifying it); use RequireAndVerifyClientCert with client_ca_file",
        )
    min_version = _choice(section, "min_version", where, TLS_VERSIONS, "TLS12")
    max_version = _choice(section, "max_version", where, TLS_VERSIONS, "TLS13")
    if TLS_VERSIONS[min_version] > TLS_VERSIONS[max_version]:
        raise ConfigError(join_path(where, "min_version"), "is above max_version")
    prefer = boolean(
        section.get("prefer_server_cipher_suites", True),
        join_path(where, "prefer_server_cipher_suites"),
    )
    client_ca = None
    if section.get("client_ca_file"):
        path = join_path(where, "client_ca_file")
        client_ca = _readable_file(section["client_ca_file"], path, base_dir)
        if auth_type in ("NoClientCert", "RequestClientCert"):
            raise ConfigError(
                path,
                f"client certificates are not verified with client_auth_type {auth_type}; "
                "use RequireAndVerifyClientCert",
            )
    settings = TlsSettings(
        cert_file=_readable_file(section["cert_file"], join_path(where, "cert_file"), base_dir),
        key_file=_readable_file(section["key_file"], join_path(where, "key_file"), base_dir),
        client_ca_file=client_ca,
        client_auth_type=auth_type,
        min_version=min_version,
        max_version=max_version,
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
            raise ConfigError(
                join_path(where, key), f"{path}: no PEM certificate ({_reason(exc)})"
            ) from None
    try:
        settings.ssl_context()
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise ConfigError(
            join_path(where, "key_file"), f"{settings.key_file}: unusable key ({_reason(exc)})"
        ) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def _parse_headers(raw: Any) -> tuple[tuple[str, str], ...]:
    where = "http_server_config"
    section = mapping(raw, where, _HTTP_KEYS)
    # HTTP/1.1 is served either way; the setting is only checked.
    boolean(section.get("http2", True), join_path(where, "http2"))
    canonical = {name.lower(): name for name in EXTRA_HEADERS}
    headers: list[tuple[str, str]] = []
    for name, value in mapping(section.get("headers"), join_path(where, "headers")).items():
        path = join_path(where, f"headers.{name}")
        header = canonical.get(name.lower())
        if header is None:
            raise ConfigError(path, f"cannot be configured (allowed: {', '.join(EXTRA_HEADERS)})")
        if value is None or value == "":
            continue  # "unset if blank"
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ConfigError(path, "must be a single-line string")
        allowed = EXTRA_HEADERS[header]
        if allowed is not None and value not in allowed:
            raise ConfigError(path, f"must be one of {', '.join(allowed)}, not {value!r}")
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
    users: dict[str, str] = {}
    for user, hashed in mapping(raw, where).items():
        path = join_path(where, user)
        if not user or ":" in user:
            raise ConfigError(path, "a user name must be non-empty and contain no ':'")
        # The hash itself never goes into a message.
        if not isinstance(hashed, str):
            raise ConfigError(path, "must be a bcrypt hash string")
        match = _BCRYPT_HASH.fullmatch(hashed)
        if match is None:
            raise ConfigError(
                path, "not a bcrypt hash (expected $2y$, $2b$ or $2a$ and 60 characters)"
            )
        if not 4 <= int(match.group(1)) <= 31:
            raise ConfigError(path, "bcrypt cost must be between 4 and 31")
        users[user] = hashed
    return MappingProxyType(users)


def load_web_config(path: str) -> WebSecurity:
    """Read and validate the web-config file at ``path``; raise ConfigError on any mistake."""
    raw = read_yaml(path, _FIELD, "web config file")
    if raw is None:
        return WebSecurity()  # an empty file asks for nothing, as in exporter-toolkit
    base_dir = os.path.dirname(os.path.abspath(path))
    with nested_in(_FIELD):
        top = mapping(raw, "", _TOP_KEYS, unsupported=_TOP_UNSUPPORTED)
        return WebSecurity(
            tls=_parse_tls(top.get("tls_server_config"), base_dir),
            basic_auth_users=_parse_users(top.get("basic_auth_users")),
            headers=_parse_headers(top.get("http_server_config")),
        )
