"""HTTP (80) and HTTPS (443) of the Autodiscover host, on aiohttp.

Port 443 answers ``POST /autodiscover/autodiscover.xml`` with the account's
settings. Like Exchange, it wants HTTP Basic authentication (RFC 7617) first:
the user is a lab address and its password; anything else gets 401 with a
``WWW-Authenticate: Basic`` challenge, before the body is even read.

Port 80 serves two things: the "HTTP redirect method" of Autodiscover (a 302
from ``http://autodiscover.<domain>/autodiscover/autodiscover.xml`` to the
HTTPS URL) and the CA's CRL, which must travel over plain HTTP because a
client checking the HTTPS certificate cannot first need that certificate.

Faults: ``redirect_broken`` makes port 80 redirect to itself (a loop every
client gives up on), ``autodiscover=False`` answers 404 on the endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hmac
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from lab.http import autodiscover

log = logging.getLogger(__name__)

ENDPOINT: Final = "/autodiscover/autodiscover.xml"
MAX_BODY: Final = autodiscover.MAX_REQUEST_BYTES
MAX_ACTIVE_REQUESTS: Final = 64
BACKLOG: Final = 64
BODY_TIMEOUT: Final = 10.0
KEEPALIVE_TIMEOUT: Final = 15.0
SHUTDOWN_TIMEOUT: Final = 2.0
XML_TYPE: Final = "text/xml"
CRL_TYPE: Final = "application/pkix-crl"  # RFC 2585 4.2

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HttpService:
    """The two running listeners; ``close()`` stops both."""

    host: str
    http_port: int
    https_port: int
    _runners: tuple[web.AppRunner, ...]

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        log.info("http: stopped %s:%d and %s:%d", self.host, self.http_port,
                 self.host, self.https_port)


@dataclass(frozen=True)
class _Config:
    hostname: str
    https_port: int
    http_port: int
    users: Mapping[str, str]
    servers: Mapping[str, tuple[str, int]]
    crl_der: Callable[[], bytes] | None
    crl_path: str
    redirect_broken: bool
    autodiscover: bool
    max_active: int


def _peer(request: web.Request) -> str:
    return request.remote or "?"


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic`` value (RFC 7617 2)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token or len(token) > 1024:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def check_basic(header: str | None, users: Mapping[str, str]) -> str | None:
    """The lab address the credentials belong to, or ``None``."""
    credentials = parse_basic(header)
    if credentials is None:
        return None
    user, password = credentials
    by_lower = {address.lower(): address for address in users}
    address = by_lower.get(user.strip().lower())
    if address is None:
        return None
    # Constant time, so the lab does not teach a timing oracle.
    if not hmac.compare_digest(password.encode(), users[address].encode()):
        return None
    return address


def _limit_middleware(max_active: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    active = 0

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal active
        if active >= max_active:
            log.info("http: %s refused, %d requests in progress", _peer(request),
                     active)
            return web.Response(status=503, text="too many requests\n",
                                headers={"Retry-After": "5"})
        active += 1
        try:
            return await handler(request)
        finally:
            active -= 1

    return limit


def _https_url(config: _Config) -> str:
    port = "" if config.https_port == 443 else f":{config.https_port}"
    return f"https://{config.hostname}{port}{ENDPOINT}"


def _http_url(config: _Config) -> str:
    port = "" if config.http_port == 80 else f":{config.http_port}"
    return f"http://{config.hostname}{port}{ENDPOINT}"


def _error_time() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S.%f0")


async def _autodiscover(request: web.Request, config: _Config) -> web.Response:
    peer = _peer(request)
    address = check_basic(request.headers.get("Authorization"), config.users)
    if address is None:
        log.info("https: %s %s %s without valid credentials", peer,
                 request.method, request.path)
        return web.Response(
            status=401, text="authentication required\n",
            headers={"WWW-Authenticate": f'Basic realm="{config.hostname}"'})

    if request.method != "POST":
        # Exchange answers a GET with the XML error 600, not an HTTP error.
        xml = autodiscover.error_response(autodiscover.INVALID_REQUEST,
                                          time=_error_time())
        return web.Response(body=xml, content_type=XML_TYPE, charset="utf-8")

    try:
        body = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
    except web.HTTPRequestEntityTooLarge:
        log.info("https: %s body over %d bytes", peer, MAX_BODY)
        return web.Response(status=413, text="request body too large\n")
    except TimeoutError:
        return web.Response(status=408, text="request body too slow\n")
    log.debug("https: %s -> %d bytes as %s", peer, len(body), address)

    try:
        parsed = autodiscover.parse_request(body)
    except autodiscover.AutodiscoverRejected as exc:
        log.info("https: %s rejected: %s", peer, exc.reason)
        status = 413 if exc.too_large else 400
        return web.Response(status=status, text=f"{exc.reason}\n")

    result = autodiscover.answer(parsed, config.users, config.servers,
                                 time=_error_time())
    log.debug("https: %s <- autodiscover %s", peer,
              result.error_code or "settings")
    return web.Response(body=result.xml, content_type=XML_TYPE, charset="utf-8")


def _https_app(config: _Config) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[_limit_middleware(config.max_active)])

    async def dispatch(request: web.Request) -> web.StreamResponse:
        # Outlook spells it /Autodiscover/Autodiscover.xml; IIS ignores case.
        if config.autodiscover and request.path.lower() == ENDPOINT:
            return await _autodiscover(request, config)
        return web.Response(status=404, text="not found\n")

    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _http_app(config: _Config) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[_limit_middleware(config.max_active)])

    async def dispatch(request: web.Request) -> web.StreamResponse:
        peer = _peer(request)
        if request.method in ("GET", "HEAD") and request.path == config.crl_path:
            if config.crl_der is None:
                return web.Response(status=404, text="no CRL here\n")
            log.debug("http: %s <- CRL", peer)
            return web.Response(body=config.crl_der(), content_type=CRL_TYPE)

        if config.autodiscover and request.path.lower() == ENDPOINT:
            if request.method not in ("GET", "HEAD"):
                return web.Response(status=405, headers={"Allow": "GET, HEAD"})
            target = _http_url(config) if config.redirect_broken else _https_url(
                config)
            log.info("http: %s redirected to %s", peer, target)
            return web.Response(status=302, headers={"Location": target})

        return web.Response(status=404, text="not found\n")

    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else (
        socket.AF_INET)
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


async def _serve(app: web.Application, sock: socket.socket,
                 ssl_context: ssl.SSLContext | None) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT,
                           shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    # TODO: aiohttp has no deadline for a slow request head; keepalive only.
    site = web.SockSite(runner, sock, ssl_context=ssl_context, backlog=BACKLOG)
    await site.start()
    return runner


async def start_http(
    host: str, http_port: int, https_port: int, *, hostname: str, domain: str,
    users: Mapping[str, str], servers: dict[str, tuple[str, int]],
    ssl_context: ssl.SSLContext, crl_der: Callable[[], bytes] | None,
    crl_path: str = "/lab.crl", redirect_broken: bool = False,
    autodiscover: bool = True, max_active_requests: int = MAX_ACTIVE_REQUESTS,
) -> HttpService:
    """Serve HTTP on ``http_port`` and HTTPS on ``https_port`` (0 picks one).

    ``users`` maps lab addresses to passwords (for Basic auth and for the
    addresses Autodiscover knows); ``servers`` maps ``imap``/``pop3``/``smtp``
    to the host and port the settings name. Past ``max_active_requests``
    requests in progress on one port, new ones get 503.
    """
    http_sock = _listen(host, http_port)
    https_sock = _listen(host, https_port)
    config = _Config(
        hostname=hostname, https_port=https_sock.getsockname()[1],
        http_port=http_sock.getsockname()[1], users=dict(users),
        servers=dict(servers), crl_der=crl_der, crl_path=crl_path,
        redirect_broken=redirect_broken, autodiscover=autodiscover,
        max_active=max_active_requests)

    runners: list[web.AppRunner] = []
    try:
        runners.append(await _serve(_http_app(config), http_sock, None))
        runners.append(await _serve(_https_app(config), https_sock, ssl_context))
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        http_sock.close()
        https_sock.close()
        raise

    log.info("http: %s for %s on %s:%d (http) and %s:%d (https)%s%s", hostname,
             domain, host, config.http_port, host, config.https_port,
             ", redirect broken" if redirect_broken else "",
             ", autodiscover missing" if not autodiscover else "")
    return HttpService(host, config.http_port, config.https_port, tuple(runners))
