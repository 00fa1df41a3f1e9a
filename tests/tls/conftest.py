"""Fixtures for the lab CA tests: a fresh CA and a TLS listener on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from lab.tls import IssuedCert, LabCA, server_context

TIMEOUT = 5.0


@pytest.fixture
def lab_ca(tmp_path: Path) -> LabCA:
    return LabCA.create(tmp_path / "tls", "Contoso")


async def _greet(reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.write(b"hello over tls\r\n")
        await asyncio.wait_for(writer.drain(), TIMEOUT)
        await asyncio.wait_for(reader.read(100), TIMEOUT)
    writer.close()


TlsServe = Callable[[IssuedCert], "contextlib.AbstractAsyncContextManager[int]"]


@pytest.fixture
def tls_server() -> TlsServe:
    """``async with tls_server(cert) as port``: a TLS listener presenting cert."""

    @contextlib.asynccontextmanager
    async def serve(cert: IssuedCert) -> AsyncIterator[int]:
        context: ssl.SSLContext = server_context(cert)
        server = await asyncio.start_server(
            _greet, "127.0.0.1", 0, ssl=context, ssl_handshake_timeout=TIMEOUT)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)

    return serve
