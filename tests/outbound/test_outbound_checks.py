"""The relay's announced name and its blocklist listings, against real labs."""

from __future__ import annotations

import asyncio
import email
import json
import smtplib
import ssl
import time
from email.message import EmailMessage

import pytest

from checker.diagnose import diagnose
from checker.dns import Answer, DnsClient
from checker.probes.outbound import (
    announced_name,
    blocklist_query,
    listing_kind,
    name_verdict,
    probe_outbound,
)
from checker.probes.smtp_client import Reply
from checker.target import Target, from_options

from ..conftest import STEP_TIMEOUT

RELAY_CODES = {"relay.ehlo-unresolvable", "relay.ehlo-mismatch", "relay.listed"}


async def _report(lab, **options):
    target = from_options(lab.plan.domain, None, (), lab.state_file, **options)
    return await diagnose(target, timeout=1.0, dns_timeout=1.0)


def _submit(lab, to: str, subject: str) -> None:
    """Alice submits on 587 as a mail client does: STARTTLS, then AUTH."""
    mail = lab.plan.host("mail").address
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    message = EmailMessage()
    message["From"] = "alice@contoso.test"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("hello from the lab\n")
    with smtplib.SMTP(mail, lab.ports[mail][587], timeout=STEP_TIMEOUT) as client:
        client.starttls(context=context)
        client.login("alice@contoso.test", lab.plan.users["alice"])
        client.send_message(message)


def _delivery_status(report: email.message.Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload():
                fields.update((k.lower(), v) for k, v in block.items())
    return fields


async def _ndr(lab, timeout: float = 20.0) -> email.message.Message:
    """The first delivery report in alice's mailbox, waited for."""
    mailbox = lab.store.mailbox("alice")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stored in await asyncio.to_thread(mailbox.list):
            message = email.message_from_bytes(mailbox.read(stored.key))
            if message.get_content_type() == "multipart/report":
                return message
        await asyncio.sleep(0.2)
    raise AssertionError("no NDR reached alice's mailbox in time")


def _greeting(address: str, port: int) -> bytes:
    with smtplib.SMTP(timeout=STEP_TIMEOUT) as client:
        code, text = client.connect(address, port)
        assert code == 220
        ehlo_code, ehlo_text = client.ehlo("probe.contoso.test")
        assert ehlo_code == 250
        return text + b"\n" + ehlo_text


# region: against real labs

async def test_healthy_lab_gives_no_relay_finding(healthy_lab):
    state = json.loads(healthy_lab.state_file.read_text())
    assert state["blocklists"] == []

    report = await _report(healthy_lab)
    assert not RELAY_CODES & {f.code for f in report.findings}

    # The relay greets with the name it sends as, which leads back to it.
    relay = healthy_lab.plan.relay_host
    text = await asyncio.to_thread(_greeting, relay.address,
                                   healthy_lab.ports[relay.address][25])
    assert text.startswith(b"relay.contoso.test ")
    assert b"\nrelay.contoso.test" in text


@pytest.mark.parametrize("name, code", [
    ("relay-ehlo-unresolvable", "relay.ehlo-unresolvable"),
    ("relay-listed", "relay.listed"),
])
async def test_each_scenario_yields_exactly_its_code(start_lab, name, code):
    lab = await start_lab(name)
    relay = lab.plan.relay_host.address

    report = await _report(lab)

    assert [(f.code, f.subject) for f in report.findings] == [(code, relay)], \
        [f.summary for f in report.findings]
    assert {(e.code, e.subject) for e in lab.expected()} == {(code, relay)}


async def test_unresolvable_name_evidence_shows_banner_and_answers(start_lab):
    lab = await start_lab("relay-ehlo-unresolvable")
    relay = lab.plan.relay_host.address
    assert lab.plan.ehlo == "smtp.internal.contoso.test"

    (finding,) = (await _report(lab)).findings

    assert finding.evidence[0].startswith("S: 220 smtp.internal.contoso.test ")
    assert any(line.startswith("smtp.internal.contoso.test A ")
               and "NXDOMAIN" in line for line in finding.evidence)
    assert any(" AAAA " in line for line in finding.evidence)
    assert finding.extra["name"] == "smtp.internal.contoso.test"
    assert relay in finding.summary


async def test_listing_evidence_carries_the_txt_reason(start_lab):
    lab = await start_lab("relay-listed")
    state = json.loads(lab.state_file.read_text())
    assert state["blocklists"] == ["bl.lab.test"]

    (finding,) = (await _report(lab)).findings

    assert finding.extra["reasons"] == {
        "bl.lab.test": "Listed in a lab blocklist: spam sent from this address"}
    listed = ".".join(reversed(lab.plan.relay_host.address.split(".")))
    assert any(line.startswith(f"{listed}.bl.lab.test A ")
               and line.endswith(": 127.0.0.2") for line in finding.evidence)
    assert any("TXT" in line and "spam sent" in line for line in finding.evidence)


async def test_a_checker_told_of_no_blocklist_asks_none(start_lab):
    lab = await start_lab("relay-listed")

    report = await _report(lab, blocklists=())

    assert report.findings == []
    assert report.target.blocklists == ()


async def test_a_list_error_answer_is_not_a_listing(start_lab, tmp_path):
    # A list that refuses the query answers 127.255.255.254, which a
    # checker must not read as a listing (and the lab's partner does not).
    path = tmp_path / "relay-list-refuses.yaml"
    path.write_text("""\
version: 1
title: A blocklist answers its error code for the relay
blocklists:
  - zone: refusing.lab.test
    listed: ["{addr:relay}"]
    answer: 127.255.255.254
symptoms: {complaint: none}
question:
  stem: s
  choices:
    - {text: a, best: true, why: a}
    - {text: b, why: b}
    - {text: c, why: c}
""")
    lab = await start_lab(str(path))
    state = json.loads(lab.state_file.read_text())
    assert state["blocklists"] == ["refusing.lab.test"]

    report = await _report(lab)
    assert report.findings == []
    assert report.target.blocklists == ("refusing.lab.test",)


async def test_a_relay_that_does_not_listen_gives_no_finding(healthy_lab):
    resolver = healthy_lab.plan.resolver.address
    dns = DnsClient(resolver, healthy_lab.ports[resolver][53], timeout=1.0)
    unused = healthy_lab.plan.spare_address()
    target = Target("contoso.test", (resolver, healthy_lab.ports[resolver][53]),
                    outbound=(unused,), ports=healthy_lab.ports)

    assert await probe_outbound(target, dns, unused, 1.0) == []
    # No greeting, so no name to look up; and no list was named.
    assert dns.queries == []


@pytest.mark.parametrize("name, status, text", [
    ("relay-ehlo-unresolvable", "5.7.1",
     "<smtp.internal.contoso.test>: Helo command rejected: Host not found"),
    ("relay-listed", "5.7.1",
     "blocked using bl.lab.test; Listed in a lab blocklist"),
])
async def test_the_partner_refuses_and_alice_gets_the_ndr(start_lab, name, status,
                                                          text):
    lab = await start_lab(name)
    relay = lab.plan.relay_host.address

    await asyncio.to_thread(_submit, lab, "bob@fabrikam.test", f"to bob ({name})")
    fields = _delivery_status(await _ndr(lab))

    assert fields["status"] == status
    assert fields["action"] == "failed"
    assert fields["final-recipient"].endswith("bob@fabrikam.test")
    diagnostic = " ".join(fields["diagnostic-code"].split())
    assert text in diagnostic
    if name == "relay-listed":
        assert f"[{relay}]" in diagnostic
    assert not lab.flow.partner_stores["fabrikam.test"].mailbox("bob").list()

# endregion


# region: pure verdicts

def test_blocklist_answer_classification():
    for listed in ("127.0.0.2", "127.0.0.10", "127.0.0.254"):
        assert listing_kind(listed) == "listed"
    for refusal in ("127.255.255.252", "127.255.255.254", "127.255.255.255"):
        assert listing_kind(refusal) == "refusal"
    for other in ("127.0.0.1", "127.0.0.255", "10.0.0.2", "::1", "garbage"):
        assert listing_kind(other) == "unexpected"


def test_blocklist_query_names():
    assert blocklist_query("127.77.0.13", "BL.lab.test.") == "13.0.77.127.bl.lab.test"
    name = blocklist_query("2001:db8::1", "bl.lab.test")
    assert name.startswith("1.0.0.0.") and name.endswith(".8.b.d.0.1.0.0.2.bl.lab.test")


def test_announced_name_reads_the_first_word_after_220():
    assert announced_name(Reply(220, ("Relay.Contoso.test ESMTP lab",))) == \
        "relay.contoso.test"
    assert announced_name(Reply(220, ("smtp.internal.contoso.test",))) == \
        "smtp.internal.contoso.test"
    assert announced_name(Reply(421, ("relay.contoso.test busy",))) is None
    assert announced_name(Reply(220, ("*" * 30 + " " + "*" * 12,))) is None
    assert announced_name(Reply(220, ("[127.77.0.13] ESMTP",))) is None
    assert announced_name(Reply(220, ("",))) is None


def _a(name: str, status: str, *records: str, rdtype: str = "A") -> Answer:
    return Answer(name, rdtype, status, records)  # type: ignore[arg-type]


def test_name_verdicts():
    relay = "127.77.0.13"
    none = _a("n", "nodata", rdtype="AAAA")
    assert name_verdict(relay, [_a("n", "ok", relay), none]) == "ok"
    assert name_verdict(relay, [_a("n", "nxdomain"), _a("n", "nxdomain")]) == \
        "unresolvable"
    assert name_verdict(relay, [_a("n", "ok", "127.77.0.99"), none]) == "mismatch"
    assert name_verdict(relay, [_a("n", "timeout"), none]) == "inconclusive"
    # The relay's own address settles it even when the other family failed.
    assert name_verdict(relay, [_a("n", "ok", relay),
                                _a("n", "servfail", rdtype="AAAA")]) == "ok"


def test_explicit_blocklists_win_over_the_state_file(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": 1, "resolver": "127.0.0.1:53",
                                 "blocklists": ["bl.lab.test"]}))
    assert from_options("contoso.test", None, (), state).blocklists == \
        ("bl.lab.test",)
    given = from_options("contoso.test", None, (), state,
                         blocklists=("Other.lab.test.", "other.lab.test"))
    assert given.blocklists == ("other.lab.test",)

# endregion
