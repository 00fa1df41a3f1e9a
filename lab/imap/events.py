"""What the sans-IO session hands back to its I/O shell, and its states."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


@dataclass(frozen=True)
class StartTLS:
    """Send the data, then upgrade the connection and call tls_started()."""


@dataclass(frozen=True)
class Close:
    reason: str


Event = StartTLS | Close


@dataclass(frozen=True)
class Result:
    data: bytes = b""
    events: tuple[Event, ...] = ()
