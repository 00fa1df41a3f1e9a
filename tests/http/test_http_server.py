"""The Autodiscover host on real sockets, with aiohttp's client."""

from __future__ import annotations

import asyncio
import base64
import contextlib

import aiohttp
from cryptography import x509

from lab.tls import LabCA, client_context
from tests.http.conftest import HOSTNAME, TIMEOUT, USERS, StartHttp, request_xml

def basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


ALICE = basic("alice@contoso.test", USERS["alice@contoso.test"])
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=TIMEOUT)


def _https(port: int, path: str = "/autodiscover/autodiscover.xml") -> str:
    return f"https://127.0.0.1:{port}{path}"


def _http(port: int, path: str = "/autodiscover/autodiscover.xml") -> str:
    return f"http://127.0.0.1:{port}{path}"


async def _post(lab_ca: LabCA, port: int, body: bytes, *,
                auth: str | None = ALICE,
                path: str = "/autodiscover/autodiscover.xml",
                ) -> tuple[int, str, dict[str, str]]:
    headers = {"Content-Type": "text/xml"}
    if auth is not None:
        headers["Authorization"] = auth
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
        async with session.post(
            _https(port, path), data=body,
            ssl=client_context(lab_ca.ca_path), server_hostname=HOSTNAME,
            headers=headers,
        ) as response:
            return response.status, await response.text(), dict(response.headers)


async def test_post_with_credentials_answers_settings(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service() as service:
        status, text, headers = await _post(
            lab_ca, service.https_port, request_xml("alice@contoso.test"))

    assert status == 200
    assert headers["Content-Type"].startswith("text/xml")
    assert "<Type>IMAP</Type>" in text
    assert "<Port>993</Port>" in text
    assert "<DisplayName>Alice</DisplayName>" in text


async def test_outlook_spelling_of_the_path_works(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service() as service:
        status, text, _ = await _post(
            lab_ca, service.https_port, request_xml("bob@contoso.test"),
            path="/Autodiscover/Autodiscover.xml")

    assert status == 200
    assert "<LoginName>bob@contoso.test</LoginName>" in text


async def test_unknown_address_is_error_500_in_xml(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service() as service:
        status, text, _ = await _post(
            lab_ca, service.https_port, request_xml("nobody@contoso.test"))

    assert status == 200
    assert "<ErrorCode>500</ErrorCode>" in text


async def test_missing_or_wrong_credentials_get_401(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    wrong = basic("alice@contoso.test", "not-her-password")
    async with http_service() as service:
        anonymous = await _post(lab_ca, service.https_port,
                                request_xml("alice@contoso.test"), auth=None)
        mistyped = await _post(lab_ca, service.https_port,
                               request_xml("alice@contoso.test"), auth=wrong)

    for status, _, headers in (anonymous, mistyped):
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic realm=")


async def test_bad_bodies_are_refused_and_service_goes_on(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    bomb = (b'<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<Autodiscover>&b;</Autodiscover>")
    async with http_service() as service:
        port = service.https_port
        malformed = await _post(lab_ca, port, b"<Autodiscover><Request>")
        doctype = await _post(lab_ca, port, bomb)
        oversized = await _post(lab_ca, port, b"<a>" + b"x" * 70_000 + b"</a>")
        after = await _post(lab_ca, port, request_xml("alice@contoso.test"))

    assert malformed[0] == 400
    assert doctype[0] == 400
    assert "DOCTYPE" in doctype[1]
    assert oversized[0] == 413
    assert after[0] == 200


async def test_get_on_https_endpoint_is_error_600(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service() as service, aiohttp.ClientSession(
            timeout=CLIENT_TIMEOUT) as session:
        async with session.get(_https(service.https_port),
                               headers={"Authorization": ALICE},
                               ssl=client_context(lab_ca.ca_path),
                               server_hostname=HOSTNAME) as response:
            text = await response.text()

    assert "<ErrorCode>600</ErrorCode>" in text


async def test_port_80_redirects_to_https(http_service: StartHttp) -> None:
    async with http_service() as service, aiohttp.ClientSession(
            timeout=CLIENT_TIMEOUT) as session:
        url = _http(service.http_port, "/AutoDiscover/autodiscover.xml")
        async with session.get(url, allow_redirects=False) as response:
            status, location = response.status, response.headers["Location"]

    assert status == 302
    assert location == (f"https://{HOSTNAME}:{service.https_port}"
                        "/autodiscover/autodiscover.xml")


async def test_broken_redirect_loops_back_to_http(http_service: StartHttp) -> None:
    async with http_service(redirect_broken=True) as service, aiohttp.ClientSession(
            timeout=CLIENT_TIMEOUT) as session:
        async with session.get(_http(service.http_port),
                               allow_redirects=False) as response:
            status, location = response.status, response.headers["Location"]

    assert status == 302
    assert location.startswith("http://")
    assert location.endswith(f":{service.http_port}/autodiscover/autodiscover.xml")


async def test_missing_autodiscover_is_404_on_both_ports(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service(autodiscover=False) as service:
        status, _, _ = await _post(lab_ca, service.https_port,
                                   request_xml("alice@contoso.test"))
        async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
            async with session.get(_http(service.http_port),
                                   allow_redirects=False) as response:
                http_status = response.status

    assert status == 404
    assert http_status == 404


async def test_crl_is_served_over_plain_http(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    revoked = lab_ca.issue(["old.contoso.test"], variant="revoked")
    async with http_service() as service, aiohttp.ClientSession(
            timeout=CLIENT_TIMEOUT) as session:
        async with session.get(_http(service.http_port, "/lab.crl")) as response:
            status = response.status
            content_type = response.headers["Content-Type"]
            der = await response.read()

    assert status == 200
    assert content_type == "application/pkix-crl"
    crl = x509.load_der_x509_crl(der)
    assert crl.issuer == lab_ca.certificate.subject
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial) is not None


async def test_no_crl_source_is_404(http_service: StartHttp) -> None:
    async with http_service(crl_der=None) as service, aiohttp.ClientSession(
            timeout=CLIENT_TIMEOUT) as session:
        async with session.get(_http(service.http_port, "/lab.crl")) as response:
            assert response.status == 404


async def test_requests_over_the_cap_get_503(
        lab_ca: LabCA, http_service: StartHttp) -> None:
    async with http_service(max_active_requests=1) as service:
        context = client_context(lab_ca.ca_path)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", service.https_port, ssl=context,
            server_hostname=HOSTNAME), TIMEOUT)
        # A request whose body never completes keeps its handler busy.
        writer.write(
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\n"
            b"Host: " + HOSTNAME.encode() + b"\r\n"
            b"Authorization: " + ALICE.encode() + b"\r\n"
            b"Content-Length: 1000\r\n\r\n<Autodiscover>")
        await writer.drain()
        try:
            for _ in range(50):
                status, _, _ = await _post(lab_ca, service.https_port,
                                           request_xml("alice@contoso.test"))
                if status == 503:
                    break
                await asyncio.sleep(0.05)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
        later = await _post(lab_ca, service.https_port,
                            request_xml("alice@contoso.test"))

    assert status == 503
    assert later[0] == 200
