"""HTTP basic auth against bcrypt hashes, affordable under a flood of wrong passwords."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import secrets
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import bcrypt

# bcrypt looks at the first 72 bytes only; Go's bcrypt (and so exporter-toolkit) and htpasswd
# ignore the rest, while the Python package raises. Truncating keeps the two in agreement.
_BCRYPT_MAX_PASSWORD = 72


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


def _cost(hashed: bytes) -> int:
    return int(hashed[4:6])


class AuthBusy(Exception):
    """Too many password checks are waiting: this one was given up without an answer."""


class _Abandoned(Exception):
    """The request that ran a check went away before its answer."""


class BasicAuth:
    """Checks basic-auth credentials against bcrypt hashes.

    bcrypt is slow on purpose (tens of milliseconds and more), so checks run on a small
    thread pool of their own: a flood of wrong passwords cannot take every CPU, nor the
    threads the rest of the exporter uses. At most ``MAX_WAITING`` checks wait for a turn,
    newest first; when more arrive, the oldest waiting one is given up (``AuthBusy``), so
    that a login arriving after a flood is checked soon rather than after all of it. An
    unknown user is checked against a hash as costly as the costliest configured one, so
    timing does not tell which user names exist. A success is remembered as a keyed hash
    of user and password: the next scrape costs one HMAC.
    """

    PARALLEL = 2
    MAX_WAITING = 16

    def __init__(self, users: Mapping[str, str]) -> None:
        self._key = secrets.token_bytes(32)  # per process: the cache is useless to a reader
        self._verified: dict[str, bytes] = {}  # user -> digest of the last good password
        self._pool = ThreadPoolExecutor(self.PARALLEL, thread_name_prefix="bcrypt")
        self._running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._checking: dict[bytes, asyncio.Future[bool]] = {}  # proof -> its answer
        self._dummy_lock = threading.Lock()
        self._dummy: bytes | None = None
        self._users: dict[str, bytes] = {}
        self.set_users(users)

    def set_users(self, users: Mapping[str, str]) -> None:
        """Check against these users from now on; a user whose hash is unchanged stays
        remembered."""
        new = {user: hashed.encode("ascii") for user, hashed in users.items()}
        self._verified = {
            u: p for u, p in self._verified.items() if new.get(u) == self._users.get(u)
        }
        costliest = max((_cost(h) for h in new.values()), default=4)
        if self._dummy is None or _cost(self._dummy) != costliest:
            self._dummy = None  # made on first need, in the pool: it costs one bcrypt
        self._dummy_cost = costliest
        self._users = new

    @property
    def users(self) -> frozenset[str]:
        return frozenset(self._users)

    def close(self) -> None:
        """Let the pool's threads end once their checks are done."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def check(self, authorization: str | None) -> bool:
        """True when the ``Authorization`` header names a user with the right password;
        AuthBusy when too many checks were waiting for this one to get a turn."""
        credentials = _credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        digest = hmac.new(self._key, user.encode("utf-8") + b":" + password, hashlib.sha256)
        proof = digest.digest()
        if self._remembered(user, proof):
            return True
        while (same := self._checking.get(proof)) is not None:
            # The same user and password are being checked: take that answer.
            with contextlib.suppress(_Abandoned):  # its request went away: check anew
                return await asyncio.shield(same)
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._checking[proof] = answer
        try:
            matches = await self._check(user, password, proof)
            answer.set_result(matches)
            return matches
        except BaseException as exc:
            answer.set_exception(exc if isinstance(exc, AuthBusy) else _Abandoned())
            answer.exception()  # retrieved: nobody else may be waiting for it
            raise
        finally:
            del self._checking[proof]

    async def _check(self, user: str, password: bytes, proof: bytes) -> bool:
        await self._turn()
        try:
            hashed = self._users.get(user)
            loop = asyncio.get_running_loop()
            matches = await loop.run_in_executor(self._pool, self._matches, password, hashed)
        finally:
            self._release()
        if matches and hashed is not None and self._users.get(user) == hashed:
            self._verified[user] = proof
            return True
        return False

    def _matches(self, password: bytes, hashed: bytes | None) -> bool:
        if hashed is None:
            _bcrypt_matches(password, self._dummy_hash())
            return False
        return _bcrypt_matches(password, hashed)

    def _dummy_hash(self) -> bytes:
        with self._dummy_lock:
            if self._dummy is None:
                cost = self._dummy_cost
                self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
            return self._dummy

    async def _turn(self) -> None:
        if self._running < self.PARALLEL and not self._waiting:
            self._running += 1
            return
        if len(self._waiting) >= self.MAX_WAITING:
            oldest = self._waiting.popleft()
            if not oldest.done():
                oldest.set_exception(AuthBusy())
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter  # _release hands its turn over: _running stays as it is
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release()  # the turn came as the request went away: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
            raise

    def _release(self) -> None:
        while self._waiting:
            newest = self._waiting.pop()
            if not newest.done():
                newest.set_result(None)
                return
        self._running -= 1

    def _remembered(self, user: str, proof: bytes) -> bool:
        known = self._verified.get(user)
        return known is not None and hmac.compare_digest(known, proof)
