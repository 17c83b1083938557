"""Log output in logfmt or JSON, with a last line of defence against leaked secrets."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections import deque
from collections.abc import Hashable, Iterable

LEVELS = ("debug", "info", "warn", "error")
FORMATS = ("logfmt", "json")
REDACTED = "<secret>"
# Tokens IAM issued that are still redacted: the latest ones. A token is refreshed well
# before it expires, so an older one is no longer sent anywhere.
MAX_ISSUED = 1024


class SecretFilter(logging.Filter):
    """Replaces any known secret value in a record's text by ``<secret>``.

    The code never logs a secret on purpose; this catches what a library or a server might
    echo. The secrets are those of the config (``set_secrets``) and the tokens issued to the
    exporter while it runs (``add_issued``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._configured: frozenset[str] = frozenset()
        self._issued: deque[str] = deque(maxlen=MAX_ISSUED)
        self._secrets: tuple[str, ...] = ()

    def set_secrets(self, secrets: Iterable[str | None]) -> None:
        # Very short values would redact ordinary words; no real credential is that short.
        self._configured = frozenset(s for s in secrets if s and len(s) >= 6)
        self._sort()

    def add_issued(self, token: str) -> None:
        """Redact ``token`` too: a credential handed to the exporter at run time."""
        if len(token) >= 6 and token not in self._issued:
            self._issued.append(token)
            self._sort()

    def _sort(self) -> None:
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = tuple(sorted({*self._configured, *self._issued}, key=len)[::-1])

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = self.redact(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_info:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def _timestamp(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _level(record: logging.LogRecord) -> str:
    return "warn" if record.levelno == logging.WARNING else record.levelname.lower()


class _Formatter(logging.Formatter):
    def fields(self, record: logging.LogRecord) -> dict[str, str]:
        fields = {
            "ts": _timestamp(record),
            "level": _level(record),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exc"] = record.exc_text
        return fields


class LogfmtFormatter(_Formatter):
    """``ts=… level=info logger=drs_exporter.polling.poller msg="…"`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in self.fields(record).items())


def _logfmt_value(value: str) -> str:
    if value and value.isprintable() and not any(c in value for c in ' "=\\'):
        return value
    return json.dumps(value, ensure_ascii=False)


class JsonFormatter(_Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False)


def setup(level: str = "info", fmt: str = "logfmt") -> SecretFilter:
    """Send the exporter's logs to stderr in ``fmt`` at ``level``; return the secret filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    secret_filter = SecretFilter()
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if level == "warn" else getattr(logging, level.upper()))
    # aiohttp's access log would print every scrape at info level.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return secret_filter


def counted(n: int, noun: str) -> str:
    """``1 target``, ``3 targets``: a count for a log line."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Once:
    """What has been said already, so that each thing is said once: at most ``most`` are
    remembered (past that, nothing new is said), so a stranger cannot grow it."""

    def __init__(self, most: int = 1000) -> None:
        self._said: set[Hashable] = set()
        self._most = most

    def first(self, what: Hashable) -> bool:
        """Whether ``what`` is to be said now: the first time, while there is room."""
        if what in self._said or len(self._said) >= self._most:
            return False
        self._said.add(what)
        return True
