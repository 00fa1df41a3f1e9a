"""End to end: submit one message to the test account, read it back over
IMAP and POP3, then delete it over IMAP.

Each run carries a fresh token in its Message-ID and body, so a message of
an earlier run is never taken for this one. A broken stage is reported only
if the transport probes found nothing on the ports involved (the diagnosis
filters on ``extra["involved"]``): a filtered 587 is one finding, not two.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import secrets
from dataclasses import dataclass

from ..findings import Finding
from ..target import Account, Target
from .imap import ImapClient, capabilities, search_numbers
from .pop3 import Pop3Client, status
from .starttls import reach
from .submission import submit
from .tls import upgrade

log = logging.getLogger(__name__)

#: How long delivery may take before the message counts as missing.
DELIVERY_WAIT = 5.0
POLL_EVERY = 0.5
#: Messages of the POP3 maildrop read back, newest first.
POP3_LOOK_BACK = 20


@dataclass(frozen=True)
class Endpoint:
    fqdn: str
    address: str
    standard: int
    implicit: bool = False

    @property
    def subject(self) -> str:
        return f"{self.fqdn}:{self.standard}"


def build_message(account: Account, token: str,
                  when: datetime.datetime) -> bytes:
    """An RFC 5322 message from the account to itself, carrying the token."""
    return (
        f"From: <{account.address}>\r\n"
        f"To: <{account.address}>\r\n"
        f"Subject: Mailflow Lab end-to-end check {token}\r\n"
        f"Date: {email.utils.format_datetime(when)}\r\n"
        f"Message-ID: <{token}@checker.maillab.invalid>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"{token_line(token)}\r\n").encode("ascii")


def token_line(token: str) -> str:
    return f"Mailflow Lab checker token: {token}"


def carries(message: bytes, token: str) -> bool:
    """Whether a retrieved message holds this run's body line intact."""
    body = message.replace(b"\r\n", b"\n").partition(b"\n\n")[2]
    return token_line(token).encode() in body.split(b"\n")


def _flow_finding(code: str, subject: str, summary: str, evidence: tuple[str, ...],
                  involved: list[str]) -> Finding:
    return Finding(code, subject, summary, evidence,
                   extra={"involved": involved})


async def probe_flow(target: Target, submission: Endpoint | None,
                     imap: Endpoint | None, pop3: Endpoint | None,
                     timeout: float) -> list[Finding]:
    account = target.test_account
    if account is None or submission is None:
        return []
    token = secrets.token_hex(12)
    message = build_message(account, token,
                            datetime.datetime.now(datetime.UTC))

    sent = await submit(target, submission.fqdn, submission.address,
                        submission.standard, account, message, timeout)
    if not sent.ok:
        return [_flow_finding(
            "flow.submission-failed", submission.subject,
            f"a message to {account.address} cannot be submitted on "
            f"{submission.subject}: {sent.why}", sent.transcript,
            [submission.subject])]

    found: list[Finding] = []
    if imap is not None:
        seen, transcript = await _imap(target, imap, account, token, timeout,
                                       wait=DELIVERY_WAIT, delete=False)
        if not seen:
            found.append(_flow_finding(
                "flow.imap-missing", imap.subject,
                f"the message submitted to {account.address} does not show up "
                f"over IMAP on {imap.subject}", transcript,
                [submission.subject, imap.subject]))
    if pop3 is not None:
        got, transcript = await _pop3(target, pop3, account, token, timeout)
        if not got:
            found.append(_flow_finding(
                "flow.pop3-missing", pop3.subject,
                f"the message submitted to {account.address} cannot be "
                f"retrieved over POP3 on {pop3.subject}", transcript,
                [submission.subject, pop3.subject]))
    if imap is not None:
        # Clean up, so repeated checks do not fill the mailbox.
        await _imap(target, imap, account, token, timeout, wait=0, delete=True)
    return found


async def _imap(target: Target, ep: Endpoint, account: Account, token: str,
                timeout: float, *, wait: float, delete: bool,
                ) -> tuple[bool, tuple[str, ...]]:
    """Find this run's message (and delete it); whether it was there intact."""
    conn, problems = await reach(target, ep.fqdn, ep.address, ep.standard, timeout)
    if conn is None:
        return False, tuple(e for p in problems for e in p.evidence)
    client = ImapClient(conn, timeout)
    try:
        if not await _imap_login(client, ep, account):
            return False, tuple(client.transcript)
        status_, _ = await client.command("SELECT INBOX")
        if status_ != "OK":
            return False, tuple(client.transcript)
        uids = await _imap_search(client, token, wait)
        intact = False
        for uid in uids:
            _, lines = await client.command(f"UID FETCH {uid} BODY.PEEK[]")
            intact = intact or carries("".join(lines).encode(), token)
        if delete and uids:
            # RFC 3501 sections 6.4.6 and 6.4.3: flag, then expunge.
            joined = ",".join(str(u) for u in uids)
            await client.command(f"UID STORE {joined} +FLAGS.SILENT (\\Deleted)")
            await client.command("EXPUNGE")
        await client.command("LOGOUT")
        return intact, tuple(client.transcript)
    except (TimeoutError, ConnectionError, ValueError, OSError) as exc:
        return False, (*client.transcript, f"{type(exc).__name__}: {exc}")
    finally:
        log.debug("flow imap %s transcript:\n%s", ep.subject,
                  "\n".join(client.transcript))
        await conn.close()


async def _imap_login(client: ImapClient, ep: Endpoint, account: Account) -> bool:
    if ep.implicit and not (await upgrade(client.conn, ep.fqdn)).ok:
        return False
    if not (await client.greeting()).upper().startswith("* OK"):
        return False
    if not ep.implicit:
        _, lines = await client.command("CAPABILITY")
        if "STARTTLS" not in capabilities(lines):
            return False
        status_, _ = await client.command("STARTTLS")
        if status_ != "OK" or not (await upgrade(client.conn, ep.fqdn)).ok:
            return False
    status_, _ = await client.login(account)
    return status_ == "OK"


async def _imap_search(client: ImapClient, token: str, wait: float) -> list[int]:
    loop = asyncio.get_running_loop()
    started, mark, tries = loop.time(), len(client.transcript), 0
    while True:
        tries += 1
        _, lines = await client.command(
            f'UID SEARCH HEADER Message-ID "{token}@checker.maillab.invalid"')
        uids = search_numbers(lines)
        if uids or loop.time() - started >= wait:
            break
        await asyncio.sleep(POLL_EVERY)
        await client.command("NOOP")
    if tries > 1:
        # One search of the transcript is proof enough; say how long we tried.
        client.transcript[mark:] = [
            *client.transcript[-3:],
            f"(searched {tries} times over {loop.time() - started:.1f} s)"]
    return uids


async def _pop3(target: Target, ep: Endpoint, account: Account, token: str,
                timeout: float) -> tuple[bool, tuple[str, ...]]:
    conn, problems = await reach(target, ep.fqdn, ep.address, ep.standard, timeout)
    if conn is None:
        return False, tuple(e for p in problems for e in p.evidence)
    client = Pop3Client(conn, timeout)
    try:
        if ep.implicit and not (await upgrade(conn, ep.fqdn)).ok:
            return False, tuple(client.transcript)
        if not status(await client.response()):
            return False, tuple(client.transcript)
        if not ep.implicit and not (status(await client.command("STLS"))
                                    and (await upgrade(conn, ep.fqdn)).ok):
            return False, tuple(client.transcript)
        if not await client.login(account):
            return False, tuple(client.transcript)
        if not status(await client.command("LIST")):
            return False, tuple(client.transcript)
        numbers = [int(line.split()[0]) for line in await client.multiline()
                   if line.split() and line.split()[0].isdigit()]
        found = False
        for number in sorted(numbers, reverse=True)[:POP3_LOOK_BACK]:
            if not status(await client.command(f"RETR {number}")):
                continue
            if carries(b"\r\n".join(await client.multiline()), token):
                found = True
                break
        await client.command("QUIT")
        return found, tuple(client.transcript)
    except (TimeoutError, ConnectionError, ValueError, OSError) as exc:
        return False, (*client.transcript, f"{type(exc).__name__}: {exc}")
    finally:
        log.debug("flow pop3 %s transcript:\n%s", ep.subject,
                  "\n".join(client.transcript))
        await conn.close()
