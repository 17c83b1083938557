"""The running exporter: config in, poller in the background, exposition out; reloadable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator

import aiohttp

from . import __version__
from .auth import Authenticator, authenticator
from .client import DrsClient
from .config import Config, Credentials, HttpConfig, load_config
from .errors import ConfigError
from .exposition import Exposition, ExpositionOptions, render
from .listing import first_page
from .logs import SecretFilter
from .poller import Clock, Plan, Poller, PollTarget
from .sharding import Shard
from .snapshot import ReloadState, Snapshot, TargetKey
from .telemetry import Telemetry
from .transport import Limiter, Transport

log = logging.getLogger(__name__)


def secrets_of(config: Config) -> Iterator[str | None]:
    """Every secret value in a config, for the log filter."""
    for target in config.targets:
        c = target.credentials
        yield from (c.access_key, c.secret_key, c.security_token, c.token)
        if c.iam is not None:
            yield c.iam.password
    yield config.http.proxy_url


def ssl_context(http: HttpConfig) -> ssl.SSLContext | bool | None:
    """The TLS settings for talking to DRS and IAM (None: the system defaults)."""
    if http.insecure_skip_verify:
        return False
    if http.ca_file:
        try:
            return ssl.create_default_context(cafile=http.ca_file)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise ConfigError("http.ca_file", f"cannot load CA certificates: {reason}") from None
    return None


class Exporter:
    """Polls DRS for one config at a time and keeps the latest rendered exposition.

    ``shard`` says which of the config's targets this replica polls; reloads keep it.
    """

    def __init__(
        self,
        config: Config,
        *,
        shard: Shard | None = None,
        config_path: str | None = None,
        secret_filter: SecretFilter | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.shard = shard or Shard()
        self._config_path = config_path
        self._secret_filter = secret_filter
        self._clock = clock or Clock()
        self._telemetry = Telemetry()
        self._auths: dict[tuple[str, str, Credentials], Authenticator] = {}
        self._session: aiohttp.ClientSession | None = None
        self._poller: Poller | None = None
        self._task: asyncio.Task[None] | None = None
        self._exposition: Exposition | None = None
        self._snapshot = Snapshot()
        self._reload_lock = asyncio.Lock()

    async def __aenter__(self) -> Exporter:
        # The transport honours HTTPS_PROXY / NO_PROXY itself (see Transport).
        self._session = aiohttp.ClientSession()
        self._note_secrets(self.config)
        self._poller = Poller(self._plan(self.config), self._telemetry, self._publish, self._clock)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()

    def start(self) -> None:
        """Start polling in the background: the first cycle at once."""
        assert self._poller is not None, "use Exporter as an async context manager"
        self._task = asyncio.create_task(self._poller.run(), name="drs-poller")

    async def stop(self) -> None:
        """Stop polling, cancelling requests in flight."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll_once(self) -> Snapshot:
        """Run one cycle now and return its snapshot."""
        assert self._poller is not None, "use Exporter as an async context manager"
        await self._poller.cycle()
        return self._snapshot

    def probes(self) -> Iterator[tuple[PollTarget, str, Callable[[], Awaitable[int | None]]]]:
        """One first-page request per target and list API, for ``check``: each returns the
        total the API reported, or raises ApiError (``unpublished`` where the region does
        not publish that API)."""
        assert self._poller is not None, "use Exporter as an async context manager"
        plan = self._poller.plan
        for pt in plan.targets:
            for api in pt.target.apis:

                async def probe(pt: PollTarget = pt, api: str = api) -> int | None:
                    page = await first_page(
                        plan.client, pt.target, pt.auth, pt.key.job_type, api, plan.poll.page_size
                    )
                    return page.total

                yield pt, api, probe

    # The web server's view (web.MetricsSource).

    def exposition(self) -> Exposition:
        if self._exposition is None:
            self._exposition = self._render(self._snapshot)
        return self._exposition

    def ready(self) -> bool:
        return self._poller is not None and self._snapshot.ready

    async def reload(self) -> str | None:
        """Re-read the config file; keep the running config if the new one is bad."""
        if self._config_path is None:
            return "no config file to reload"
        assert self._poller is not None
        async with self._reload_lock:
            try:
                config = load_config(self._config_path)
                # Unchanged: nothing to do, and the cycle in progress may finish.
                plan = None if config == self.config else self._plan(config)
            except ConfigError as exc:
                log.error("config reload rejected, keeping the running config: %s", exc)
                self._poller.set_reload(ReloadState(False, self._snapshot.reload.timestamp))
                return str(exc)
            if plan is None:
                self._poller.set_reload(ReloadState(True, self._clock.wall()))
                log.info("config reloaded: unchanged")
                return None
            if config.web != self.config.web:
                log.warning("web settings changed; they take effect after a restart")
            running = self._task is not None
            await self.stop()
            self.config = config
            self._note_secrets(config)
            self._poller.replace_plan(plan)
            self._poller.set_reload(ReloadState(True, self._clock.wall()))
            if running:
                self.start()
            log.info("config reloaded: %d targets", len(config.targets))
            return None

    # Internals.

    def _publish(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._exposition = self._render(snapshot)

    def _render(self, snapshot: Snapshot) -> Exposition:
        m = self.config.metrics
        options = ExpositionOptions(m.per_job, m.dense_status, m.health, m.dr, m.quotas)
        # Reuse the lines of targets whose state did not change since the last render.
        return render(snapshot, options, __version__, previous=self._exposition)

    def _note_secrets(self, config: Config) -> None:
        if self._secret_filter is not None:
            self._secret_filter.set_secrets(secrets_of(config))

    def _plan(self, config: Config) -> Plan:
        assert self._session is not None
        poll = config.poll
        transport = Transport(
            self._session,
            Limiter(poll.max_concurrency, poll.max_requests_per_second, self._clock.monotonic),
            self._telemetry,
            poll.timeout,
            proxy=config.http.proxy_url,
            ssl=ssl_context(config.http),
        )
        client = DrsClient(transport, poll.retries)
        auths: dict[tuple[str, str, Credentials], Authenticator] = {}
        targets: list[PollTarget] = []
        configured = 0
        for t in config.targets:
            configured += len(t.job_types)
            job_types = [jt for jt in t.job_types if self.shard.owns(t.project_id, t.region, jt)]
            if not job_types:
                continue  # another shard's: no authenticator, so no IAM login for it
            # Reuse an unchanged target's authenticator so a reload keeps its IAM token.
            ident = (t.project_id, t.region, t.credentials)
            auth = self._auths.get(ident) or authenticator(
                t.credentials, t.project_id, t.region, self._clock.wall
            )
            auths[ident] = auth
            targets.extend(
                PollTarget(TargetKey(t.project_id, t.region, jt), t, auth) for jt in job_types
            )
        self._auths = auths
        _log_share(self.shard, len(targets), configured)
        metrics = config.metrics
        return Plan(
            tuple(targets),
            client,
            poll,
            self.shard,
            health=metrics.per_job and metrics.health,
            dr=metrics.per_job and metrics.dr,
            quotas=metrics.quotas,
        )


def _log_share(shard: Shard, owned: int, configured: int) -> None:
    """Say which share of the targets this replica polls; loudly when it is none."""
    if owned == 0:
        log.warning(
            "shard %d of %d owns none of the %d configured targets: "
            "serving only the exporter's own metrics",
            shard.index,
            shard.total,
            configured,
        )
    elif shard.total > 1:
        log.info(
            "shard %d of %d polls %d of the %d configured targets",
            shard.index,
            shard.total,
            owned,
            configured,
        )
