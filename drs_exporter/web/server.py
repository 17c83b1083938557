"""The HTTP server: /metrics, the landing page, health, readiness and reload endpoints.

A scrape picks the pre-rendered body that fits the request's Accept and Accept-Encoding
headers and adds the process metrics, rendered for it; nothing is computed per job.
``POST /-/reload`` exists only when the lifecycle endpoint is enabled, as in Prometheus.
``Protection`` holds what the web-config file asks for (basic auth, extra headers, the TLS
certificate), replaced when the file is read again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import resource
import ssl
from typing import Protocol

from aiohttp import web, web_response
from aiohttp.typedefs import Handler, Middleware

from .. import NAME
from ..config import check_telemetry_path, parse_listen_address
from ..errors import ConfigError
from ..metrics.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, Body, Exposition
from ..metrics.process import FreeMemoryLater, ProcessMetrics
from .basicauth import AuthBusy, BasicAuth
from .limits import (
    BACKLOG,
    LogThrottle,
    ServerLimits,
    cap_connections,
    connection_cap,
    quiet_loop_errors,
    return_freed_buffers,
    server_logger,
)
from .negotiation import accepts_gzip, wants_openmetrics
from .webconfig import WebSecurity

log = logging.getLogger(__name__)
# Bytes of a /metrics body handed to the connection at a time: what the connection does not
# send at once is copied and held until the client reads it, so this bounds what a client
# that stops reading costs (beside the kernel's socket buffer).
_SLICE = 64 * 1024
LIFECYCLE_FLAG = "--web.enable-lifecycle"


class MetricsSource(Protocol):
    """What the server needs from the rest of the exporter."""

    def exposition(self) -> Exposition:
        """The current rendered snapshot (before the first cycle: an empty snapshot's)."""
        ...

    def ready(self) -> bool:
        """True once every target has finished its first poll."""
        ...

    async def reload(self) -> str | None:
        """Re-read the config: None on success, else a one-line error."""
        ...


def _landing_page(telemetry_path: str, version: str, lifecycle: bool, reloadable: bool) -> str:
    # Relative links keep working behind a reverse proxy that adds a path prefix.
    links = [
        (telemetry_path, "Metrics"),
        ("/-/healthy", "Health"),
        ("/-/ready", "Readiness"),
    ]
    items = "\n".join(
        f'<li><a href=".{html.escape(path)}">{html.escape(text)}</a> '
        f"<code>{html.escape(path)}</code></li>"
        for path, text in links
    )
    if not reloadable:
        reload = "Running without a config file (the demo): there is nothing to reload."
    elif lifecycle:
        reload = "POST <code>/-/reload</code> or SIGHUP re-reads the configuration."
    else:
        reload = (
            "SIGHUP re-reads the configuration; POST <code>/-/reload</code> is off: start "
            f"with <code>{LIFECYCLE_FLAG}</code> to allow it."
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        "<title>DRS Exporter</title></head>\n<body>\n<h1>DRS Exporter</h1>\n"
        "<p>Prometheus exporter for Huawei Cloud Data Replication Service job state. "
        f"Version {html.escape(version)}.</p>\n<ul>\n{items}\n</ul>\n"
        f"<p>{reload}</p>\n</body>\n</html>\n"
    )


class Protection:
    """What the web-config file asks of the server now; ``replace`` applies a new file."""

    def __init__(self, security: WebSecurity | None) -> None:
        self.security = security or WebSecurity()
        users = self.security.basic_auth_users
        self.auth: BasicAuth | None = BasicAuth(users) if users else None
        self.ssl_context: ssl.SSLContext | None = None  # the running server's, once started

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.security.headers

    def replace(self, security: WebSecurity | None) -> None:
        """Apply a web-config file read again: users and headers at once, a new certificate
        and key for new connections; other TLS changes need a restart (said in the log)."""
        new = security or WebSecurity()
        old_tls, new_tls = self.security.tls, new.tls
        if (old_tls is None) != (new_tls is None):
            log.warning("web config: turning TLS on or off takes effect after a restart")
            new = dataclasses.replace(new, tls=old_tls)  # what runs until then
        elif old_tls is not None and new_tls is not None and self.ssl_context is not None:
            try:
                new_tls.load_certificate(self.ssl_context)  # for new connections from now on
            except (OSError, ValueError) as exc:  # changed since it was checked
                raise ConfigError(
                    "web.config_file", f"cannot load the certificate: {exc}"
                ) from None
            kept = dataclasses.replace(
                new_tls, cert_file=old_tls.cert_file, key_file=old_tls.key_file
            )
            if kept != old_tls:
                log.warning(
                    "web config: TLS settings other than cert_file and key_file take effect "
                    "after a restart"
                )
            new = dataclasses.replace(
                new,
                tls=dataclasses.replace(
                    old_tls, cert_file=new_tls.cert_file, key_file=new_tls.key_file
                ),
            )
        if new.basic_auth_users:
            if self.auth is None:
                self.auth = BasicAuth(new.basic_auth_users)
            else:
                self.auth.set_users(new.basic_auth_users)
        elif self.auth is not None:
            self.auth.close()
            self.auth = None
        self.security = new

    def close(self) -> None:
        if self.auth is not None:
            self.auth.close()


def _auth_middleware(protection: Protection) -> Middleware:
    @web.middleware
    async def require_basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = protection.auth
        if auth is None:
            return await handler(request)
        try:
            if await auth.check(request.headers.get("Authorization")):
                return await handler(request)
        except AuthBusy:
            return web.Response(status=429, text="Too many password checks waiting; try again\n")
        log.debug("unauthorized request from %s for %s", request.remote, request.path)
        return web.Response(
            status=401,
            text="Unauthorized\n",
            headers={"WWW-Authenticate": f'Basic realm="{NAME}", charset="UTF-8"'},
        )

    return require_basic_auth


def make_app(
    source: MetricsSource,
    *,
    telemetry_path: str = "/metrics",
    version: str,
    security: WebSecurity | Protection | None = None,
    lifecycle: bool = False,
    limits: ServerLimits | None = None,
    reloadable: bool = True,
) -> web.Application:
    """The exporter's aiohttp application; basic auth and extra headers from ``security``.

    ``lifecycle`` (``--web.enable-lifecycle``) adds ``POST /-/reload``; ``reloadable`` is
    false when there is no config file to re-read (the demo), and the landing page says so.
    """
    check_telemetry_path(telemetry_path)
    protection = security if isinstance(security, Protection) else Protection(security)
    write_timeout = (limits or ServerLimits()).write_timeout
    app = web.Application(middlewares=[_auth_middleware(protection)])

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in protection.headers:
            response.headers[name] = value

    app.on_response_prepare.append(add_headers)

    landing = _landing_page(telemetry_path, version, lifecycle, reloadable)
    process = ProcessMetrics()
    free_memory_later = FreeMemoryLater()

    async def metrics(request: web.Request) -> web.StreamResponse:
        openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
        use_gzip = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        exposition = source.exposition()
        own = process.render(openmetrics=openmetrics)
        if exposition.parts_ready(openmetrics=openmetrics, gzip=use_gzip):
            body = exposition.parts(openmetrics=openmetrics, gzip=use_gzip, extra=own)
        else:  # the first gzip request of this snapshot joins megabytes: not on the loop
            body = await asyncio.to_thread(
                exposition.parts, openmetrics=openmetrics, gzip=use_gzip, extra=own
            )
        headers = {
            "Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE,
            "Vary": "Accept, Accept-Encoding",
        }
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        # Sent in slices, the pre-rendered part straight from the snapshot's bytes: handing a
        # transport megabytes at once makes asyncio copy what it could not send yet, a copy
        # per scrape that shows up as resident memory. Sent here rather than after the
        # handler returns, so that the write timeout covers all of it.
        response = web.StreamResponse(headers=headers)
        response.content_length = body.size
        try:
            await asyncio.wait_for(_send(request, response, body), write_timeout)
        except (asyncio.TimeoutError, TimeoutError):
            log.debug("scrape from %s not read within %gs: closed", request.remote, write_timeout)
            if request.transport is not None:
                request.transport.abort()
        except ConnectionResetError:  # the scraper went away: nothing more to send
            log.debug("scrape from %s ended before its body was sent", request.remote)
        finally:
            if not use_gzip:  # megabytes inflated a piece at a time: give their pages back
                free_memory_later()
        return response

    async def index(request: web.Request) -> web.StreamResponse:
        return web.Response(text=landing, content_type="text/html")

    async def healthy(request: web.Request) -> web.StreamResponse:
        return web.Response(text="Healthy\n")

    async def ready(request: web.Request) -> web.StreamResponse:
        if source.ready():
            return web.Response(text="Ready\n")
        return web.Response(
            status=503, text="Not ready: waiting for the first poll of every target\n"
        )

    async def reload(request: web.Request) -> web.StreamResponse:
        error = await source.reload()  # the source runs one reload at a time
        if error is None:
            return web.Response(text="Configuration reloaded\n")
        return web.Response(status=500, text=" ".join(error.splitlines()) + "\n")

    app.router.add_get(telemetry_path, metrics)
    app.router.add_get("/", index)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    if lifecycle:
        app.router.add_post("/-/reload", reload)
    return app


async def _send(request: web.Request, response: web.StreamResponse, body: Body) -> None:
    await response.prepare(request)
    if request.method != "HEAD":
        await _write(response, body)
    await response.write_eof()


async def _write(response: web.StreamResponse, body: Body) -> None:
    """The body's pieces, in writes of about ``_SLICE`` bytes (small pieces gathered)."""
    gathered: list[bytes] = []
    size = 0
    for part in body.pieces:
        if gathered and size + len(part) > _SLICE:
            await response.write(b"".join(gathered))
            gathered, size = [], 0
        if len(part) < _SLICE:
            gathered.append(part)
            size += len(part)
            continue
        view = memoryview(part)
        for start in range(0, len(part), _SLICE):
            await response.write(view[start : start + _SLICE])
    if gathered:
        await response.write(b"".join(gathered))


async def start_server(
    app: web.Application,
    listen_address: str,
    security: WebSecurity | Protection | None,
    limits: ServerLimits | None = None,
) -> web.AppRunner:
    """Serve ``app`` (over TLS when ``security`` says so); stop it with ``runner.cleanup()``."""
    host, port = parse_listen_address(listen_address)
    limits = limits or ServerLimits()
    protection = security if isinstance(security, Protection) else None
    settings = protection.security if protection is not None else security
    assert not isinstance(settings, Protection)
    try:
        ssl_context = settings.ssl_context() if settings is not None else None
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError("web.config_file", f"cannot set up TLS: {exc}") from None
    if protection is not None:
        protection.ssl_context = ssl_context
    _name_the_server()
    # No access log: a line per scrape is noise, and 401s are logged at DEBUG instead.
    # aiohttp closes a connection that has not sent a whole request within its keep-alive
    # timeout, from its start or its last answer: the read timeout, slowloris included.
    runner = web.AppRunner(
        app,
        access_log=None,
        logger=server_logger(log),
        keepalive_timeout=limits.read_timeout,
    )
    await runner.setup()
    return_freed_buffers()
    throttle = LogThrottle()
    cap = connection_cap(limits.max_connections)
    if cap < limits.max_connections:
        log.warning(
            "serving at most %d connections, not %d: the rest of the %d file descriptors "
            "this process may open are kept for polling",
            cap,
            limits.max_connections,
            resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        )
    assert runner.server is not None
    cap_connections(runner.server, cap, throttle)
    quiet_loop_errors(asyncio.get_running_loop(), throttle)
    site = web.TCPSite(
        runner, host or None, port, ssl_context=ssl_context, backlog=BACKLOG
    )  # host "": all
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        raise ConfigError(
            "web.listen_address", f"cannot listen on {listen_address}: {reason}"
        ) from None
    return runner


def _name_the_server() -> None:
    """Have every answer say ``Server: drs-exporter``, not aiohttp's and Python's versions.

    aiohttp writes its default on each answer that has no Server header, including those it
    makes itself to requests it cannot parse, before any hook of the application runs
    (aiohttp issue 8870); so the default is replaced, for the servers of this process.
    """
    web_response.SERVER_SOFTWARE = NAME  # type: ignore[attr-defined]  # read at each answer


def _listening(runner: web.AppRunner) -> list[tuple[bool, str, int]]:
    """The server's sockets as (IPv6, host, port), the IPv4 ones first."""
    found = sorted(
        (len(address) != 2, str(address[0]), int(address[1]))  # IPv4 socknames: (host, port)
        for address in runner.addresses
        if isinstance(address, tuple) and len(address) >= 2
    )
    if not found:
        raise RuntimeError("the server is not listening")
    return found


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port the server listens on (useful with port 0).

    With ``:0`` the IPv4 and IPv6 sockets get different ports; this is the IPv4 one.
    """
    return _listening(runner)[0][2]


_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}


def base_url(runner: web.AppRunner, *, tls: bool = False) -> str:
    """Where to reach the server, in a form a terminal makes a link of: a loopback name for
    a socket of every interface, an IPv6 address in brackets; no slash at the end."""
    sockets = _listening(runner)
    _, host, port = sockets[0]
    if host in _LOOPBACK:
        # localhost may name either family's loopback: only where both listen on this port
        # (not with ":0", which gives each a port of its own; not for one family's wildcard).
        families = {ipv6 for ipv6, other, p in sockets if other in _LOOPBACK and p == port}
        host = "localhost" if len(families) == 2 else _LOOPBACK[host]
    elif ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"
