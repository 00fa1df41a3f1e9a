"""The POP3 listener on 127.0.0.1 with Python's poplib and raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import poplib
import ssl

import pytest
from .conftest import HOSTNAME, PASSWORD, SEEDED, Pop3Lab

from lab.pop3 import start_pop3_server
from lab.pop3.messages import normalise_crlf
from lab.store import MailStore
from lab.tls import LabCA, client_context, server_context

TIMEOUT = 5.0


def _retr_bytes(lines: list[bytes]) -> bytes:
    # poplib has already undone the dot-stuffing and split on CRLF.
    return b"".join(line + b"\r\n" for line in lines)


async def test_stls_login_retr_and_uidl(pop3_lab: Pop3Lab) -> None:
    def client() -> tuple[dict, tuple, list[bytes], list[bytes], list[bytes]]:
        pop = poplib.POP3("127.0.0.1", pop3_lab.port, timeout=TIMEOUT)
        try:
            pop.stls(client_context(pop3_lab.ca_path))
            capa = pop.capa()
            pop.user("alice@contoso.test")
            pop.pass_(PASSWORD)
            stat = pop.stat()
            first, second = pop.retr(1)[1], pop.retr(2)[1]
            uids = pop.uidl()[1]
        finally:
            pop.quit()
        return capa, stat, first, second, uids

    capa, stat, first, second, uids = await asyncio.to_thread(client)

    assert "USER" in capa and "STLS" not in capa
    assert stat == (2, sum(len(normalise_crlf(m)) for m in SEEDED))
    assert _retr_bytes(first) == SEEDED[0]
    assert _retr_bytes(second) == normalise_crlf(SEEDED[1])
    validity = pop3_lab.store.mailbox("alice").uidvalidity
    assert uids == [f"1 {validity}.1".encode(), f"2 {validity}.2".encode()]


async def test_login_before_stls_is_refused(pop3_lab: Pop3Lab) -> None:
    def client() -> tuple[dict, str]:
        pop = poplib.POP3("127.0.0.1", pop3_lab.port, timeout=TIMEOUT)
        try:
            capa = pop.capa()
            with pytest.raises(poplib.error_proto) as caught:
                pop.user("alice@contoso.test")
            return capa, str(caught.value)
        finally:
            pop.quit()

    capa, error = await asyncio.to_thread(client)

    assert "STLS" in capa and "USER" not in capa
    assert "[AUTH]" in error


async def test_pop3s_and_dele_applied_only_after_quit(pop3_lab: Pop3Lab) -> None:
    mailbox = pop3_lab.store.mailbox("alice")

    def client() -> tuple[int, int]:
        pop = poplib.POP3_SSL("127.0.0.1", pop3_lab.pop3s_port, timeout=TIMEOUT,
                              context=client_context(pop3_lab.ca_path))
        pop.user("alice")  # the local part alone is accepted too
        pop.pass_(PASSWORD)
        pop.dele(1)
        during = len(mailbox.list())
        pop.quit()
        return during, len(mailbox.list())

    during, after = await asyncio.to_thread(client)

    assert (during, after) == (2, 1)
    remaining = mailbox.read(mailbox.list()[0].key)
    assert remaining == SEEDED[1]


async def test_dropped_connection_deletes_nothing(pop3_lab: Pop3Lab) -> None:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", pop3_lab.open_port), TIMEOUT)
    await asyncio.wait_for(reader.readline(), TIMEOUT)
    writer.write(f"USER alice\r\nPASS {PASSWORD}\r\nDELE 1\r\n".encode())
    for _ in range(3):
        await asyncio.wait_for(reader.readline(), TIMEOUT)
    writer.close()
    await writer.wait_closed()

    # A new session can only log in once the first one's lock is gone.
    def client() -> int:
        pop = poplib.POP3("127.0.0.1", pop3_lab.open_port, timeout=TIMEOUT)
        pop.user("alice@contoso.test")
        pop.pass_(PASSWORD)
        count = pop.stat()[0]
        pop.quit()
        return count

    assert await asyncio.to_thread(client) == 2


async def test_wrong_password_is_refused(pop3_lab: Pop3Lab) -> None:
    def client() -> str:
        pop = poplib.POP3("127.0.0.1", pop3_lab.open_port, timeout=TIMEOUT)
        try:
            pop.user("alice@contoso.test")
            with pytest.raises(poplib.error_proto) as caught:
                pop.pass_("wrong")
            return str(caught.value)
        finally:
            pop.quit()

    assert "-ERR [AUTH]" in await asyncio.to_thread(client)


async def test_garbage_client_does_not_stop_others(pop3_lab: Pop3Lab) -> None:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", pop3_lab.open_port), TIMEOUT)
    greeting = await asyncio.wait_for(reader.readline(), TIMEOUT)
    writer.write(b"\x00\xff" * 5000 + b"\r\n\x16\x03\x01garbage\r\n")
    await writer.drain()
    junk_reply = await asyncio.wait_for(reader.readline(), TIMEOUT)

    def client() -> bytes:
        pop = poplib.POP3("127.0.0.1", pop3_lab.open_port, timeout=TIMEOUT)
        pop.user("bob@contoso.test")
        pop.pass_("bob pw")
        reply = pop.noop()
        pop.quit()
        return reply

    other = await asyncio.to_thread(client)
    writer.close()

    assert greeting == f"+OK {HOSTNAME} POP3 ready\r\n".encode()
    assert junk_reply == b"-ERR line too long\r\n"
    assert other == b"+OK"


async def test_full_server_refuses_with_err(store: MailStore) -> None:
    server = await start_pop3_server("127.0.0.1", 0, store=store, users={},
                                     hostname=HOSTNAME, max_connections=1)
    port = server.sockets[0].getsockname()[1]
    try:
        r1, w1 = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        first = await asyncio.wait_for(r1.readline(), TIMEOUT)
        r2, w2 = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        second = await asyncio.wait_for(r2.read(), TIMEOUT)
        w1.close()
        w2.close()
    finally:
        server.close()
        await server.wait_closed()

    assert first.startswith(b"+OK")
    assert second == b"-ERR [SYS/TEMP] too many connections, try later\r\n"


async def test_idle_client_is_told_and_closed(store: MailStore) -> None:
    server = await start_pop3_server("127.0.0.1", 0, store=store, users={},
                                     hostname=HOSTNAME, idle_timeout=0.2)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        everything = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()

    assert everything == (f"+OK {HOSTNAME} POP3 ready\r\n"
                          "-ERR idle timeout, closing connection\r\n").encode()


async def test_implicit_tls_needs_a_context(store: MailStore) -> None:
    with pytest.raises(ValueError, match="ssl_context"):
        await start_pop3_server("127.0.0.1", 0, store=store, users={},
                                hostname=HOSTNAME, implicit_tls=True)


async def test_stls_with_a_wrong_name_certificate(store: MailStore,
                                                  lab_ca: LabCA) -> None:
    wrong = lab_ca.issue([HOSTNAME], ["127.0.0.1"], variant="name-mismatch")
    server = await start_pop3_server(
        "127.0.0.1", 0, store=store, users={}, hostname=HOSTNAME,
        ssl_context=server_context(wrong))
    port = server.sockets[0].getsockname()[1]

    def client() -> str:
        pop = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            with pytest.raises(ssl.SSLCertVerificationError) as caught:
                pop.stls(client_context(lab_ca.ca_path))
            return caught.value.verify_message
        finally:
            # The failed wrap has already given the socket away.
            with contextlib.suppress(OSError):
                pop.close()

    try:
        message = await asyncio.to_thread(client)
    finally:
        server.close()
        await server.wait_closed()

    # poplib checks the host it dialled, here the IP the lab left out.
    assert "ip address mismatch" in message.lower()
