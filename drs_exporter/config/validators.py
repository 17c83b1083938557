"""Small, generic readers of config values: each takes (value, field path) and returns the
checked value or raises ``ConfigError(path, one-line message)``.

Beside them, the helpers their messages are made with (``join_path``, ``kind_of``, ``show``,
``suggest``) and ``nested_in``, for a file that a field names. They know nothing of the
sections of a file; messages never quote a secret.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import math
import os
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

_RESERVED_PATHS = ("/", "/-/healthy", "/-/ready", "/-/reload")
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_PLAIN_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
# A region's name: it goes into host names and labels.
REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_DURATION = re.compile(
    r"((?P<y>[0-9.]+)y)?((?P<w>[0-9.]+)w)?((?P<d>[0-9.]+)d)?((?P<h>[0-9.]+)h)?"
    r"((?P<m>[0-9.]+)m)?((?P<s>[0-9.]+)s)?((?P<ms>[0-9.]+)ms)?"
)

# No duration the exporter takes is longer than this: a bigger one is a typo, and would
# overflow the event loop's timers.
MAX_DURATION = 365 * 86400.0

_UNIT_SECONDS = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}


@contextmanager
def nested_in(field: str) -> Iterator[None]:
    """Errors raised inside are about a file that ``field`` names, with paths inside that file:
    each is raised again as ``ConfigError(field, "inner.path: problem")``."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(field, str(exc)) from None


def join_path(path: str, key: object) -> str:
    """The path of ``key`` inside ``path`` (``poll`` and ``interval``: ``poll.interval``)."""
    return f"{path}.{key}" if path else str(key)


def kind_of(value: object) -> str:
    """What a value is, in the words of a message (``a number``, ``a list``)."""
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


def show(value: str, limit: int = 80) -> str:
    """A non-secret value quoted for a message, cut short."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def suggest(word: str, options: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or ""."""
    lowered = {option.lower(): option for option in options}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[match[0]]}'?)" if match else ""


def mapping(
    value: object,
    path: str,
    keys: Collection[str] | None = None,
    *,
    belongs_under: Mapping[str, str] | None = None,
    unsupported: Collection[str] = (),
) -> dict[str, Any]:
    """A mapping with text keys, only ``keys`` among them (None: any); no value is an empty one.

    A key in ``unsupported`` is refused by name, unless its value is empty: that asks for nothing.
    ``belongs_under`` says where a key that is not known here belongs (``poll.interval``).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(path, f"must be a mapping of keys to values, got {kind_of(value)}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise ConfigError(path, f"keys must be text, got {kind_of(key)} {key!r}")
        if key in unsupported:
            if item in (None, [], ""):
                continue  # an empty setting asks for nothing
            raise ConfigError(join_path(path, key), "is not supported by drs-exporter")
        if keys is not None and key not in keys:
            hint = suggest(key, keys)
            if not hint and belongs_under and key in belongs_under:
                hint = f" (did you mean '{belongs_under[key]}'?)"
            raise ConfigError(join_path(path, key), f"unknown key '{key}'{hint}")
    return value


def as_text(value: object, path: str) -> str:
    """Text as given; a number or date gets the hint to quote it."""
    if isinstance(value, str):
        return value
    hint = ""
    if isinstance(value, (int, float, dt.date)):  # bool is an int
        hint = '; quote it ("...") so YAML keeps it as text'
    raise ConfigError(path, f"must be text, got {kind_of(value)}{hint}")


def nonempty(value: object, path: str) -> str:
    """Text with more than white space in it."""
    text = as_text(value, path)
    if not text.strip():
        raise ConfigError(path, "must not be empty")
    return text


def one_of(value: object, path: str, options: Collection[str], what: str) -> str:
    """Text that is one of ``options``; ``what`` names such a value in the message."""
    choice = as_text(value, path)
    if choice not in options:
        raise ConfigError(
            path,
            f"unknown {what} {show(choice)}{suggest(choice, options)}; known: {', '.join(options)}",
        )
    return choice


def names(value: object, path: str, most: int) -> tuple[str, ...]:
    """A list of at most ``most`` distinct, non-empty names (tag keys, say), or ``["*"]``
    for every one."""
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list of names, like [env, team], got {kind_of(value)}")
    if len(value) > most:
        raise ConfigError(path, f"lists {len(value)} names; at most {most}")
    found: list[str] = []
    for i, item in enumerate(value):
        name = nonempty(item, f"{path}[{i}]")
        if name in found:
            raise ConfigError(f"{path}[{i}]", f"{show(name)} is listed twice")
        found.append(name)
    if "*" in found and len(found) > 1:
        raise ConfigError(path, '"*" means every name: list it alone')
    return tuple(found)


def required(block: Mapping[str, Any], key: str, path: str, what: str) -> Any:
    """``block[key]``; ``what`` says what is missing when the key is not there."""
    if key not in block:
        raise ConfigError(join_path(path, key), f"missing: {what}")
    return block[key]


def integer(value: object, path: str, low: int, high: int | None = None) -> int:
    """A whole number from ``low`` to ``high`` (no upper bound when None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        got = repr(value) if isinstance(value, float) else kind_of(value)
        if isinstance(value, str):
            got = f"text {show(value)}; write the number without quotes"
        raise ConfigError(path, f"must be a whole number, got {got}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(path, f"must be {bounds}, got {value}")
    return value


def positive_number(value: object, path: str) -> float:
    """A finite number greater than 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(path, f"must be a number, got {kind_of(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(path, f"must be greater than 0, got {value}")
    return float(value)


def boolean(value: object, path: str) -> bool:
    """An unquoted true or false."""
    if isinstance(value, bool):
        return value
    got = f"text {show(value)}" if isinstance(value, str) else kind_of(value)
    raise ConfigError(path, f"must be true or false (unquoted), got {got}")


def parse_duration(value: object, path: str) -> float:
    """Seconds from ``500ms``, ``30s``, ``5m``, ``1h``, ``1h30m`` (also d, w, y) or a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(path, f"must be a duration like 30s or 5m, got {kind_of(value)}")
    if isinstance(value, str):
        seconds = _duration_seconds(value.strip())
        if seconds is None:
            raise ConfigError(
                path, f"invalid duration {show(value)}: use units like 500ms, 30s, 5m, 1h, 1h30m"
            )
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(path, f"must be a duration of 0 or more, got {value}")
    if seconds > MAX_DURATION:
        limit = format_duration(MAX_DURATION)
        raise ConfigError(path, f"must be at most {limit}, got {show(str(value), 40)}")
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` in the largest unit that divides it (``86400`` -> ``1d``)."""
    for unit in ("y", "w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


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


def positive_duration(value: object, path: str, most: float = MAX_DURATION) -> float:
    """A duration (as ``parse_duration`` reads it) longer than 0 and at most ``most`` seconds."""
    seconds = parse_duration(value, path)
    if seconds <= 0:
        raise ConfigError(path, "must be longer than 0")
    if seconds > most:
        raise ConfigError(
            path, f"must be at most {format_duration(most)}, got {show(str(value), 40)}"
        )
    return seconds


def number_at_most(value: object, path: str, most: float) -> float:
    """A finite number greater than 0 and at most ``most``."""
    number = positive_number(value, path)
    if number > most:
        raise ConfigError(path, f"must be at most {most:g}, got {value}")
    return number


def http_url(value: object, path: str, example: str) -> str:
    """An http(s) URL without a trailing slash; the value is never quoted back."""
    text = nonempty(value, path).strip()
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


def endpoint_url(value: object, path: str, example: str) -> str:
    """An http(s) URL without user info, which would end up in logs."""
    url = http_url(value, path, example)
    # User info here would end up in logs, which must never hold a password.
    if urlsplit(url).username is not None:
        raise ConfigError(path, "must not contain a user name or password")
    return url


def existing_file(value: object, path: str, base_dir: str) -> str:
    """The normalised path of a readable file; a relative one is taken from ``base_dir``."""
    name = nonempty(value, path)
    full = os.path.normpath(os.path.join(base_dir, name))
    if not os.path.exists(full):
        raise ConfigError(path, f"file '{full}' does not exist")
    if not os.path.isfile(full):
        raise ConfigError(path, f"'{full}' is not a file")
    if not os.access(full, os.R_OK):
        raise ConfigError(path, f"file '{full}' is not readable")
    return full


def parse_listen_address(value: str, path: str = "web.listen_address") -> tuple[str, int]:
    """Split ``host:port``, ``:port`` or ``[v6]:port``; host "" means every interface."""
    if value.startswith("["):
        close = value.find("]")
        if close < 0 or value[close + 1 : close + 2] != ":":
            raise ConfigError(path, f"invalid address {show(value)}; expected like '[::1]:9877'")
        host, port = value[1:close], value[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(path, f"{show(host)} is not an IPv6 address") from None
    else:
        host, colon, port = value.rpartition(":")
        if not colon:
            raise ConfigError(path, f"must be host:port or :port, like ':9877', got {show(value)}")
        if ":" in host:
            raise ConfigError(path, "write an IPv6 address in brackets, like '[::1]:9877'")
        if host and not _HOST.fullmatch(host):
            raise ConfigError(path, f"{show(host)} is not a host name or address")
    if not _PORT.fullmatch(port) or int(port) > 65535:
        raise ConfigError(path, f"the port must be a number from 0 to 65535, got {show(port)}")
    return host, int(port)


def check_telemetry_path(value: object, path: str = "web.telemetry_path") -> str:
    """A valid telemetry path (one that no other endpoint uses); ConfigError otherwise."""
    text = nonempty(value, path).strip()
    if not text.startswith("/"):
        raise ConfigError(path, f"must start with '/', like /metrics, got {show(text)}")
    if text in _RESERVED_PATHS:
        raise ConfigError(path, f"{show(text)} is taken by another endpoint; use e.g. /metrics")
    if any(c.isspace() or c in "?#" for c in text):
        raise ConfigError(path, "must be a plain URL path, without spaces, '?' or '#'")
    return text
