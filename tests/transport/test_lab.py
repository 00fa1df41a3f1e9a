"""The transport probes against real labs: healthy, then one fault at a time.

Each fault is a scenario file written here, so the probes are judged on the
same labs ``maillab run`` builds; each must yield exactly its finding(s).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from checker.diagnose import diagnose
from checker.target import from_options

#: Seconds for each network step of the checker: short, as ``maillab run``.
STEP = 1.5

_TAIL = """symptoms:
  complaint: Something is wrong.
question:
  stem: What is wrong?
  choices:
    - text: The injected fault.
      best: true
      why: It was injected.
    - text: Nothing.
      why: Something is.
    - text: DNS.
      why: Not this time.
"""


def _scenario(tmp_path: Path, name: str, fault: str) -> str:
    body = "\n".join("    " + line if i else "  - " + line
                     for i, line in enumerate(fault.strip().splitlines()))
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"version: 1\ntitle: {name}\nfaults:\n{body}\n{_TAIL}")
    return str(path)


async def _found(lab) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    target = from_options("contoso.test", None, (), lab.state_file)
    report = await diagnose(target, timeout=STEP, dns_timeout=STEP)
    return {(f.code, f.subject) for f in report.findings}


@pytest.mark.timeout(30)
async def test_healthy_lab_has_no_finding_and_keeps_no_message(healthy_lab) -> None:
    target = from_options("contoso.test", None, (), healthy_lab.state_file)
    assert target.test_account is not None and target.ca_file
    assert target.has_role(f"127.77.{healthy_lab.slot}.11", "edge")

    started = time.monotonic()
    report = await diagnose(target, timeout=STEP, dns_timeout=STEP)
    assert [(f.code, f.subject) for f in report.findings] == []
    assert time.monotonic() - started < 5.0

    # The end-to-end message was read back and deleted again.
    assert healthy_lab.store.mailbox("alice").list() == []


M, X, A = "mail.contoso.test", "mx1.contoso.test", "autodiscover.contoso.test"
MAIL_TLS = (587, 143, 993, 110, 995)

CASES = {
    "tls-expired": ("type: tls.expired\nhost: mail",
                    {("tls.expired", f"{M}:{p}") for p in MAIL_TLS}),
    "tls-not-yet-valid": ("type: tls.not-yet-valid\nhost: mx1",
                          {("tls.not-yet-valid", f"{X}:25"),
                           ("tls.not-yet-valid", f"{X}:50636")}),
    "tls-name-mismatch": ("type: tls.name-mismatch\nhost: autodiscover",
                          {("tls.name-mismatch", f"{A}:443")}),
    "tls-self-signed": ("type: tls.self-signed\nhost: mail\nport: 993",
                        {("tls.self-signed", f"{M}:993")}),
    "tls-unknown-ca": ("type: tls.unknown-ca\nhost: mail\nport: 143",
                       {("tls.unknown-ca", f"{M}:143")}),
    "starttls-missing": ("type: smtp.starttls-missing\nhost: mx1\nport: 25",
                         {("smtp.starttls-missing", f"{X}:25")}),
    "starttls-broken": ("type: smtp.starttls-broken\nhost: mail\nport: 587",
                        {("tls.handshake-failed", f"{M}:587")}),
    "banner-masked": ("type: smtp.banner-masked\nhost: mx1\nport: 25",
                      {("smtp.banner-masked", f"{X}:25")}),
    "auth-before-tls": ("type: smtp.auth-before-tls\nhost: mail\nport: 587",
                        {("smtp.auth-before-tls", f"{M}:587")}),
    "open-relay": ("type: smtp.open-relay\nhost: mx1\nport: 25",
                   {("smtp.open-relay", f"{X}:25")}),
    "greylisted": ("type: smtp.reply\nstage: rcpt",
                   {("smtp.tempfail", f"{X}:25")}),
    "refused": ("type: smtp.reply\nstage: mail\nreply: 550 5.7.1 Go away",
                {("smtp.refused", f"{X}:25")}),
    "slow-banner": ("type: smtp.slow-banner\ndelay: 2.5",
                    {("smtp.slow-banner", f"{X}:25")}),
    "imap-login-disabled": ("type: imap.login-disabled",
                            {("imap.login-disabled", f"{M}:143"),
                             ("imap.login-disabled", f"{M}:993")}),
    "pop3-down": ("type: pop3.down",
                  {("port.closed", f"{M}:110"), ("port.closed", f"{M}:995")}),
    "imaps-dropped": ("type: port.blocked\nhost: mail\nport: 993\nmode: drop",
                      {("port.filtered", f"{M}:993")}),
    "submission-rejected": ("type: port.blocked\nhost: mail\nport: 587\nmode: reject",
                            {("port.closed", f"{M}:587")}),
    "autodiscover-missing": ("type: autodiscover.missing",
                             {("autodiscover.missing", A)}),
    "redirect-broken": ("type: autodiscover.http-redirect-broken",
                        {("autodiscover.redirect-broken", f"{A}:80")}),
    "crl-unreachable": ("type: crl.unreachable",
                        {("crl.unreachable", f"http://{A}/lab.crl")}),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(CASES))
async def test_each_fault_yields_exactly_its_findings(start_lab, tmp_path: Path,
                                                      name: str) -> None:
    fault, expected = CASES[name]
    lab = await start_lab(_scenario(tmp_path, name, fault))
    found = await _found(lab)
    # A CRL URL carries the HTTP port only when the lab runs on offset ports.
    found = {(c, s.replace(":10080/", "/")) for c, s in found}
    assert found == expected
