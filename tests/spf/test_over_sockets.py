"""check_host() through the real ``checker.dns.DnsClient`` over loopback UDP.

A tiny dnslib server on 127.0.0.1 port 0 serves suite zone data from the
mapping of ``zonedata.zone_from_zonedata``; TIMEOUT means no reply at all.
This shows the evaluator and the client agree on the shape of answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dnslib import MX, PTR, QTYPE, RCODE, RR, TXT, A, AAAA, DNSRecord

from checker.dns import DnsClient
from checker.spf import evaluate

from .zonedata import Zone, lookup, zone_from_zonedata

ZONEDATA = {
    "example.com": [{"SPF": "v=spf1 mx include:inc.example.com -all "
                            "exp=why.example.com"},
                    {"MX": ["10", "mx.example.com"]}],
    "mx.example.com": [{"A": "192.0.2.10"}],
    "inc.example.com": [{"SPF": ["v=spf1 ip4:", "198.51.100.0/24"]}],
    "why.example.com": [{"TXT": "%{i} is not welcome here"}],
    "slow.example.com": ["TIMEOUT"],
    "bad.example.com": [{"TXT": "v=spf1 a:\xef\xbb\xbfx.example.com -all"}],
}
_RDATA = {"A": A, "AAAA": AAAA, "PTR": PTR, "CNAME": PTR}


class _ZoneProtocol(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - garbage gets no answer
            return
        qname = str(request.q.qname).rstrip(".")
        rdtype = QTYPE[request.q.qtype]
        answer = lookup(self.zone, qname, rdtype)
        if answer.status == "timeout":
            return
        reply = request.reply()
        if answer.status == "nxdomain":
            reply.header.rcode = RCODE.NXDOMAIN
        for record in answer.records:
            reply.add_answer(RR(request.q.qname, request.q.qtype, ttl=60,
                                rdata=_rdata(rdtype, record)))
        self.transport.sendto(reply.pack(), addr)  # type: ignore[attr-defined]


def _rdata(rdtype: str, record: object) -> object:
    if rdtype == "TXT":
        return TXT(list(record))  # type: ignore[call-overload]
    if rdtype == "MX":
        preference, exchange = record  # type: ignore[misc]
        return MX(exchange, preference)
    return _RDATA[rdtype](record)


@pytest.fixture
async def client() -> AsyncIterator[DnsClient]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _ZoneProtocol(zone_from_zonedata(ZONEDATA)),
        local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        yield DnsClient("127.0.0.1", port=port, timeout=0.3)
    finally:
        transport.close()


async def test_pass_through_include_over_udp(client: DnsClient) -> None:
    outcome = await evaluate(client, "198.51.100.7", "a@example.com", "h.example")
    assert outcome.result == "pass"
    assert outcome.matched_term is not None
    assert outcome.matched_term.domain == "inc.example.com"
    assert [a.rdtype for a in client.queries] == ["TXT", "MX", "A", "TXT"]


async def test_fail_with_explanation_over_udp(client: DnsClient) -> None:
    outcome = await evaluate(client, "203.0.113.1", "a@example.com", "h.example")
    assert (outcome.result, outcome.explanation) == (
        "fail", "203.0.113.1 is not welcome here")


async def test_timeout_and_non_ascii_over_udp(client: DnsClient) -> None:
    slow = await evaluate(client, "192.0.2.1", "a@slow.example.com", "h.example")
    assert slow.result == "temperror"
    bad = await evaluate(client, "192.0.2.1", "a@bad.example.com", "h.example")
    assert bad.result == "permerror" and "0xef" in (bad.problem or "")
