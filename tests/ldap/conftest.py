"""Fixtures for the Edge host's LDAPS: a lab CA, a listener, a tiny client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lab.ldap import ber, start_ldaps
from lab.ldap.messages import LdapResponse, decode_response
from lab.tls import LabCA, client_context, server_context

HOSTNAME = "edge.contoso.test"
DOMAIN = "contoso.test"
USERS = {"alice@contoso.test": "alice-secret", "bob@contoso.test": "bob-secret"}
ALICE_DN = "cn=alice,dc=contoso,dc=test"
TIMEOUT = 5.0


@pytest.fixture
def lab_ca(tmp_path: Path) -> LabCA:
    return LabCA.create(tmp_path / "tls", "Contoso")


StartLdaps = Callable[..., "contextlib.AbstractAsyncContextManager[int]"]


@pytest.fixture
def ldaps(lab_ca: LabCA) -> StartLdaps:
    """``async with ldaps(**overrides) as port``: a running LDAPS listener."""
    cert = lab_ca.issue([HOSTNAME], ["127.0.0.1"])

    @contextlib.asynccontextmanager
    async def serve(**overrides: Any) -> AsyncIterator[int]:
        options: dict[str, Any] = dict(users=USERS, domain=DOMAIN,
                                       ssl_context=server_context(cert))
        options.update(overrides)
        server = await start_ldaps("127.0.0.1", 0, **options)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)

    return serve


class LdapClient:
    """Just enough of an LDAPS client to drive the lab server."""

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, ca_path: Path) -> LdapClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(ca_path),
            server_hostname=HOSTNAME), TIMEOUT)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def receive(self) -> LdapResponse | None:
        """The next response, or ``None`` once the server has closed."""
        head = bytearray()
        while True:
            try:
                header = ber.header_length(head)
            except ber.BerError:
                raise AssertionError(f"bad header from server: {head.hex()}")
            if header is not None:
                break
            chunk = await asyncio.wait_for(self.reader.read(1), TIMEOUT)
            if not chunk:
                return None
            head += chunk
        size, length = header
        body = await asyncio.wait_for(
            self.reader.readexactly(size + length - len(head)), TIMEOUT)
        return decode_response(bytes(head) + body)

    async def at_eof(self) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(1), TIMEOUT)
        except (ConnectionError, OSError):
            return True
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)
