"""Mail that really flows: submission, the relay's queue, partners, NDRs."""

from __future__ import annotations

import asyncio
import email
import imaplib
import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from lab.mailflow import send_command
from lab.store import MailStore

STEP = 5.0


def _endpoint(lab, host: str, port: int) -> tuple[str, int]:
    address = lab.plan.host(host).address
    return address, lab.ports[address][port]


def submit(lab, to: str, subject: str) -> None:
    """Alice submits on 587 as a mail client would: STARTTLS, then AUTH."""
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    message = EmailMessage()
    message["From"] = "alice@contoso.test"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("hello from the lab\n")
    host, port = _endpoint(lab, "mail", 587)
    with smtplib.SMTP(host, port, timeout=STEP) as client:
        client.starttls(context=context)
        client.login("alice@contoso.test", lab.plan.users["alice"])
        client.send_message(message)


def imap_messages(lab, user: str = "alice") -> list[email.message.Message]:
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    context.check_hostname = False  # we dial the address, not the name
    host, port = _endpoint(lab, "mail", 993)
    with imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=STEP) as imap:
        imap.login(f"{user}@contoso.test", lab.plan.users[user])
        imap.select("INBOX")
        _, data = imap.search(None, "ALL")
        found = []
        for number in data[0].split():
            _, parts = imap.fetch(number, "(RFC822)")
            found.append(email.message_from_bytes(parts[0][1]))
        return found


async def wait_for(predicate, timeout: float = 20.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")


def _report_fields(dsn: email.message.Message) -> dict[str, str]:
    for part in dsn.walk():
        if part.get_content_type() == "message/delivery-status":
            fields: dict[str, str] = {}
            for block in part.get_payload():
                for key, value in block.items():
                    fields[key.lower()] = value
            return fields
    raise AssertionError("no message/delivery-status part")


async def test_missing_ptr_bounces_with_5_7_25_read_over_imap(start_lab):
    lab = await start_lab("relay-ptr-rejected")
    relay = lab.plan.relay_host.address

    await asyncio.to_thread(submit, lab, "bob@fabrikam.test", "to the strict one")

    def ndr():
        return [m for m in imap_messages(lab)
                if m.get_content_type() == "multipart/report"]

    (report,) = await wait_for(ndr)
    assert "<mailer-daemon@relay.contoso.test>" in report["From"].lower()
    fields = _report_fields(report)
    assert fields["status"] == "5.7.25"
    assert fields["action"] == "failed"
    assert relay in fields["diagnostic-code"]
    assert fields["final-recipient"].endswith("bob@fabrikam.test")


async def test_without_the_fault_the_partner_gets_the_message(start_lab, tmp_path):
    text = (Path("scenarios") / "relay-ptr-rejected.yaml").read_text()
    text = text.replace("faults:\n  - type: ptr.missing\n    host: relay\n", "")
    path = tmp_path / "relay-ptr-ok.yaml"
    path.write_text(text)
    lab = await start_lab(str(path))

    await asyncio.to_thread(submit, lab, "bob@fabrikam.test", "to the strict one")

    partner = lab.flow.partner_stores["fabrikam.test"]
    (stored,) = await wait_for(lambda: partner.mailbox("bob").list())
    body = partner.mailbox("bob").read(stored.key)
    assert b"Subject: to the strict one" in body
    inbox = await asyncio.to_thread(imap_messages, lab)
    assert not [m for m in inbox if m.get_content_type() == "multipart/report"]


async def test_greylisting_shows_retry_then_delivers(start_lab):
    lab = await start_lab("partner-greylisting")
    await asyncio.to_thread(submit, lab, "bob@fabrikam.test", "greylisted")

    def retrying():
        rows = send_command(lab.directory, {"action": "queue"})["queues"]
        return [r for r in rows if r["state"] == "retry"]

    (row,) = await wait_for(retrying)
    assert row["next_hop"] == "fabrikam.test"
    assert row["last_error"].startswith("451")

    partner = lab.flow.partner_stores["fabrikam.test"]
    await wait_for(lambda: partner.mailbox("bob").list(), timeout=20)
    rows = (await asyncio.to_thread(send_command, lab.directory,
                                    {"action": "queue"}))["queues"]
    assert not [r for r in rows if r["sender"] == "contoso.test"]


async def test_queue_commands_from_the_command_line(start_lab):
    lab = await start_lab("partner-mx-unreachable")
    await asyncio.to_thread(submit, lab, "bob@fabrikam.test", "stuck")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "maillab", *args],
                              capture_output=True, text=True, timeout=30)

    async def queue_json():
        done = await asyncio.to_thread(run, "queue", "--lab", str(lab.state_file),
                                       "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    await wait_for(lambda: [r for r in send_command(
        lab.directory, {"action": "queue"})["queues"] if r["state"] == "retry"])
    (row,) = await queue_json()
    assert row["next_hop"] == "fabrikam.test" and row["state"] == "retry"

    done = await asyncio.to_thread(run, "queue", "--lab", str(lab.state_file),
                                   "suspend", "fabrikam.test")
    assert done.returncode == 0 and "suspend" in done.stdout
    (row,) = await queue_json()
    assert row["state"] == "suspended"

    done = await asyncio.to_thread(run, "queue", "--lab", str(lab.state_file),
                                   "resume", "fabrikam.test")
    assert done.returncode == 0

    # Past the shortened delay time, Alice gets a delay notice.
    def delayed():
        return [m for m in imap_messages(lab)
                if m.get_content_type() == "multipart/report"
                and _report_fields(m).get("action") == "delayed"]

    await wait_for(delayed, timeout=30)

    logs = await asyncio.to_thread(run, "logs", "--lab", str(lab.state_file))
    assert logs.returncode == 0


def test_kill_9_while_queued_loses_nothing(tmp_path):
    """Queued messages survive SIGKILL and are delivered after the restart."""
    lab_dir = tmp_path / "lab"
    dead = tmp_path / "dead.yaml"
    dead.write_text((Path("scenarios") / "partner-mx-unreachable.yaml").read_text())
    alive = tmp_path / "alive.yaml"
    alive.write_text(
        (Path("scenarios") / "partner-greylisting.yaml").read_text()
        .replace("policy: {greylist_seconds: 2}", "policy: {}"))

    def up(path: Path) -> tuple[subprocess.Popen[str], dict]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "maillab", "up", str(path), "--dir", str(lab_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        state = lab_dir / "state.json"
        deadline = time.monotonic() + 20
        while not state.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return proc, json.loads(state.read_text())

    proc, state = up(dead)
    try:
        tokens = [f"token-{i}" for i in range(5)]
        mail = next(h for h in state["hosts"] if h["name"] == "mail")
        context = ssl.create_default_context(cafile=state["ca_file"])
        with smtplib.SMTP(mail["address"], state["ports"][mail["address"]]["587"],
                          timeout=STEP) as client:
            client.starttls(context=context)
            client.login("alice@contoso.test", "alice-lab-password")
            for token in tokens:
                client.sendmail("alice@contoso.test", ["bob@fabrikam.test"],
                                f"Subject: {token}\r\n\r\n{token}\r\n".encode())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    (lab_dir / "state.json").unlink(missing_ok=True)

    proc, state = up(alive)
    try:
        partner = MailStore(lab_dir / "partners" / "fabrikam.test")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = [partner.mailbox("bob").read(m.key)
                   for m in partner.mailbox("bob").list()]
            if len(got) >= len(tokens):
                break
            time.sleep(0.2)
        bodies = b"\n".join(got)
        for token in tokens:
            assert bodies.count(f"Subject: {token}".encode()) == 1, token
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


async def test_sessions_the_lab_receives_are_logged_both_ways(healthy_lab):
    from checker.diagnose import diagnose
    from checker.target import from_options
    from lab.relay import read_transcripts

    target = from_options("contoso.test", None, (), healthy_lab.state_file)
    await diagnose(target, timeout=2.0, dns_timeout=2.0)

    logs = healthy_lab.directory / "transcripts"
    mx = list(read_transcripts(logs, "mx1.contoso.test"))
    lines = [(side, text) for s in mx for side, text in s["lines"]]
    assert ("C", "EHLO checker.maillab.invalid") in lines
    assert any(side == "S" and text.startswith("220 mx1.contoso.test")
               for side, text in lines)

    # The checker's submission on 587 authenticated; the secret is not kept.
    sub = [text for s in read_transcripts(logs, "mail.contoso.test")
           for side, text in s["lines"] if side == "C"]
    auth = [t for t in sub if t.upper().startswith("AUTH")]
    assert auth and all(t.endswith("****") for t in auth)
