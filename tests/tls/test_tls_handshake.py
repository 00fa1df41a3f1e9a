"""Every certificate variant meets real clients over 127.0.0.1.

Python's ``ssl`` and ``openssl s_client`` must accept the good certificate
and reject each broken one with the error a user would see in the field.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from lab.tls import LabCA, client_context, server_context

HOST = "mail.contoso.test"
TIMEOUT = 5.0

# variant -> what OpenSSL (and so Python's ssl) says about it
FAILURES = {
    "expired": "certificate has expired",
    "not-yet-valid": "certificate is not yet valid",
    "name-mismatch": "hostname mismatch",
    "self-signed": "self-signed certificate",
    "unknown-ca": "unable to get local issuer certificate",
}


async def _python_handshake(port: int, ca_path: Path,
                            server_hostname: str = HOST) -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port,
                                ssl=client_context(ca_path),
                                server_hostname=server_hostname),
        TIMEOUT)
    try:
        return await asyncio.wait_for(reader.readline(), TIMEOUT)
    finally:
        writer.close()


async def _s_client(port: int, ca_path: Path, *extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}",
        "-servername", HOST, "-CAfile", str(ca_path),
        "-verify_return_error", "-verify_hostname", HOST, *extra,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


async def test_good_certificate_verifies_in_python(lab_ca: LabCA,
                                                   tls_server) -> None:
    cert = lab_ca.issue([HOST], ["127.0.0.1"])

    async with tls_server(cert) as port:
        by_name = await _python_handshake(port, lab_ca.ca_path)
        by_ip = await _python_handshake(port, lab_ca.ca_path, "127.0.0.1")

    assert by_name == by_ip == b"hello over tls\r\n"


async def test_good_certificate_verifies_in_openssl(lab_ca: LabCA,
                                                    tls_server) -> None:
    cert = lab_ca.issue([HOST], ["127.0.0.1"])

    async with tls_server(cert) as port:
        code, out = await _s_client(port, lab_ca.ca_path)

    assert code == 0, out
    assert "Verify return code: 0 (ok)" in out


@pytest.mark.parametrize("variant", sorted(FAILURES))
async def test_broken_certificate_fails_in_python(lab_ca: LabCA, tls_server,
                                                  variant: str) -> None:
    cert = lab_ca.issue([HOST], ["127.0.0.1"], variant=variant)  # type: ignore

    async with tls_server(cert) as port:
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            await _python_handshake(port, lab_ca.ca_path)

    assert FAILURES[variant] in caught.value.verify_message.lower()


@pytest.mark.parametrize("variant", sorted(FAILURES))
async def test_broken_certificate_fails_in_openssl(lab_ca: LabCA, tls_server,
                                                   variant: str) -> None:
    cert = lab_ca.issue([HOST], ["127.0.0.1"], variant=variant)  # type: ignore

    async with tls_server(cert) as port:
        code, out = await _s_client(port, lab_ca.ca_path)

    assert code != 0
    assert FAILURES[variant] in out.lower(), out


async def test_revoked_certificate_fails_with_the_crl(lab_ca: LabCA, tls_server,
                                                      tmp_path: Path) -> None:
    cert = lab_ca.issue([HOST], variant="revoked")
    crl_file = tmp_path / "lab-crl.pem"
    crl_file.write_bytes(lab_ca.crl_pem())
    context = client_context(lab_ca.ca_path)
    context.load_verify_locations(cafile=str(crl_file))
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF

    async with tls_server(cert) as port:
        without_crl = await _python_handshake(port, lab_ca.ca_path)
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=context,
                                        server_hostname=HOST), TIMEOUT)

    assert without_crl == b"hello over tls\r\n"
    assert "certificate revoked" in caught.value.verify_message


async def test_server_refuses_tls_1_1(lab_ca: LabCA, tls_server) -> None:
    cert = lab_ca.issue([HOST])

    async with tls_server(cert) as port:
        # SECLEVEL=0 so that it is our server, not the client, that says no.
        code, out = await _s_client(port, lab_ca.ca_path, "-tls1_1",
                                    "-cipher", "DEFAULT@SECLEVEL=0")

    assert code != 0
    # asyncio drops the connection without an alert; no cipher was agreed.
    assert "Cipher is (NONE)" in out, out
    assert server_context(cert).minimum_version == ssl.TLSVersion.TLSv1_2
