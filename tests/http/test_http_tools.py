"""The Autodiscover host seen by real tools: curl and openssl."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lab.http.server import check_basic, parse_basic
from lab.tls import LabCA
from tests.conftest import need
from tests.http.conftest import HOSTNAME, TIMEOUT, USERS, StartHttp, request_xml


async def _run(*argv: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out, err


def _curl(*args: str) -> list[str]:
    # --noproxy: a proxy from the environment must never see lab traffic.
    return [need("curl"), "-sS", "--noproxy", "*", "--max-time", str(TIMEOUT),
            *args]


async def test_curl_posts_the_request_with_basic_auth(
        lab_ca: LabCA, http_service: StartHttp, tmp_path: Path) -> None:
    body = tmp_path / "request.xml"
    body.write_bytes(request_xml("alice@contoso.test"))
    async with http_service() as service:
        port = service.https_port
        code, out, err = await _run(*_curl(
            "--cacert", str(lab_ca.ca_path),
            "--resolve", f"{HOSTNAME}:{port}:127.0.0.1",
            "-u", f"alice@contoso.test:{USERS['alice@contoso.test']}",
            "-H", "Content-Type: text/xml", "-d", f"@{body}",
            f"https://{HOSTNAME}:{port}/Autodiscover/Autodiscover.xml"))

    assert code == 0, err.decode()
    assert b"<Action>settings</Action>" in out
    assert b"<Type>SMTP</Type>" in out


async def test_curl_head_shows_the_redirect(http_service: StartHttp) -> None:
    async with http_service() as service:
        url = f"http://127.0.0.1:{service.http_port}/autodiscover/autodiscover.xml"
        code, out, err = await _run(*_curl("-I", url))

    assert code == 0, err.decode()
    assert out.startswith(b"HTTP/1.1 302")
    location = f"location: https://{HOSTNAME}:{service.https_port}/"
    assert location.encode() in out.lower()


async def test_curl_gives_up_on_the_broken_redirect(http_service: StartHttp) -> None:
    async with http_service(redirect_broken=True) as service:
        code, _, err = await _run(*_curl(
            "-L", "--max-redirs", "5", "--resolve",
            f"{HOSTNAME}:{service.http_port}:127.0.0.1",
            f"http://{HOSTNAME}:{service.http_port}/autodiscover/autodiscover.xml"))

    assert code == 47  # curl: "Number of redirects hit maximum amount"
    assert b"redirect" in err.lower()


async def test_openssl_reads_the_crl(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service() as service:
        code, der, err = await _run(*_curl(
            f"http://127.0.0.1:{service.http_port}/lab.crl"))
    assert code == 0, err.decode()

    code, text, err = await _run(need("openssl"), "crl", "-inform", "DER",
                                 "-noout", "-text", stdin=der)

    assert code == 0, err.decode()
    assert b"Certificate Revocation List" in text
    assert b"Contoso Lab CA" in text


async def test_openssl_verifies_the_https_certificate(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service() as service:
        code, out, err = await _run(
            need("openssl"), "s_client", "-connect",
            f"127.0.0.1:{service.https_port}", "-servername", HOSTNAME,
            "-verify_hostname", HOSTNAME, "-CAfile", str(lab_ca.ca_path),
            "-verify_return_error", stdin=b"")

    assert code == 0, err.decode()
    assert b"Verify return code: 0 (ok)" in out


def test_basic_credentials_are_parsed_and_checked() -> None:
    header = "Basic YWxpY2VAY29udG9zby50ZXN0OmFsaWNlLXNlY3JldA=="

    assert parse_basic(header) == ("alice@contoso.test", "alice-secret")
    assert check_basic(header, USERS) == "alice@contoso.test"
    assert check_basic("Basic !!!", USERS) is None
    assert check_basic("Bearer abc", USERS) is None
    assert parse_basic("Basic bm9jb2xvbg==") is None  # "nocolon"
