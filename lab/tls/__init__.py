"""The lab's certificate authority and TLS contexts.

``lab.tls.ca`` makes one CA per lab and issues host certificates, good ones
and broken ones (expired, wrong name, untrusted issuer ...); ``lab.tls.context``
turns an issued certificate into an ``ssl.SSLContext`` for the servers.
"""

from lab.tls.ca import CERT_VARIANTS, CertVariant, IssuedCert, LabCA
from lab.tls.context import client_context, server_context

__all__ = [
    "CERT_VARIANTS",
    "CertVariant",
    "IssuedCert",
    "LabCA",
    "client_context",
    "server_context",
]
