"""LDAPS seen by real tools: openssl s_client, ldapwhoami, ldapsearch."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from lab.tls import LabCA
from tests.conftest import need
from tests.ldap.conftest import ALICE_DN, HOSTNAME, TIMEOUT, StartLdaps


async def _run(*argv: str, env: dict[str, str] | None = None,
               stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _ldap_env(ca_path: Path, home: Path) -> dict[str, str]:
    # No system or user ldap.conf: only the lab CA and the command line count.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LDAPCONF": os.devnull,
        "LDAPRC": os.devnull,
        "LDAPTLS_CACERT": str(ca_path),
        "LDAPTLS_REQCERT": "demand",
    }


async def test_openssl_verifies_the_ldaps_certificate(
        lab_ca: LabCA, ldaps: StartLdaps) -> None:
    async with ldaps() as port:
        code, out, err = await _run(
            need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
            "-servername", HOSTNAME, "-verify_hostname", HOSTNAME,
            "-CAfile", str(lab_ca.ca_path), "-verify_return_error")

    assert code == 0, err
    assert "Verify return code: 0 (ok)" in out


async def test_ldapwhoami_returns_the_dn(
        lab_ca: LabCA, ldaps: StartLdaps, tmp_path: Path) -> None:
    env = _ldap_env(lab_ca.ca_path, tmp_path)
    async with ldaps() as port:
        url = f"ldaps://127.0.0.1:{port}"
        ok = await _run(need("ldapwhoami"), "-H", url, "-x", "-D", ALICE_DN,
                        "-w", "alice-secret", env=env)
        by_address = await _run(need("ldapwhoami"), "-H", url, "-x", "-D",
                                "alice@contoso.test", "-w", "alice-secret", env=env)
        wrong = await _run(need("ldapwhoami"), "-H", url, "-x", "-D", ALICE_DN,
                           "-w", "not-the-password", env=env)

    assert ok[0] == 0, ok[2]
    assert ok[1].strip() == f"dn:{ALICE_DN}"
    assert by_address[1].strip() == f"dn:{ALICE_DN}"
    assert wrong[0] == 49
    assert "Invalid credentials" in wrong[2]


async def test_ldapsearch_shows_the_root_dse(
        lab_ca: LabCA, ldaps: StartLdaps, tmp_path: Path) -> None:
    env = _ldap_env(lab_ca.ca_path, tmp_path)
    async with ldaps() as port:
        code, out, err = await _run(
            need("ldapsearch"), "-x", "-LLL", "-H", f"ldaps://127.0.0.1:{port}",
            "-b", "", "-s", "base", env=env)

    assert code == 0, err
    assert "namingContexts: dc=contoso,dc=test" in out
    assert "supportedLDAPVersion: 3" in out
    assert "vendorName: Mailflow Lab" in out


async def test_ldapsearch_below_the_root_is_refused(
        lab_ca: LabCA, ldaps: StartLdaps, tmp_path: Path) -> None:
    env = _ldap_env(lab_ca.ca_path, tmp_path)
    async with ldaps() as port:
        code, _, err = await _run(
            need("ldapsearch"), "-x", "-LLL", "-H", f"ldaps://127.0.0.1:{port}",
            "-b", "dc=contoso,dc=test", "(cn=alice)", env=env)

    assert code == 53
    assert "unwilling" in err.lower()
