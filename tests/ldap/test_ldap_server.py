"""LDAPS on real sockets: a Python TLS client, garbage, limits, timeouts."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from lab.ldap import messages, protocol
from lab.tls import LabCA, client_context
from tests.ldap.conftest import ALICE_DN, HOSTNAME, TIMEOUT, LdapClient, StartLdaps


async def test_bind_whoami_search_unbind(lab_ca: LabCA, ldaps: StartLdaps) -> None:
    async with ldaps() as port:
        client = await LdapClient.connect(port, lab_ca.ca_path)
        await client.send(messages.bind_request(1, "alice@contoso.test",
                                                "alice-secret"))
        bind = await client.receive()
        await client.send(messages.extended_request(2, protocol.WHOAMI_OID))
        whoami = await client.receive()
        await client.send(messages.search_request(3, ""))
        entry = await client.receive()
        done = await client.receive()
        await client.send(messages.unbind_request(4))
        closed = await client.at_eof()
        await client.close()

    assert bind is not None and bind.result_code == 0
    assert whoami is not None and whoami.value == f"dn:{ALICE_DN}".encode()
    assert entry is not None
    assert dict(entry.attributes)["vendorName"] == (b"Mailflow Lab",)
    assert done is not None and done.result_code == 0
    assert closed


async def test_garbage_closes_one_connection_only(
        lab_ca: LabCA, ldaps: StartLdaps) -> None:
    async with ldaps() as port:
        bystander = await LdapClient.connect(port, lab_ca.ca_path)
        rogue = await LdapClient.connect(port, lab_ca.ca_path)
        await rogue.send(b"\x00\xff garbage, not BER \r\n" * 10)
        notice = await rogue.receive()
        rogue_closed = await rogue.at_eof()
        await rogue.close()

        await bystander.send(messages.bind_request(1, ALICE_DN, "alice-secret"))
        still_served = await bystander.receive()
        await bystander.close()

        second = await LdapClient.connect(port, lab_ca.ca_path)
        await second.send(messages.bind_request(1, "", ""))
        anonymous = await second.receive()
        await second.close()

    assert notice is not None
    assert notice.response_name == protocol.NOTICE_OF_DISCONNECTION_OID
    assert rogue_closed
    assert still_served is not None and still_served.result_code == 0
    assert anonymous is not None and anonymous.result_code == 0


async def test_plaintext_client_does_not_stop_the_listener(
        lab_ca: LabCA, ldaps: StartLdaps) -> None:
    async with ldaps() as port:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        writer.write(messages.bind_request(1, ALICE_DN, "alice-secret"))
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(100), TIMEOUT)
        writer.close()

        client = await LdapClient.connect(port, lab_ca.ca_path)
        await client.send(messages.bind_request(1, ALICE_DN, "alice-secret"))
        bind = await client.receive()
        await client.close()

    assert not answer.startswith(b"\x30")  # no LDAP in the clear
    assert bind is not None and bind.result_code == 0


async def test_untrusting_client_fails_the_handshake(ldaps: StartLdaps,
                                                     tmp_path: Path) -> None:
    other_ca = LabCA.create(tmp_path / "other", "Fabrikam")
    async with ldaps() as port:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(other_ca.ca_path),
                server_hostname=HOSTNAME), TIMEOUT)


async def test_connections_over_the_cap_get_a_notice(
        lab_ca: LabCA, ldaps: StartLdaps) -> None:
    async with ldaps(max_connections=1) as port:
        first = await LdapClient.connect(port, lab_ca.ca_path)
        await first.send(messages.bind_request(1, "", ""))
        assert await first.receive() is not None  # now counted as active

        second = await LdapClient.connect(port, lab_ca.ca_path)
        notice = await second.receive()
        await second.close()
        await first.close()

    assert notice is not None
    assert notice.message_id == 0
    assert notice.result_code == protocol.UNAVAILABLE


async def test_idle_connection_gets_a_notice(lab_ca: LabCA, ldaps: StartLdaps) -> None:
    async with ldaps(idle_timeout=0.2) as port:
        client = await LdapClient.connect(port, lab_ca.ca_path)
        notice = await client.receive()
        closed = await client.at_eof()
        await client.close()

    assert notice is not None
    assert notice.response_name == protocol.NOTICE_OF_DISCONNECTION_OID
    assert notice.result_code == protocol.UNAVAILABLE
    assert closed
