"""Delivery status notifications (RFC 3464), rendered as bytes, without I/O.

A notice is a ``multipart/report; report-type=delivery-status`` (RFC 6522)
with three parts: words for a human that quote the remote server, the
machine-readable ``message/delivery-status`` fields, and the original
message's header (``text/rfc822-headers``). It comes from the relay's
postmaster with the null reverse path, so it can never bounce in turn
(RFC 5321 section 4.5.5), and is marked ``Auto-Submitted`` (RFC 3834).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

from .entry import Recipient

NoticeKind = Literal["failed", "delayed"]

#: The original header is quoted up to this size; the rest is cut.
MAX_QUOTED_HEADER = 64 * 1024
_WIDTH = 78


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    #: The relay's own name: Reporting-MTA and the postmaster's domain.
    reporting_mta: str
    #: The sender the notice goes back to (the entry's ``mail_from``).
    mail_from: str
    recipients: tuple[Recipient, ...]
    arrival: float
    now: float
    original: bytes
    queue_id: str = ""
    will_retry_until: float | None = None


def original_header(message: bytes) -> bytes:
    """The header section of ``message``, with CRLF line ends and bounded."""
    text = message.replace(b"\r\n", b"\n")
    head = text.split(b"\n\n", 1)[0]
    if len(head) > MAX_QUOTED_HEADER:
        head = head[:MAX_QUOTED_HEADER].rsplit(b"\n", 1)[0]
    return head.replace(b"\n", b"\r\n") + b"\r\n"


def _fold(name: str, value: str) -> list[str]:
    """A field folded at spaces to lines of at most 78 characters (RFC 5322 2.2.3)."""
    words = value.split(" ")
    lines: list[str] = []
    line = f"{name}: {words[0]}"
    for word in words[1:]:
        if len(line) + 1 + len(word) > _WIDTH:
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return lines


def _wrap(text: str, indent: str = "") -> list[str]:
    lines, line = [], indent
    for word in text.split():
        if len(line) + len(word) + 1 > _WIDTH and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += word + " "
    lines.append(line.rstrip())
    return lines


def _human(notice: Notice) -> list[str]:
    host = notice.reporting_mta
    if notice.kind == "failed":
        lines = [
            f"This is the mail system at host {host}.", "",
            "I'm sorry to have to inform you that your message could not",
            "be delivered to one or more recipients. It's attached below.", "",
            "For further assistance, please send mail to postmaster.", "",
            "If you do so, please include this problem report.", "",
        ]
    else:
        until = formatdate(notice.will_retry_until or notice.now, usegmt=True)
        lines = [
            f"This is the mail system at host {host}.", "",
            "####################################################################",
            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
            "####################################################################",
            "", "Your message could not be delivered yet. The mail system will",
            f"keep trying until {until}.", "",
        ]
    for rcpt in notice.recipients:
        where = f"host {rcpt.remote_mta} said: " if rcpt.remote_mta else ""
        lines.extend(_wrap(f"<{rcpt.address}>: {where}{rcpt.reply}"))
        lines.append("")
    return lines


def _status_fields(notice: Notice) -> list[str]:
    lines = [f"Reporting-MTA: dns; {notice.reporting_mta}"]
    if notice.queue_id:
        lines.append(f"X-Queue-ID: {notice.queue_id}")
    lines.append(f"Arrival-Date: {formatdate(notice.arrival, usegmt=True)}")
    for rcpt in notice.recipients:
        status = rcpt.status or ("5.0.0" if notice.kind == "failed" else "4.0.0")
        lines += ["", f"Final-Recipient: rfc822; {rcpt.address}",
                  f"Action: {notice.kind}", f"Status: {status}"]
        if rcpt.remote_mta:
            lines.append(f"Remote-MTA: dns; {rcpt.remote_mta}")
            # The diagnostic is the remote reply itself (RFC 3464 2.3.6).
            lines += _fold("Diagnostic-Code", f"smtp; {rcpt.reply}")
        elif rcpt.reply:
            lines += _fold("Diagnostic-Code", f"X-Mailflow; {rcpt.reply}")
        lines.append(f"Last-Attempt-Date: {formatdate(notice.now, usegmt=True)}")
        if notice.kind == "delayed" and notice.will_retry_until is not None:
            until = formatdate(notice.will_retry_until, usegmt=True)
            lines.append(f"Will-Retry-Until: {until}")
    return lines


def render_dsn(notice: Notice) -> bytes:
    """The whole notice as an RFC 5322 message with CRLF line ends."""
    boundary = f"dsn.{secrets.token_hex(8)}/{notice.reporting_mta}"
    subject = ("Undelivered Mail Returned to Sender" if notice.kind == "failed"
               else "Delayed Mail (still being retried)")
    message_id = f"<{secrets.token_hex(8)}.dsn@{notice.reporting_mta}>"
    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{notice.reporting_mta}>",
        f"To: <{notice.mail_from}>",
        f"Subject: {subject}",
        f"Date: {formatdate(notice.now, usegmt=True)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        *_human(notice),
        f"--{boundary}",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status",
        "",
        *_status_fields(notice),
        "",
        f"--{boundary}",
        "Content-Description: Undelivered Message Headers"
        if notice.kind == "failed" else "Content-Description: Delayed Message Headers",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    tail = ["", f"--{boundary}--", ""]
    body = "\r\n".join(head).encode("ascii", "replace") + b"\r\n"
    return body + original_header(notice.original) + "\r\n".join(tail).encode()
