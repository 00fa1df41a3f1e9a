"""One user's big mailbox must not freeze the rest of the lab.

Every listener of a lab shares one event loop. A POP3 login on a maildrop
of 2000 messages must leave the lab's name server answering meanwhile: a
DNS query sent from another thread during the login is answered within a
bound.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import pytest

from .support import (
    ALICE,
    a_records,
    endpoint,
    message_for,
    open_line,
    read_line,
    token,
    udp_exchange,
)


async def test_pop3_login_on_a_big_maildrop_does_not_freeze_the_lab(healthy_lab):
    for _ in range(2000):
        healthy_lab.store.deliver("alice", message_for(token()))
    host, port = endpoint(healthy_lab, "mail", 995)
    tls = ssl.create_default_context(cafile=str(healthy_lab.ca_file))

    reader, writer = await open_line((host, port), tls=tls,
                                     server_hostname="mail.contoso.test")
    assert (await read_line(reader)).startswith(b"+OK")
    writer.write(f"USER {ALICE}\r\n".encode())
    assert (await read_line(reader)).startswith(b"+OK")

    def ask_dns_soon() -> list[str]:
        # On a thread of its own: its clock runs even if the loop is stuck.
        time.sleep(0.3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            reply, _ = udp_exchange(sock, endpoint(healthy_lab, "ns1", 53), 77,
                                    timeout=1.0)
            return a_records(reply)

    asking = asyncio.create_task(asyncio.to_thread(ask_dns_soon))
    await asyncio.sleep(0)  # the thread is on its way
    writer.write(b"PASS alice-lab-password\r\n")
    try:
        await writer.drain()
        # The lab's name server answers while someone logs in to POP3.
        assert await asking == [healthy_lab.plan.host("mx1").address]
    finally:
        passed = await read_line(reader, timeout=60)
        writer.close()
    assert passed.startswith(b"+OK maildrop has 2000 messages"), passed
