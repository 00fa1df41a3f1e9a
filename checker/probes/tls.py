"""TLS on a mail port: the handshake, and what the certificate is worth.

The handshake itself never verifies (so a broken certificate still shows us
its fields, and the session can go on to test the protocol above); the
verdict comes afterwards from ``classify``, a pure function of the presented
chain, the trusted CAs, the host name and the clock. It tells apart the
faults a client's "certificate verify failed" lumps together.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import ipaddress
import logging
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from ..findings import Finding
from .tcp import Connection

log = logging.getLogger(__name__)

#: Seconds a TLS handshake may take before we call it failed.
HANDSHAKE_TIMEOUT = 3.0
#: Issuers followed from the leaf before giving up (real chains have 2-4).
MAX_DEPTH = 6
#: RFC 8996 deprecates everything below TLS 1.2.
OLD_VERSIONS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})
#: The encoding constant of ``_ssl.Certificate.public_bytes`` for DER.
_DER = 2


@dataclass(frozen=True)
class Handshake:
    """How a TLS handshake ended; ``chain`` is the peer's DER, leaf first."""

    ok: bool
    version: str = ""
    cipher: str = ""
    chain: tuple[bytes, ...] = ()
    error: str = ""

    def evidence(self) -> str:
        if not self.ok:
            return f"TLS handshake failed: {self.error}"
        return f"TLS handshake done: {self.version}, {self.cipher}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a certificate or a session: a code and proof."""

    code: str
    summary: str
    evidence: tuple[str, ...]


# region: pure certificate logic

def describe(cert: x509.Certificate) -> str:
    """One evidence line with the fields a reader checks first."""
    return (f"certificate subject={cert.subject.rfc4514_string()} "
            f"issuer={cert.issuer.rfc4514_string()} "
            f"notBefore={cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} "
            f"notAfter={cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ} "
            f"SAN={','.join(san_names(cert)) or '(none)'}")


def san_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    names = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
    names += [f"IP:{a}" for a in san.get_values_for_type(x509.IPAddress)]
    return names


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The HTTP CRL distribution points (RFC 5280 section 4.2.1.13)."""
    try:
        points = cert.extensions.get_extension_for_oid(
            ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and \
                    name.value.lower().startswith("http://"):
                urls.append(name.value)
    return urls


def name_matches(reference: str, cert: x509.Certificate) -> bool:
    """RFC 9525 section 6.3: DNS-ID in the SAN only, '*' for one left label."""
    reference = reference.lower().rstrip(".")
    for entry in san_names(cert):
        kind, _, value = entry.partition(":")
        if kind == "IP":
            if _is_ip(reference) and ipaddress.ip_address(reference) == \
                    ipaddress.ip_address(value):
                return True
            continue
        value = value.lower().rstrip(".")
        if value == reference:
            return True
        if value.startswith("*.") and "." in reference:
            first, _, rest = reference.partition(".")
            if first and rest == value[2:]:
                return True
    return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001 - any failure means "not this issuer"
        return False
    return True


def chain_verdict(chain: list[x509.Certificate],
                  trusted: tuple[x509.Certificate, ...]) -> str:
    """'trusted', 'self-signed' or 'unknown-ca' for a presented chain."""
    leaf, pool = chain[0], chain[1:]
    current = leaf
    for _ in range(MAX_DEPTH):
        if current in trusted:
            return "trusted"
        if any(ca.subject == current.issuer and _signed_by(current, ca)
               for ca in trusted):
            return "trusted"
        if current.issuer == current.subject:
            # A self-issued certificate we do not trust ends the path.
            return "self-signed" if current is leaf else "unknown-ca"
        nxt = next((c for c in pool if c.subject == current.issuer
                    and _signed_by(current, c)), None)
        if nxt is None:
            return "unknown-ca"
        current = nxt
    return "unknown-ca"


def classify(handshake: Handshake, fqdn: str,
             trusted: tuple[x509.Certificate, ...],
             now: datetime.datetime) -> list[Problem]:
    """Every problem of a completed handshake, per RFC 5280 and RFC 9525."""
    problems: list[Problem] = []
    if not handshake.ok or not handshake.chain:
        return problems
    chain = [x509.load_der_x509_certificate(d) for d in handshake.chain]
    leaf = chain[0]
    proof = (handshake.evidence(), describe(leaf))

    if leaf.not_valid_after_utc < now:
        problems.append(Problem(
            "tls.expired", f"the certificate expired on "
            f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC", proof))
    elif leaf.not_valid_before_utc > now:
        problems.append(Problem(
            "tls.not-yet-valid", f"the certificate is valid only from "
            f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC", proof))

    if not name_matches(fqdn, leaf):
        problems.append(Problem(
            "tls.name-mismatch",
            f"the certificate does not name {fqdn} in its subjectAltName", proof))

    verdict = chain_verdict(chain, trusted)
    if verdict == "self-signed":
        problems.append(Problem(
            "tls.self-signed", "the certificate is self-signed", proof))
    elif verdict == "unknown-ca":
        problems.append(Problem(
            "tls.unknown-ca", "the certificate's issuer "
            f"{leaf.issuer.rfc4514_string()} is not a trusted CA", proof))

    if handshake.version in OLD_VERSIONS:
        problems.append(Problem(
            "tls.old-version", f"the server negotiated {handshake.version}",
            (handshake.evidence(),)))
    return problems


def findings(subject: str, problems: list[Problem]) -> list[Finding]:
    return [Finding(p.code, subject, f"{subject}: {p.summary}", p.evidence)
            for p in problems]


def issuer_cn(cert: x509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.issuer.rfc4514_string()

# endregion
# region: trust store and handshakes


@functools.lru_cache(maxsize=8)
def load_trust(ca_file: str | None) -> tuple[x509.Certificate, ...]:
    """The trusted CAs: the given PEM file, else the system's CA bundle."""
    path = ca_file
    if path is None:
        # TODO: CAs kept only in a hashed directory (capath) are not read.
        paths = ssl.get_default_verify_paths()
        path = paths.cafile or paths.openssl_cafile
    try:
        return tuple(x509.load_pem_x509_certificates(Path(path).read_bytes()))
    except (OSError, ValueError) as exc:
        log.warning("no trusted CAs from %s: %s", path, exc)
        return ()


@functools.lru_cache(maxsize=1)
def probe_context() -> ssl.SSLContext:
    """A client context that completes any handshake so we can look inside."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        # Accept what a server offers, so an old version can be reported;
        # Python warns that TLS 1.0 is deprecated, which is the point here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass
    return context


async def upgrade(conn: Connection, fqdn: str,
                  timeout: float = HANDSHAKE_TIMEOUT) -> Handshake:
    """Run the TLS handshake on an open connection (STARTTLS or implicit)."""
    assert conn.writer is not None
    server_name = None if _is_ip(fqdn) else fqdn
    try:
        await asyncio.wait_for(conn.writer.start_tls(
            probe_context(), server_hostname=server_name,
            ssl_handshake_timeout=timeout), timeout + 0.5)
    except TimeoutError:
        return Handshake(False, error=f"no handshake within {timeout:g} s")
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        return Handshake(False, error=f"{type(exc).__name__}: {exc}")

    sslobj = conn.writer.get_extra_info("ssl_object")
    if sslobj is None:
        return Handshake(False, error="no TLS session after the handshake")
    chain = _peer_chain(sslobj)
    cipher = sslobj.cipher()
    result = Handshake(True, sslobj.version() or "", cipher[0] if cipher else "",
                       chain)
    log.debug("tls %s:%d %s -> %s", conn.address, conn.port, fqdn,
              result.evidence())
    return result


def _peer_chain(sslobj: ssl.SSLObject) -> tuple[bytes, ...]:
    # Python 3.13 makes the presented chain public; 3.11 keeps it on _sslobj.
    inner = getattr(sslobj, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)
    if getter is not None:
        try:
            certs = getter() or []
            return tuple(c.public_bytes(_DER) for c in certs)
        except Exception:  # noqa: BLE001 - fall back to the leaf alone
            log.debug("cannot read the peer chain; using the leaf only")
    leaf = sslobj.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()

# endregion
