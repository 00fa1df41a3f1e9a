"""POP3 for the lab (RFC 1939, with CAPA from RFC 2449 and STLS from RFC 2595).

``lab.pop3.protocol`` is the sans-IO state machine, ``lab.pop3.maildrop`` the
numbered snapshot of a mailbox it works on, ``lab.pop3.messages`` the CRLF and
dot-stuffing rules, and ``lab.pop3.server`` the asyncio listener.
"""

from lab.pop3.protocol import (
    Authenticated,
    Close,
    Output,
    Pop3Session,
    Pop3Settings,
    StartTLS,
    State,
)
from lab.pop3.server import make_authenticator, start_pop3_server

__all__ = [
    "Authenticated",
    "Close",
    "Output",
    "Pop3Session",
    "Pop3Settings",
    "StartTLS",
    "State",
    "make_authenticator",
    "start_pop3_server",
]
