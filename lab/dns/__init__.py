"""The lab's authoritative DNS server (dnslib wire format, asyncio sockets)."""

from .responder import Responder
from .server import DnsServer
from .zone import Zone

__all__ = ["DnsServer", "Responder", "Zone"]
