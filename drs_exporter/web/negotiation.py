"""What a scrape asks for: the Accept and Accept-Encoding headers, read as weighted choices
between the text format and OpenMetrics, and between gzip and no encoding."""

from __future__ import annotations

import math
from collections.abc import Iterator


def _weighted(header: str) -> Iterator[tuple[str, float]]:
    """(value, q) pairs of an Accept-style header, values lower-cased, q in [0, 1]."""
    for part in header.split(","):
        value, *params = (field.strip() for field in part.split(";"))
        if not value:
            continue
        q = 1.0
        for param in params:
            name, _, raw = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(raw.strip())
                except ValueError:
                    q = 0.0  # a malformed weight asks for nothing
                q = min(max(q, 0.0), 1.0) if math.isfinite(q) else 0.0
        yield value.lower(), q


def wants_openmetrics(accept: str) -> bool:
    """True when the Accept header prefers OpenMetrics to the text format (ties: OpenMetrics)."""
    openmetrics = text = 0.0
    for media, q in _weighted(accept):
        if media == "application/openmetrics-text":
            openmetrics = max(openmetrics, q)
        elif media in ("text/plain", "text/*", "*/*"):
            text = max(text, q)
    return openmetrics > 0 and openmetrics >= text


def accepts_gzip(accept_encoding: str) -> bool:
    """True when the Accept-Encoding header allows gzip (directly or through ``*``)."""
    explicit: float | None = None
    wildcard: float | None = None
    for coding, q in _weighted(accept_encoding):
        if coding in ("gzip", "x-gzip"):
            explicit = q if explicit is None else max(explicit, q)
        elif coding == "*":
            wildcard = q
    chosen = explicit if explicit is not None else wildcard
    return chosen is not None and chosen > 0
