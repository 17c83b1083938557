"""How many job ids a batch request may carry, learned per (call, endpoint).

DRS documents no limit for most batch calls, and fewer, larger requests are what keeps a
large tenant's cycle within a rate limit. So each call starts at the largest size allowed
(``poll.batch_size``, never above the call's documented maximum), halves when a request is
refused (HTTP 400) or answered for fewer ids than it carried, remembers that, and tries
twice the size again once ``RETRY_LARGER`` seconds have passed since it last had to go down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

RETRY_LARGER = 3600.0  # seconds a learned size is kept before a larger one is tried


@dataclass(slots=True)
class _Learned:
    size: int
    since: float  # monotonic time of the last halving (or of the last try of a larger size)


class BatchSizes:
    """The learned batch size of every (call, endpoint) seen; unbounded sizes never kept."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._learned: dict[tuple[str, str], _Learned] = {}

    def size(self, api: str, endpoint: str, largest: int) -> int:
        """How many ids the next request of ``api`` to ``endpoint`` carries, at most
        ``largest`` (the configured size within the documented maximum)."""
        key = (api, endpoint)
        learned = self._learned.get(key)
        if learned is None:
            return largest
        if learned.size >= largest:
            del self._learned[key]  # the configured size went down to it: nothing learned
            return largest
        now = self._monotonic()
        if now - learned.since >= RETRY_LARGER:
            learned.size = min(largest, learned.size * 2)
            learned.since = now
            if learned.size >= largest:
                del self._learned[key]
                return largest
        return learned.size

    def too_large(self, api: str, endpoint: str, sent: int) -> int:
        """Record that ``sent`` ids were too many for one request; the size to use now."""
        smaller = max(1, sent // 2)
        key = (api, endpoint)
        learned = self._learned.get(key)
        if learned is None or smaller < learned.size:
            self._learned[key] = _Learned(smaller, self._monotonic())
        return self._learned[key].size

    def learned(self) -> dict[tuple[str, str], int]:
        """Every size learned smaller than configured, by (call, endpoint): for logs and tests."""
        return {key: learned.size for key, learned in self._learned.items()}

    def retain(self, endpoints: set[str]) -> None:
        """Forget the endpoints no longer polled (the memory stays bounded by the config)."""
        for key in [k for k in self._learned if k[1] not in endpoints]:
            del self._learned[key]
