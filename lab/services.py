"""Starting one host's services from the plan: which server, which TLS, which
tweaks. ``Lab`` calls ``start_service`` for every (host, service) that is not
blocked; each returns the coroutine or function that stops it again.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .http import start_http
from .imap import start_imap_server
from .ldap import start_ldaps
from .plan import Plan, PlannedHost
from .pop3 import start_pop3_server
from .smtp.policy import MailPolicy
from .smtp.server import SmtpListener
from .store import MailStore
from .tls.ca import IssuedCert, LabCA
from .tls.context import server_context

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None] | None]


@dataclass
class Services:
    """What every service of one lab shares: the plan, the store, the CA."""

    plan: Plan
    store: MailStore
    ca: LabCA
    port_of: Callable[[int], int]
    enqueue: Any = None
    transcripts: Any = None
    smtp: dict[str, list[SmtpListener]] = field(default_factory=dict)
    _certs: dict[tuple[str, str], IssuedCert] = field(default_factory=dict)
    _address: str = ""

    @property
    def addresses(self) -> dict[str, str]:
        """Login address -> password, as IMAP, POP3, HTTP and LDAP take them."""
        return {f"{u}@{self.plan.domain}": pw for u, pw in self.plan.users.items()}

    def tls(self, host: PlannedHost, port: int) -> ssl.SSLContext:
        variant = self.plan.certificate(host.name, port)
        key = (host.name, variant)
        if key not in self._certs:
            names = [host.fqdn, *self.plan.cert_names.get(host.name, [])]
            self._certs[key] = self.ca.issue(
                names, list(host.addresses), variant=variant,  # type: ignore
                crl_url=self.plan.crl_url, stem=f"{host.name}-{variant}")
        return server_context(self._certs[key])

    async def start(self, host: PlannedHost, service: str, standard: int,
                    port: int, address: str | None = None) -> tuple[int, Closer]:
        """Start one service on one of the host's addresses; the port it got
        and how to stop it."""
        starter = getattr(self, f"_start_{service}")
        self._address = address or host.address
        return await starter(host, standard, port)

    # region: the servers

    async def _start_smtp(self, host: PlannedHost, standard: int,
                          port: int) -> tuple[int, Closer]:
        tweaks = self.plan.smtp_tweaks(host.name, standard)
        submission = standard == 587
        # One host name for greeting and EHLO, as an MTA has one myhostname:
        # the relay answers with the name it says EHLO with when it sends.
        hostname = self.plan.ehlo if host.name == self.plan.relay else host.fqdn
        policy = MailPolicy(domain=self.plan.domain, users=self.plan.users,
                            hostname=hostname, submission=submission,
                            deliver=self.store.deliver_async,
                            open_relay=tweaks.open_relay,
                            enqueue=self.enqueue if submission else None)
        tls = None if tweaks.starttls == "missing" else self.tls(host, standard)
        listener = SmtpListener(policy, self._address, port, tls_context=tls,
                                auth=submission, tweaks=tweaks,
                                transcripts=self.transcripts)
        await listener.start()
        self.smtp.setdefault(host.name, []).append(listener)
        return listener.port, listener.close

    _start_submission = _start_smtp

    async def _start_imap(self, host: PlannedHost, standard: int,
                          port: int) -> tuple[int, Closer]:
        server = await start_imap_server(
            self._address, port, store=self.store, users=self.addresses,
            hostname=host.fqdn, ssl_context=self.tls(host, standard),
            implicit_tls=standard == 993,
            login_disabled_always=host.name in self.plan.imap_login_disabled)
        return _port(server), _closer(server)

    _start_imaps = _start_imap

    async def _start_pop3(self, host: PlannedHost, standard: int,
                          port: int) -> tuple[int, Closer]:
        server = await start_pop3_server(
            self._address, port, store=self.store, users=self.addresses,
            hostname=host.fqdn, ssl_context=self.tls(host, standard),
            implicit_tls=standard == 995, require_tls=standard == 110)
        return _port(server), _closer(server)

    _start_pop3s = _start_pop3

    async def _start_ldaps(self, host: PlannedHost, standard: int,
                           port: int) -> tuple[int, Closer]:
        server = await start_ldaps(self._address, port, users=self.addresses,
                                   domain=self.plan.domain,
                                   ssl_context=self.tls(host, standard))
        return _port(server), _closer(server)

    # endregion

    async def start_web(self, host: PlannedHost, http_port: int | None,
                        https_port: int | None, address: str | None = None,
                        ) -> tuple[int, int, Closer]:
        """HTTP and HTTPS of the Autodiscover host, started together."""
        tweaks = self.plan.http_tweaks(host.name)
        servers = self._client_servers()
        service = await start_http(
            address or host.address, http_port or 0, https_port or 0,
            hostname=host.fqdn,
            domain=self.plan.domain, users=self.addresses, servers=servers,
            ssl_context=self.tls(host, 443),
            crl_der=self.ca.crl_der if tweaks.crl else None,
            redirect_broken=tweaks.redirect_broken,
            autodiscover=tweaks.autodiscover)
        return service.http_port, service.https_port, service.close

    def _client_servers(self) -> dict[str, tuple[str, int]]:
        found: dict[str, tuple[str, int]] = {}
        for h in self.plan.hosts.values():
            for service, name in (("imaps", "imap"), ("pop3s", "pop3"),
                                  ("submission", "smtp")):
                if service in h.services:
                    found.setdefault(name, (h.fqdn, h.services[service]))
        return found


def _port(server: Any) -> int:
    return server.sockets[0].getsockname()[1]


def _closer(server: Any) -> Closer:
    async def close() -> None:
        server.close()
        await server.wait_closed()

    return close
