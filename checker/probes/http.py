"""Autodiscover over HTTP(S), and the CRLs the certificates point to.

Port 443 gets a POX Autodiscover POST for the test account (Microsoft's
"Autodiscover for Exchange" and [MS-OXDSCLI] 2.2.3); port 80 is followed
through the "HTTP redirect method" to the HTTPS endpoint it must lead to;
each CRL Distribution Point (RFC 5280 section 4.2.1.13) is fetched over
plain HTTP. A small HTTP/1.1 client keeps names resolved by the target's
own resolver and every read bounded; the parsing is pure.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from cryptography import x509

from ..dns import DnsClient
from ..findings import Finding
from ..target import Account, Target
from .mx import addresses
from .starttls import PortResult, reach, secure

log = logging.getLogger(__name__)

ENDPOINT = "/autodiscover/autodiscover.xml"
REQUEST_NS = ("http://schemas.microsoft.com/exchange/autodiscover/outlook/"
              "requestschema/2006")
RESPONSE_SCHEMA = ("http://schemas.microsoft.com/exchange/autodiscover/outlook/"
                   "responseschema/2006a")
MAX_RESPONSE = 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def evidence(self) -> str:
        kind = self.headers.get("content-type", "no content type")
        return f"HTTP {self.status} {self.reason} ({kind}, {len(self.body)} octets)"


# region: pure HTTP and Autodiscover logic

def parse_response(raw: bytes) -> HttpResponse:
    """An HTTP/1.1 response (RFC 9112 sections 4, 5 and 7.1)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("incomplete HTTP response head")
    status_line, *fields = head.decode("iso-8859-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ValueError(f"not an HTTP status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in fields:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(body)
    elif headers.get("content-length", "").isdigit():
        body = body[:int(headers["content-length"])]
    return HttpResponse(int(code), reason, headers, body)


def dechunk(data: bytes) -> bytes:
    out, rest = b"", data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def build_request(method: str, url: str, headers: dict[str, str],
                  body: bytes = b"") -> bytes:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}",
             "Connection: close", "User-Agent: maillab-checker",
             *(f"{k}: {v}" for k, v in headers.items())]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + body


def autodiscover_request(address: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>"
        "</Request></Autodiscover>\r\n").encode()


def basic_auth(account: Account) -> str:
    token = f"{account.address}:{account.password}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def is_autodiscover_xml(body: bytes) -> bool:
    """Whether the body is an <Autodiscover> document (settings or error)."""
    if b"<!DOCTYPE" in body.upper():
        return False  # no DTD, so no entity expansion is ever attempted
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    return root.tag.rpartition("}")[2] == "Autodiscover"


def autodiscover_works(response: HttpResponse, authenticated: bool) -> bool:
    """An XML answer with credentials; without, a 401 shows the endpoint."""
    if not authenticated:
        return response.status == 401 or is_autodiscover_xml(response.body)
    return response.status == 200 and is_autodiscover_xml(response.body)


def is_crl(body: bytes) -> bool:
    for load in (x509.load_der_x509_crl, x509.load_pem_x509_crl):
        try:
            load(body)
        except ValueError:
            continue
        return True
    return False

# endregion
# region: the client


async def fetch(target: Target, dns: DnsClient | None, url: str, timeout: float,
                *, method: str = "GET", headers: dict[str, str] | None = None,
                body: bytes = b"", address: str | None = None,
                ) -> tuple[HttpResponse | None, list[Finding], tuple[bytes, ...]]:
    """One request: the response, or the port/TLS findings that stopped it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    secure_ = parts.scheme == "https"
    standard = parts.port or (443 if secure_ else 80)
    if address is None:
        found = (await addresses(dns, host))[0] if dns is not None else []
        if not found:
            return None, [], ()
        address = found[0]
    subject = f"{host}:{standard}"
    conn, problems = await reach(target, host, address, standard, timeout)
    if conn is None:
        return None, problems, ()
    chain: tuple[bytes, ...] = ()
    try:
        if secure_:
            handshake, problems = await secure(target, conn, host, subject, [])
            if not handshake.ok:
                return None, problems, ()
            chain = handshake.chain
        assert conn.writer is not None and conn.reader is not None
        log.debug("http C: %s %s (%s)", method, url, address)
        conn.writer.write(build_request(method, url, headers or {}, body))
        await asyncio.wait_for(conn.writer.drain(), timeout)
        raw = await asyncio.wait_for(conn.reader.read(MAX_RESPONSE + 1), timeout)
        while raw and len(raw) <= MAX_RESPONSE:
            more = await asyncio.wait_for(conn.reader.read(MAX_RESPONSE), timeout)
            if not more:
                break
            raw += more
        response = parse_response(raw[:MAX_RESPONSE])
        log.debug("http S: %s", response.evidence())
        return response, problems, chain
    except (TimeoutError, ConnectionError, ValueError, OSError) as exc:
        log.debug("http %s: %s", url, exc)
        return None, problems, chain
    finally:
        await conn.close()

# endregion
# region: probes


async def probe_https(target: Target, fqdn: str, address: str, standard: int,
                      timeout: float) -> PortResult:
    """TLS of the Autodiscover host and the POX request for the account."""
    url = f"https://{fqdn}{'' if standard == 443 else f':{standard}'}{ENDPOINT}"
    account = target.test_account
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if account is not None:
        headers["Authorization"] = basic_auth(account)
    body = autodiscover_request(account.address if account else
                                f"postmaster@{target.domain}")
    response, found, chain = await fetch(target, None, url, timeout,
                                         method="POST", headers=headers,
                                         body=body, address=address)
    if response is None:
        return PortResult(found, chain)
    if not autodiscover_works(response, account is not None):
        found.append(Finding(
            "autodiscover.missing", fqdn,
            f"POST {url} gets no Autodiscover answer",
            (f"POST {url}", response.evidence())))
    return PortResult(found, chain)


async def probe_redirect(target: Target, dns: DnsClient, fqdn: str, address: str,
                         timeout: float) -> PortResult:
    """Port 80: reachable, and a redirect (if any) that ends at working HTTPS."""
    subject = f"{fqdn}:80"
    url = f"http://{fqdn}{ENDPOINT}"
    response, found, _ = await fetch(target, dns, url, timeout, address=address)
    if response is None or response.status not in _REDIRECTS:
        # TODO: a port 80 that answers but offers no redirect is not judged.
        return PortResult(found)

    evidence, seen = [f"GET {url}", response.evidence()], {url}
    headers = {"Authorization": basic_auth(target.test_account)} \
        if target.test_account else {}
    broken = ""
    for _ in range(MAX_REDIRECTS):
        location = urljoin(url, response.headers.get("location", ""))
        evidence.append(f"Location: {location}")
        if location in seen:
            broken = "the redirects loop"
            break
        seen.add(location)
        url = location
        response, problems, _ = await fetch(target, dns, url, timeout,
                                            headers=headers)
        if response is None:
            broken = "the redirect target does not answer"
            evidence += [e for p in problems for e in p.evidence]
            break
        evidence += [f"GET {url}", response.evidence()]
        if response.status not in _REDIRECTS:
            if not url.startswith("https://") or response.status >= 404:
                broken = "the redirect does not end at a working HTTPS endpoint"
            break
    else:
        broken = f"more than {MAX_REDIRECTS} redirects"
    if broken:
        found.append(Finding("autodiscover.redirect-broken", subject,
                             f"{subject}: {broken}", tuple(evidence)))
    return PortResult(found)


async def probe_crl(target: Target, dns: DnsClient, url: str,
                    timeout: float) -> list[Finding]:
    """The CRL at a distribution point: fetched over HTTP and parsed."""
    response, problems, _ = await fetch(target, dns, url, timeout)
    if response is not None and response.status == 200 and is_crl(response.body):
        return []
    evidence = [f"GET {url}"]
    evidence += [response.evidence()] if response is not None else [
        e for p in problems for e in p.evidence] or ["no HTTP answer"]
    return [Finding("crl.unreachable", url,
                    f"the CRL at {url} cannot be fetched", tuple(evidence))]

# endregion
