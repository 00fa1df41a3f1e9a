"""The transport probes' pure parts, on byte transcripts and lab certificates."""

from __future__ import annotations

import datetime

import pytest

from checker.probes import tls
from checker.probes.flow import build_message, carries
from checker.probes.http import (
    autodiscover_works,
    build_request,
    dechunk,
    is_autodiscover_xml,
    parse_response,
)
from checker.probes.imap import capabilities, quote, search_numbers, tagged
from checker.probes.ldaps import bind_result
from checker.probes.pop3 import capa, unstuff
from checker.probes.relay import postmaster_verdict, relay_verdict
from checker.probes.smtp_client import Reply, ehlo_keywords, masked_lines
from checker.probes.submission import auth_plain, auth_verdict, dot_stuff
from checker.target import Account
from lab.tls.ca import LabCA

NOW = datetime.datetime.now(datetime.UTC)


def test_ehlo_keywords_skip_the_greeting_line() -> None:
    ehlo = Reply(250, ("mx1.contoso.test", "SIZE 1000", "starttls", "AUTH PLAIN"))
    assert ehlo_keywords(ehlo) == {"SIZE": "1000", "STARTTLS": "",
                                   "AUTH": "PLAIN"}


def test_masked_lines_find_asterisks_and_xxxxxxxa() -> None:
    banner = Reply(220, ("****************************** ************",))
    ehlo = Reply(250, ("******************************", "XXXXXXXA", "8BITMIME"))
    found = masked_lines(banner, ehlo)
    assert len(found) == 3 and found[-1] == "EHLO keyword: XXXXXXXA"
    clean = Reply(250, ("mx1.contoso.test", "STARTTLS"))
    assert masked_lines(Reply(220, ("mx1 ESMTP",)), clean) == []


@pytest.mark.parametrize(("codes", "verdict"), [
    ((250, 250), None), ((250, 451), "smtp.tempfail"), ((421,), "smtp.tempfail"),
    ((250, 550), "smtp.refused"), ((554,), "smtp.refused")])
def test_postmaster_verdict(codes: tuple[int, ...], verdict: str | None) -> None:
    assert postmaster_verdict([Reply(c, ("x",)) for c in codes]) == verdict


def test_relay_verdict_needs_both_250() -> None:
    ok, refused = Reply(250, ("OK",)), Reply(550, ("5.7.1 no relay",))
    assert relay_verdict(ok, ok)
    assert not relay_verdict(ok, refused)
    assert not relay_verdict(refused, None)


def test_auth_verdict() -> None:
    clear = {"STARTTLS": "", "AUTH": "PLAIN LOGIN"}
    codes = [f.code for f in auth_verdict("m:587", clear, {"SIZE": ""}, ())]
    assert codes == ["smtp.auth-before-tls", "smtp.auth-missing"]
    assert auth_verdict("m:587", {"STARTTLS": ""}, {"AUTH": "PLAIN"}, ()) == []


def test_auth_plain_and_dot_stuffing() -> None:
    assert auth_plain(Account("a@b.test", "pw")) == "AGFAYi50ZXN0AHB3"
    assert dot_stuff(b"a\n.b\n") == b"a\r\n..b\r\n.\r\n"


def test_imap_parsing() -> None:
    lines = ["* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n",
             "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"]
    assert capabilities(lines) == {"IMAP4REV1", "STARTTLS", "LOGINDISABLED",
                                   "AUTH=PLAIN"}
    assert tagged("c3 NO [AUTHENTICATIONFAILED] nope", "c3") == "NO"
    assert tagged("* OK still going", "c3") is None
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert search_numbers(["* SEARCH 4 7\r\n", "c1 OK done\r\n"]) == [4, 7]


def test_pop3_parsing() -> None:
    assert capa([b"TOP", b"STLS", b"SASL PLAIN"]) == {"TOP", "STLS", "SASL"}
    assert unstuff([b"..dot", b"plain"]) == [b".dot", b"plain"]


def test_http_parsing() -> None:
    raw = (b"HTTP/1.1 302 Found\r\nLocation: https://x/a\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    response = parse_response(raw)
    assert (response.status, response.headers["location"], response.body) == (
        302, "https://x/a", b"abc")
    assert dechunk(b"2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n") == b"hi!"
    request = build_request("POST", "https://h.test:8443/p?q=1", {}, b"xy")
    assert request.startswith(b"POST /p?q=1 HTTP/1.1\r\nHost: h.test:8443\r\n")
    assert request.endswith(b"Content-Length: 2\r\n\r\nxy")


def test_autodiscover_verdicts() -> None:
    xml = b'<?xml version="1.0"?><Autodiscover xmlns="urn:x"><Response/></Autodiscover>'
    assert is_autodiscover_xml(xml)
    assert not is_autodiscover_xml(b"<!DOCTYPE x><Autodiscover/>")
    assert not is_autodiscover_xml(b"not found\n")
    found = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nnot found\n")
    assert not autodiscover_works(found, authenticated=True)
    challenge = parse_response(b"HTTP/1.1 401 Unauthorized\r\n\r\n")
    assert autodiscover_works(challenge, authenticated=False)


def test_ldap_bind_response() -> None:
    assert bind_result(bytes.fromhex("300c02010161070a010004000400")) == 0
    assert bind_result(bytes.fromhex("300c02010161070a013104000400")) == 49
    assert bind_result(b"\x30\x03\x02\x01") is None


def test_flow_message_round_trip() -> None:
    message = build_message(Account("a@b.test", "pw"), "tok123", NOW)
    assert carries(message, "tok123")
    assert not carries(message, "tok124")
    assert b"Message-ID: <tok123@checker.maillab.invalid>" in message


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA.create(tmp_path_factory.mktemp("ca"), org="contoso.test")


@pytest.mark.parametrize(("variant", "codes"), [
    ("good", []), ("expired", ["tls.expired"]),
    ("not-yet-valid", ["tls.not-yet-valid"]),
    ("name-mismatch", ["tls.name-mismatch"]),
    ("self-signed", ["tls.self-signed"]), ("unknown-ca", ["tls.unknown-ca"])])
def test_classify_tells_certificate_faults_apart(ca: LabCA, variant: str,
                                                 codes: list[str]) -> None:
    issued = ca.issue(["mail.contoso.test"], variant=variant)  # type: ignore
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(issued.cert_pem).public_bytes(Encoding.DER)
    handshake = tls.Handshake(True, "TLSv1.3", "TLS_AES_128_GCM_SHA256", (der,))
    problems = tls.classify(handshake, "mail.contoso.test", (ca.certificate,), NOW)
    assert [p.code for p in problems] == codes
    assert all(p.evidence[1].startswith("certificate subject=") for p in problems)


def test_old_version_and_wildcards(ca: LabCA) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    issued = ca.issue(["*.contoso.test"])
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert tls.name_matches("mail.contoso.test", cert)
    assert not tls.name_matches("a.mail.contoso.test", cert)
    handshake = tls.Handshake(True, "TLSv1.1", "x", (cert.public_bytes(Encoding.DER),))
    problems = tls.classify(handshake, "mail.contoso.test", (ca.certificate,), NOW)
    assert [p.code for p in problems] == ["tls.old-version"]
