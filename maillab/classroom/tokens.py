"""Secrets of the classroom: session cookies, CSRF tokens, the teacher token.

Only digests of session tokens are stored, so the database alone does not
let anyone act as a student.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

log = logging.getLogger(__name__)

STUDENT_COOKIE = "maillab_session"
TEACHER_COOKIE = "maillab_teacher"
JOIN_COOKIE = "maillab_join"

#: Cookies live for a school day; a restart of the app keeps them valid.
COOKIE_MAX_AGE = 12 * 3600
MAX_TOKEN_CHARS = 128


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_id() -> str:
    """A public identifier (in URLs); guessing it grants nothing by itself."""
    return secrets.token_hex(8)


def digest(token: str) -> str:
    return hashlib.sha256(token[:MAX_TOKEN_CHARS].encode()).hexdigest()


def same(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given[:MAX_TOKEN_CHARS].encode(), expected.encode())


def cookie_options(*, max_age: int | None = COOKIE_MAX_AGE) -> dict[str, object]:
    """Attributes of every cookie the app sets."""
    options: dict[str, object] = {"httponly": True, "samesite": "Strict",
                                  "path": "/"}
    if max_age is not None:
        options["max_age"] = max_age
    return options
