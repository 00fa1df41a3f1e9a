"""The checker's DNS layer: dnspython aimed at one chosen resolver.

Every query comes back as an ``Answer`` whose ``status`` tells the five
outcomes apart that a diagnosis must not confuse (RFC 8020 NXDOMAIN, RFC 2308
NODATA, SERVFAIL, REFUSED, no answer at all). A truncated UDP answer is
retried over TCP (RFC 7766 section 5), and the evidence says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import dns.asyncquery
import dns.exception
import dns.inet
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from .errors import UsageError

log = logging.getLogger(__name__)

Status = Literal["ok", "nxdomain", "nodata", "servfail", "refused", "timeout", "error"]

#: Outcomes that say something about the record itself; the others only say
#: that the question could not be answered, so a check meeting them is
#: inconclusive rather than failed.
DEFINITE: frozenset[str] = frozenset({"ok", "nxdomain", "nodata"})

Record = str | tuple[int, str] | tuple[bytes, ...]


@dataclass(frozen=True)
class Answer:
    """The outcome of one query.

    ``records`` holds, by type: addresses as text (A, AAAA); ``(preference,
    exchange)`` (MX); names without the final dot, lower case (PTR, CNAME, NS);
    one tuple of character-strings as bytes per record (TXT, SPF), because
    RFC 7208 section 3.3 joins them and some records hold bytes that are not
    UTF-8.
    """

    qname: str
    rdtype: str
    status: Status
    records: tuple[Record, ...] = ()
    via: str = "udp"
    truncated: bool = False
    elapsed_ms: float = 0.0
    detail: str = ""
    #: Aliases followed to reach the answer (RFC 1034 section 3.6.2).
    cnames: tuple[str, ...] = ()

    @property
    def definite(self) -> bool:
        return self.status in DEFINITE

    def evidence(self) -> str:
        """One line a human can read: the question, how it was asked, the reply."""
        head = f"{self.qname} {self.rdtype} ({self.via}"
        if self.truncated:
            head += ", UDP answer truncated"
        head += f", {self.elapsed_ms:.0f} ms)"
        if self.status == "ok":
            shown = ", ".join(_show(r) for r in self.records)
            alias = "".join(f" (via CNAME {c})" for c in self.cnames)
            return f"{head}{alias}: {shown}"
        tail = f": {self.status.upper()}"
        return head + tail + (f" ({self.detail})" if self.detail else "")


def _show(record: Record) -> str:
    if isinstance(record, tuple) and record and isinstance(record[0], bytes):
        return " ".join(
            '"' + part.decode("utf-8", "backslashreplace") + '"' for part in record
        )
    if isinstance(record, tuple):
        return f"{record[0]} {record[1]}"
    return str(record)


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """Split ``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` into address and port."""
    text = text.strip()
    try:
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else default_port
        elif text.count(":") == 1:
            host, port_text = text.split(":")
            port = int(port_text)
        else:
            host, port = text, default_port
        dns.inet.af_for_address(host)  # type: ignore[attr-defined]
    except (ValueError, AttributeError) as exc:
        raise UsageError(f"not a resolver address: {text!r} ({exc})") from None
    if not 0 < port < 65536:
        raise UsageError(f"resolver port out of range: {port}")
    return host, port


@dataclass
class DnsClient:
    """Asks one server, with a short timeout and a TCP retry on truncation."""

    server: str
    port: int = 53
    timeout: float = 2.0
    queries: list[Answer] = field(default_factory=list)

    async def query(self, qname: str, rdtype: str) -> Answer:
        started = time.monotonic()
        request = dns.message.make_query(qname, rdtype)
        request.flags |= dns.flags.RD
        via = "udp"
        truncated = False
        try:
            reply = await dns.asyncquery.udp(
                request, self.server, port=self.port, timeout=self.timeout,
                ignore_unexpected=True,
            )
            if reply.flags & dns.flags.TC:
                truncated = True
                via = "tcp"
                reply = await dns.asyncquery.tcp(
                    request, self.server, port=self.port, timeout=self.timeout
                )
        except (dns.exception.Timeout, asyncio.TimeoutError):
            return self._done(qname, rdtype, "timeout", (), via, truncated, started,
                              f"no reply within {self.timeout:g} s")
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            status: Status = "timeout" if via == "tcp" else "error"
            return self._done(qname, rdtype, status, (), via, truncated, started,
                              f"{type(exc).__name__}: {exc}")

        rcode = reply.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return self._done(qname, rdtype, "nxdomain", (), via, truncated, started)
        if rcode == dns.rcode.SERVFAIL:
            return self._done(qname, rdtype, "servfail", (), via, truncated, started)
        if rcode == dns.rcode.REFUSED:
            return self._done(qname, rdtype, "refused", (), via, truncated, started)
        if rcode != dns.rcode.NOERROR:
            return self._done(qname, rdtype, "error", (), via, truncated, started,
                              f"rcode {dns.rcode.to_text(rcode)}")

        records = _records(reply, qname, rdtype)
        cnames = () if rdtype == "CNAME" else tuple(
            rr.name.to_text().rstrip(".").lower() for rr in reply.answer
            if rr.rdtype == dns.rdatatype.CNAME)
        status = "ok" if records else "nodata"
        return self._done(qname, rdtype, status, records, via, truncated, started,
                          cnames=cnames)

    def _done(self, qname: str, rdtype: str, status: Status,
              records: tuple[Record, ...], via: str, truncated: bool,
              started: float, detail: str = "",
              cnames: tuple[str, ...] = ()) -> Answer:
        answer = Answer(
            qname=qname.rstrip(".").lower(), rdtype=rdtype, status=status,
            records=records, via=via, truncated=truncated,
            elapsed_ms=(time.monotonic() - started) * 1000, detail=detail,
            cnames=cnames,
        )
        log.debug("dns %s", answer.evidence())
        self.queries.append(answer)
        return answer


def _records(reply: dns.message.Message, qname: str, rdtype: str) -> tuple[Record, ...]:
    """The answer's records of the asked type, following CNAMEs in the answer."""
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
        exchange = rdata.exchange.to_text().rstrip(".").lower()  # type: ignore
        return (int(rdata.preference), exchange)  # type: ignore[attr-defined]
    if rdtype in ("TXT", "SPF"):
        return tuple(bytes(s) for s in rdata.strings)  # type: ignore[attr-defined]
    if rdtype in ("PTR", "CNAME", "NS"):
        return rdata.target.to_text().rstrip(".").lower()  # type: ignore
    return rdata.to_text()  # type: ignore[attr-defined]
