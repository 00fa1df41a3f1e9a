"""DNS lookups for the relay and the partner MX: dnspython aimed at the lab.

Only the lab's own resolver is ever asked (its address and port are given),
with a short timeout, and a truncated UDP answer is asked again over TCP
(RFC 7766 section 5). Each answer keeps the outcomes apart that mail
routing must tell apart: NXDOMAIN, NODATA, and no usable answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename

log = logging.getLogger(__name__)

Status = Literal["ok", "nxdomain", "nodata", "servfail", "refused", "timeout",
                 "error"]
#: Outcomes that say something final about the name.
DEFINITE = frozenset({"ok", "nxdomain", "nodata"})

Record = str | tuple[int, str] | tuple[bytes, ...]


@dataclass(frozen=True)
class Lookup:
    qname: str
    rdtype: str
    status: Status
    records: tuple[Record, ...] = ()

    @property
    def definite(self) -> bool:
        return self.status in DEFINITE

    def describe(self) -> str:
        return f"{self.qname} {self.rdtype}: {self.status}"


@dataclass(frozen=True)
class LabResolver:
    """Asks one server (the lab's), over UDP then TCP on truncation."""

    server: str
    port: int = 53
    timeout: float = 2.0

    async def query(self, qname: str, rdtype: str) -> Lookup:
        name = qname.rstrip(".").lower()
        request = dns.message.make_query(name + ".", rdtype)
        request.flags |= dns.flags.RD
        try:
            reply = await dns.asyncquery.udp(request, self.server, port=self.port,
                                             timeout=self.timeout,
                                             ignore_unexpected=True)
            if reply.flags & dns.flags.TC:
                reply = await dns.asyncquery.tcp(request, self.server,
                                                 port=self.port,
                                                 timeout=self.timeout)
        except (TimeoutError, dns.exception.Timeout):
            return self._log(Lookup(name, rdtype, "timeout"))
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            log.debug("dns %s %s failed: %s", name, rdtype, exc)
            return self._log(Lookup(name, rdtype, "error"))

        rcode = reply.rcode()
        named = {dns.rcode.NXDOMAIN: "nxdomain", dns.rcode.SERVFAIL: "servfail",
                 dns.rcode.REFUSED: "refused"}
        if rcode in named:
            return self._log(Lookup(name, rdtype, named[rcode]))  # type: ignore
        if rcode != dns.rcode.NOERROR:
            return self._log(Lookup(name, rdtype, "error"))
        records = _records(reply, rdtype)
        return self._log(Lookup(name, rdtype, "ok" if records else "nodata", records))

    async def ptr(self, address: str) -> Lookup:
        reverse = dns.reversename.from_address(address).to_text()
        return await self.query(reverse, "PTR")

    async def addresses(self, name: str) -> tuple[Lookup, Lookup]:
        """A and AAAA of ``name``, asked at once."""
        a, aaaa = await asyncio.gather(self.query(name, "A"),
                                       self.query(name, "AAAA"))
        return a, aaaa

    @staticmethod
    def _log(found: Lookup) -> Lookup:
        log.debug("dns %s -> %s", found.describe(), found.records)
        return found


def _records(reply: dns.message.Message, rdtype: str) -> tuple[Record, ...]:
    wanted = dns.rdatatype.from_text(rdtype)
    out: list[Record] = []
    for rrset in reply.answer:
        if rrset.rdtype != wanted:
            continue
        for rdata in rrset:
            out.append(_record(rdata, rdtype))
    return tuple(out)


def _record(rdata: object, rdtype: str) -> Record:
    if rdtype in ("A", "AAAA"):
        return str(rdata.address)  # type: ignore[attr-defined]
    if rdtype == "MX":
        # The null MX's exchange "." becomes "" (RFC 7505 section 3).
        exchange = rdata.exchange.to_text().rstrip(".").lower()  # type: ignore
        return (int(rdata.preference), exchange)  # type: ignore[attr-defined]
    if rdtype == "TXT":
        return tuple(bytes(s) for s in rdata.strings)  # type: ignore[attr-defined]
    if rdtype in ("PTR", "CNAME", "NS"):
        return rdata.target.to_text().rstrip(".").lower()  # type: ignore
    return rdata.to_text()  # type: ignore[attr-defined]
