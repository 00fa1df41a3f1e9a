"""Mail really flows: relay -> partner MX over loopback, with NDRs back."""

from __future__ import annotations

from lab.partner import PartnerPolicy
from lab.relay import read_transcripts

from .world import (
    PARTNER_MX,
    RELAY_IP,
    T0,
    baseline_records,
    delivery_status,
)

STRICT = PartnerPolicy(require_ptr=True, require_fcrdns=True)


async def test_relay_with_ptr_delivers_to_ptr_requiring_partner(make_world):
    world = await make_world(baseline_records(ptr=True), policy=STRICT)
    entry_id = world.send()

    (conclusion,) = await world.run(T0)

    assert conclusion.done
    assert [r.address for r in conclusion.delivered] == ["bob@fabrikam.test"]
    assert len(world.queue) == 0
    (received,) = world.partner_inbox()
    assert received["Subject"] == "Quarterly figures"
    assert received["Received-SPF"].startswith("pass")
    assert "relay.contoso.test" in received["Received"]
    body = received.get_payload()
    assert ".a line that starts with a dot" in body and "..a line" not in body
    assert world.inbox("alice") == []
    assert entry_id not in {e.id for e in world.queue.entries()}


async def test_missing_ptr_bounces_with_rfc3464_dsn(make_world):
    world = await make_world(baseline_records(ptr=False), policy=STRICT)
    world.send()

    (conclusion,) = await world.run(T0)

    assert conclusion.done and len(conclusion.failed) == 1
    assert world.partner_inbox() == []
    (notice,) = world.inbox("alice")
    assert notice["From"] == "Mail Delivery System <MAILER-DAEMON@relay.contoso.test>"
    assert notice["To"] == "<alice@contoso.test>"
    assert notice["Auto-Submitted"] == "auto-replied"
    per_message, per_rcpt = delivery_status(notice)
    assert per_message["Reporting-MTA"] == "dns; relay.contoso.test"
    assert per_message["Arrival-Date"]
    assert per_rcpt["Final-Recipient"] == "rfc822; bob@fabrikam.test"
    assert per_rcpt["Action"] == "failed"
    assert per_rcpt["Status"] == "5.7.25"
    assert per_rcpt["Remote-MTA"] == f"dns; {PARTNER_MX}"
    diagnostic = " ".join(per_rcpt["Diagnostic-Code"].split())
    assert diagnostic.startswith("smtp; 550-5.7.25")
    assert f"[{RELAY_IP}]" in diagnostic and "PTR record" in diagnostic

    human = next(p for p in notice.walk() if p.get_content_type() == "text/plain")
    assert "5.7.25" in human.get_payload()
    headers = next(p for p in notice.walk()
                   if p.get_content_type() == "text/rfc822-headers")
    assert "Subject: Quarterly figures" in headers.get_payload()


async def test_greylisting_retries_and_then_delivers(make_world):
    policy = PartnerPolicy(greylist_seconds=2.0)
    world = await make_world(baseline_records(), policy=policy)
    entry_id = world.send()

    await world.run(T0)
    entry = world.queue.get(entry_id)
    assert entry.state == "retry"
    assert entry.last_error.startswith("451 4.7.1")
    assert "Greylisted" in entry.last_error
    assert entry.next_attempt == T0 + 1
    (hop,) = world.queue.summary()
    assert (hop.next_hop, hop.state, hop.message_count) == ("fabrikam.test",
                                                            "retry", 1)
    assert hop.last_error == entry.last_error and hop.next_retry == T0 + 1

    # Not due yet: nothing happens before next_attempt.
    assert await world.run(T0 + 0.5) == []
    await world.run(T0 + 1)
    assert world.queue.get(entry_id).attempts == 2  # still inside the delay

    (conclusion,) = await world.run(T0 + 3)
    assert conclusion.done
    assert len(world.partner_inbox()) == 1
    assert world.inbox("alice") == []


async def test_unreachable_mx_defers_then_sends_a_delay_notice(make_world):
    world = await make_world(baseline_records(), partner=False)
    entry_id = world.send()

    await world.run(T0)
    entry = world.queue.get(entry_id)
    assert entry.state == "retry"
    assert "connect to mx.fabrikam.test[127.77.200.40]" in entry.last_error
    assert world.inbox("alice") == []

    await world.run(T0 + 6)  # past the shortened delay-notice time (5 s)
    (notice,) = world.inbox("alice")
    assert notice["Subject"] == "Delayed Mail (still being retried)"
    _, per_rcpt = delivery_status(notice)
    assert per_rcpt["Action"] == "delayed"
    assert per_rcpt["Status"] == "4.4.1"
    assert per_rcpt["Will-Retry-Until"]
    assert world.queue.get(entry_id).delay_notified

    await world.run(T0 + 20)
    assert len(world.inbox("alice")) == 1  # one delay notice, not one per try

    (conclusion,) = await world.run(T0 + 31)  # past give-up (30 s)
    assert conclusion.done and len(world.queue) == 0
    bounce = [m for m in world.inbox("alice") if m["Subject"].startswith("Undeliv")]
    _, per_rcpt = delivery_status(bounce[0])
    assert per_rcpt["Action"] == "failed"


async def test_spf_fail_at_partner_bounces_with_5_7_23(make_world):
    records = baseline_records(spf="v=spf1 ip4:127.77.200.99 -all")
    world = await make_world(records, policy=PartnerPolicy(spf="reject"))
    world.send()

    await world.run(T0)

    (notice,) = world.inbox("alice")
    _, per_rcpt = delivery_status(notice)
    assert per_rcpt["Status"] == "5.7.23"
    diagnostic = " ".join(per_rcpt["Diagnostic-Code"].split())
    assert "Sender Policy Framework" in diagnostic
    assert "[127.77.200.13]" in diagnostic
    assert world.partner_inbox() == []


async def test_blocklisted_relay_is_refused_with_txt_reason(make_world):
    records = baseline_records() + [
        ("13.200.77.127.bl.lab.test", "A", "127.0.0.2", 300),
        ("13.200.77.127.bl.lab.test", "TXT", "Listed: lab test listing", 300),
    ]
    world = await make_world(records,
                             policy=PartnerPolicy(blocklists=("bl.lab.test",)))
    world.send()

    await world.run(T0)

    (notice,) = world.inbox("alice")
    _, per_rcpt = delivery_status(notice)
    assert per_rcpt["Status"] == "5.7.1"
    diagnostic = " ".join(per_rcpt["Diagnostic-Code"].split())
    assert "bl.lab.test" in diagnostic and "lab test listing" in diagnostic


async def test_blocklist_refusal_code_is_not_a_listing(make_world):
    records = baseline_records() + [
        ("13.200.77.127.bl.lab.test", "A", "127.255.255.254", 300),
    ]
    world = await make_world(records,
                             policy=PartnerPolicy(blocklists=("bl.lab.test",)))
    world.send()

    (conclusion,) = await world.run(T0)

    assert conclusion.done and conclusion.delivered
    assert len(world.partner_inbox()) == 1


async def test_null_mx_bounces_at_once_with_5_1_10(make_world):
    records = baseline_records() + [("nullmx.test", "MX", (0, "."), 300)]
    world = await make_world(records)
    world.send(rcpt="someone@nullmx.test")

    (conclusion,) = await world.run(T0)

    assert conclusion.done and conclusion.entry.attempts == 1
    (notice,) = world.inbox("alice")
    _, per_rcpt = delivery_status(notice)
    assert per_rcpt["Status"] == "5.1.10"


async def test_transcripts_hold_both_sides(make_world):
    world = await make_world(baseline_records(ptr=False), policy=STRICT)
    world.send()
    await world.run(T0)

    sessions = list(read_transcripts(world.transcripts.directory))
    outbound = [s for s in sessions if s["direction"] == "outbound"]
    inbound = [s for s in sessions if s["direction"] == "inbound"]
    assert outbound[0]["host"] == "relay.contoso.test"
    assert inbound[0]["host"] == PARTNER_MX
    assert inbound[0]["peer"].startswith(RELAY_IP + ":")
    sent = [text for side, text in outbound[0]["lines"] if side == "C"]
    assert sent[0] == "EHLO relay.contoso.test"
    heard = [text for side, text in inbound[0]["lines"] if side == "C"]
    assert "RCPT TO:<bob@fabrikam.test>" in heard
    assert any(t.startswith("550-5.7.25") for s, t in inbound[0]["lines"]
               if s == "S")
    only_relay = list(read_transcripts(world.transcripts.directory, "relay"))
    assert only_relay and all(s["host"] == "relay.contoso.test" for s in only_relay)
