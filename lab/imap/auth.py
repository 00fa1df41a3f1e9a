"""Credential checks for LOGIN and AUTHENTICATE PLAIN (RFC 4616)."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping


class Credentials:
    """Login name -> password; a bare local part finds a unique address."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = {name.lower(): password for name, password in users.items()}

    def resolve(self, login: str) -> str | None:
        name = login.strip().lower()
        if name in self._users:
            return name
        if "@" in name:
            return None
        matches = [u for u in self._users if u.split("@", 1)[0] == name]
        return matches[0] if len(matches) == 1 else None

    def check(self, login: str, password: str) -> str | None:
        """The canonical user name when the password matches, else None."""
        user = self.resolve(login)
        expected = self._users.get(user or "", "")
        # Compare even for unknown users so timing says nothing about names.
        ok = hmac.compare_digest(expected.encode(), password.encode())
        return user if user is not None and ok else None


class SaslError(ValueError):
    pass


def decode_plain(response: bytes) -> tuple[str, str, str]:
    """(authzid, authcid, password) from a base64 SASL PLAIN response."""
    try:
        decoded = base64.b64decode(response, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SaslError("invalid base64") from exc

    parts = decoded.split(b"\x00")
    if len(parts) != 3:
        raise SaslError("PLAIN needs authzid NUL authcid NUL passwd")
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError as exc:
        raise SaslError("PLAIN response is not UTF-8") from exc
    return authzid, authcid, password
