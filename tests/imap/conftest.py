"""Fixtures for IMAP tests: a throwaway CA and certificate, a store, servers."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import pathlib
import ssl
from collections.abc import AsyncIterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.imap import start_imap_server
from lab.store import MailStore

from .imap_support import HOSTNAME, MESSAGE, USERS, TlsFiles


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    out = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("IMAP test CA")).issuer_name(_name("IMAP test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(HOSTNAME)).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.DNSName(HOSTNAME),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                       critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(out / "ca.pem", out / "cert.pem", out / "key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files


@pytest.fixture
def server_ssl(tls_files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files.cert, tls_files.key)
    return ctx


@pytest.fixture
def client_ssl(tls_files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tls_files.ca))
    return ctx


@pytest.fixture
def store(tmp_path: pathlib.Path) -> MailStore:
    store = MailStore(tmp_path / "mail")
    store.deliver("alice", MESSAGE)
    store.deliver("alice", MESSAGE.replace(b"Lab report", b"Second"))
    return store


async def _serve(**kwargs: object) -> AsyncIterator[int]:
    server = await start_imap_server("127.0.0.1", 0, hostname=HOSTNAME,
                                     users=USERS, **kwargs)  # type: ignore[arg-type]
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


@pytest.fixture
async def starttls_port(store: MailStore,
                        server_ssl: ssl.SSLContext) -> AsyncIterator[int]:
    async for port in _serve(store=store, ssl_context=server_ssl):
        yield port


@pytest.fixture
async def imaps_port(store: MailStore,
                     server_ssl: ssl.SSLContext) -> AsyncIterator[int]:
    async for port in _serve(store=store, ssl_context=server_ssl,
                             implicit_tls=True):
        yield port
