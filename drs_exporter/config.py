"""The config file: frozen dataclasses, loaded and validated once.

Everything here is plain data. ``load_config`` is the only way in, and it raises
``ConfigError`` naming the field path for every mistake. Messages name keys and files,
never the value of a secret.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import math
import os
import re
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError
from .model import JOB_TYPES
from .regions import KNOWN_REGIONS, drs_endpoint


@dataclass(frozen=True, slots=True)
class IamCredentials:
    """IAM password login, exchanged for a project-scoped token."""

    domain_name: str
    username: str
    password: str = field(repr=False)
    endpoint: str | None = None  # None: https://iam.{region}.myhuaweicloud.com


@dataclass(frozen=True, slots=True)
class Credentials:
    """Exactly one of: AK/SK (optionally with a security token), IAM login, static token."""

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    iam: IamCredentials | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``aksk``, ``iam`` or ``token``."""
        if self.iam is not None:
            return "iam"
        if self.token is not None:
            return "token"
        return "aksk"


@dataclass(frozen=True, slots=True)
class Target:
    """One project in one region, polled for each of its job types."""

    project_id: str
    region: str
    endpoint: str  # resolved: the explicit one, or the region's public endpoint
    credentials: Credentials
    job_types: tuple[str, ...] = JOB_TYPES
    # Query filters in the order given, as (name, value); instance_ids repeats its name.
    filters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PollConfig:
    interval: float = 60.0  # seconds
    page_size: int = 100
    timeout: float = 10.0  # seconds, per HTTP request
    retries: int = 3
    max_concurrency: int = 8
    max_requests_per_second: float = 10.0
    stale_after: float = 600.0  # seconds


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    per_job: bool = True
    dense_status: bool = False


@dataclass(frozen=True, slots=True)
class WebConfig:
    listen_address: str = ":9877"
    telemetry_path: str = "/metrics"
    config_file: str | None = None  # exporter-toolkit web-config file (TLS, basic auth)


@dataclass(frozen=True, slots=True)
class HttpConfig:
    proxy_url: str | None = field(default=None, repr=False)  # may carry user:password
    ca_file: str | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    targets: tuple[Target, ...]
    poll: PollConfig = PollConfig()
    metrics: MetricsConfig = MetricsConfig()
    web: WebConfig = WebConfig()
    http: HttpConfig = HttpConfig()


# --- The vocabulary of the file -------------------------------------------------------------

_TOP_KEYS = ("credentials", "targets", "poll", "metrics", "web", "http")
_TARGET_KEYS = ("project_id", "region", "endpoint", "job_types", "filters", "credentials")
_SECRET_KEYS = ("access_key", "secret_key", "security_token", "token")
_CREDENTIAL_KEYS = ("iam", *_SECRET_KEYS, *(f"{key}_file" for key in _SECRET_KEYS))
_AKSK_KEYS = tuple(
    f"{key}{suffix}"
    for key in ("access_key", "secret_key", "security_token")
    for suffix in ("", "_file")
)
_IAM_KEYS = ("domain_name", "username", "password", "password_file", "endpoint")
_FILTER_KEYS = (
    "enterprise_project_id",
    "engine_type",
    "net_type",
    "status",
    "name",
    "instance_ids",
    "instance_ip",
)
_POLL_KEYS = tuple(f.name for f in fields(PollConfig))
_METRICS_KEYS = tuple(f.name for f in fields(MetricsConfig))
_WEB_KEYS = tuple(f.name for f in fields(WebConfig))
_HTTP_KEYS = tuple(f.name for f in fields(HttpConfig))

# A key written one level too high is a common slip; say where it belongs.
_BELONGS_UNDER: dict[str, str] = {
    **{k: f"poll.{k}" for k in _POLL_KEYS},
    **{k: f"metrics.{k}" for k in _METRICS_KEYS},
    **{k: f"web.{k}" for k in _WEB_KEYS},
    **{k: f"http.{k}" for k in _HTTP_KEYS},
    **{k: f"targets[].{k}" for k in _TARGET_KEYS if k != "credentials"},
    **{k: f"credentials.{k}" for k in _CREDENTIAL_KEYS},
}

_NET_TYPES = ("eip", "vpc", "vpn")
_MAX_INSTANCE_IDS = 10  # the API's limit
_RESERVED_PATHS = ("/", "/-/healthy", "/-/ready", "/-/reload")
_MAX_SECRET_FILE = 64 * 1024  # a secret file bigger than this is the wrong file

_ENV_AK = "HUAWEICLOUD_SDK_AK"
_ENV_SK = "HUAWEICLOUD_SDK_SK"
_ENV_SECURITY_TOKEN = "HUAWEICLOUD_SDK_SECURITY_TOKEN"

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROJECT_ID = re.compile(r"[A-Za-z0-9_-]+")  # it goes into the URL path as is
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # it goes into host names and labels
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_STATUS = re.compile(r"[A-Z][A-Z0-9_]*")
_PLAIN_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
_DURATION = re.compile(
    r"((?P<y>[0-9.]+)y)?((?P<w>[0-9.]+)w)?((?P<d>[0-9.]+)d)?((?P<h>[0-9.]+)h)?"
    r"((?P<m>[0-9.]+)m)?((?P<s>[0-9.]+)s)?((?P<ms>[0-9.]+)ms)?"
)
_UNIT_SECONDS = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}


# --- Loading --------------------------------------------------------------------------------


def load_config(path: str, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the YAML config at ``path``; raise ConfigError naming the field."""
    data = read_yaml(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    return parse_config(data, base_dir=base_dir, environ=os.environ if environ is None else environ)


def parse_config(data: object, *, base_dir: str, environ: Mapping[str, str]) -> Config:
    """Validate what ``yaml.safe_load`` gave; relative ``*_file`` paths resolve in base_dir."""
    data = _substitute(data, "", environ, set())
    top = _top_level(data)
    default = None
    if top.get("credentials") is not None:
        default = _Found(_credentials(top["credentials"], "credentials", base_dir), "credentials")
    return Config(
        targets=_targets(top.get("targets"), default, base_dir, environ),
        poll=_poll(top.get("poll")),
        metrics=_metrics(top.get("metrics")),
        web=_web(top.get("web"), base_dir),
        http=_http(top.get("http"), base_dir),
    )


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: YAML would keep the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str, field: str = "", what: str = "config file") -> Any:
    """Parse the YAML file at ``path``; ConfigError(field) with a one-line reason if it fails.

    Duplicate keys are refused, and no message quotes the file, which may hold secrets.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(field, f"{path}: cannot read the {what}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(field, f"{path}: the {what} is not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(field, _yaml_error_text(path, exc)) from None
    except yaml.YAMLError:
        raise ConfigError(field, f"{path}: invalid YAML") from None
    except RecursionError:
        raise ConfigError(field, f"{path}: invalid YAML: nested too deeply") from None


def _yaml_error_text(path: str, exc: yaml.MarkedYAMLError) -> str:
    # str(exc) quotes the offending line, which may hold a secret: use only the marks.
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
    text = f"{where}: invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    if exc.problem and exc.context:
        text += f" ({exc.context}"
        if exc.context_mark and exc.context_mark.line != (mark.line if mark else -1):
            text += f" at line {exc.context_mark.line + 1}"
        text += ")"
    return text


# --- ${VAR} substitution --------------------------------------------------------------------


def _substitute(data: Any, path: str, environ: Mapping[str, str], stack: set[int]) -> Any:
    """Expand ``${VAR}`` in every string value (not in keys)."""
    if isinstance(data, str):
        return _expand(data, path, environ)
    if not isinstance(data, (dict, list)):
        return data
    if id(data) in stack:  # YAML aliases can build a loop
        raise ConfigError(path, "contains itself (a loop of YAML anchors and aliases)")
    stack.add(id(data))
    try:
        if isinstance(data, dict):
            return {k: _substitute(v, _join(path, k), environ, stack) for k, v in data.items()}
        return [_substitute(v, f"{path}[{i}]", environ, stack) for i, v in enumerate(data)]
    finally:
        stack.discard(id(data))


def _expand(text: str, path: str, environ: Mapping[str, str]) -> str:
    """``${VAR}``, ``${VAR:-default}``; ``$${`` is a literal ``${``; other ``$`` stay as is."""
    if "${" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            out.append("${")
            i += 3
        elif text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise ConfigError(
                    path, "'${' without a closing '}' (write '$${' for a literal '${')"
                )
            out.append(_lookup(text[i + 2 : end], path, environ))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _lookup(reference: str, path: str, environ: Mapping[str, str]) -> str:
    name, has_default, default = reference.partition(":-")
    if not _VAR_NAME.fullmatch(name):
        # Not shown: the text may be part of a secret that lacks its '$$' escape.
        raise ConfigError(
            path,
            "invalid '${...}': a variable name has only letters, digits and '_' "
            "(write '$${' for a literal '${')",
        )
    if "${" in default:
        raise ConfigError(path, f"the default of ${{{name}:-...}} cannot refer to another variable")
    value = environ.get(name)
    if has_default and not value:  # as in the shell, ':-' also covers an empty variable
        return default
    if value is None:
        raise ConfigError(
            path,
            f"environment variable {name} is not set (give a default with ${{{name}:-default}})",
        )
    return value


# --- Small readers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    """Credentials and the field path they were read from, for messages about them later."""

    credentials: Credentials
    path: str


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _kind(value: object) -> str:
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (dt.date, dt.datetime)):
        return "a date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: str, limit: int = 80) -> str:
    """A non-secret value quoted for a message, cut short."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _suggest(word: str, options: Collection[str]) -> str:
    lowered = {option.lower(): option for option in options}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[match[0]]}'?)" if match else ""


def _mapping(
    value: object, path: str, keys: Collection[str], belongs_under: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A mapping holding only ``keys``; no value (``poll:`` alone) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(path, f"must be a mapping of keys to values, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(path, f"keys must be text, got {_kind(key)} {key!r}")
        if key not in keys:
            hint = _suggest(key, keys)
            if not hint and belongs_under and key in belongs_under:
                hint = f" (did you mean '{belongs_under[key]}'?)"
            raise ConfigError(_join(path, key), f"unknown key '{key}'{hint}")
    return value


def _text(value: object, path: str) -> str:
    if isinstance(value, str):
        return value
    hint = ""
    if isinstance(value, (int, float, dt.date)):  # bool is an int
        hint = '; quote it ("...") so YAML keeps it as text'
    raise ConfigError(path, f"must be text, got {_kind(value)}{hint}")


def _nonempty(value: object, path: str) -> str:
    text = _text(value, path)
    if not text.strip():
        raise ConfigError(path, "must not be empty")
    return text


def _required(block: Mapping[str, Any], key: str, path: str, what: str) -> Any:
    if key not in block:
        raise ConfigError(_join(path, key), f"missing: {what}")
    return block[key]


def _integer(value: object, path: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        got = repr(value) if isinstance(value, float) else _kind(value)
        if isinstance(value, str):
            got = f"text {_show(value)}; write the number without quotes"
        raise ConfigError(path, f"must be a whole number, got {got}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(path, f"must be {bounds}, got {value}")
    return value


def _positive_number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(path, f"must be a number, got {_kind(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(path, f"must be greater than 0, got {value}")
    return float(value)


def _boolean(value: object, path: str) -> bool:
    if isinstance(value, bool):
        return value
    got = f"text {_show(value)}" if isinstance(value, str) else _kind(value)
    raise ConfigError(path, f"must be true or false (unquoted), got {got}")


def parse_duration(value: object, path: str) -> float:
    """Seconds from ``500ms``, ``30s``, ``5m``, ``1h``, ``1h30m`` (also d, w, y) or a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(path, f"must be a duration like 30s or 5m, got {_kind(value)}")
    if isinstance(value, str):
        seconds = _duration_seconds(value.strip())
        if seconds is None:
            raise ConfigError(
                path, f"invalid duration {_show(value)}: use units like 500ms, 30s, 5m, 1h, 1h30m"
            )
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(path, f"must be a duration of 0 or more, got {value}")
    return seconds


def _duration_seconds(text: str) -> float | None:
    if _PLAIN_SECONDS.fullmatch(text):
        return float(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        return None
    total = 0.0
    for unit, amount in match.groupdict().items():
        if amount is not None:
            if not _PLAIN_SECONDS.fullmatch(amount):
                return None
            total += float(amount) * _UNIT_SECONDS[unit]
    return total


def _positive_duration(value: object, path: str) -> float:
    seconds = parse_duration(value, path)
    if seconds <= 0:
        raise ConfigError(path, "must be longer than 0")
    return seconds


def _url(value: object, path: str, example: str) -> str:
    """An http(s) URL without a trailing slash; the value is never quoted back."""
    text = _nonempty(value, path).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(path, f"is not a valid URL; expected something like {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(path, f"must be an http:// or https:// URL, like {example}")
    if parts.query or parts.fragment:
        raise ConfigError(path, "must not have a query ('?') or fragment ('#')")
    return text.rstrip("/")


def _endpoint(value: object, path: str, example: str) -> str:
    url = _url(value, path, example)
    # User info here would end up in logs, which must never hold a password.
    if urlsplit(url).username is not None:
        raise ConfigError(path, "must not contain a user name or password")
    return url


def _existing_file(value: object, path: str, base_dir: str) -> str:
    name = _nonempty(value, path)
    full = os.path.normpath(os.path.join(base_dir, name))
    if not os.path.exists(full):
        raise ConfigError(path, f"file '{full}' does not exist")
    if not os.path.isfile(full):
        raise ConfigError(path, f"'{full}' is not a file")
    if not os.access(full, os.R_OK):
        raise ConfigError(path, f"file '{full}' is not readable")
    return full


# --- Secrets --------------------------------------------------------------------------------


def _has_control_character(text: str) -> bool:
    # A secret goes into an HTTP header, where a line break would be an injection.
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _secret_text(value: object, path: str) -> str:
    text = _text(value, path)
    if not text:
        raise ConfigError(path, "is empty")
    if _has_control_character(text):
        raise ConfigError(path, "contains a line break or another control character")
    return text


def _read_secret_file(value: object, path: str, base_dir: str) -> str:
    full = os.path.normpath(os.path.join(base_dir, _nonempty(value, path)))
    try:
        with open(full, encoding="utf-8") as f:
            content = f.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ConfigError(path, f"cannot read '{full}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, f"'{full}' is not UTF-8 text") from None
    if len(content) > _MAX_SECRET_FILE:
        raise ConfigError(path, f"'{full}' is larger than {_MAX_SECRET_FILE // 1024} KiB")
    # `echo secret > file` adds a newline; a mounted Kubernetes secret has none.
    content = content.rstrip("\r\n")
    if not content:
        raise ConfigError(path, f"'{full}' is empty")
    return _secret_text(content, path)


def _secret(block: Mapping[str, Any], key: str, path: str, base_dir: str) -> str | None:
    """``key`` given inline or as ``key_file``; None when neither is there."""
    file_key = f"{key}_file"
    if key in block and file_key in block:
        raise ConfigError(_join(path, key), f"give either {key} or {file_key}, not both")
    if key in block:
        return _secret_text(block[key], _join(path, key))
    if file_key in block:
        return _read_secret_file(block[file_key], _join(path, file_key), base_dir)
    return None


# --- Sections -------------------------------------------------------------------------------


def _top_level(data: object) -> dict[str, Any]:
    if data is None:
        raise ConfigError("", "the config file is empty: it needs at least 'targets'")
    if not isinstance(data, dict):
        raise ConfigError(
            "",
            "the config file must be a mapping with 'targets' (and optionally "
            f"'credentials', 'poll', 'metrics', 'web', 'http'), got {_kind(data)}",
        )
    return _mapping(data, "", _TOP_KEYS, _BELONGS_UNDER)


def _credentials(value: object, path: str, base_dir: str) -> Credentials:
    block = _mapping(value, path, _CREDENTIAL_KEYS)
    present = {
        "access_key/secret_key": any(k in block for k in _AKSK_KEYS),
        "iam": "iam" in block,
        "token": "token" in block or "token_file" in block,
    }
    kinds = [kind for kind, given in present.items() if given]
    if not kinds:
        raise ConfigError(
            path, "no credentials in it: give access_key and secret_key, iam, or token"
        )
    if len(kinds) > 1:
        raise ConfigError(path, f"give one kind of credentials, not {' and '.join(kinds)}")
    if present["iam"]:
        return Credentials(iam=_iam(block["iam"], _join(path, "iam"), base_dir))
    if present["token"]:
        return Credentials(token=_secret(block, "token", path, base_dir))
    access_key = _secret(block, "access_key", path, base_dir)
    secret_key = _secret(block, "secret_key", path, base_dir)
    security_token = _secret(block, "security_token", path, base_dir)
    for key, found in (("access_key", access_key), ("secret_key", secret_key)):
        if found is None:
            raise ConfigError(
                _join(path, key), "missing: an AK/SK pair needs both access_key and secret_key"
            )
    return Credentials(access_key=access_key, secret_key=secret_key, security_token=security_token)


def _iam(value: object, path: str, base_dir: str) -> IamCredentials:
    if not isinstance(value, dict):
        raise ConfigError(
            path, f"must be a mapping with domain_name, username and password, got {_kind(value)}"
        )
    block = _mapping(value, path, _IAM_KEYS)
    domain_name = _nonempty(
        _required(block, "domain_name", path, "the account name"), _join(path, "domain_name")
    )
    username = _nonempty(
        _required(block, "username", path, "the IAM user name"), _join(path, "username")
    )
    password = _secret(block, "password", path, base_dir)
    if password is None:
        raise ConfigError(_join(path, "password"), "missing: give password or password_file")
    endpoint = None
    if "endpoint" in block:
        endpoint = _endpoint(
            block["endpoint"],
            _join(path, "endpoint"),
            "https://iam.ap-southeast-1.myhuaweicloud.com",
        )
    return IamCredentials(domain_name, username, password, endpoint)


def _environment_credentials(environ: Mapping[str, str], path: str) -> Credentials:
    access_key = environ.get(_ENV_AK, "")
    secret_key = environ.get(_ENV_SK, "")
    if not access_key and not secret_key:
        raise ConfigError(
            path,
            "no credentials: add a credentials block (top level or in this target), "
            f"or set {_ENV_AK} and {_ENV_SK} in the environment",
        )
    for name, found, other in ((_ENV_AK, access_key, _ENV_SK), (_ENV_SK, secret_key, _ENV_AK)):
        if not found:
            raise ConfigError(path, f"{name} is not set in the environment, but {other} is")
    security_token = environ.get(_ENV_SECURITY_TOKEN) or None
    for name in (_ENV_AK, _ENV_SK, _ENV_SECURITY_TOKEN):
        if _has_control_character(environ.get(name, "")):
            raise ConfigError(path, f"{name} contains a line break or another control character")
    return Credentials(access_key=access_key, secret_key=secret_key, security_token=security_token)


def _targets(
    value: object, default: _Found | None, base_dir: str, environ: Mapping[str, str]
) -> tuple[Target, ...]:
    if value is None:
        raise ConfigError("targets", "missing: list at least one target (project_id and region)")
    if not isinstance(value, list):
        raise ConfigError(
            "targets", f"must be a list of targets, each starting with '- ', got {_kind(value)}"
        )
    if not value:
        raise ConfigError("targets", "must list at least one target")
    targets: list[Target] = []
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(value):
        path = f"targets[{i}]"
        target = _target(item, path, default, base_dir, environ)
        key = (target.project_id, target.region)
        if key in seen:
            raise ConfigError(path, f"same project_id and region as targets[{seen[key]}]")
        seen[key] = i
        targets.append(target)
    return tuple(targets)


def _target(
    value: object, path: str, default: _Found | None, base_dir: str, environ: Mapping[str, str]
) -> Target:
    if not isinstance(value, dict):
        raise ConfigError(path, f"must be a mapping with project_id and region, got {_kind(value)}")
    block = _mapping(value, path, _TARGET_KEYS, {k: f"credentials.{k}" for k in _CREDENTIAL_KEYS})
    project_id = _project_id(_required(block, "project_id", path, "the project ID"), path)
    region_path = _join(path, "region")
    region = _nonempty(
        _required(block, "region", path, "the region, like ap-southeast-1"), region_path
    )
    if not _REGION.fullmatch(region):
        raise ConfigError(region_path, f"invalid region {_show(region)}")
    endpoint = _target_endpoint(block, path, region)
    job_types = JOB_TYPES
    if "job_types" in block:
        job_types = _job_types(block["job_types"], _join(path, "job_types"))
    filters = _filters(block.get("filters"), _join(path, "filters"))
    found = _target_credentials(block, path, default, base_dir, environ)
    iam = found.credentials.iam
    if iam is not None and iam.endpoint is None and region not in KNOWN_REGIONS:
        raise ConfigError(
            _join(found.path, "iam.endpoint"),
            f"missing: {path} is in region {_show(region)}, whose IAM endpoint is not known",
        )
    return Target(project_id, region, endpoint, found.credentials, job_types, filters)


def _target_endpoint(block: Mapping[str, Any], path: str, region: str) -> str:
    """The explicit endpoint, which always wins, or the known region's public one."""
    if "endpoint" in block:
        return _endpoint(
            block["endpoint"],
            _join(path, "endpoint"),
            "https://drs.ap-southeast-1.myhuaweicloud.com",
        )
    known = drs_endpoint(region)
    if known is None:
        raise ConfigError(
            _join(path, "region"),
            f"unknown region {_show(region)}{_suggest(region, KNOWN_REGIONS)}; "
            "a region outside the known list needs an explicit endpoint",
        )
    return known


def _project_id(value: object, path: str) -> str:
    path = _join(path, "project_id")
    text = _nonempty(value, path)  # a number gets the hint to quote it
    if not _PROJECT_ID.fullmatch(text):
        raise ConfigError(
            path, f"invalid project ID {_show(text)}: letters, digits, '-' and '_' only"
        )
    return text


def _target_credentials(
    block: Mapping[str, Any],
    path: str,
    default: _Found | None,
    base_dir: str,
    environ: Mapping[str, str],
) -> _Found:
    """The target's own credentials replace the default whole; the environment comes last."""
    own_path = _join(path, "credentials")
    if block.get("credentials") is not None:
        return _Found(_credentials(block["credentials"], own_path, base_dir), own_path)
    if default is not None:
        return default
    return _Found(_environment_credentials(environ, own_path), own_path)


def _job_types(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list like [migration, sync], got {_kind(value)}")
    if not value:
        raise ConfigError(path, "must not be empty; leave the key out to poll all job types")
    result: list[str] = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        job_type = _text(item, item_path)
        if job_type not in JOB_TYPES:
            raise ConfigError(
                item_path,
                f"unknown job type {_show(job_type)}{_suggest(job_type, JOB_TYPES)}; "
                f"known: {', '.join(JOB_TYPES)}",
            )
        if job_type in result:
            raise ConfigError(item_path, f"{_show(job_type)} is listed twice")
        result.append(job_type)
    return tuple(result)


def _filters(value: object, path: str) -> tuple[tuple[str, str], ...]:
    block = _mapping(value, path, _FILTER_KEYS)
    pairs: list[tuple[str, str]] = []
    for key, raw in block.items():
        key_path = _join(path, key)
        if key == "instance_ids":
            pairs.extend((key, instance_id) for instance_id in _instance_ids(raw, key_path))
            continue
        text = _text(raw, key_path)
        if key == "enterprise_project_id":
            pairs.append((key, text))  # "" is meaningful: every enterprise project
            continue
        if not text.strip():
            raise ConfigError(key_path, "must not be empty; leave the key out to not filter on it")
        if key == "net_type" and text not in _NET_TYPES:
            raise ConfigError(
                key_path,
                f"unknown net_type {_show(text)}{_suggest(text, _NET_TYPES)}; "
                f"known: {', '.join(_NET_TYPES)}",
            )
        if key == "status":
            text = _status_filter(text, key_path)
        pairs.append((key, text))
    return tuple(pairs)


def _status_filter(text: str, path: str) -> str:
    """One status, or several ``*_FAILED`` ones comma-separated, as the API allows."""
    statuses = [s.strip() for s in text.split(",")]
    for status in statuses:
        if not _STATUS.fullmatch(status):
            raise ConfigError(
                path, f"invalid status {_show(status)}: statuses are upper case, like CREATE_FAILED"
            )
    if len(statuses) > 1 and not all(s.endswith("_FAILED") for s in statuses):
        raise ConfigError(
            path, "several statuses may be given only when all of them end in _FAILED"
        )
    return ",".join(statuses)


def _instance_ids(value: object, path: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list of instance IDs, got {_kind(value)}")
    if not 1 <= len(value) <= _MAX_INSTANCE_IDS:
        raise ConfigError(
            path, f"must list 1 to {_MAX_INSTANCE_IDS} instance IDs, got {len(value)}"
        )
    return [_nonempty(item, f"{path}[{i}]") for i, item in enumerate(value)]


# Each key of poll and metrics, with the reader that checks its value.
_POLL_READERS: dict[str, Callable[[object, str], Any]] = {
    "interval": _positive_duration,
    "page_size": lambda value, path: _integer(value, path, 1, 1000),
    "timeout": _positive_duration,
    "retries": lambda value, path: _integer(value, path, 0, 10),
    "max_concurrency": lambda value, path: _integer(value, path, 1),
    "max_requests_per_second": _positive_number,
    "stale_after": _positive_duration,
}
_METRICS_READERS: dict[str, Callable[[object, str], Any]] = {
    "per_job": _boolean,
    "dense_status": _boolean,
}


def _poll(value: object) -> PollConfig:
    block = _mapping(value, "poll", _POLL_READERS)
    return PollConfig(**{k: _POLL_READERS[k](v, f"poll.{k}") for k, v in block.items()})


def _metrics(value: object) -> MetricsConfig:
    block = _mapping(value, "metrics", _METRICS_READERS)
    return MetricsConfig(**{k: _METRICS_READERS[k](v, f"metrics.{k}") for k, v in block.items()})


def parse_listen_address(value: str, path: str = "web.listen_address") -> tuple[str, int]:
    """Split ``host:port``, ``:port`` or ``[v6]:port``; host "" means every interface."""
    if value.startswith("["):
        close = value.find("]")
        if close < 0 or value[close + 1 : close + 2] != ":":
            raise ConfigError(path, f"invalid address {_show(value)}; expected like '[::1]:9877'")
        host, port = value[1:close], value[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(path, f"{_show(host)} is not an IPv6 address") from None
    else:
        host, colon, port = value.rpartition(":")
        if not colon:
            raise ConfigError(path, f"must be host:port or :port, like ':9877', got {_show(value)}")
        if ":" in host:
            raise ConfigError(path, "write an IPv6 address in brackets, like '[::1]:9877'")
        if host and not _HOST.fullmatch(host):
            raise ConfigError(path, f"{_show(host)} is not a host name or address")
    if not _PORT.fullmatch(port) or int(port) > 65535:
        raise ConfigError(path, f"the port must be a number from 0 to 65535, got {_show(port)}")
    return host, int(port)


def _web(value: object, base_dir: str) -> WebConfig:
    block = _mapping(value, "web", _WEB_KEYS)
    default = WebConfig()
    listen_address = default.listen_address
    if "listen_address" in block:
        listen_address = _text(block["listen_address"], "web.listen_address").strip()
        parse_listen_address(listen_address)
    telemetry_path = default.telemetry_path
    if "telemetry_path" in block:
        telemetry_path = check_telemetry_path(block["telemetry_path"])
    config_file = None
    if block.get("config_file") is not None:
        config_file = _existing_file(block["config_file"], "web.config_file", base_dir)
    return WebConfig(listen_address, telemetry_path, config_file)


def check_telemetry_path(value: object, path: str = "web.telemetry_path") -> str:
    """A valid telemetry path (one that no other endpoint uses); ConfigError otherwise."""
    text = _nonempty(value, path).strip()
    if not text.startswith("/"):
        raise ConfigError(path, f"must start with '/', like /metrics, got {_show(text)}")
    if text in _RESERVED_PATHS:
        raise ConfigError(path, f"{_show(text)} is taken by another endpoint; use e.g. /metrics")
    if any(c.isspace() or c in "?#" for c in text):
        raise ConfigError(path, "must be a plain URL path, without spaces, '?' or '#'")
    return text


def _http(value: object, base_dir: str) -> HttpConfig:
    block = _mapping(value, "http", _HTTP_KEYS)
    proxy_url = None
    if block.get("proxy_url") is not None:
        # May carry user:password, so _url never quotes it back.
        proxy_url = _url(block["proxy_url"], "http.proxy_url", "http://proxy.example.com:3128")
    ca_file = None
    if block.get("ca_file") is not None:
        ca_file = _existing_file(block["ca_file"], "http.ca_file", base_dir)
    insecure = False
    if "insecure_skip_verify" in block:
        insecure = _boolean(block["insecure_skip_verify"], "http.insecure_skip_verify")
    return HttpConfig(proxy_url, ca_file, insecure)
