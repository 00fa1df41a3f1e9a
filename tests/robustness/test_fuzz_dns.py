"""Malformed DNS never costs the lab's name server its service.

Hypothesis and a seeded mutation fuzzer throw broken packets at the lab
resolver over UDP and TCP: random bytes, truncated headers, bad label
lengths, compression loops, huge section counts, a valid header followed
by garbage. The properties: the server never answers a packet without a
header or a packet that is itself a response, every reply it does send
echoes the query ID with QR set, a TCP stream survives a framed garbage
message, nothing is logged as an unexpected error, and after every batch
a correct query still gets the correct answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct

import pytest
from dnslib import DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import (
    STEP,
    a_records,
    dns_query,
    endpoint,
    tcp_frame,
    tcp_read_frame,
    udp_exchange,
)

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

_HEADER = struct.Struct("!HHHHHH")


def _header(draw_id: int, flags: int, counts: tuple[int, int, int, int]) -> bytes:
    return _HEADER.pack(draw_id, flags, *counts)


_QUESTION = dns_query("mx1.contoso.test")[12:]
u16 = st.integers(0, 0xFFFF)
#: A query header: QR clear, so the server would answer it if it could.
query_flags = st.integers(0, 0x7FFF)


@st.composite
def bad_labels(draw: st.DrawFn) -> bytes:
    """One question whose labels lie about their length or exceed 63."""
    labels = b""
    for _ in range(draw(st.integers(1, 6))):
        length = draw(st.integers(0, 255))
        body = draw(st.binary(max_size=70))
        labels += bytes((length,)) + body
    tail = draw(st.sampled_from([b"\x00\x00\x01\x00\x01", b"\x00", b""]))
    return _header(draw(u16), draw(query_flags), (1, 0, 0, 0)) + labels + tail


@st.composite
def compression_loops(draw: st.DrawFn) -> bytes:
    """Names made of pointers: to themselves, to each other, past the end."""
    kind = draw(st.sampled_from(["self", "pair", "forward", "chain"]))
    head = _header(draw(u16), draw(query_flags), (draw(st.integers(1, 3)), 0, 0, 0))
    if kind == "self":
        body = b"\xc0\x0c"
    elif kind == "pair":
        body = b"\x01a\xc0\x0e\xc0\x0c"
    elif kind == "forward":
        body = struct.pack("!H", 0xC000 | draw(st.integers(14, 0x3FFF)))
    else:
        body = b"\x03www\xc0\x12\x03foo\xc0\x0c"
    return head + body + draw(st.binary(max_size=8))


@st.composite
def huge_counts(draw: st.DrawFn) -> bytes:
    counts = tuple(draw(st.sampled_from([0, 1, 2, 0x7FFF, 0xFFFF]))
                   for _ in range(4))
    body = _QUESTION
    cut = draw(st.integers(0, len(body)))
    return _header(draw(u16), draw(query_flags), counts) + body[:cut] + draw(
        st.binary(max_size=40))


@st.composite
def header_and_garbage(draw: st.DrawFn) -> bytes:
    counts = (draw(st.integers(0, 3)), draw(st.integers(0, 3)),
              draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    return _header(draw(u16), draw(u16), counts) + draw(st.binary(max_size=512))


garbage = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=11),  # truncated header
    bad_labels(),
    compression_loops(),
    huge_counts(),
    header_and_garbage(),
)


def _is_response(packet: bytes) -> bool:
    return len(packet) >= 4 and bool(packet[2] & 0x80)


def _check_replies(sent: bytes, replies: list[bytes]) -> None:
    """What the server may say to ``sent``: nothing, or a reply to its ID."""
    if len(sent) < 12 or _is_response(sent):
        assert replies == [], f"answered a packet it must ignore: {sent[:40]!r}"
        return
    assert len(replies) <= 1
    for reply in replies:
        assert len(reply) >= 12
        assert reply[:2] == sent[:2], "reply does not echo the query ID"
        assert reply[2] & 0x80, "reply without QR"


def _correct(reply: DNSRecord) -> None:
    """The one answer every batch ends with: mx1's A record, from the zone."""
    assert reply.header.rcode == 0
    assert reply.header.aa
    assert len(a_records(reply)) == 1
    assert a_records(reply)[0] == _EXPECTED["mx1"]


#: mx1's address in the running lab (its slot decides it).
_EXPECTED: dict[str, str] = {}


def _other_id(packet: bytes) -> int:
    seen = struct.unpack("!H", packet[:2])[0] if len(packet) >= 2 else 0
    return (seen + 1) & 0xFFFF


@pytest.fixture
def resolver(healthy_lab):
    _EXPECTED["mx1"] = healthy_lab.plan.host("mx1").address
    return endpoint(healthy_lab, "ns1", 53)


@pytest.fixture
def no_errors_logged(caplog):
    caplog.set_level(logging.WARNING, logger="lab")
    yield
    bad = [r for r in caplog.records
           if r.name.startswith("lab.") and r.levelno >= logging.ERROR]
    assert not bad, f"the server logged unexpected errors: {bad[0].getMessage()}"


async def test_udp_garbage_is_dropped_or_formerr(resolver, no_errors_logged):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    seen = []

    @FUZZ
    @given(packet=garbage)
    def fuzz(packet: bytes) -> None:
        seen.append(packet)
        sock.sendto(packet, resolver)
        reply, others = udp_exchange(sock, resolver, _other_id(packet))
        _check_replies(packet, others)
        _correct(reply)

    try:
        await asyncio.to_thread(fuzz)
    finally:
        sock.close()
    assert len(seen) >= 50


async def test_tcp_stream_survives_framed_garbage(resolver, no_errors_logged):
    # A well-behaved client holds its connection across the whole run.
    steady = socket.create_connection(resolver, timeout=STEP)

    @FUZZ
    @given(packet=garbage)
    def fuzz(packet: bytes) -> None:
        qid = _other_id(packet)
        with socket.create_connection(resolver, timeout=STEP) as sock:
            sock.sendall(tcp_frame(packet) + tcp_frame(dns_query(
                "mx1.contoso.test", qid=qid)))
            replies = []
            while True:
                frame = tcp_read_frame(sock)
                if frame[:2] == struct.pack("!H", qid):
                    break
                replies.append(frame)
        _check_replies(packet, replies)
        _correct(DNSRecord.parse(frame))

    def run() -> None:
        fuzz()
        steady.sendall(tcp_frame(dns_query("mx1.contoso.test", qid=7)))
        _correct(DNSRecord.parse(tcp_read_frame(steady)))

    try:
        await asyncio.to_thread(run)
    finally:
        steady.close()


def _mutate(rng: random.Random, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        if op < 0.5 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op < 0.7:
            del data[rng.randrange(len(data) + 1):]
        elif op < 0.9:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif len(data) > 2:
            data[2] &= 0x7F  # keep it a query so the slow path decides
    return bytes(data)


BASES = [dns_query(n, t) for n, t in [
    ("mx1.contoso.test", "A"), ("contoso.test", "MX"), ("contoso.test", "TXT"),
    ("_dmarc.contoso.test", "TXT"), ("11.0.77.127.in-addr.arpa", "PTR"),
    ("nowhere.example", "A"), ("contoso.test", "ANY")]]


async def test_seeded_mutations_udp_and_tcp(resolver, no_errors_logged):
    """2 x 1000 mutated real queries in batches; a correct answer after each."""
    rng = random.Random(20240601)

    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for batch in range(5):
                for _ in range(200):
                    udp.sendto(_mutate(rng, rng.choice(BASES)), resolver)
                reply, _ = udp_exchange(udp, resolver, 0xBEEF - batch)
                _correct(reply)
        for batch in range(5):
            with socket.create_connection(resolver, timeout=STEP) as tcp:
                packets = [_mutate(rng, rng.choice(BASES)) for _ in range(200)]
                tcp.sendall(b"".join(tcp_frame(p) for p in packets))
                qid = 0xBE00 + batch
                tcp.sendall(tcp_frame(dns_query("mx1.contoso.test", qid=qid)))
                while True:
                    frame = tcp_read_frame(tcp)
                    if frame[:2] == struct.pack("!H", qid):
                        _correct(DNSRecord.parse(frame))
                        break

    await asyncio.to_thread(run)


@pytest.mark.parametrize("stream", [
    b"\xff\xff" + b"\x00" * 100,            # promises 65535 octets, sends 100
    b"\x00",                                 # half a length prefix
    b"\x00\x00" * 50,                        # empty messages
    bytes(range(256)) * 8,                   # unframed bytes
    tcp_frame(b"\x00" * 11) * 20,            # headers cut short
])
async def test_tcp_broken_streams_then_a_fresh_client(resolver, stream,
                                                      no_errors_logged):
    def run() -> None:
        with socket.create_connection(resolver, timeout=STEP) as bad:
            bad.sendall(stream)
            bad.shutdown(socket.SHUT_WR)
            # The server closes: nothing is left waiting on a half message.
            bad.settimeout(STEP)
            while bad.recv(65536):
                pass
        with socket.create_connection(resolver, timeout=STEP) as good:
            good.sendall(tcp_frame(dns_query("mx1.contoso.test", qid=99)))
            _correct(DNSRecord.parse(tcp_read_frame(good)))

    await asyncio.to_thread(run)
