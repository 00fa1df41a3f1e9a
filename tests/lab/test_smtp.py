"""The lab's SMTP listeners against smtplib and swaks."""

from __future__ import annotations

import asyncio
import smtplib
import subprocess

import pytest

from tests.conftest import STEP_TIMEOUT, need


def mx_address(lab) -> tuple[str, int]:
    host = lab.plan.host("mx1")
    return host.address, lab.ports[host.address][25]


def _session(address: tuple[str, int]):
    client = smtplib.SMTP(timeout=STEP_TIMEOUT)
    code, banner = client.connect(*address)
    return client, code, banner


async def test_banner_and_ehlo_carry_the_host_name(healthy_lab):
    def talk():
        client, code, banner = _session(mx_address(healthy_lab))
        ehlo = client.ehlo("client.fabrikam.test")
        client.quit()
        return code, banner, ehlo

    code, banner, (ehlo_code, ehlo_text) = await asyncio.to_thread(talk)
    assert code == 220
    assert banner.startswith(b"mx1.contoso.test ESMTP")
    assert ehlo_code == 250
    assert ehlo_text.splitlines()[0] == b"mx1.contoso.test"
    assert b"AUTH" not in ehlo_text  # port 25 never offers AUTH in clear


async def test_accepts_mail_for_the_organisation(healthy_lab):
    message = b"From: x@fabrikam.test\r\nSubject: hello\r\n\r\nbody line\r\n"

    def send():
        client, _, _ = _session(mx_address(healthy_lab))
        refused = client.sendmail("x@fabrikam.test", ["alice@contoso.test"], message)
        client.quit()
        return refused

    assert await asyncio.to_thread(send) == {}
    accepted = healthy_lab.smtp["mx1"][0].policy.accepted
    assert accepted[-1].rcpt_tos == ("alice@contoso.test",)
    assert accepted[-1].content.endswith(b"body line\r\n")

    # On disk, in alice's Maildir, before the 250 came back.
    (stored,) = healthy_lab.store.mailbox("alice").list()
    assert healthy_lab.store.mailbox("alice").read(stored.key) == message


async def test_refuses_to_relay_and_unknown_users(healthy_lab):
    def send():
        client, _, _ = _session(mx_address(healthy_lab))
        client.ehlo("client.fabrikam.test")
        client.mail("x@fabrikam.test")
        relay = client.rcpt("someone@example.net")
        unknown = client.rcpt("nobody@contoso.test")
        client.quit()
        return relay, unknown

    relay, unknown = await asyncio.to_thread(send)
    assert relay[0] == 550 and relay[1].startswith(b"5.7.1 ")
    assert unknown[0] == 550 and unknown[1].startswith(b"5.1.1 ")


async def test_swaks_delivers_through_the_mx(healthy_lab):
    swaks = need("swaks")
    address, port = mx_address(healthy_lab)
    result = await asyncio.to_thread(
        subprocess.run,
        [swaks, "--server", address, "--port", str(port), "--to",
         "bob@contoso.test", "--from", "carol@fabrikam.test", "--helo",
         "mail.fabrikam.test", "--timeout", "5", "--hide-informational"],
        capture_output=True, text=True, timeout=20,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 OK" in result.stdout
    assert healthy_lab.smtp["mx1"][0].policy.accepted[-1].rcpt_tos == (
        "bob@contoso.test",)


@pytest.mark.parametrize("mode,expected", [
    ("drop", TimeoutError), ("reject", ConnectionRefusedError)])
async def test_blocked_port_modes(start_lab, tmp_path, mode, expected):
    path = tmp_path / f"blocked-{mode}.yaml"
    path.write_text(
        "version: 1\ntitle: t\nsymptoms: {complaint: c}\n"
        "faults: [{type: port.blocked, host: mx1, port: 25, mode: %s}]\n" % mode
        + _question())
    lab = await start_lab(str(path))
    address, port = mx_address(lab)

    def connect():
        import socket

        sock = socket.create_connection((address, port), timeout=0.5)
        sock.close()

    with pytest.raises(expected):
        await asyncio.to_thread(connect)


def _question() -> str:
    return (
        "question:\n  stem: s\n  choices:\n"
        "    - {text: a, best: true, why: w}\n"
        "    - {text: b, why: w}\n    - {text: c, why: w}\n"
    )
