"""Slow clients: they must neither block others nor hold a session forever.

Dedicated SMTP, IMAP and POP3 listeners with a 2 s idle timeout. A
"slowloris" client sends one byte a second and never completes a command.
Meanwhile a normal client completes a whole session on the same listener,
and the slow one is cut off within a bound past the idle timeout. A client
that keeps a DATA transfer going, line after line, is not idle and must
not be cut off.
"""

from __future__ import annotations

import asyncio

import pytest

from lab.imap import start_imap_server
from lab.pop3 import start_pop3_server
from lab.smtp.policy import MailPolicy
from lab.smtp.server import SmtpListener
from lab.store import MailStore

from .support import (
    ALICE,
    STEP,
    SmtpClient,
    deliver_one,
    message_for,
    open_line,
    read_line,
    read_until_tagged,
    token,
)

IDLE = 2.0
#: How many one-second bytes a slow client may send before it must be cut.
BOUND = int(IDLE) + 3
PASSWORD = "pw"


@pytest.fixture
def store(tmp_path):
    return MailStore(tmp_path / "mail")


@pytest.fixture
async def servers(store):
    """name -> (address, port) of each dedicated listener."""
    policy = MailPolicy(domain="contoso.test", users={"alice": PASSWORD},
                        hostname="mx1.contoso.test", deliver=store.deliver_async)
    smtp = SmtpListener(policy, "127.0.0.1", 0, idle_timeout=IDLE)
    await smtp.start()
    users = {ALICE: PASSWORD}
    imap = await start_imap_server("127.0.0.1", 0, store=store, users=users,
                                   hostname="mail.contoso.test",
                                   login_disabled_before_tls=False,
                                   idle_timeout=IDLE)
    pop3 = await start_pop3_server("127.0.0.1", 0, store=store, users=users,
                                   hostname="mail.contoso.test",
                                   idle_timeout=IDLE)
    yield {
        "smtp": ("127.0.0.1", smtp.port),
        "imap": imap.sockets[0].getsockname()[:2],
        "pop3": pop3.sockets[0].getsockname()[:2],
    }
    await smtp.close()
    for server in (imap, pop3):
        server.close()
        await server.wait_closed()


#: What each slow client dribbles: the start of a command that never ends.
DRIBBLE = {"smtp": b"EHLO slow.fabrikam.test", "imap": b"a1 LOGIN alice",
           "pop3": b"USER alice@contoso.test"}


class Slow:
    """A client that sends one byte a second; notes when it is cut off."""

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent = 0
        self.cut = False

    @classmethod
    async def open(cls, address) -> Slow:
        reader, writer = await open_line(address)
        await read_line(reader)  # the greeting
        return cls(reader, writer)

    async def dribble(self, data: bytes, seconds: int) -> None:
        for byte in data[:seconds]:
            try:
                self.writer.write(bytes((byte,)))
                await self.writer.drain()
                self.sent += 1
                # Whatever the server says: a goodbye line, then the close.
                if await asyncio.wait_for(self.reader.read(), 1.0) == b"":
                    self.cut = True
                    return
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                self.cut = True
                return

    def close(self) -> None:
        self.writer.close()


async def _normal_session(name: str, address) -> None:
    """One complete, well-behaved session of the protocol."""
    if name == "smtp":
        reply = await deliver_one(address, token())
        assert reply.code == 250, reply.text
        return
    reader, writer = await open_line(address)
    try:
        assert (await read_line(reader)).startswith((b"* OK", b"+OK"))
        if name == "imap":
            writer.write(f"b1 LOGIN {ALICE} {PASSWORD}\r\nb2 SELECT INBOX\r\n"
                         "b3 LOGOUT\r\n".encode())
            for tag in (b"b1", b"b2", b"b3"):
                assert (await read_until_tagged(reader, tag))[-1].startswith(
                    tag + b" OK")
        else:
            writer.write(f"USER {ALICE}\r\nPASS {PASSWORD}\r\nSTAT\r\n"
                         "QUIT\r\n".encode())
            for _ in range(4):
                assert (await read_line(reader)).startswith(b"+OK")
    finally:
        writer.close()


@pytest.mark.parametrize("name", ["smtp", "imap", "pop3"])
async def test_slow_client_does_not_block_others(servers, store, name):
    slow = await Slow.open(servers[name])
    try:
        dribbling = asyncio.create_task(slow.dribble(DRIBBLE[name], 2))
        await asyncio.sleep(0.5)
        for _ in range(3):
            await asyncio.wait_for(_normal_session(name, servers[name]), STEP)
        assert not dribbling.done(), "the slow client should still be dribbling"
        await dribbling
    finally:
        slow.close()


@pytest.mark.parametrize("name", ["smtp", "imap", "pop3"])
async def test_slow_client_is_cut_off_at_the_idle_timeout(servers, name):
    slow = await Slow.open(servers[name])
    try:
        await slow.dribble(DRIBBLE[name], BOUND)
    finally:
        slow.close()
    assert slow.cut, f"still connected after {slow.sent} bytes, one a second"
    # And the listener is as good as new for the next client.
    await asyncio.wait_for(_normal_session(name, servers[name]), STEP)


async def test_steady_data_transfer_is_not_idle(servers, store):
    tok = token()
    client = await SmtpClient.connect(servers["smtp"])
    try:
        assert (await client.command("EHLO steady.fabrikam.test")).code == 250
        for line in ("MAIL FROM:<steady@fabrikam.test>", f"RCPT TO:<{ALICE}>"):
            assert (await client.command(line)).code == 250
        assert (await client.command("DATA")).code == 354
        client.writer.write(message_for(tok)[:-2] + b"\r\n")
        # A line every half second for twice the idle timeout: never idle.
        for i in range(int(4 * IDLE)):
            client.writer.write(b"line %d of a slow but steady body\r\n" % i)
            await client.writer.drain()
            await asyncio.sleep(0.5)
        client.writer.write(f"END-OF-MESSAGE {tok}\r\n.\r\n".encode())
        await client.writer.drain()
        reply = await asyncio.wait_for(client.reader.readline(), STEP)
        assert reply.startswith(b"250"), reply
    finally:
        await client.close()
    assert len(store.mailbox("alice").list()) == 1

