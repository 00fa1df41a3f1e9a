"""Constants shared by the IMAP tests (a module, so imports are unambiguous)."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

USERS = {"alice@contoso.test": "wonder land", "bob@contoso.test": "builder"}
HOSTNAME = "imap.contoso.test"
MESSAGE = (
    b"From: Bob Builder <bob@contoso.test>\r\n"
    b"To: alice@contoso.test\r\n"
    b"Subject: Lab report\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <1@contoso.test>\r\n"
    b"\r\n"
    b"The lab works.\r\n"
)


@dataclass(frozen=True)
class TlsFiles:
    ca: pathlib.Path
    cert: pathlib.Path
    key: pathlib.Path
