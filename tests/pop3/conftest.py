"""Fixtures for the POP3 tests: an in-memory mailbox, a real store, a lab CA."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.store import MailStore
from lab.tls import LabCA


@dataclass(frozen=True)
class FakeMessage:
    key: str
    uid: int
    size: int


class FakeMailbox:
    """The store's Mailbox interface, in memory, for the sans-IO tests."""

    uidvalidity = 7

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = {f"k{i}": m for i, m in enumerate(messages, start=1)}
        self.deleted: list[str] = []

    def list(self) -> list[FakeMessage]:
        return [FakeMessage(k, int(k[1:]), len(m))
                for k, m in self.messages.items()]

    def read(self, key: str) -> bytes:
        return self.messages[key]

    def delete(self, key: str) -> None:
        del self.messages[key]
        self.deleted.append(key)


@pytest.fixture
def store(tmp_path: Path) -> MailStore:
    return MailStore(tmp_path / "mail")


@pytest.fixture
def lab_ca(tmp_path: Path) -> LabCA:
    return LabCA.create(tmp_path / "tls", "Contoso")


HOSTNAME = "mail.contoso.test"
PASSWORD = "correct horse"
SEEDED = [
    b"From: bob@contoso.test\r\nTo: alice@contoso.test\r\nSubject: hello\r\n"
    b"\r\nfirst message\r\n",
    # Bare LF in the store and lines that need dot-stuffing on the wire.
    b"From: carol@contoso.test\nSubject: dots\n\n.\n..two\n.three\nend\n",
]


@dataclass(frozen=True)
class Pop3Lab:
    store: MailStore
    ca_path: Path
    port: int  # POP3 with STLS, logins need TLS
    pop3s_port: int  # implicit TLS
    open_port: int  # POP3 without TLS at all


@pytest.fixture
async def pop3_lab(store: MailStore, lab_ca: LabCA):
    from lab.pop3 import start_pop3_server
    from lab.tls import server_context

    for message in SEEDED:
        store.deliver("alice", message)
    cert = lab_ca.issue([HOSTNAME], ["127.0.0.1"])
    context = server_context(cert)
    users = {"alice@contoso.test": PASSWORD, "bob@contoso.test": "bob pw"}
    common = dict(store=store, users=users, hostname=HOSTNAME)

    servers = [
        await start_pop3_server("127.0.0.1", 0, ssl_context=context,
                                require_tls=True, **common),
        await start_pop3_server("127.0.0.1", 0, ssl_context=context,
                                implicit_tls=True, **common),
        await start_pop3_server("127.0.0.1", 0, **common),
    ]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    try:
        yield Pop3Lab(store, lab_ca.ca_path, *ports)
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
