"""Garbage on the lab's IMAP and POP3 ports gets errors, never a crash.

Hypothesis and a seeded byte fuzzer send the mail host's IMAP (143 in
clear, 993 logged in and with INBOX selected) and POP3 (110, and 995
logged in) random bytes, bad tags, unbalanced parentheses, oversized
literals and overlong lines. The listener answers BAD/NO or BYE (IMAP) and
-ERR (POP3), or closes where the protocol has nothing else to say; every
session ends when asked, within a bound; nothing is logged as an
unexpected error; and a well-behaved client logged in before the storm
still reads its mail during and after it, as does a fresh one.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import poplib
import random
import ssl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import (
    ALICE,
    ALICE_PASSWORD,
    STEP,
    endpoint,
    message_for,
    open_line,
    read_line,
    read_until_tagged,
    token,
)

FUZZ = settings(max_examples=80, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

BOB, BOB_PASSWORD = "bob@contoso.test", "bob-lab-password"

IMAP_VERBS = [
    "CAPABILITY", "NOOP", "LOGIN", "AUTHENTICATE", "SELECT", "EXAMINE",
    "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "LIST", "LSUB", "STATUS",
    "APPEND", "CHECK", "CLOSE", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY",
    "UID", "IDLE", "UNSELECT", "ENABLE", "NAMESPACE", "ID", "X\x00", "",
]
IMAP_TOKENS = [
    "INBOX", "1", "1:*", "*", "0", "4294967296", "*:*", "1,2,3:5", "(", ")",
    "((", "))", "(BODY[]", "BODY[HEADER.FIELDS (SUBJECT", "BODY.PEEK[1.2.3]",
    "BODY[]<0.99999999999>", "FLAGS", "+FLAGS", "(\\Deleted)", "\\Seen",
    '"', '"\\"', '"unterminated', "NIL", "ALL", "CHARSET", "UTF-8", "OR",
    "NOT", "BEFORE", "1-Jan-1900", "32-Foo-2024", "ENVELOPE", "RFC822.SIZE",
    "\x00", "\xff", "~", "%", "[", "]", "<", ">",
]


@st.composite
def imap_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        tag = draw(st.sampled_from(["a1", "*", "+", "", "t" * 70, "x\x01", "A.B"]))
        verb = draw(st.sampled_from(IMAP_VERBS))
        args = draw(st.lists(st.one_of(
            st.sampled_from(IMAP_TOKENS),
            st.text(max_size=30)), max_size=8))
        lines.append(" ".join([tag, verb, *args]).encode("utf-8", "surrogatepass"))
    return b"\r\n".join(lines)


def _no_surprises(payload: bytes) -> bytes:
    # Literals and STARTTLS change the framing; they have tests of their own.
    payload = payload.replace(b"{", b"(")
    return payload.replace(b"STARTTLS", b"STARTTL").replace(b"starttls", b"x")


imap_garbage = st.one_of(st.binary(max_size=1500), imap_lines()).map(_no_surprises)


@pytest.fixture
def log_errors(caplog):
    """Fails the test if a listener logged an unexpected exception."""
    caplog.set_level(logging.WARNING, logger="lab")
    yield
    bad = [r for r in caplog.records
           if r.name.startswith("lab.") and r.levelno >= logging.ERROR]
    assert not bad, f"a listener logged an error: {bad[0].getMessage()}"


@pytest.fixture
def mail(healthy_lab):
    """The mail host: three messages for alice, one for bob, a TLS context."""
    for _ in range(3):
        healthy_lab.store.deliver("alice", message_for(token()))
    healthy_lab.store.deliver("bob", message_for(token()))
    tls = ssl.create_default_context(cafile=str(healthy_lab.ca_file))
    return healthy_lab, tls


async def _imap_open(lab, tls: ssl.SSLContext, stage: str):
    """A session on 143 (stage 'clear') or on 993, logged in, maybe selected."""
    if stage == "clear":
        reader, writer = await open_line(endpoint(lab, "mail", 143))
    else:
        reader, writer = await open_line(endpoint(lab, "mail", 993), tls=tls,
                                         server_hostname="mail.contoso.test")
    assert (await read_line(reader)).startswith(b"* OK")
    if stage in ("login", "select"):
        writer.write(f"L1 LOGIN {ALICE} {ALICE_PASSWORD}\r\n".encode())
        assert (await read_until_tagged(reader, b"L1"))[-1].startswith(b"L1 OK")
    if stage == "select":
        writer.write(b"S1 SELECT INBOX\r\n")
        assert (await read_until_tagged(reader, b"S1"))[-1].startswith(b"S1 OK")
    return reader, writer


async def _imap_garbage(lab, tls, stage: str, payload: bytes) -> list[bytes]:
    """Garbage, then LOGOUT; the whole transcript up to the server's close."""
    reader, writer = await _imap_open(lab, tls, stage)
    lines: list[bytes] = []
    try:
        writer.write(payload + b"\r\nZZ9 LOGOUT\r\n")
        await writer.drain()
        for _ in range(10_000):
            line = await asyncio.wait_for(reader.readline(), STEP)
            if not line:
                break
            lines.append(line)
            if line.startswith(b"+"):
                # A continuation (SASL, IDLE) swallowed our LOGOUT: end it.
                writer.write(b"*\r\nDONE\r\nZZ9 LOGOUT\r\n")
                await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    return lines


def _check_imap(lines: list[bytes]) -> None:
    text = b"".join(lines)
    assert b"Internal server error" not in text
    for line in lines:
        assert line.split(b" ", 1)[0], f"reply without a tag: {line!r}"
    # The session ended the IMAP way: a BYE (logout, or a fatal error).
    assert b"* BYE" in text, text[-300:]


async def _steady_imap(lab, tls):
    reader, writer = await _imap_open(lab, tls, "select")
    return reader, writer


async def _steady_imap_check(reader, writer, lab, tls) -> None:
    writer.write(b"N1 NOOP\r\nF1 FETCH 1 (BODY.PEEK[])\r\n")
    await writer.drain()
    assert (await read_until_tagged(reader, b"N1"))[-1].startswith(b"N1 OK")
    fetched = await read_until_tagged(reader, b"F1")
    assert fetched[-1].startswith(b"F1 OK")
    assert any(b"END-OF-MESSAGE" in line for line in fetched)
    writer.write(b"Q1 LOGOUT\r\n")
    writer.close()

    def fresh() -> int:
        address = endpoint(lab, "mail", 993)
        with imaplib.IMAP4_SSL(*address, ssl_context=tls, timeout=STEP) as client:
            client.login(ALICE, ALICE_PASSWORD)
            status, data = client.select("INBOX", readonly=True)
            assert status == "OK"
            return int(data[0])

    assert await asyncio.to_thread(fresh) == len(lab.store.mailbox("alice").list())


async def test_imap_hypothesis_garbage(mail, log_errors):
    lab, tls = mail
    loop = asyncio.get_running_loop()
    steady = await _steady_imap(lab, tls)
    count = []

    @FUZZ
    @given(payload=imap_garbage,
           stage=st.sampled_from(["clear", "login", "select"]))
    def fuzz(payload: bytes, stage: str) -> None:
        lines = asyncio.run_coroutine_threadsafe(
            _imap_garbage(lab, tls, stage, payload), loop).result(6 * STEP)
        _check_imap(lines)
        count.append(1)

    await asyncio.to_thread(fuzz)
    assert len(count) >= 50
    await _steady_imap_check(*steady, lab, tls)


async def test_imap_seeded_random_bytes(mail, log_errors):
    lab, tls = mail
    rng = random.Random(3501)
    steady = await _steady_imap(lab, tls)
    for i in range(60):
        payload = _no_surprises(rng.randbytes(rng.randint(1, 9000)))
        _check_imap(await _imap_garbage(lab, tls, ["clear", "select"][i % 2],
                                        payload))
    await _steady_imap_check(*steady, lab, tls)


@pytest.mark.parametrize("stage, sent, expect, closes", [
    ("clear", b"a1 LOGIN {99999999}", b"a1 BAD", False),
    ("clear", b"a1 LOGIN {99999999+}", b"* BYE", True),
    ("select", b"a1 APPEND INBOX {99999999}", b"a1 BAD", False),
    ("select", b"a1 APPEND INBOX {2000000+}", b"* BYE", True),
    ("select", b"a1 FETCH 1:* " + b"(" * 4000, b"a1 BAD", False),
    ("select", b"a1 SEARCH " + b")" * 100, b"a1 BAD", False),
    ("select", b"a1 FETCH 1 (BODY[]", b"a1 BAD", False),
    ("clear", b"", b"* BAD", False),
    ("clear", b"\x00\x01\x02 NOOP", b"BAD", False),
    ("clear", b"t" * 100 + b" NOOP", b"BAD", False),
    ("clear", b"+ NOOP", b"BAD", False),
    ("clear", b"a" * 9000, b"* BYE", True),            # no line end at all
    ("clear", b"a1 NOOP " + b"a" * 9000 + b"\r\n", b"a1 BAD", False),
], ids=["literal", "literal+", "append", "append+", "parens-open",
        "parens-close", "unbalanced", "empty", "nul-tag", "long-tag", "plus-tag",
        "endless", "long-line"])
async def test_imap_bad_input_gets_bad_or_bye(mail, log_errors, stage, sent,
                                              expect, closes):
    lab, tls = mail
    reader, writer = await _imap_open(lab, tls, stage)
    try:
        writer.write(sent if sent.endswith(b"\n") or len(sent) > 8192
                     else sent + b"\r\n")
        await writer.drain()
        first = await read_line(reader)
        while first.startswith(b"* ") and not first.startswith(
                (b"* BAD", b"* BYE")):
            first = await read_line(reader)
        assert expect in first, first
        if closes:
            assert await asyncio.wait_for(reader.read(), STEP) == b""
        else:
            writer.write(b"z1 NOOP\r\n")
            await writer.drain()
            assert (await read_until_tagged(reader, b"z1"))[-1].startswith(b"z1 OK")
    finally:
        writer.close()


# region: POP3

POP3_VERBS = ["USER", "PASS", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET",
              "TOP", "UIDL", "APOP", "CAPA", "STLS", "AUTH", "XTND", "", "\x00"]
POP3_ARGS = ["1", "0", "-1", "99999999999999999999", "alice", ALICE,
             ALICE_PASSWORD, "PLAIN", "=", "*", "1 1", "1 -5", "\xff"]


@st.composite
def pop3_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        verb = draw(st.sampled_from(POP3_VERBS))
        args = draw(st.lists(st.one_of(st.sampled_from(POP3_ARGS),
                                       st.text(max_size=20)), max_size=3))
        lines.append(" ".join([verb, *args]).encode("utf-8", "surrogatepass"))
    return b"\r\n".join(lines)


def _pop3_safe(payload: bytes) -> bytes:
    # STLS changes the framing (tested elsewhere); QUIT ends too early.
    return payload.replace(b"STLS", b"STL").replace(b"QUIT", b"QUI")


pop3_garbage = st.one_of(st.binary(max_size=1500), pop3_lines(),
                         st.integers(300, 5000).map(lambda n: b"x" * n)
                         ).map(_pop3_safe)


async def _pop3_open(lab, tls, stage: str):
    if stage == "clear":
        reader, writer = await open_line(endpoint(lab, "mail", 110))
    else:
        reader, writer = await open_line(endpoint(lab, "mail", 995), tls=tls,
                                         server_hostname="mail.contoso.test")
    assert (await read_line(reader)).startswith(b"+OK")
    if stage == "login":
        writer.write(f"USER {ALICE}\r\nPASS {ALICE_PASSWORD}\r\n".encode())
        assert (await read_line(reader)).startswith(b"+OK")
        assert (await read_line(reader)).startswith(b"+OK")
    return reader, writer


async def _pop3_garbage(lab, tls, stage: str, payload: bytes) -> list[bytes]:
    reader, writer = await _pop3_open(lab, tls, stage)
    lines: list[bytes] = []
    try:
        # RSET first in the tail: a fuzzed DELE must not remove real mail.
        writer.write(payload + b"\r\nRSET\r\nQUIT\r\n")
        await writer.drain()
        for _ in range(100_000):
            line = await asyncio.wait_for(reader.readline(), STEP)
            if not line:
                break
            lines.append(line)
            if line.startswith(b"+ "):
                writer.write(b"*\r\nRSET\r\nQUIT\r\n")  # cancel a SASL exchange
                await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    return lines


def _check_pop3(lines: list[bytes]) -> None:
    assert lines, "no reply at all"
    last = lines[-1]
    # The session ended the POP3 way: QUIT's +OK, or an -ERR before a close.
    assert last.startswith(b"+OK") and b"signing off" in last or \
        last.startswith(b"-ERR"), lines[-3:]


async def _steady_pop3(lab, tls):
    reader, writer = await open_line(endpoint(lab, "mail", 995), tls=tls,
                                     server_hostname="mail.contoso.test")
    assert (await read_line(reader)).startswith(b"+OK")
    writer.write(f"USER {BOB}\r\nPASS {BOB_PASSWORD}\r\n".encode())
    assert (await read_line(reader)).startswith(b"+OK")
    assert (await read_line(reader)).startswith(b"+OK")
    return reader, writer


async def _steady_pop3_check(reader, writer, lab, tls) -> None:
    writer.write(b"RETR 1\r\n")
    await writer.drain()
    body = []
    while (line := await read_line(reader)) != b".\r\n":
        body.append(line)
    assert body[0].startswith(b"+OK")
    assert any(b"END-OF-MESSAGE" in line for line in body)
    writer.write(b"QUIT\r\n")
    assert (await read_line(reader)).startswith(b"+OK")
    writer.close()

    def fresh() -> int:
        address = endpoint(lab, "mail", 995)
        client = poplib.POP3_SSL(*address, context=tls, timeout=STEP)
        try:
            client.user(ALICE)
            client.pass_(ALICE_PASSWORD)
            return client.stat()[0]
        finally:
            client.quit()

    assert await asyncio.to_thread(fresh) == len(lab.store.mailbox("alice").list())


async def test_pop3_hypothesis_garbage(mail, log_errors):
    lab, tls = mail
    loop = asyncio.get_running_loop()
    steady = await _steady_pop3(lab, tls)
    count = []

    @FUZZ
    @given(payload=pop3_garbage, stage=st.sampled_from(["clear", "login"]))
    def fuzz(payload: bytes, stage: str) -> None:
        lines = asyncio.run_coroutine_threadsafe(
            _pop3_garbage(lab, tls, stage, payload), loop).result(6 * STEP)
        _check_pop3(lines)
        count.append(1)

    await asyncio.to_thread(fuzz)
    assert len(count) >= 50
    assert len(lab.store.mailbox("alice").list()) == 3  # RSET undid any DELE
    await _steady_pop3_check(*steady, lab, tls)


async def test_pop3_seeded_random_bytes(mail, log_errors):
    lab, tls = mail
    rng = random.Random(1939)
    steady = await _steady_pop3(lab, tls)
    for i in range(60):
        payload = _pop3_safe(rng.randbytes(rng.randint(1, 6000)))
        _check_pop3(await _pop3_garbage(lab, tls, ["clear", "login"][i % 2],
                                        payload))
    await _steady_pop3_check(*steady, lab, tls)


@pytest.mark.parametrize("sent", [
    b"USER " + b"a" * 5000 + b"\r\n",
    b"\x00\x00\x00\r\n",
    b"\xff\xfe\r\n",
    b"x" * (1 << 20) + b"\r\n",        # a megabyte before the line ends
    b"\r\n",
    b"RETR\r\n",
], ids=["long-user", "nul", "8bit", "megabyte", "empty", "no-arg"])
async def test_pop3_bad_line_gets_err_and_the_session_goes_on(mail, log_errors,
                                                              sent):
    lab, tls = mail
    reader, writer = await _pop3_open(lab, tls, "login")
    try:
        writer.write(sent)
        await writer.drain()
        assert (await read_line(reader)).startswith(b"-ERR")
        writer.write(b"STAT\r\n")
        await writer.drain()
        assert (await read_line(reader)).startswith(b"+OK 3 ")
    finally:
        writer.close()


# endregion
