"""The one small error hierarchy of the exporter: config mistakes and API failures."""

from __future__ import annotations

from collections.abc import Mapping


class ExporterError(Exception):
    """Base of every error the exporter raises on purpose."""


class ConfigError(ExporterError):
    """A config file or flag is wrong; ``path`` names the field (``targets[1].region``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


# Reasons a poll of a target fails, as exported in drs_poll_errors_total{reason}, each with
# what it means where the name does not say it all (docs/metrics.md gives these words, with
# ``{body_cap}`` the transport's cap on an answer).
REASONS: Mapping[str, str] = {
    "auth": "",
    "throttled": "",
    "http_3xx": "a redirect, never followed",
    "http_4xx": "",
    "http_5xx": "",
    "timeout": "",
    "deadline": "the listing outlasted the opt-in `poll.deadline`",
    "network": "",
    "headers_too_large": "an answer whose header section the HTTP client refuses",
    "decode": "an answer that is not the documented JSON, or pages that repeat whatever "
    "offset is asked",
    "too_large": "an answer over {body_cap} once inflated",
    "too_many_jobs": "a listing past `poll.max_jobs`",
    "unsupported": "the region publishes no list API the target may use",
    "internal": "a bug of the exporter: please report it",
}


class ApiError(ExporterError):
    """A DRS or IAM request failed.

    ``reason`` is one of REASONS; ``api`` the call that failed (``v3_jobs``), when known;
    ``status`` the HTTP status (0 when no answer came); ``code`` the DRS/APIG error code;
    ``request_id`` the ``X-Request-Id`` response header. The text never contains
    credentials: callers pass only what the server said.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        api: str = "",
        status: int = 0,
        code: str = "",
        request_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.reason = reason
        self.message = message
        self.api = api
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [f"{self.reason}:"]
        if self.api:
            parts.append(f"{self.api}:")
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        parts.append(self.message)
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)

    def amended(self, hint: str) -> ApiError:
        """The same error with ``hint`` added to its message (what to do about it)."""
        return ApiError(
            self.reason,
            self.message + hint,
            api=self.api,
            status=self.status,
            code=self.code,
            request_id=self.request_id,
            retry_after=self.retry_after,
        )

    @property
    def unpublished(self) -> bool:
        """The gateway does not publish this API here: a 404 with APIGW.0101, or with no DRS
        error code (a 404 from DRS itself, ``DRS.*``, is about the request, not the API)."""
        return self.status == 404 and not self.code.startswith("DRS.")

    @property
    def retryable(self) -> bool:
        """429, 5xx and network-level failures are worth another try; other 4xx are not."""
        return self.reason in ("throttled", "http_5xx", "timeout", "network")


def reason_for_status(status: int, code: str = "") -> str:
    """Classify a failed HTTP answer into one of REASONS."""
    if status == 429 or code in ("APIG.0308", "APIGW.0308"):
        return "throttled"
    if status in (401, 403):
        return "auth"
    if 300 <= status < 400:
        return "http_3xx"  # a redirect: never followed, as it could lead the credentials away
    return "http_5xx" if status >= 500 else "http_4xx"
