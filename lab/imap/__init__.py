"""IMAP4rev1 (RFC 3501) for the lab: a sans-IO session and its asyncio server."""

from lab.imap.events import Close, Result, StartTLS, State
from lab.imap.framing import Limits
from lab.imap.protocol import ImapSession, SessionConfig
from lab.imap.server import start_imap_server

__all__ = [
    "Close",
    "ImapSession",
    "Limits",
    "Result",
    "SessionConfig",
    "StartTLS",
    "State",
    "start_imap_server",
]
