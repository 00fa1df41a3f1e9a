"""From scenario to plan: the concrete hosts, addresses, records and ports.

A plan is plain data. It is built once from the baseline organisation, then
each fault edits it (``Fault.apply``); the services read it and the ground
truth (``Fault.expected``) is computed from it. Nothing here opens a socket.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .dns.responder import Rule

if TYPE_CHECKING:
    from .scenario.model import Scenario

#: The standard port of every service a role brings.
ROLE_SERVICES: dict[str, dict[str, int]] = {
    "dns": {"dns": 53},
    "mx": {"smtp": 25},
    "outbound": {"smtp": 25},
    "mailbox": {"submission": 587, "imap": 143, "imaps": 993, "pop3": 110,
                "pop3s": 995},
    "autodiscover": {"http": 80, "https": 443},
    "edge": {"smtp": 25, "ldaps": 50636},
}

#: Services that speak TLS, at once or after STARTTLS/STLS.
TLS_SERVICES = frozenset({"smtp", "submission", "imap", "imaps", "pop3", "pop3s",
                          "https", "ldaps"})

#: Client service discovery records (RFC 6186) by service.
SRV_LABELS = {"submission": "_submission._tcp", "imap": "_imap._tcp",
              "imaps": "_imaps._tcp", "pop3": "_pop3._tcp", "pop3s": "_pop3s._tcp",
              "https": "_autodiscover._tcp"}

#: Loopback mode puts lab number ``slot`` on 127.<LOOPBACK_NET>.<slot>.0/24.
LOOPBACK_NET = 77


#: A record's value: text, or a tuple for MX (pref, exchange) and SRV.
RecValue = str | tuple[int, str] | tuple[int, int, int, str] | tuple[bytes, ...]


@dataclass(frozen=True)
class Rec:
    """One DNS record. ``value`` is text, or a tuple for MX and SRV."""

    name: str
    rtype: str
    value: str | tuple[int, str] | tuple[int, int, int, str]
    ttl: int = 300


@dataclass
class PlannedHost:
    name: str
    fqdn: str
    address: str
    roles: tuple[str, ...]
    services: dict[str, int] = field(default_factory=dict)
    #: The host's IPv6 address, when it has one (isolated mode).
    address6: str | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, self.address6) if self.address6 else (self.address,)


@dataclass
class SmtpTweaks:
    """How one SMTP listener departs from a correct server."""

    #: "offered", "missing" (not advertised) or "broken" (handshake fails).
    starttls: str = "offered"
    #: A middlebox doing 'ESMTP inspection': asterisks, STARTTLS stripped.
    banner_masked: bool = False
    #: AUTH offered before STARTTLS (submission).
    auth_before_tls: bool = False
    #: Accept mail for any domain (the lab still delivers nothing outside).
    open_relay: bool = False
    #: A chosen reply at a chosen stage: ("connect"|"ehlo"|"mail"|"rcpt", text).
    reply: tuple[str, str] | None = None
    #: Seconds before the greeting.
    banner_delay: float = 0.0


@dataclass
class HttpTweaks:
    autodiscover: bool = True
    redirect_broken: bool = False
    crl: bool = True


@dataclass
class PlannedPartner:
    """A partner organisation: its domain, MX hosts and receiving policy."""

    domain: str
    hosts: list[PlannedHost]
    policy: dict[str, object]
    users: tuple[str, ...] | None


@dataclass
class InternalView:
    """What the internal resolver answers differently from the outside."""

    host: PlannedHost
    #: Records only the internal view has, and records only the outside has.
    only_inside: list[Rec] = field(default_factory=list)
    only_outside: list[Rec] = field(default_factory=list)
    #: Names outside the organisation: "forward" to the external server, or
    #: "servfail" (a forwarder that is broken).
    outside_names: str = "forward"


@dataclass(frozen=True)
class Expected:
    """A finding a correct diagnosis must contain."""

    code: str
    subject: str
    because: str = ""


@dataclass
class Plan:
    """Everything a lab serves, as data."""

    name: str
    domain: str
    slot: int
    hosts: dict[str, PlannedHost]
    records: list[Rec]
    zones: list[str]
    users: dict[str, str]
    relay: str | None
    outside: list[str]
    #: "loopback" (127.77.<slot>.x) or "isolated" (documentation ranges,
    #: inside a network namespace of the lab's own).
    network: str = "loopback"
    #: (host name, port) -> "drop" or "reject"
    blocked: dict[tuple[str, int], str] = field(default_factory=dict)
    #: Misbehaviours of the lab's DNS server, by name.
    dns_rules: list[Rule] = field(default_factory=list)
    #: Host name -> names its certificate carries besides its own (a CNAME
    #: pointing at it, the domain when it is the implicit MX).
    cert_names: dict[str, list[str]] = field(default_factory=dict)
    #: (host name, port or None for every port) -> certificate variant.
    certificates: dict[tuple[str, int | None], str] = field(default_factory=dict)
    #: (host name, port) -> SMTP behaviour; absent means correct.
    smtp: dict[tuple[str, int], SmtpTweaks] = field(default_factory=dict)
    #: Host names whose IMAP advertises LOGINDISABLED even under TLS.
    imap_login_disabled: set[str] = field(default_factory=set)
    #: Host name -> HTTP behaviour.
    http: dict[str, HttpTweaks] = field(default_factory=dict)
    #: Partner organisations that run their own MX in the lab.
    partners: list[PlannedPartner] = field(default_factory=list)
    #: The internal view (split DNS): the resolver the organisation's own
    #: servers use. None: the organisation has one view, the external one.
    internal: InternalView | None = None
    #: The relay's EHLO name.
    ehlo: str = ""
    #: (retry intervals, give up after, delay notice after), in seconds.
    schedule: tuple[tuple[float, ...], float, float | None] = ((300.0,), 432000.0,
                                                               14400.0)
    #: Names of faults applied, in order, for the log.
    faults: list[str] = field(default_factory=list)

    def host(self, name: str) -> PlannedHost:
        return self.hosts[name]

    def internal_view(self) -> InternalView:
        """The internal view, created on first use with its resolver host."""
        if self.internal is None:
            host = self.add_host("ns-int", ("dns-internal",), {"dns": 53})
            self.internal = InternalView(host)
        return self.internal

    def certificate(self, host: str, port: int) -> str:
        return self.certificates.get((host, port),
                                     self.certificates.get((host, None), "good"))

    def smtp_tweaks(self, host: str, port: int) -> SmtpTweaks:
        return self.smtp.setdefault((host, port), SmtpTweaks())

    def http_tweaks(self, host: str) -> HttpTweaks:
        return self.http.setdefault(host, HttpTweaks())

    def tls_ports(self, host: str) -> list[int]:
        h = self.hosts[host]
        return sorted(p for s, p in h.services.items() if s in TLS_SERVICES)

    @property
    def autodiscover_host(self) -> PlannedHost | None:
        return next((h for h in self.hosts.values() if "autodiscover" in h.roles),
                    None)

    @property
    def crl_url(self) -> str | None:
        host = self.autodiscover_host
        return f"http://{host.fqdn}/lab.crl" if host else None

    @property
    def resolver(self) -> PlannedHost:
        return next(h for h in self.hosts.values() if "dns" in h.roles)

    @property
    def relay_host(self) -> PlannedHost:
        if self.relay is None:
            raise LookupError(f"scenario {self.name} has no outbound relay")
        return self.hosts[self.relay]

    def add_host(self, name: str, roles: tuple[str, ...],
                 services: dict[str, int]) -> PlannedHost:
        """A host a fault brings (a lame name server, an old relay, ...)."""
        address = self.spare_address(10 + len(self.hosts))
        host = PlannedHost(name, f"{name}.{self.domain}", address, roles, services)
        self.hosts[name] = host
        self.add(host.fqdn, address_rtype(address), address)
        self.add(reverse_name(address), "PTR", host.fqdn)
        return host

    def spare_address(self, n: int = 0) -> str:
        """An address in the lab's range that no host uses (an 'old' server)."""
        if self.network == "isolated":
            return str(ISOLATED_NET[250 - n])
        return _address(self.slot, 250 - n)

    def partner_address(self, n: int) -> str:
        if self.network == "isolated":
            return str(PARTNER_NET[10 + n])
        return _address(self.slot, 200 + n)

    def find(self, name: str, rtype: str) -> list[Rec]:
        name = name.lower().rstrip(".")
        return [r for r in self.records if r.name == name and r.rtype == rtype]

    def remove(self, name: str, rtype: str) -> list[Rec]:
        gone = self.find(name, rtype)
        self.records = [r for r in self.records if r not in gone]
        return gone

    def add(self, name: str, rtype: str, value: RecValue) -> None:
        self.records.append(Rec(name.lower().rstrip("."), rtype, value))

    def replace(self, name: str, rtype: str, *values: object) -> None:
        self.remove(name, rtype)
        for value in values:
            self.add(name, rtype, value)  # type: ignore[arg-type]

    def expand(self, text: str) -> str:
        """Expand ``{domain}`` and ``{addr:HOST}`` in scenario-written text."""
        text = text.replace("{domain}", self.domain)
        for host in self.hosts.values():
            text = text.replace("{addr:%s}" % host.name, host.address)
            text = text.replace("{addr6:%s}" % host.name, host.address6 or "")
            text = text.replace("{rev:%s}" % host.name, reverse_name(host.address))
        return text


def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer


def _address(slot: int, n: int) -> str:
    return f"127.{LOOPBACK_NET}.{slot}.{n}"


#: Isolated mode: hosts from 192.0.2.10 (RFC 5737), partners in 198.51.100.0/24.
ISOLATED_NET = ipaddress.ip_network("192.0.2.0/24")
PARTNER_NET = ipaddress.ip_network("198.51.100.0/24")


def _host_address(network: str, slot: int, index: int,
                  given: str | None) -> str:
    if network == "loopback":
        return _address(slot, 10 + index)
    from .isolated.addresses import check_documentation

    return check_documentation(given) if given else str(ISOLATED_NET[10 + index])


def _reverse_zones(network: str, slot: int, addresses: list[str]) -> list[str]:
    if network == "loopback":
        return [f"{slot}.{LOOPBACK_NET}.127.in-addr.arpa"]
    from .isolated.addresses import reverse_zones

    fixed = [str(ISOLATED_NET[1]), str(PARTNER_NET[1])]
    return reverse_zones([*fixed, *addresses])


#: Isolated mode's IPv6 hosts, from 2001:db8::10 (RFC 3849).
ISOLATED_NET6 = ipaddress.ip_network("2001:db8::/64")


def _host_address6(network: str, index: int, given: str | None,
                   default: bool) -> str | None:
    if network == "loopback":
        return None  # loopback has one IPv6 address, ::1, for everyone
    from .isolated.addresses import check_documentation

    if given:
        return check_documentation(given)
    return str(ISOLATED_NET6[0x10 + index]) if default else None


def address_rtype(address: str) -> str:
    return "AAAA" if ":" in address else "A"


def build_plan(scenario: Scenario, slot: int = 0, network: str = "loopback") -> Plan:
    """The healthy plan for the scenario's organisation, then its faults."""
    org = scenario.organisation
    domain = org.domain

    # Hosts: each its own loopback address, in file order from .10 up.
    hosts: dict[str, PlannedHost] = {}
    for i, spec in enumerate(org.hosts):
        services: dict[str, int] = {}
        for role in spec.roles:
            services.update(ROLE_SERVICES[role])
        hosts[spec.name] = PlannedHost(
            name=spec.name, fqdn=f"{spec.name}.{domain}",
            address=_host_address(network, slot, i, spec.address),
            roles=tuple(spec.roles),
            services=services,
            address6=_host_address6(network, i, spec.address6, org.ipv6),
        )

    plan = Plan(
        name=scenario.name, domain=domain, slot=slot, hosts=hosts, records=[],
        zones=[domain, *_reverse_zones(network, slot,
                                       [a for h in hosts.values()
                                        for a in h.addresses])],
        users={u.name: u.secret for u in org.users}, relay=org.relay,
        outside=[o.domain for o in scenario.outside], network=network,
    )
    _baseline_records(plan, scenario)
    _partners(plan, scenario)
    if plan.relay is not None:
        plan.ehlo = scenario.organisation.ehlo or plan.relay_host.fqdn
    d = scenario.delivery
    plan.schedule = (tuple(d.retry), d.give_up, d.delay_notice)

    for fault in scenario.faults:
        fault.apply(plan)
        plan.faults.append(fault.type)
    return plan


def _baseline_records(plan: Plan, scenario: Scenario) -> None:
    domain = plan.domain
    dns_hosts = [h for h in plan.hosts.values() if "dns" in h.roles]

    # The zone apex: NS for every DNS host (RFC 1034 section 4.2.1).
    for h in dns_hosts:
        plan.add(domain, "NS", h.fqdn)
    for h in plan.hosts.values():
        for address in h.addresses:
            plan.add(h.fqdn, address_rtype(address), address)
            plan.add(reverse_name(address), "PTR", h.fqdn)

    # Mail routing: MX preference in host order, 10, 20, ...
    mx_hosts = [h for h in plan.hosts.values() if "mx" in h.roles]
    for i, h in enumerate(mx_hosts):
        plan.add(domain, "MX", (10 * (i + 1), h.fqdn))
    spf = scenario.organisation.spf
    relay = plan.hosts.get(scenario.organisation.relay or "")
    if relay is not None and relay.address6 and "ip6:" not in spf:
        # The relay sends over IPv6 too: the record must say so (RFC 7208 5.6).
        spf = spf.replace(" -all", f" ip6:{relay.address6} -all")
    plan.add(domain, "TXT", plan.expand(spf))
    if scenario.organisation.dmarc is not None:
        plan.add(f"_dmarc.{domain}", "TXT", plan.expand(scenario.organisation.dmarc))

    # Client service discovery (RFC 6186, and Autodiscover's SRV record).
    for h in plan.hosts.values():
        for service, port in h.services.items():
            if service in SRV_LABELS:
                plan.add(f"{SRV_LABELS[service]}.{domain}", "SRV",
                         (0, 1, port, h.fqdn))

    for spec in scenario.organisation.records:
        _add_spec(plan, spec.name, spec.type, spec.value, domain)

    # Outside domains: a zone each, with the records the scenario gives.
    for outside in scenario.outside:
        plan.zones.append(outside.domain)
        for h in dns_hosts:
            plan.add(outside.domain, "NS", h.fqdn)
        if outside.spf is not None:
            plan.add(outside.domain, "TXT", plan.expand(outside.spf))
        for spec in outside.records:
            _add_spec(plan, spec.name, spec.type, spec.value, outside.domain)


def _add_spec(plan: Plan, name: str, rtype: str, value: str, origin: str) -> None:
    name = plan.expand(name)
    if name == "@":
        name = origin
    elif not name.endswith(".") and not name.endswith(origin):
        name = f"{name}.{origin}"
    value = plan.expand(value)
    if rtype == "MX":
        pref, exchange = value.split()
        plan.add(name, rtype, (int(pref), exchange.rstrip(".")))
    elif rtype == "SRV":
        prio, weight, port, target = value.split()
        plan.add(name, rtype, (int(prio), int(weight), int(port), target.rstrip(".")))
    else:
        plan.add(name, rtype, value)


def _partners(plan: Plan, scenario: Scenario) -> None:
    """Partner MX hosts (from .200 up) and the lab's blocklist zones."""
    n = 0
    for outside in scenario.outside:
        hosts = []
        for mx in outside.mx:
            fqdn = f"{mx.name}.{outside.domain}"
            host = PlannedHost(fqdn, fqdn, plan.partner_address(n),
                               ("partner-mx",), {"smtp": 25})
            n += 1
            hosts.append(host)
            plan.add(outside.domain, "MX", (mx.preference, fqdn))
            plan.add(fqdn, address_rtype(host.address), host.address)
            plan.add(reverse_name(host.address), "PTR", fqdn)
        if hosts:
            plan.partners.append(PlannedPartner(
                outside.domain, hosts, outside.policy.model_dump(),
                tuple(outside.users) if outside.users is not None else None))

    for bl in scenario.blocklists:
        plan.zones.append(bl.zone)
        plan.add(bl.zone, "NS", plan.resolver.fqdn)
        for listed in bl.listed:
            address = plan.expand(listed)
            reversed_ip = ".".join(reversed(address.split(".")))
            plan.add(f"{reversed_ip}.{bl.zone}", "A", bl.answer)
            plan.add(f"{reversed_ip}.{bl.zone}", "TXT", bl.reason)
