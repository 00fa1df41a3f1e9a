"""The POP3 listener against the tools a user would reach for: curl, openssl."""

from __future__ import annotations

import asyncio
import os

from .conftest import HOSTNAME, PASSWORD, SEEDED, Pop3Lab

from lab.pop3 import start_pop3_server
from lab.pop3.messages import normalise_crlf
from lab.store import MailStore
from lab.tls import LabCA, server_context

TIMEOUT = 10.0
# Proxies from the environment must never see lab traffic.
CLEAN_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


async def _run(*argv: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=CLEAN_ENV)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


async def _curl(lab: Pop3Lab, scheme: str, port: int, path: str,
                *extra: str) -> tuple[int, bytes, bytes]:
    return await _run(
        "curl", "-sS", "--max-time", "8", "--noproxy", "*",
        "--cacert", str(lab.ca_path),
        "--resolve", f"{HOSTNAME}:{port}:127.0.0.1",
        "-u", f"alice@contoso.test:{PASSWORD}",
        *extra, f"{scheme}://{HOSTNAME}:{port}/{path}")


async def test_curl_stls_retr_is_byte_exact(pop3_lab: Pop3Lab) -> None:
    code, out, err = await _curl(pop3_lab, "pop3", pop3_lab.port, "2",
                                 "--ssl-reqd")

    assert code == 0, err
    assert out == normalise_crlf(SEEDED[1])


async def test_curl_stls_list(pop3_lab: Pop3Lab) -> None:
    code, out, err = await _curl(pop3_lab, "pop3", pop3_lab.port, "",
                                 "--ssl-reqd", "--sasl-ir")
    sizes = [len(normalise_crlf(m)) for m in SEEDED]

    assert code == 0, err
    assert out == f"1 {sizes[0]}\r\n2 {sizes[1]}\r\n".encode()


async def test_curl_without_tls_cannot_log_in(pop3_lab: Pop3Lab) -> None:
    code, out, _ = await _curl(pop3_lab, "pop3", pop3_lab.port, "1")

    assert code != 0
    assert out == b""


async def test_curl_pop3s_retr_and_dele(pop3_lab: Pop3Lab) -> None:
    code, out, err = await _curl(pop3_lab, "pop3s", pop3_lab.pop3s_port, "1")
    dele, _, dele_err = await _curl(pop3_lab, "pop3s", pop3_lab.pop3s_port,
                                    "1", "-X", "DELE", "-I")

    assert code == 0, err
    assert out == SEEDED[0]
    assert dele == 0, dele_err
    left = pop3_lab.store.mailbox("alice").list()
    assert len(left) == 1


async def test_curl_sasl_plain_continuation_on_plain_port(
        pop3_lab: Pop3Lab) -> None:
    code, out, err = await _curl(pop3_lab, "pop3", pop3_lab.open_port, "1",
                                 "-v")

    assert code == 0, err
    assert out == SEEDED[0]
    # Without --sasl-ir curl waits for the RFC 5034 empty challenge.
    verbose = err.decode(errors="replace").splitlines()
    assert "> AUTH PLAIN" in verbose
    assert "< + " in verbose


def _s_client_args(lab: Pop3Lab, port: int) -> list[str]:
    return ["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
            "-servername", HOSTNAME, "-CAfile", str(lab.ca_path),
            "-verify_return_error", "-verify_hostname", HOSTNAME,
            "-crlf", "-ign_eof"]


SESSION = f"USER alice@contoso.test\nPASS {PASSWORD}\nSTAT\nQUIT\n".encode()


async def test_openssl_starttls_pop3(pop3_lab: Pop3Lab) -> None:
    total = sum(len(normalise_crlf(m)) for m in SEEDED)

    code, out, err = await _run(
        *_s_client_args(pop3_lab, pop3_lab.port), "-starttls", "pop3",
        stdin=SESSION)

    assert code == 0, err
    assert b"Verify return code: 0 (ok)" in out
    assert f"+OK 2 {total}\r\n".encode() in out
    assert b"signing off" in out


async def test_openssl_implicit_tls(pop3_lab: Pop3Lab) -> None:
    code, out, err = await _run(*_s_client_args(pop3_lab, pop3_lab.pop3s_port),
                                stdin=b"CAPA\n" + SESSION)

    assert code == 0, err
    assert b"Verify return code: 0 (ok)" in out
    assert b"+OK mail.contoso.test POP3 ready\r\n" in out
    assert b"USER\r\n" in out and b"STLS\r\n" not in out


async def test_openssl_sees_an_expired_pop3s_certificate(
        store: MailStore, lab_ca: LabCA, pop3_lab: Pop3Lab) -> None:
    expired = lab_ca.issue([HOSTNAME], variant="expired")
    server = await start_pop3_server(
        "127.0.0.1", 0, store=store, users={}, hostname=HOSTNAME,
        ssl_context=server_context(expired), implicit_tls=True)
    port = server.sockets[0].getsockname()[1]
    try:
        code, out, err = await _run(*_s_client_args(pop3_lab, port),
                                    stdin=b"QUIT\n")
    finally:
        server.close()
        await server.wait_closed()

    assert code != 0
    assert b"certificate has expired" in out + err


async def test_curl_ssl_reqd_fails_without_stls(pop3_lab: Pop3Lab) -> None:
    code, out, err = await _curl(pop3_lab, "pop3", pop3_lab.open_port, "1",
                                 "--ssl-reqd")

    assert code != 0
    assert out == b""
    assert b"STLS not supported" in err
