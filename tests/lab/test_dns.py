"""The lab's DNS server against real clients: dnspython and dig, UDP and TCP."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import dns.asyncquery
import dns.exception
import dns.rdatatype
import dns.reversename
import dns.flags
import dns.message
import dns.rcode
import pytest

from lab.dns import DnsServer, Responder, Zone
from lab.dns.responder import Rule
from tests.conftest import STEP_TIMEOUT, need


def resolver_of(lab) -> tuple[str, int]:
    host, _, port = lab.state()["resolver"].rpartition(":")
    return host, int(port)


async def ask(server: tuple[str, int], qname: str, rdtype: str, *, tcp: bool = False):
    query = dns.message.make_query(qname, rdtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(query, server[0], port=server[1], timeout=STEP_TIMEOUT)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_serves_the_organisation_zone(healthy_lab, tcp):
    server = resolver_of(healthy_lab)

    mx = await ask(server, "contoso.test", "MX", tcp=tcp)
    assert mx.rcode() == dns.rcode.NOERROR
    assert mx.flags & dns.flags.AA
    assert [r.to_text() for r in mx.answer[0]] == ["10 mx1.contoso.test."]

    a = await ask(server, "mx1.contoso.test", "A", tcp=tcp)
    address = a.answer[0][0].address
    assert address == healthy_lab.plan.host("mx1").address

    ptr = await ask(server, dns.reversename.from_address(address).to_text(), "PTR",
                    tcp=tcp)
    assert ptr.answer[0][0].target.to_text() == "mx1.contoso.test."


async def test_negative_answers_tell_nxdomain_from_nodata(healthy_lab):
    server = resolver_of(healthy_lab)

    missing = await ask(server, "nothing.contoso.test", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].rdtype == dns.rdatatype.SOA

    nodata = await ask(server, "mx1.contoso.test", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA


async def test_refuses_names_it_is_not_authoritative_for(healthy_lab):
    reply = await ask(resolver_of(healthy_lab), "example.com", "A")
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA


async def test_question_case_is_echoed(healthy_lab):
    reply = await ask(resolver_of(healthy_lab), "CoNtOsO.TeSt", "MX")
    assert reply.question[0].name.to_text() == "CoNtOsO.TeSt."
    assert reply.answer[0][0].preference == 10


@pytest.mark.parametrize("extra", [[], ["+tcp"]], ids=["udp", "tcp"])
async def test_dig_sees_the_zone(healthy_lab, extra):
    dig = need("dig")
    host, port = resolver_of(healthy_lab)
    result = await asyncio.to_thread(
        subprocess.run,
        [dig, f"@{host}", "-p", str(port), "+time=2", "+tries=1", "+norec",
         *extra, "contoso.test", "TXT"],
        capture_output=True, text=True, timeout=10,
    )
    assert "status: NOERROR" in result.stdout
    assert "flags: qr aa" in result.stdout
    assert '"v=spf1 mx ip4:' in result.stdout


async def test_dig_reverse_lookup_of_every_host(healthy_lab):
    dig = need("dig")
    host, port = resolver_of(healthy_lab)
    for planned in healthy_lab.plan.hosts.values():
        result = await asyncio.to_thread(
            subprocess.run,
            [dig, f"@{host}", "-p", str(port), "+time=2", "+tries=1", "+short",
             "-x", planned.address],
            capture_output=True, text=True, timeout=10,
        )
        assert result.stdout.strip() == planned.fqdn + "."


# The responder and server alone, on port 0, for the wire-level behaviours.

def zone_with_long_txt() -> Zone:
    long_text = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(60)) + " -all"
    return Zone.build(["big.test"], [
        ("big.test", "NS", "ns.big.test", 300),
        ("big.test", "TXT", long_text, 300),
        ("slow.big.test", "A", "192.0.2.1", 300),
    ])


async def test_large_answer_is_truncated_over_udp_and_whole_over_tcp():
    server = DnsServer(Responder(zone_with_long_txt()), "127.0.0.1", 0)
    await server.start()
    try:
        udp = await ask(("127.0.0.1", server.port), "big.test", "TXT")
        assert udp.flags & dns.flags.TC
        assert not udp.answer
        tcp = await ask(("127.0.0.1", server.port), "big.test", "TXT", tcp=True)
        assert not tcp.flags & dns.flags.TC
        joined = b"".join(tcp.answer[0][0].strings)
        assert joined.startswith(b"v=spf1 ") and joined.endswith(b" -all")
    finally:
        await server.close()


async def test_rules_inject_servfail_and_timeouts():
    rules = [Rule("big.test", "servfail", types=frozenset({"TXT"})),
             Rule("slow.big.test", "timeout")]
    server = DnsServer(Responder(zone_with_long_txt(), rules), "127.0.0.1", 0)
    await server.start()
    try:
        reply = await ask(("127.0.0.1", server.port), "big.test", "TXT")
        assert reply.rcode() == dns.rcode.SERVFAIL
        with pytest.raises(dns.exception.Timeout):
            query = dns.message.make_query("slow.big.test", "A")
            await dns.asyncquery.udp(query, "127.0.0.1", port=server.port,
                                     timeout=0.3)
        # The rule is for TXT only: other types still answer.
        ns = await ask(("127.0.0.1", server.port), "big.test", "NS")
        assert ns.rcode() == dns.rcode.NOERROR and ns.answer
    finally:
        await server.close()


@pytest.mark.parametrize("garbage", [
    b"", b"\x00", b"\x12\x34" + b"\xff" * 10,
    bytes.fromhex("abcd01000001000000000000") + b"\x3fabc",    # label runs off
    bytes.fromhex("abcd01000001000000000000") + b"\xc0\x0c\x00\x01\x00\x01",  # loop
    bytes.fromhex("abcd0100ffff000000000000"),                  # huge qdcount
])
async def test_garbage_gets_formerr_or_silence_and_service_goes_on(garbage):
    server = DnsServer(Responder(zone_with_long_txt()), "127.0.0.1", 0)
    await server.start()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(0.3)
        sock.sendto(garbage, ("127.0.0.1", server.port))
        try:
            reply = sock.recv(4096)
        except TimeoutError:
            reply = None
        sock.close()
        if reply is not None:
            assert reply[:2] == garbage[:2]
            assert reply[3] & 0x0F == dns.rcode.FORMERR
        ok = await ask(("127.0.0.1", server.port), "big.test", "NS")
        assert ok.rcode() == dns.rcode.NOERROR
    finally:
        await server.close()
