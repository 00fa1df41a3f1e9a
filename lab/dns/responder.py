"""The DNS responder, without sockets: query bytes in, reply bytes out.

Theory of operation. Almost every query a lab sees is one question without
compression, with at most an EDNS OPT record (RFC 6891). For those the
responder reads the question straight from the bytes and answers from a
table of replies prepared on first use, keyed by the lower-cased question
and the reply size limit; only the ID and the question as sent (its letter
case, RFC 4343) are copied in. Anything else takes the slow path through
dnslib's parser. Malformed input gets FORMERR when it has a header and is
dropped when it does not: a reply to garbage must never crash the server.

Faults act through ``rules``: a name (and optionally some types) can answer
SERVFAIL, REFUSED or NXDOMAIN, or not at all (a timeout), or late.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from dnslib import EDNS0, QTYPE, RCODE, DNSError, DNSHeader, DNSQuestion, DNSRecord

from .zone import Zone

log = logging.getLogger(__name__)

#: RFC 1035 section 4.2.1: the UDP limit without EDNS.
CLASSIC_UDP = 512
#: The largest UDP reply we send even when a client offers more (RFC 9715
#: recommends staying below fragmentation).
MAX_UDP = 1232
MAX_PREPARED = 50_000

_HEADER = struct.Struct("!HHHHHH")


@dataclass(frozen=True)
class Rule:
    """An injected misbehaviour for a name.

    ``action`` is ``servfail``, ``refused``, ``nxdomain``, ``timeout`` (no
    reply) or ``slow`` (reply after ``delay`` seconds). ``types`` limits the
    rule to some query types; ``except_types`` exempts some.
    """

    name: str
    action: str
    types: frozenset[str] = frozenset()
    except_types: frozenset[str] = frozenset()
    delay: float = 0.0
    subtree: bool = False

    def matches(self, qname: str, qtype: str) -> bool:
        if qname != self.name and not (
                self.subtree and qname.endswith("." + self.name)):
            return False
        if self.types and qtype not in self.types:
            return False
        return qtype not in self.except_types


class Responder:
    """Answers queries for one ``Zone``, with the injected ``rules``."""

    def __init__(self, zone: Zone, rules: list[Rule] | None = None) -> None:
        self.zone = zone
        self.rules = list(rules or [])
        self._prepared: dict[tuple[bytes, int, int, int, bool], bytes] = {}

    def respond(self, data: bytes, *, tcp: bool = False) -> tuple[bytes | None, float]:
        """The reply to ``data`` (None: send nothing) and a delay before it."""
        fast = self._parse_simple(data)
        if fast is None:
            return self._slow(data, tcp), 0.0
        qname_wire, qend, qtype, qclass, edns = fast
        limit = 65535 if tcp else (
            max(CLASSIC_UDP, min(edns, MAX_UDP)) if edns else CLASSIC_UDP)

        delay = 0.0
        if self.rules:
            name = _wire_to_text(qname_wire)
            type_text = QTYPE.get(qtype, str(qtype))
            for rule in self.rules:
                if rule.matches(name, type_text):
                    if rule.action == "timeout":
                        log.debug("dns %s %s: no answer (timeout rule)", name,
                                  type_text)
                        return None, 0.0
                    if rule.action == "slow":
                        delay = rule.delay
                        continue
                    return self._slow(data, tcp, forced=rule.action), 0.0

        key = (qname_wire.lower(), qtype, qclass, limit, bool(edns))
        body = self._prepared.get(key)
        if body is None:
            body = self._prepare(data, qend, limit, bool(edns))
            if body is None:
                return self._slow(data, tcp), 0.0
            if len(self._prepared) >= MAX_PREPARED:
                self._prepared.clear()
            self._prepared[key] = body
        # The ID and RD bit of this query, the rest as prepared (RFC 1035 4.1.1).
        flags = bytes(((body[0] & 0xFE) | (data[2] & 0x01),))
        return (data[:2] + flags + body[1:10] + data[12:qend] + body[qend - 2:],
                delay)

    def _parse_simple(self, data: bytes) -> tuple[bytes, int, int, int, int] | None:
        """(qname wire, end of question, qtype, qclass, EDNS size or 0)."""
        if len(data) < 17:
            return None
        _, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
        if flags & 0xF800 or qd != 1 or an or ns or ar > 1:
            return None  # a response, an opcode other than QUERY, or odd counts

        pos = 12
        while True:
            length = data[pos]
            if length == 0:
                pos += 1
                break
            if length > 63 or pos + length + 1 >= len(data):
                return None  # compression or a bad label: the slow path decides
            pos += length + 1
        if pos + 4 > len(data) or pos - 12 > 255:
            return None
        qtype, qclass = struct.unpack_from("!HH", data, pos)
        qend = pos + 4

        edns = 0
        if ar:
            # A bare OPT pseudo-record: root name, type 41, payload size.
            if qend + 11 > len(data) or data[qend] != 0:
                return None
            rtype, size = struct.unpack_from("!HH", data, qend + 1)
            if rtype != 41:
                return None
            edns = max(size, CLASSIC_UDP)
        elif qend != len(data):
            return None
        return data[12:pos], qend, qtype, qclass, edns

    def _prepare(self, data: bytes, qend: int, limit: int, edns: bool) -> bytes | None:
        """The reply without its ID, for the question ending at ``qend``."""
        try:
            request = DNSRecord.parse(data)
        except (DNSError, struct.error, IndexError, ValueError):
            return None
        reply = self._answer(request, edns)
        wire = _fit(reply, limit)
        if wire[12:qend].lower() != data[12:qend].lower():
            return None  # dnslib compressed the question differently; stay exact
        return wire[2:]

    def _answer(self, request: DNSRecord, edns: bool,
                forced: str | None = None) -> DNSRecord:
        q = request.q
        reply = DNSRecord(DNSHeader(id=request.header.id, qr=1, ra=0,
                                    rd=request.header.rd), q=q)
        if edns:
            reply.add_ar(EDNS0(udp_len=MAX_UDP))
        if request.header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
            return reply
        if forced is not None:
            reply.header.rcode = getattr(RCODE, forced.upper())
            reply.header.aa = int(forced == "nxdomain")
            return reply

        found = self.zone.lookup(str(q.qname), QTYPE.get(q.qtype, str(q.qtype)))
        reply.header.rcode = getattr(RCODE, found.rcode)
        reply.header.aa = int(found.authoritative)
        for rr in found.answer:
            reply.add_answer(rr)
        for rr in found.authority:
            reply.add_auth(rr)
        return reply

    def _slow(self, data: bytes, tcp: bool, forced: str | None = None) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except (DNSError, struct.error, IndexError, ValueError, UnicodeError):
            return _formerr(data)
        if request.header.qr:
            return None  # never answer a response: that is how loops start
        if len(request.questions) != 1:
            reply = DNSRecord(DNSHeader(id=request.header.id, qr=1,
                                        rcode=RCODE.FORMERR))
            return reply.pack()
        edns = any(rr.rtype == QTYPE.OPT for rr in request.ar)
        size = next((rr.rclass for rr in request.ar if rr.rtype == QTYPE.OPT), 0)
        limit = 65535 if tcp else (
            max(CLASSIC_UDP, min(size, MAX_UDP)) if edns else CLASSIC_UDP)
        try:
            return _fit(self._answer(request, edns, forced), limit)
        except (DNSError, struct.error, ValueError) as exc:
            log.debug("dns cannot answer %r: %s", request.q, exc)
            return _formerr(data)


def _fit(reply: DNSRecord, limit: int) -> bytes:
    """The packed reply, or its truncated form with TC set (RFC 2181 s. 9)."""
    wire = reply.pack()
    if len(wire) <= limit:
        return wire
    cut = DNSRecord(DNSHeader(id=reply.header.id, qr=1, aa=reply.header.aa,
                              tc=1, rd=reply.header.rd), q=reply.q)
    for rr in reply.ar:
        if rr.rtype == QTYPE.OPT:
            cut.add_ar(rr)
    return cut.pack()


def _formerr(data: bytes) -> bytes | None:
    if len(data) < 12:
        return None
    msg_id, flags = struct.unpack_from("!HH", data)
    if flags & 0x8000:
        return None
    rd = flags & 0x0100
    return _HEADER.pack(msg_id, 0x8000 | rd | RCODE.FORMERR, 0, 0, 0, 0)


def _wire_to_text(wire: bytes) -> str:
    labels = []
    pos = 0
    while pos < len(wire) and wire[pos]:
        n = wire[pos]
        labels.append(wire[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += n + 1
    return ".".join(labels).lower()


__all__ = ["DNSQuestion", "Responder", "Rule"]
