"""Each DNS fault as dig sees it: the rcodes, the TC bit, the silence."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.conftest import need


async def dig(lab, *args: str,
              server: str | None = None) -> subprocess.CompletedProcess:
    host, _, port = lab.state()["resolver"].rpartition(":")
    return await asyncio.to_thread(
        subprocess.run,
        [need("dig"), f"@{server or host}", "-p", port, "+time=1", "+tries=1",
         *args], capture_output=True, text=True, timeout=15)


@pytest.mark.parametrize("scenario,question,status", [
    ("dns-servfail", ["contoso.test", "MX"], "SERVFAIL"),
    ("dns-refused", ["contoso.test", "MX"], "REFUSED"),
    ("dns-nxdomain", ["contoso.test", "MX"], "NXDOMAIN"),
])
async def test_rcodes(start_lab, scenario, question, status):
    lab = await start_lab(scenario)
    result = await dig(lab, *question)
    assert f"status: {status}" in result.stdout, result.stdout
    # Only the faulted question: other names still answer.
    ok = await dig(lab, "mx1.contoso.test", "A")
    assert "status: NOERROR" in ok.stdout


async def test_timeout_gets_no_reply_at_all(start_lab):
    lab = await start_lab("dns-timeout")
    result = await dig(lab, "contoso.test", "MX")
    assert result.returncode == 9, result.stdout  # dig: no reply from server
    assert "timed out" in result.stdout


async def test_tcp_blocked_with_a_truncated_answer(start_lab):
    lab = await start_lab("dns-tcp-blocked")

    # Over UDP the answer does not fit: TC set, no answer section.
    udp = await dig(lab, "+ignore", "contoso.test", "TXT")
    assert "flags: qr aa tc" in udp.stdout, udp.stdout
    assert "ANSWER: 0" in udp.stdout

    # The retry over TCP never connects.
    tcp = await dig(lab, "+tcp", "contoso.test", "TXT")
    assert tcp.returncode == 9, tcp.stdout
    assert "status: NOERROR" not in tcp.stdout

    # Small answers still work over UDP.
    mx = await dig(lab, "contoso.test", "MX")
    assert "status: NOERROR" in mx.stdout and "mx1.contoso.test." in mx.stdout


async def test_lame_server_refuses_the_zone(start_lab):
    lab = await start_lab("dns-lame")
    ns = await dig(lab, "+short", "contoso.test", "NS")
    assert sorted(ns.stdout.split()) == ["ns1.contoso.test.", "ns2.contoso.test."]

    lame = lab.plan.host("ns2").address
    direct = await dig(lab, "+norec", "contoso.test", "SOA", server=lame)
    assert "status: REFUSED" in direct.stdout, direct.stdout


async def test_slow_answers_arrive_late_but_arrive(start_lab):
    import time

    lab = await start_lab("dns-slow")
    started = time.monotonic()
    result = await dig(lab, "+time=3", "contoso.test", "MX")
    assert "status: NOERROR" in result.stdout
    assert time.monotonic() - started >= 0.7  # the injected 0.8 s delay


async def test_the_internal_view_forwards_or_fails_outside_names(start_lab):
    lab = await start_lab("dns-forwarder-broken")
    internal, _, port = lab.state()["internal_resolver"].rpartition(":")

    # Our own names answer inside; an outside name fails: a broken forwarder.
    own = await dig(lab, "+short", "mx1.contoso.test", "A", server=internal)
    assert own.stdout.strip() == lab.plan.host("mx1").address
    outside = await dig(lab, "fabrikam.test", "MX", server=internal)
    assert "status: SERVFAIL" in outside.stdout
    # The external view answers it.
    external = await dig(lab, "fabrikam.test", "MX")
    assert "status: NOERROR" in external.stdout

    lab = await start_lab("dns-internal-only")
    internal, _, port = lab.state()["internal_resolver"].rpartition(":")
    inside = await dig(lab, "+short", "contoso.test", "MX", server=internal)
    outside = await dig(lab, "+short", "contoso.test", "MX")
    assert inside.stdout.strip() == "10 mx1.contoso.test."
    assert outside.stdout.strip() == ""

    # A healthy split set-up forwards: inside asks, outside answers.
    forwarded = await dig(lab, "+short", "example.invalid", "A", server=internal)
    assert forwarded.returncode == 0
