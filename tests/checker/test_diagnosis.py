"""The checker against real labs: each fault's finding, by code, and no more."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checker.diagnose import diagnose
from checker.target import from_options
from lab.scenario import bundled_names, load

#: What a correct diagnosis of each bundled scenario contains, written out
#: by hand so the test does not grade the lab's ground truth with itself.
EXPECTED_CODES = {
    "healthy": set(),
    "port25-dropped": {"port.filtered"},
    "port25-rejected": {"port.closed"},
    "submission-dropped": {"port.filtered"},
    "ptr-missing": {"ptr.missing"},
    "ptr-mismatch": {"ptr.mismatch"},
    "spf-missing": {"spf.missing"},
    "spf-syntax": {"spf.syntax"},
    "spf-too-many-lookups": {"spf.too-many-lookups"},
    "spf-ip-not-authorized": {"spf.ip-not-authorized"},
    "mx-missing": {"mx.missing"},
    "mx-host-unresolvable": {"mx.host-unresolvable"},
    "dns-servfail": {"dns.servfail"},
    "dns-timeout": {"dns.timeout"},
    "dns-refused": {"dns.refused"},
    "dns-nxdomain": {"dns.nxdomain"},
    "dns-slow": {"dns.slow"},
    "dns-tcp-blocked": {"dns.tcp-blocked"},
    "dns-lame": {"dns.lame"},
    "mx-to-cname": {"mx.cname"},
    "mx-to-ip-literal": {"mx.ip-literal"},
    "mx-null": {"mx.null"},
    "mx-implicit": {"mx.implicit"},
    "spf-void-lookups": {"spf.void-lookups"},
    "spf-multiple-records": {"spf.multiple-records"},
    "spf-include-missing": {"spf.include-missing"},
    "spf-plus-all": {"spf.plus-all"},
    "spf-ptr-mechanism": {"spf.ptr-mechanism"},
    "spf-unsplit-long-string": {"spf.unsplit-long-string",
                                "spf.ip-not-authorized"},
    "dmarc-missing": {"dmarc.missing"},
    "dmarc-syntax": {"dmarc.syntax"},
    "dmarc-policy-none": {"dmarc.policy-none"},
    "lookalike-mx-priorities": set(),
    "lookalike-spf-near-limit": set(),
    "lookalike-parked-domain": set(),
    "lookalike-ptr-several-names": set(),
    "port143-dropped": {"port.filtered"},
    "port993-dropped": {"port.filtered"},
    "port110-rejected": {"port.closed"},
    "port995-dropped": {"port.filtered"},
    "port80-dropped": {"port.filtered"},
    "port443-rejected": {"port.closed"},
    "port50636-dropped": {"port.filtered"},
    "tls-expired": {"tls.expired"},
    "tls-name-mismatch": {"tls.name-mismatch"},
    "tls-self-signed": {"tls.self-signed"},
    "tls-unknown-ca": {"tls.unknown-ca"},
    "smtp-starttls-missing": {"smtp.starttls-missing"},
    "smtp-starttls-broken": {"tls.handshake-failed"},
    "smtp-banner-masked": {"smtp.banner-masked"},
    "smtp-auth-before-tls": {"smtp.auth-before-tls"},
    "smtp-open-relay": {"smtp.open-relay"},
    "smtp-reply-greylist": {"smtp.tempfail"},
    "smtp-reply-421": {"smtp.banner-bad"},
    "smtp-reply-550": {"smtp.refused"},
    "smtp-slow-banner": {"smtp.slow-banner"},
    "imap-login-disabled": {"imap.login-disabled"},
    "pop3-down": {"port.closed"},
    "autodiscover-missing": {"autodiscover.missing"},
    "autodiscover-redirect-broken": {"autodiscover.redirect-broken"},
    "crl-unreachable": {"crl.unreachable"},
    "relay-ptr-rejected": {"ptr.missing"},
    "relay-spf-fail": {"spf.ip-not-authorized"},
    "relay-ehlo-unresolvable": {"relay.ehlo-unresolvable"},
    "relay-listed": {"relay.listed"},
    "partner-greylisting": set(),
    "partner-mx-unreachable": set(),
    "inbound-wrong-mx": {"port.closed", "ptr.missing"},
    "pair-port25-dropped-ptr-missing": {"port.filtered", "ptr.missing"},
    "pair-spf-redirect-broken": {"spf.syntax"},
    "pair-mx-missing-spf-missing": {"mx.missing", "spf.missing"},
    "pair-tls-expired-starttls-missing": {"tls.expired", "smtp.starttls-missing"},
    "pair-mx-servfail-hides-port25": {"dns.servfail"},
    "ipv6-relay-ptr-missing": {"ptr.missing"},
    "dns-internal-only": {"dns.internal-only"},
    "dns-forwarder-broken": {"dns.forwarder-broken"},
    "dns-split-mismatch": {"dns.split-mismatch"},
    "lookalike-ipv6-dual-stack": set(),
}


async def _diagnose(lab):
    target = from_options(lab.plan.domain, None, (), lab.state_file)
    return await diagnose(target, timeout=1.0, dns_timeout=1.0)


@pytest.mark.parametrize("name", sorted(EXPECTED_CODES))
async def test_each_scenario_yields_its_findings(start_lab, name):
    if load(name).network == "isolated":
        pytest.skip("needs isolated mode; tests/isolated runs it there")
    lab = await start_lab(name)
    report = await _diagnose(lab)

    codes = {f.code for f in report.findings}
    assert codes == EXPECTED_CODES[name], [f.summary for f in report.findings]

    # The ground truth agrees, subjects included.
    found = {(f.code, f.subject) for f in report.findings}
    assert found == {(e.code, e.subject) for e in lab.expected()}
    for finding in report.findings:
        assert finding.evidence, f"{finding.code} carries no evidence"
        assert finding.meta.remediation and finding.meta.reference


def test_every_bundled_scenario_has_a_written_expectation():
    missing = set(bundled_names()) - set(EXPECTED_CODES)
    assert not missing, f"add the expected codes of {sorted(missing)} here"


async def test_subjects_name_the_host_port_and_address(start_lab):
    lab = await start_lab("port25-dropped")
    report = await _diagnose(lab)
    assert [f.subject for f in report.findings] == ["mx1.contoso.test:25"]
    assert "timed out" in report.findings[0].evidence[0]

    lab = await start_lab("ptr-missing")
    report = await _diagnose(lab)
    relay = lab.plan.relay_host.address
    assert [f.subject for f in report.findings] == [relay]
    assert "NXDOMAIN" in report.findings[0].evidence[0]


async def test_a_dropped_port_costs_one_timeout_not_one_per_probe(start_lab):
    lab = await start_lab("port25-dropped")
    target = from_options(lab.plan.domain, None, (), lab.state_file)
    report = await diagnose(target, timeout=1.0, dns_timeout=1.0)
    # Every probe runs concurrently: one 1 s connect timeout bounds the run.
    assert report.elapsed_s < 1.9


async def test_check_command_prints_json_with_evidence(start_lab):
    import asyncio

    lab = await start_lab("spf-ip-not-authorized")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "maillab", "check", "contoso.test", "--lab",
         str(lab.state_file), "--json", "--timeout", "1"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    (finding,) = report["findings"]
    assert finding["code"] == "spf.ip-not-authorized"
    assert finding["severity"] == "error"
    assert finding["reference"].startswith("RFC 7208")
    assert any("fail" in line for line in finding["evidence"])


async def test_check_with_explicit_resolver_and_outbound_ip(healthy_lab):
    import asyncio

    state = healthy_lab.state()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "maillab", "check", "contoso.test", "--resolver",
         state["resolver"], "--outbound-ip", state["outbound"][0], "--ca-file",
         state["ca_file"], "--json", "--timeout", "1"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["findings"] == []


def test_check_refuses_a_bad_resolver_address():
    done = subprocess.run(
        [sys.executable, "-m", "maillab", "check", "contoso.test", "--resolver",
         "not-an-ip"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "not a resolver address" in done.stderr
