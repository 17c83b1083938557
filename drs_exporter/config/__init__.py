"""The config file: frozen dataclasses, loaded and validated once.

``load_config`` is the only way in, and it raises ``ConfigError`` naming the field path for
every mistake. The parts: ``schema`` (the dataclasses and the keys of the file),
``validators`` (generic value readers), ``loading`` (YAML, ``${VAR}`` and secrets) and
``sections`` (each section of the file, built on the other three).
"""

from __future__ import annotations

from .loading import read_yaml
from .schema import (
    Config,
    Credentials,
    DiscoveryConfig,
    HttpConfig,
    IamCredentials,
    MetricsConfig,
    PollConfig,
    Project,
    WebConfig,
    secrets_of,
)
from .sections import load_config, parse_config
from .validators import check_telemetry_path, parse_duration, parse_listen_address

__all__ = [
    "Config",
    "Credentials",
    "DiscoveryConfig",
    "HttpConfig",
    "IamCredentials",
    "MetricsConfig",
    "PollConfig",
    "Project",
    "WebConfig",
    "check_telemetry_path",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_listen_address",
    "read_yaml",
    "secrets_of",
]
