"""The sections of the config file, each checked and turned into its dataclass.

``load_config`` is the only way in, and it raises ``ConfigError`` naming the field path for
every mistake. Messages name keys and files, never the value of a secret. This file is long
because the readers of a ``targets[]`` entry and its parts (credentials, filters) share its
helpers;
the discovery section has its own module.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import list_apis
from ..errors import ConfigError
from ..model import JOB_TYPES
from ..regions import KNOWN_REGIONS, drs_endpoint
from .discovery import discovery_section
from .loading import environment_credentials, read_yaml, secret, substitute
from .schema import (
    AKSK_KEYS,
    AUTO_APIS,
    BELONGS_UNDER,
    CREDENTIAL_KEYS,
    FILTER_KEYS,
    HTTP_KEYS,
    IAM_KEYS,
    RENAMED,
    TARGET_KEYS,
    TOP_KEYS,
    WEB_KEYS,
    Config,
    Credentials,
    HttpConfig,
    IamCredentials,
    MetricsConfig,
    PollConfig,
    Project,
    WebConfig,
    keys_of,
)
from .validators import (
    REGION,
    as_text,
    boolean,
    check_telemetry_path,
    endpoint_url,
    existing_file,
    http_url,
    join_path,
    kind_of,
    mapping,
    nonempty,
    one_of,
    parse_listen_address,
    required,
    show,
    suggest,
)

_NET_TYPES = ("eip", "vpc", "vpn")
_MAX_INSTANCE_IDS = 10  # the API's limit
_PROJECT_ID = re.compile(r"[A-Za-z0-9_-]+")  # it goes into the URL path as is
_STATUS = re.compile(r"[A-Z][A-Z0-9_]*")
_S = TypeVar("_S")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _CredentialsAt:
    """Credentials and the field path they were read from, for messages about them later."""

    credentials: Credentials
    path: str


def load_config(path: str, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the YAML config at ``path``; raise ConfigError naming the field."""
    data = read_yaml(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    return parse_config(data, base_dir=base_dir, environ=os.environ if environ is None else environ)


def parse_config(data: object, *, base_dir: str, environ: Mapping[str, str]) -> Config:
    """Validate what ``yaml.safe_load`` gave; relative ``*_file`` paths resolve in base_dir."""
    data = substitute(data, "", environ, set())
    top = _top_level(data)
    default = None
    if top.get("credentials") is not None:
        default = _CredentialsAt(
            _credentials(top["credentials"], "credentials", base_dir), "credentials"
        )
    discovery = discovery_section(top.get("discovery"), default, environ)
    empty = discovery.enabled and not top.get("targets")  # else polled beside what it finds
    return Config(
        targets=() if empty else _targets(top.get("targets"), default, base_dir, environ),
        poll=_keyed(top.get("poll"), "poll", PollConfig),
        metrics=_keyed(top.get("metrics"), "metrics", MetricsConfig),
        web=_web(top.get("web"), base_dir),
        http=_http(top.get("http"), base_dir),
        discovery=discovery,
    )


def _top_level(data: object) -> dict[str, Any]:
    if data is None:
        raise ConfigError("", "the config file is empty: it needs 'targets' or 'discovery'")
    if not isinstance(data, dict):
        raise ConfigError(
            "",
            "the config file must be a mapping with 'targets' or 'discovery' (and optionally "
            f"'credentials', 'poll', 'metrics', 'web', 'http'), got {kind_of(data)}",
        )
    return mapping(data, "", TOP_KEYS, belongs_under=BELONGS_UNDER)


def _credentials(value: object, path: str, base_dir: str) -> Credentials:
    block = mapping(value, path, CREDENTIAL_KEYS)
    present = {
        "access_key/secret_key": any(k in block for k in AKSK_KEYS),
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
        return Credentials(iam=_iam(block["iam"], join_path(path, "iam"), base_dir))
    if present["token"]:
        return Credentials(token=secret(block, "token", path, base_dir))
    access_key = secret(block, "access_key", path, base_dir)
    secret_key = secret(block, "secret_key", path, base_dir)
    security_token = secret(block, "security_token", path, base_dir)
    for key, found in (("access_key", access_key), ("secret_key", secret_key)):
        if found is None:
            raise ConfigError(
                join_path(path, key), "missing: an AK/SK pair needs both access_key and secret_key"
            )
    return Credentials(access_key=access_key, secret_key=secret_key, security_token=security_token)


def _iam(value: object, path: str, base_dir: str) -> IamCredentials:
    if not isinstance(value, dict):
        raise ConfigError(
            path, f"must be a mapping with domain_name, username and password, got {kind_of(value)}"
        )
    block = mapping(value, path, IAM_KEYS)
    domain_name = nonempty(
        required(block, "domain_name", path, "the account name"), join_path(path, "domain_name")
    )
    username = nonempty(
        required(block, "username", path, "the IAM user name"), join_path(path, "username")
    )
    password = secret(block, "password", path, base_dir)
    if password is None:
        raise ConfigError(join_path(path, "password"), "missing: give password or password_file")
    endpoint = None
    if "endpoint" in block:
        endpoint = endpoint_url(
            block["endpoint"],
            join_path(path, "endpoint"),
            "https://iam.ap-southeast-1.myhuaweicloud.com",
        )
    return IamCredentials(domain_name, username, password, endpoint)


def _targets(
    value: object, default: _CredentialsAt | None, base_dir: str, environ: Mapping[str, str]
) -> tuple[Project, ...]:
    if value is None:
        raise ConfigError("targets", "missing: list targets, or set discovery.enabled: true")
    if not isinstance(value, list):
        raise ConfigError(
            "targets", f"must be a list of targets, each starting with '- ', got {kind_of(value)}"
        )
    if not value:
        raise ConfigError("targets", "must list at least one target")
    targets: list[Project] = []
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(value):
        path = f"targets[{i}]"
        project = _target(item, path, default, base_dir, environ)
        key = (project.project_id, project.region)
        if key in seen:
            raise ConfigError(path, f"same project_id and region as targets[{seen[key]}]")
        seen[key] = i
        targets.append(project)
    return tuple(targets)


def _target(
    value: object,
    path: str,
    default: _CredentialsAt | None,
    base_dir: str,
    environ: Mapping[str, str],
) -> Project:
    if not isinstance(value, dict):
        raise ConfigError(
            path, f"must be a mapping with project_id and region, got {kind_of(value)}"
        )
    block = mapping(
        value, path, TARGET_KEYS, belongs_under={k: f"credentials.{k}" for k in CREDENTIAL_KEYS}
    )
    project_id = _project_id(required(block, "project_id", path, "the project ID"), path)
    region_path = join_path(path, "region")
    region = nonempty(
        required(block, "region", path, "the region, like ap-southeast-1"), region_path
    )
    if not REGION.fullmatch(region):
        raise ConfigError(region_path, f"invalid region {show(region)}")
    endpoint = _target_endpoint(block, path, region)
    job_types = JOB_TYPES
    if "job_types" in block:
        job_types = _distinct(
            block["job_types"], join_path(path, "job_types"), JOB_TYPES, "job type"
        )
    auto_apis = block.get("apis", AUTO_APIS) == AUTO_APIS
    apis = list_apis.NAMES
    if not auto_apis:
        apis = _distinct(block["apis"], join_path(path, "apis"), list_apis.NAMES, "list API")
    filters = _filters(block.get("filters"), join_path(path, "filters"))
    found = _target_credentials(block, path, default, base_dir, environ)
    iam = found.credentials.iam
    if iam is not None and iam.endpoint is None and region not in KNOWN_REGIONS:
        raise ConfigError(
            join_path(found.path, "iam.endpoint"),
            f"missing: {path} is in region {show(region)}, whose IAM endpoint is not known",
        )
    return Project(
        project_id, region, endpoint, found.credentials, job_types, filters, apis, auto_apis
    )


def _target_endpoint(block: Mapping[str, Any], path: str, region: str) -> str:
    """The explicit endpoint, which always wins, or the known region's public one."""
    if "endpoint" in block:
        return endpoint_url(
            block["endpoint"],
            join_path(path, "endpoint"),
            "https://drs.ap-southeast-1.myhuaweicloud.com",
        )
    known = drs_endpoint(region)
    if known is None:
        raise ConfigError(
            join_path(path, "region"),
            f"unknown region {show(region)}{suggest(region, KNOWN_REGIONS)}; "
            "a region outside the known list needs an explicit endpoint",
        )
    return known


def _project_id(value: object, path: str) -> str:
    path = join_path(path, "project_id")
    text = nonempty(value, path)  # a number gets the hint to quote it
    if not _PROJECT_ID.fullmatch(text):
        raise ConfigError(
            path, f"invalid project ID {show(text)}: letters, digits, '-' and '_' only"
        )
    return text


def _target_credentials(
    block: Mapping[str, Any],
    path: str,
    default: _CredentialsAt | None,
    base_dir: str,
    environ: Mapping[str, str],
) -> _CredentialsAt:
    """The entry's own credentials replace the default whole; the environment comes last."""
    own_path = join_path(path, "credentials")
    if block.get("credentials") is not None:
        return _CredentialsAt(_credentials(block["credentials"], own_path, base_dir), own_path)
    if default is not None:
        return default
    return _CredentialsAt(environment_credentials(environ, own_path), own_path)


def _distinct(value: object, path: str, options: tuple[str, ...], what: str) -> tuple[str, ...]:
    """A non-empty list of distinct ``options``, like ``job_types`` or ``apis``."""
    example = ", ".join(options[:2])
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list like [{example}], got {kind_of(value)}")
    if not value:
        raise ConfigError(path, f"must not be empty; leave the key out to use every {what}")
    result: list[str] = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        choice = one_of(item, item_path, options, what)
        if choice in result:
            raise ConfigError(item_path, f"{show(choice)} is listed twice")
        result.append(choice)
    return tuple(result)


def _filters(value: object, path: str) -> tuple[tuple[str, str], ...]:
    block = mapping(value, path, FILTER_KEYS)
    pairs: list[tuple[str, str]] = []
    for key, raw in block.items():
        key_path = join_path(path, key)
        if key == "instance_ids":
            pairs.extend((key, instance_id) for instance_id in _instance_ids(raw, key_path))
            continue
        text = as_text(raw, key_path)
        if key == "enterprise_project_id":
            pairs.append((key, text))  # "" is meaningful: every enterprise project
            continue
        if not text.strip():
            raise ConfigError(key_path, "must not be empty; leave the key out to not filter on it")
        if key == "net_type":
            text = one_of(text, key_path, _NET_TYPES, "net_type")
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
                path, f"invalid status {show(status)}: statuses are upper case, like CREATE_FAILED"
            )
    if len(statuses) > 1 and not all(s.endswith("_FAILED") for s in statuses):
        raise ConfigError(
            path, "several statuses may be given only when all of them end in _FAILED"
        )
    return ",".join(statuses)


def _instance_ids(value: object, path: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list of instance IDs, got {kind_of(value)}")
    if not 1 <= len(value) <= _MAX_INSTANCE_IDS:
        raise ConfigError(
            path, f"must list 1 to {_MAX_INSTANCE_IDS} instance IDs, got {len(value)}"
        )
    return [nonempty(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _keyed(value: object, name: str, section: type[_S]) -> _S:
    """A section whose keys are declared with their readers (``schema.keys_of``); a key by
    its old name (``RENAMED``) is read as the key it is now, and said so in the log."""
    keys = keys_of(section)
    renamed = RENAMED.get(name, {})
    block = mapping(value, name, {*keys, *renamed})
    values: dict[str, tuple[object, str]] = {}  # by the key's name now: (value, field path)
    for key, item in block.items():
        now = renamed.get(key, key)
        if now != key:
            if now in block:
                raise ConfigError(
                    join_path(name, key), f"is the old name of {now}: give only {now}"
                )
            log.warning("%s.%s is deprecated: it is %s.%s now", name, key, name, now)
        values[now] = (item, join_path(name, key))
    return section(**{k: keys[k].read(item, path) for k, (item, path) in values.items()})


def _web(value: object, base_dir: str) -> WebConfig:
    block = mapping(value, "web", WEB_KEYS)
    default = WebConfig()
    listen_address = default.listen_address
    if "listen_address" in block:
        listen_address = as_text(block["listen_address"], "web.listen_address").strip()
        parse_listen_address(listen_address)
    telemetry_path = default.telemetry_path
    if "telemetry_path" in block:
        telemetry_path = check_telemetry_path(block["telemetry_path"])
    config_file = None
    if block.get("config_file") is not None:
        config_file = existing_file(block["config_file"], "web.config_file", base_dir)
    return WebConfig(listen_address, telemetry_path, config_file)


def _http(value: object, base_dir: str) -> HttpConfig:
    block = mapping(value, "http", HTTP_KEYS)
    proxy_url = None
    if block.get("proxy_url") is not None:
        # May carry user:password, so http_url never quotes it back.
        proxy_url = http_url(block["proxy_url"], "http.proxy_url", "http://proxy.example.com:3128")
    ca_file = None
    if block.get("ca_file") is not None:
        ca_file = existing_file(block["ca_file"], "http.ca_file", base_dir)
    insecure = False
    if "insecure_skip_verify" in block:
        insecure = boolean(block["insecure_skip_verify"], "http.insecure_skip_verify")
    return HttpConfig(proxy_url, ca_file, insecure)
