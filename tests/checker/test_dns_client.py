"""The checker's DNS client at the wire: stray datagrams, truncation, refusals."""

from __future__ import annotations

import asyncio
import socket

import dns.flags
import dns.message
import dns.rrset

from checker.dns import DnsClient


class _Server(asyncio.DatagramProtocol):
    """Answers each query first with a wrong ID, then as ``reply`` says."""

    def __init__(self, truncate: bool) -> None:
        self.truncate = truncate
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore
        query = dns.message.from_wire(data)
        stray = dns.message.make_response(query)
        stray.id = (query.id + 1) % 65536
        assert self.transport is not None
        self.transport.sendto(stray.to_wire(), addr)

        reply = dns.message.make_response(query)
        if self.truncate:
            reply.flags |= dns.flags.TC
        else:
            reply.answer.append(dns.rrset.from_text(
                query.question[0].name, 60, "IN", "A", "192.0.2.7"))
        self.transport.sendto(reply.to_wire(), addr)


async def _udp(truncate: bool) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Server(truncate), local_addr=("127.0.0.1", 0))
    return transport, transport.get_extra_info("sockname")[1]


async def test_a_datagram_with_the_wrong_id_is_ignored():
    transport, port = await _udp(truncate=False)
    try:
        answer = await DnsClient("127.0.0.1", port, timeout=1.0).query(
            "x.test", "A")
    finally:
        transport.close()
    assert answer.status == "ok" and answer.records == ("192.0.2.7",)


async def test_truncation_retries_over_tcp_and_says_so_when_tcp_fails():
    transport, port = await _udp(truncate=True)
    try:
        # Nothing listens on TCP at that port: the retry is refused.
        answer = await DnsClient("127.0.0.1", port, timeout=1.0).query(
            "x.test", "TXT")
    finally:
        transport.close()
    assert answer.truncated and answer.via == "tcp"
    assert answer.status in ("timeout", "error")
    assert "UDP answer truncated" in answer.evidence()


async def test_a_closed_udp_port_is_an_error_not_an_answer():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    answer = await DnsClient("127.0.0.1", port, timeout=1.0).query("x.test", "A")
    assert answer.status in ("error", "timeout")
    assert not answer.definite
