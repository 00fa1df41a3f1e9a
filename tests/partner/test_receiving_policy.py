"""The partner MX's policy, met by a real client (smtplib) from lab addresses."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from lab.dns.responder import Rule
from lab.partner import PartnerPolicy
from lab.partner.facts import blocklist_name
from lab.partner.policy import (
    ClientFacts,
    Greylist,
    Listing,
    RateLimiter,
    blocklist_kind,
    helo_is_fqdn,
    judge,
)
from tests.relay.world import PARTNER_IP, RELAY_IP, baseline_records

STEP = 2.0
MESSAGE = b"From: <alice@contoso.test>\r\nSubject: hi\r\n\r\nhello\r\n"


def _conversation(port: int, source: str, helo: str, mail_from: str,
                  rcpt: str = "bob@fabrikam.test") -> tuple[int, bytes]:
    with smtplib.SMTP(PARTNER_IP, port, local_hostname=helo, timeout=STEP,
                      source_address=(source, 0)) as client:
        client.ehlo()
        code, _ = client.mail(mail_from)
        assert code == 250
        code, text = client.rcpt(rcpt)
        if code == 250:
            client.data(MESSAGE)
        return code, text


async def talk(world, source: str = RELAY_IP, helo: str = "relay.contoso.test",
               mail_from: str = "alice@contoso.test") -> tuple[int, str]:
    code, text = await asyncio.to_thread(_conversation, world.partner.port, source,
                                         helo, mail_from)
    return code, text.decode()


async def test_missing_ptr_gets_gmail_style_5_7_25(make_world):
    world = await make_world(baseline_records(ptr=False),
                             policy=PartnerPolicy(require_ptr=True))
    code, text = await talk(world)
    assert code == 550
    assert text.startswith("5.7.25 [127.77.200.13]")
    assert "PTR record" in text


async def test_ptr_that_does_not_point_back_fails_fcrdns(make_world):
    records = baseline_records(ptr=False) + [
        ("13.200.77.127.in-addr.arpa", "PTR", "elsewhere.contoso.test", 300),
        ("elsewhere.contoso.test", "A", "127.77.200.99", 300),
    ]
    world = await make_world(records, policy=PartnerPolicy(require_fcrdns=True))
    code, text = await talk(world)
    assert code == 550 and text.startswith("5.7.25")
    assert "elsewhere.contoso.test" in text and "does not resolve back" in text


async def test_helo_checks(make_world):
    world = await make_world(baseline_records(),
                             policy=PartnerPolicy(require_helo_match=True))
    assert (await talk(world))[0] == 250
    code, text = await talk(world, helo="localhost")
    assert (code, text[:5]) == (504, "5.5.2")
    code, text = await talk(world, helo="nohost.contoso.test")
    assert (code, text[:5]) == (550, "5.7.1") and "Host not found" in text
    code, text = await talk(world, source="127.77.200.14")
    assert code == 550 and "does not resolve to your address" in text
    assert len(world.partner_inbox()) == 1


async def test_spf_uses_helo_identity_for_null_sender(make_world):
    records = baseline_records() + [("relay.contoso.test", "TXT", "v=spf1 -all", 300)]
    world = await make_world(records, policy=PartnerPolicy(spf="reject"))
    assert (await talk(world))[0] == 250
    code, text = await talk(world, mail_from="")
    assert code == 550 and text.startswith("5.7.23")
    assert "relay.contoso.test" in text


async def test_spf_temperror_defers_only_when_asked(make_world):
    rules = [Rule("contoso.test", "servfail", types=frozenset({"TXT"}))]
    world = await make_world(baseline_records(), rules=rules,
                             policy=PartnerPolicy(spf="defer-temperror"))
    code, text = await talk(world)
    assert (code, text[:6]) == (451, "4.7.24")

    lenient = await make_world(baseline_records(), rules=rules,
                               policy=PartnerPolicy(spf="reject"))
    assert (await talk(lenient))[0] == 250
    (stored,) = lenient.partner_inbox()
    assert stored["Received-SPF"].startswith("temperror")


async def test_rate_limit_answers_421_and_closes(make_world):
    world = await make_world(baseline_records(), policy=PartnerPolicy(rate_limit=1))
    assert (await talk(world))[0] == 250

    def second() -> tuple[int, bytes]:
        client = smtplib.SMTP(PARTNER_IP, world.partner.port, timeout=STEP,
                              local_hostname="relay.contoso.test",
                              source_address=(RELAY_IP, 0))
        client.ehlo()
        reply = client.mail("alice@contoso.test")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()  # the server has closed the session after its 421
        client.close()
        return reply

    code, text = await asyncio.to_thread(second)
    assert (code, text[:5]) == (421, b"4.7.0")
    assert b"[127.77.200.13]" in text
    assert len(world.partner_inbox()) == 1


async def test_unknown_domain_is_not_relayed(make_world):
    world = await make_world(baseline_records())
    code, text = await asyncio.to_thread(
        _conversation, world.partner.port, RELAY_IP, "relay.contoso.test",
        "alice@contoso.test", "x@tailspin.test")
    assert (code, text[:5]) == (550, b"5.7.1")


def test_blocklist_answers():
    assert blocklist_kind("127.0.0.2") == "listed"
    assert blocklist_kind("127.0.0.255") == "listed"
    for refused in ("127.255.255.252", "127.255.255.254", "127.255.255.255",
                    "127.0.0.1", "10.0.0.2", "garbage"):
        assert blocklist_kind(refused) == "error"
    assert blocklist_name("127.77.200.13", "bl.lab.test.") == \
        "13.200.77.127.bl.lab.test"
    assert blocklist_name("::1", "bl.lab.test").startswith("1.0.0.0.")


def test_listing_errors_are_accepted_by_judge():
    policy = PartnerPolicy(blocklists=("bl.lab.test",))
    facts = ClientFacts(RELAY_IP, "relay.contoso.test",
                        listings=(Listing("bl.lab.test", "error", "127.255.255.254"),))
    assert judge(policy, facts) is None
    listed = ClientFacts(RELAY_IP, "relay.contoso.test",
                         listings=(Listing("bl.lab.test", "listed", "127.0.0.2",
                                           "spam source"),))
    assert judge(policy, listed).startswith("550 5.7.1 Service unavailable")


def test_ptr_lookup_failure_is_temporary():
    facts = ClientFacts(RELAY_IP, "relay.contoso.test", ptr_status="timeout")
    assert judge(PartnerPolicy(require_ptr=True), facts).startswith("450 4.7.25")


def test_greylist_and_rate_limiter_take_now():
    greylist = Greylist(delay=60, limit=2)
    triplet = (RELAY_IP, "alice@contoso.test", "bob@fabrikam.test")
    assert greylist.check(triplet, 0) == 60
    assert greylist.check(triplet, 30) == 30
    assert greylist.check(triplet, 60) == 0
    greylist.check(("a", "b", "c"), 61)
    greylist.check(("d", "e", "f"), 62)
    assert greylist.check(triplet, 63) == 60  # forgotten: the table is bounded

    rates = RateLimiter(limit=2, window=10)
    assert rates.allow("a", 0) and rates.allow("a", 1)
    assert not rates.allow("a", 5)
    assert rates.allow("a", 10.5)


def test_helo_forms():
    assert helo_is_fqdn("relay.contoso.test")
    assert helo_is_fqdn("[127.77.200.13]")
    assert not helo_is_fqdn("localhost")
    assert not helo_is_fqdn("127.0.0.1")
