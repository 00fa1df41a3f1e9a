"""The healthy lab through the clients people use, and faults as they see them.

Every client dials an address from the lab's state file and checks the
certificate against the lab's CA by host name, as it would at work.
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import os
import poplib
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import need

T = 20  # bound on each client run


def where(lab, host: str, port: int) -> tuple[str, str, int]:
    h = lab.plan.host(host)
    return h.fqdn, h.address, lab.ports[h.address][port]


async def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, list(argv), input=stdin,
                                   capture_output=True, text=True, timeout=T)


@pytest.mark.parametrize("host,port,starttls", [
    ("mx1", 25, "smtp"), ("mail", 587, "smtp"), ("mail", 143, "imap"),
    ("mail", 110, "pop3"), ("mail", 993, None), ("mail", 995, None),
    ("autodiscover", 443, None), ("mx1", 50636, None)])
async def test_openssl_verifies_every_tls_port(healthy_lab, host, port, starttls):
    fqdn, address, actual = where(healthy_lab, host, port)
    argv = [need("openssl"), "s_client", "-connect", f"{address}:{actual}",
            "-servername", fqdn, "-CAfile", str(healthy_lab.ca_file),
            "-verify_return_error", "-verify_hostname", fqdn]
    if starttls:
        argv += ["-starttls", starttls]
    done = await run(*argv)
    assert "Verify return code: 0 (ok)" in done.stdout, done.stdout[-500:]


async def test_swaks_with_starttls_on_25_and_auth_on_587(healthy_lab):
    swaks = need("swaks")
    fqdn, address, port = where(healthy_lab, "mx1", 25)
    done = await run(swaks, "--server", address, "--port", str(port), "--tls",
                     "--to", "bob@contoso.test", "--from", "carol@fabrikam.test",
                     "--timeout", "10")
    assert done.returncode == 0, done.stdout
    assert "<~  250 2.0.0 OK" in done.stdout  # '~' marks lines inside TLS

    fqdn, address, port = where(healthy_lab, "mail", 587)
    done = await run(swaks, "--server", address, "--port", str(port), "--tls",
                     "--auth", "PLAIN", "--auth-user", "alice@contoso.test",
                     "--auth-password", "alice-lab-password", "--to",
                     "bob@contoso.test", "--from", "alice@contoso.test",
                     "--timeout", "10")
    assert done.returncode == 0, done.stdout
    assert "235 2.7.0 Authentication successful" in done.stdout

    # Without TLS, 587 offers no AUTH at all.
    done = await run(swaks, "--server", address, "--port", str(port), "--auth",
                     "PLAIN", "--auth-user", "alice@contoso.test",
                     "--auth-password", "alice-lab-password", "--to",
                     "bob@contoso.test", "--timeout", "10")
    assert done.returncode != 0
    assert "AUTH" not in [l.split()[-1] for l in done.stdout.splitlines()
                          if l.startswith("<-  250")]


async def test_curl_on_every_protocol(healthy_lab):
    curl = need("curl")
    ca = str(healthy_lab.ca_file)
    alice = "alice@contoso.test:alice-lab-password"

    def resolve(host: str, port: int) -> list[str]:
        fqdn, address, actual = where(healthy_lab, host, port)
        return ["--resolve", f"{fqdn}:{actual}:{address}"]

    fqdn, _, port = where(healthy_lab, "mx1", 25)
    mail = "From: carol@fabrikam.test\r\nSubject: by curl\r\n\r\nhi\r\n"
    done = await run(curl, "-sS", "--max-time", "10", *resolve("mx1", 25),
                     f"smtp://{fqdn}:{port}", "--mail-from", "carol@fabrikam.test",
                     "--mail-rcpt", "alice@contoso.test", "-T", "-", stdin=mail)
    assert done.returncode == 0, done.stderr

    for scheme, std, extra in (("imap", 143, ["--ssl-reqd"]), ("imaps", 993, []),
                               ("pop3", 110, ["--ssl-reqd"]), ("pop3s", 995, [])):
        fqdn, _, port = where(healthy_lab, "mail", std)
        done = await run(curl, "-sS", "--max-time", "10", "--cacert", ca,
                         *resolve("mail", std), *extra, "-u", alice,
                         f"{scheme}://{fqdn}:{port}/")
        assert done.returncode == 0, (scheme, done.stderr)

    fqdn, _, port = where(healthy_lab, "autodiscover", 443)
    done = await run(curl, "-sS", "--max-time", "10", "--cacert", ca,
                     *resolve("autodiscover", 443), "-u", alice, "-d",
                     "<Autodiscover/>",
                     f"https://{fqdn}:{port}/autodiscover/autodiscover.xml")
    assert done.returncode == 0 and "<Autodiscover" in done.stdout


def _submit(lab, message: bytes) -> None:
    fqdn, address, port = where(lab, "mail", 587)
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    context.check_hostname = False  # smtplib names the address it dialled
    with smtplib.SMTP(address, port, timeout=5) as client:
        client.ehlo("client.contoso.test")
        client.starttls(context=context)
        client.login("alice@contoso.test", "alice-lab-password")
        client.sendmail("alice@contoso.test", ["bob@contoso.test"], message)


def _imap_bodies(lab) -> list[bytes]:
    fqdn, address, port = where(lab, "mail", 993)
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    context.check_hostname = False  # imaplib names the address it dialled
    with imaplib.IMAP4_SSL(address, port, ssl_context=context, timeout=5) as imap:
        imap.login("bob@contoso.test", "bob-lab-password")
        imap.select("INBOX", readonly=True)
        _, data = imap.search(None, "ALL")
        bodies = []
        for n in data[0].split():
            _, parts = imap.fetch(n, "(BODY.PEEK[])")
            bodies.append(parts[0][1])
        return bodies


def _pop3_bodies(lab) -> list[bytes]:
    fqdn, address, port = where(lab, "mail", 995)
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    context.check_hostname = False  # poplib dials the address; the CA still counts
    pop = poplib.POP3_SSL(address, port, context=context, timeout=5)
    try:
        pop.user("bob@contoso.test")
        pop.pass_("bob-lab-password")
        count, _ = pop.stat()
        return [b"\r\n".join(pop.retr(i)[1]) + b"\r\n" for i in range(1, count + 1)]
    finally:
        pop.quit()


async def test_submitted_mail_reads_back_byte_for_byte(healthy_lab):
    message = EmailMessage()
    message["From"] = "alice@contoso.test"
    message["To"] = "bob@contoso.test"
    message["Subject"] = "round trip"
    message.set_content("line one\n.line starting with a dot\nline three\n")
    raw = bytes(message).replace(b"\n", b"\r\n")

    await asyncio.to_thread(_submit, healthy_lab, raw)

    assert await asyncio.to_thread(_imap_bodies, healthy_lab) == [raw]
    assert await asyncio.to_thread(_pop3_bodies, healthy_lab) == [raw]


def test_a_250_survives_a_kill_and_a_restart(tmp_path):
    """SIGKILL right after the 250 reply; the restarted lab still has the mail."""
    lab_dir = tmp_path / "lab"

    def up() -> tuple[subprocess.Popen[str], dict]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "maillab", "up", "healthy", "--dir", str(lab_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + T
        while not (lab_dir / "state.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        return proc, json.loads((lab_dir / "state.json").read_text())

    proc, state = up()
    mx = next(h for h in state["hosts"] if h["name"] == "mx1")["address"]
    try:
        with smtplib.SMTP(mx, state["ports"][mx]["25"], timeout=5) as client:
            client.sendmail("carol@fabrikam.test", ["alice@contoso.test"],
                            b"Subject: kept\r\n\r\nanswered 250\r\n")
            os.kill(proc.pid, signal.SIGKILL)  # before QUIT, right after the 250
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        pass
    proc.wait(timeout=T)
    (lab_dir / "state.json").unlink(missing_ok=True)

    proc, state = up()
    try:
        mail = next(h for h in state["hosts"] if h["name"] == "mail")["address"]
        context = ssl.create_default_context(cafile=state["ca_file"])
        context.check_hostname = False
        with imaplib.IMAP4_SSL(mail, state["ports"][mail]["993"],
                               ssl_context=context, timeout=5) as imap:
            imap.login("alice@contoso.test", "alice-lab-password")
            imap.select("INBOX")
            _, data = imap.search(None, "SUBJECT", "kept")
            assert len(data[0].split()) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=T)


async def test_clients_see_the_faults(start_lab):
    openssl = need("openssl")
    lab = await start_lab("tls-expired")
    fqdn, address, port = where(lab, "mail", 993)
    done = await run(openssl, "s_client", "-connect", f"{address}:{port}",
                     "-CAfile", str(lab.ca_file), "-verify_return_error",
                     "-verify_hostname", fqdn)
    assert "certificate has expired" in done.stdout + done.stderr

    lab = await start_lab("smtp-starttls-missing")
    fqdn, address, port = where(lab, "mx1", 25)
    done = await run(need("swaks"), "--server", address, "--port", str(port),
                     "--tls", "--to", "bob@contoso.test", "--timeout", "10")
    assert done.returncode != 0
    assert "did not advertise STARTTLS" in done.stderr

    lab = await start_lab("smtp-banner-masked")
    fqdn, address, port = where(lab, "mx1", 25)
    with smtplib.SMTP(timeout=5) as client:
        code, banner = await asyncio.to_thread(client.connect, address, port)
        assert code == 220 and set(banner.split()[0]) == {ord("*")}
        ehlo = (await asyncio.to_thread(client.ehlo, "x.test"))[1]
        assert b"STARTTLS" not in ehlo and b"XXXXXXXA" in ehlo
