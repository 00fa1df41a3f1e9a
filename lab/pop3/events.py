"""What a POP3 session tells its network shell, and how it is configured.

Frozen dataclasses, so that a test can compare them with ``==``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.Enum):
    """RFC 1939 section 3 states, plus CLOSED once the session is over."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"


@dataclass(frozen=True)
class StartTLS:
    """Send the pending bytes, then run the TLS handshake (RFC 2595 4)."""


@dataclass(frozen=True)
class Close:
    """Send the pending bytes, then close the connection."""

    reason: str


@dataclass(frozen=True)
class Authenticated:
    """A login succeeded and the maildrop is locked."""

    login: str
    mailbox: str


Event = StartTLS | Close | Authenticated


@dataclass(frozen=True)
class Output:
    """Bytes to send, then events to act on, in that order."""

    data: bytes = b""
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class Pop3Settings:
    """How one POP3 listener behaves; every bound a client can hit is here."""

    hostname: str
    tls_available: bool = False
    require_tls: bool = False
    allow_sasl_plain: bool = True
    # RFC 2449 section 4: commands are at most 255 octets, CRLF included.
    max_line: int = 255
    # RFC 5034 section 4 lets SASL responses run longer than commands.
    max_sasl_line: int = 2048
    max_commands: int = 1000
    max_auth_failures: int = 3
    max_messages: int = 10_000
    implementation: str = "Mailflow-Lab"
