"""Garbage on the lab's MX never crashes it, hangs it or loses its service.

Hypothesis and a seeded byte fuzzer send the lab's port 25 binary, 8-bit
and NUL-laden commands, lines far past the 1000-octet limit, lines that
never end, commands out of order and bodies past the size limit. Every
reply stays a well-formed SMTP reply, no handler fails with an unexpected
exception ("500 Error: (...)"), refusals carry the protocol's error codes
(500/501/503/552), every session ends (221 or a close) within a bound, and
a well-behaved client opened before the storm completes its message, as
does a fresh one after it; nothing refused is stored, everything accepted
is.
"""

from __future__ import annotations

import asyncio
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import (
    ALICE,
    STEP,
    SmtpClient,
    deliver_one,
    endpoint,
    message_for,
    read_reply,
    read_until_closed,
    token,
)

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

_REPLY_LINE = re.compile(rb"^[2-5][0-9][0-9]([ -].*)?$", re.DOTALL)

VERBS = ["HELO", "EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP",
         "VRFY", "EXPN", "HELP", "AUTH", "BDAT", "XCLIENT", "ETRN", "TURN",
         "mail from:", "rcpt to:<", "MAIL", "RCPT", "", "\x00", "QUIT "]

arg_bytes = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(990, 3000).map(lambda n: b"a" * n),        # past the limit
    st.sampled_from([b"<>", b"<alice@contoso.test>", b"<@:x>", b"<" * 50,
                     b"<a@b> SIZE=999999999999", b"<a@b> BODY=8BITMIME",
                     b"\x00\x00\x00", b"\xff\xfe\xfd", b"<\xc3\xa9@contoso.test>"]),
)


@st.composite
def command_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        verb = draw(st.sampled_from(VERBS)).encode()
        arg = draw(arg_bytes)
        # CR/LF inside an argument would start a new command; keep the
        # number of commands what Hypothesis drew (others test that).
        arg = arg.replace(b"\r", b"").replace(b"\n", b"")
        lines.append(verb + (b" " if draw(st.booleans()) else b"") + arg)
    return b"\r\n".join(lines)


garbage = st.one_of(st.binary(max_size=2000), command_lines())


def _check_transcript(data: bytes) -> list[int]:
    """Every line is an SMTP reply; no handler failed unexpectedly."""
    codes = []
    for line in data.split(b"\r\n"):
        if not line:
            continue
        assert _REPLY_LINE.match(line), f"not an SMTP reply: {line[:80]!r}"
        assert b"Error: (" not in line, f"a handler failed: {line!r}"
        codes.append(int(line[:3]))
    return codes


async def _garbage_session(address: tuple[str, int], payload: bytes,
                           ehlo: bool) -> list[int]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), STEP)
    try:
        banner = await read_reply(reader)
        assert banner.code == 220
        if ehlo:
            writer.write(b"EHLO fuzz.fabrikam.test\r\n")
        # Whatever state the garbage left: end a DATA, then say goodbye.
        writer.write(payload + b"\r\n\r\n.\r\nQUIT\r\n")
        await writer.drain()
        return _check_transcript(await read_until_closed(reader))
    except ConnectionResetError:
        return []  # STARTTLS garbage and the like: a close is an answer too
    finally:
        writer.close()


@pytest.fixture
def mx(healthy_lab):
    return endpoint(healthy_lab, "mx1", 25)


def _alice_tokens(lab) -> list[str]:
    box = lab.store.mailbox("alice")
    found = []
    for stored in box.list():
        body = box.read(stored.key)
        found += re.findall(rb"END-OF-MESSAGE ([0-9a-f]{32})", body)
    return [t.decode() for t in found]


async def _steady_begin(mx: tuple[str, int]) -> SmtpClient:
    steady = await SmtpClient.connect(mx)
    assert (await steady.command("EHLO steady.fabrikam.test")).code == 250
    return steady


async def _steady_finish(lab, steady: SmtpClient, mx: tuple[str, int]) -> None:
    """The client from before the storm, then a fresh one, both delivered."""
    before, after = token(), token()
    reply = await steady.send("steady@fabrikam.test", ALICE, message_for(before))
    await steady.quit()
    assert reply.code == 250, reply.text
    reply = await deliver_one(mx, after)
    assert reply.code == 250, reply.text
    tokens = _alice_tokens(lab)
    assert tokens.count(before) == 1 and tokens.count(after) == 1
    # Every session has ended: the listener's count is back to nothing, so
    # garbage cannot use up the connection cap for other clients.
    listener = lab.smtp["mx1"][0]
    for _ in range(100):
        if listener.sessions == 0:
            break
        await asyncio.sleep(0.05)
    assert listener.sessions == 0


async def test_hypothesis_garbage_commands(healthy_lab, mx):
    loop = asyncio.get_running_loop()
    steady = await _steady_begin(mx)
    seen: list[list[int]] = []

    @FUZZ
    @given(payload=garbage, ehlo=st.booleans())
    def fuzz(payload: bytes, ehlo: bool) -> None:
        future = asyncio.run_coroutine_threadsafe(
            _garbage_session(mx, payload, ehlo), loop)
        seen.append(future.result(timeout=4 * STEP))

    await asyncio.to_thread(fuzz)
    assert len(seen) >= 50
    assert any(500 in codes for codes in seen)
    await _steady_finish(healthy_lab, steady, mx)


async def test_seeded_random_bytes(healthy_lab, mx):
    rng = random.Random(5321)
    steady = await _steady_begin(mx)
    for _ in range(60):
        payload = rng.randbytes(rng.randint(1, 3000))
        codes = await _garbage_session(mx, payload, ehlo=rng.random() < 0.5)
        assert all(c >= 200 for c in codes)
    await _steady_finish(healthy_lab, steady, mx)


@pytest.mark.parametrize("line, codes", [
    (b"MAIL FROM:<" + b"a" * 2000 + b"@fabrikam.test>", {500}),
    (b"NOOP " + b"x" * 5000, {500}),
    (b"EHLO \x00\x00\x00", {250, 500, 501}),
    (b"\x00\x00\x00\x00", {500}),
    (b"MAIL FROM:<\xc3\xa9t\xc3\xa9@fabrikam.test>", {500, 501, 553}),
    (b"\xff\xfe HELO", {500}),
    (b"DATA", {503}),                      # no MAIL, no RCPT
    (b"RCPT TO:<alice@contoso.test>", {503}),
    (b"VRFY alice", {252, 502, 550}),
], ids=["long-mail", "long-noop", "nul-ehlo", "nul", "8bit-mail", "8bit-verb",
        "data-first", "rcpt-first", "vrfy"])
async def test_bad_command_gets_an_error_and_the_session_goes_on(
        healthy_lab, mx, line, codes):
    client = await SmtpClient.connect(mx)
    try:
        assert (await client.command("EHLO client.fabrikam.test")).code == 250
        reply = await client.command(line)
        assert reply.code in codes, reply.text
        assert b"Error: (" not in reply.text
        assert (await client.command("NOOP")).code == 250
        tok = token()
        sent = await client.send("x@fabrikam.test", ALICE, message_for(tok))
        assert sent.code == 250, sent.text
    finally:
        await client.quit()
    assert _alice_tokens(healthy_lab).count(tok) == 1


async def test_commands_out_of_order(mx):
    client = await SmtpClient.connect(mx)
    try:
        # Before any greeting: RFC 5321 section 4.1.4 wants EHLO first.
        assert (await client.command("MAIL FROM:<x@fabrikam.test>")).code == 503
        assert (await client.command("EHLO a.fabrikam.test")).code == 250
        assert (await client.command("MAIL FROM:<x@fabrikam.test>")).code == 250
        assert (await client.command("MAIL FROM:<y@fabrikam.test>")).code == 503
        assert (await client.command("DATA")).code == 503
        assert (await client.command("RSET")).code == 250
        assert (await client.command("RCPT TO:<alice@contoso.test>")).code == 503
    finally:
        await client.quit()


async def test_endless_line_without_crlf_is_refused_not_buffered(mx):
    client = await SmtpClient.connect(mx)
    try:
        assert (await client.command("EHLO a.fabrikam.test")).code == 250
        chunk = b"A" * 65536
        for _ in range(64):  # 4 MiB, no line end
            client.writer.write(chunk)
            await asyncio.wait_for(client.writer.drain(), STEP)
        reply = await client.command(b"")
        assert reply.code == 500, reply.text
        assert (await client.command("NOOP")).code == 250
    finally:
        await client.quit()


async def test_body_past_the_size_limit_is_552_and_not_stored(healthy_lab, mx):
    from lab.smtp.server import MAX_MESSAGE

    big, small = token(), token()
    line = b"y" * 998 + b"\r\n"
    client = await SmtpClient.connect(mx)
    try:
        assert (await client.command("EHLO a.fabrikam.test")).code == 250
        for command in ("MAIL FROM:<big@fabrikam.test>",
                        f"RCPT TO:<{ALICE}>", "DATA"):
            assert (await client.command(command)).code in (250, 354)
        client.writer.write(message_for(big)[:-2] + b"\r\n")
        for _ in range(MAX_MESSAGE // len(line) + 64):
            client.writer.write(line)
            await asyncio.wait_for(client.writer.drain(), STEP)
        client.writer.write(f"END-OF-MESSAGE {big}\r\n.\r\n".encode())
        reply = await read_reply(client.reader, timeout=10)
        assert reply.code == 552, reply.text
        # The session goes on: the next message is accepted.
        sent = await client.send("x@fabrikam.test", ALICE, message_for(small))
        assert sent.code == 250, sent.text
    finally:
        await client.quit()
    tokens = _alice_tokens(healthy_lab)
    assert big not in tokens and tokens.count(small) == 1


async def test_data_line_past_1000_octets_is_500_and_not_stored(healthy_lab, mx):
    long, fine = token(), token()
    client = await SmtpClient.connect(mx)
    try:
        assert (await client.command("EHLO a.fabrikam.test")).code == 250
        body = message_for(long).replace(b"body of", b"z" * 5000 + b" body of")
        reply = await client.send("x@fabrikam.test", ALICE, body)
        assert reply.code == 500, reply.text
        assert (await client.send("x@fabrikam.test", ALICE,
                                  message_for(fine))).code == 250
    finally:
        await client.quit()
    tokens = _alice_tokens(healthy_lab)
    assert long not in tokens and tokens.count(fine) == 1


async def test_unknown_commands_end_the_session(mx):
    """Past a few bogus commands the server says goodbye and closes."""
    client = await SmtpClient.connect(mx)
    try:
        client.writer.write(b"".join(b"BOGUS%d\r\n" % i for i in range(20)))
        await client.writer.drain()
        data = await read_until_closed(client.reader)
    finally:
        await client.close()
    codes = _check_transcript(data)
    assert codes[-1] in (421, 502)
    assert len(codes) < 20
