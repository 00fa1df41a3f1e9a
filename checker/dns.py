"""The checker's DNS layer: dnspython aimed at one chosen resolver.

Every query comes back as an ``Answer`` whose ``status`` tells the five
outcomes apart that a diagnosis must not confuse (RFC 8020 NXDOMAIN, RFC 2308
NODATA, SERVFAIL, REFUSED, no answer at all). A truncated UDP answer is
retried over TCP (RFC 7766 section 5), and the evidence says so.

The exchange itself is a few lines of asyncio over ``dns.message`` rather than
``dns.asyncquery``: that module imports ``dns.query``, which loads the
DNS-over-HTTPS stack (httpx, trio) whenever it is installed, a tenth of a
second of every ``maillab check`` for transports the checker never uses.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.flags
import dns.inet
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

#: The largest reply read, over either transport: a DNS message over TCP
#: carries a two-octet length (RFC 1035 section 4.2.2), and no UDP datagram
#: is larger.
MAX_REPLY = 65535


class BadReply(dns.exception.DNSException):
    """A TCP reply that does not answer the question asked."""


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
    #: "internal" or "external" where the organisation has split DNS.
    view: str = ""

    @property
    def definite(self) -> bool:
        return self.status in DEFINITE

    def evidence(self) -> str:
        """One line a human can read: the question, how it was asked, the reply."""
        head = f"{self.qname} {self.rdtype} ({self.via}"
        if self.view:
            head = f"[{self.view} view] {head}"
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
    #: The view this server gives, labelling every answer's evidence.
    view: str = ""

    async def query(self, qname: str, rdtype: str) -> Answer:
        started = time.monotonic()
        request = dns.message.make_query(qname, rdtype)
        request.flags |= dns.flags.RD
        via = "udp"
        truncated = False
        try:
            reply = await udp_exchange(request, self.server, self.port,
                                       self.timeout)
            if reply.flags & dns.flags.TC:
                truncated = True
                via = "tcp"
                reply = await tcp_exchange(request, self.server, self.port,
                                           self.timeout)
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
            cnames=cnames, view=self.view,
        )
        log.debug("dns %s", answer.evidence())
        self.queries.append(answer)
        return answer


async def udp_exchange(request: dns.message.Message, host: str, port: int,
                       timeout: float) -> dns.message.Message:
    """The first datagram from ``host:port`` that answers ``request``.

    Datagrams that do not parse or answer another query are ignored until
    the timeout (dns.exception.Timeout); an ICMP refusal raises
    ConnectionRefusedError. A truncated reply is returned with TC set.
    """
    loop = asyncio.get_running_loop()
    # A connected socket: the kernel drops datagrams from other sources and
    # reports an ICMP port unreachable as ConnectionRefusedError.
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Exchange(request, loop), family=dns.inet.af_for_address(host),
        remote_addr=(host, port))
    try:
        transport.sendto(request.to_wire())
        return await asyncio.wait_for(protocol.reply, timeout)
    except TimeoutError:
        raise dns.exception.Timeout(timeout=timeout) from None
    finally:
        transport.close()
        if protocol.reply.done() and not protocol.reply.cancelled():
            protocol.reply.exception()  # seen, also when the timeout won


async def tcp_exchange(request: dns.message.Message, host: str, port: int,
                       timeout: float) -> dns.message.Message:
    """``request`` over a fresh TCP connection (RFC 7766 section 8)."""
    try:
        return await asyncio.wait_for(_tcp(request, host, port), timeout)
    except TimeoutError:
        raise dns.exception.Timeout(timeout=timeout) from None


async def _tcp(request: dns.message.Message, host: str,
               port: int) -> dns.message.Message:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        wire = request.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()

        (size,) = struct.unpack("!H", await reader.readexactly(2))
        reply = dns.message.from_wire(await reader.readexactly(size))
    finally:
        writer.close()
    if not request.is_response(reply):
        raise BadReply(f"reply id {reply.id} does not answer query {request.id}")
    return reply


class _Exchange(asyncio.DatagramProtocol):
    """Waits for the datagram that answers one query."""

    def __init__(self, request: dns.message.Message,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.reply: asyncio.Future[dns.message.Message] = loop.create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.reply.done() or len(data) > MAX_REPLY:
            return
        try:
            reply = dns.message.from_wire(data, raise_on_truncation=True)
        except dns.message.Truncated as exc:
            # Only the header and question may be whole: enough to match it
            # and to go to TCP.
            reply = exc.message()
        except Exception:  # noqa: BLE001 - not a reply to us: keep waiting
            log.debug("dns: ignored an unreadable datagram from %s", addr)
            return
        if not self.request.is_response(reply):
            log.debug("dns: ignored a datagram that answers another query")
            return
        self.reply.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        # Without an error this is our own close, after the answer or timeout.
        if exc is not None and not self.reply.done():
            self.reply.set_exception(exc)


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
