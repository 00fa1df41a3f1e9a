"""``ssl.SSLContext`` objects built from the lab CA's certificates.

Servers get TLS 1.2 or newer only (RFC 8996 retires 1.0 and 1.1); the client
helper trusts the lab CA alone, never the system store, so a test cannot pass
by accident against a public CA.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from lab.tls.ca import IssuedCert

log = logging.getLogger(__name__)


def server_context(cert: IssuedCert, *, present_chain: bool = False,
                   ) -> ssl.SSLContext:
    """A server context presenting ``cert``.

    With ``present_chain`` the issuer goes out too; by default only the leaf
    is sent, which is all a client trusting the lab CA needs, and which makes
    an untrusted issuer fail as "unable to get local issuer certificate".
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    chain = cert.chain_path if present_chain else cert.cert_path
    context.load_cert_chain(certfile=chain, keyfile=cert.key_path)
    log.debug("server TLS context for %s (%s)", ", ".join(cert.names),
              cert.variant)
    return context


def client_context(ca_path: Path | str, *, check_hostname: bool = True,
                   ) -> ssl.SSLContext:
    """A client context that trusts only the CA in ``ca_path``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(ca_path))
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context
