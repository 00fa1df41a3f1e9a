"""What the evaluation says about itself: tree, terms, limits, static count."""

from __future__ import annotations

import asyncio

import pytest

from checker.dns import Answer
from checker.errors import UsageError
from checker.spf import TermRef, check_host, count_lookups, evaluate
from checker.spf.results import LIMIT_DNS_TERMS

from .zonedata import ZoneResolver, zone_from_zonedata


def resolver(zonedata: dict[str, list[object]]) -> ZoneResolver:
    return ZoneResolver(zone_from_zonedata(zonedata))


ZONE = {
    "example.com": [
        {"TXT": "v=spf1 a mx include:_spf.example.net ip4:203.0.113.9 -all"},
        {"A": "192.0.2.1"},
        {"MX": ["10", "mx1.example.com"]},
        {"MX": ["20", "mx2.example.com"]},
    ],
    "mx1.example.com": [{"A": "192.0.2.10"}],
    "mx2.example.com": [{"AAAA": "2001:db8::2"}],
    "_spf.example.net": [{"TXT": "v=spf1 ip4:198.51.100.0/24 ~all"}],
}


async def test_lookup_tree_records_every_query_and_its_term() -> None:
    dns = resolver(ZONE)
    outcome = await check_host(dns, "203.0.113.9", "example.com",
                               "alice@example.com")

    assert outcome.result == "pass"
    assert outcome.matched_term == TermRef("example.com", 4, "ip4:203.0.113.9")
    (root,) = outcome.lookups
    assert (root.qname, root.rdtype, root.status, root.term) == (
        "example.com", "TXT", "ok", None)
    a, mx, include = root.children
    assert (a.qname, a.rdtype, a.records) == ("example.com", "A", ("192.0.2.1",))
    assert a.term == TermRef("example.com", 1, "a")
    assert [(c.qname, c.status) for c in mx.children] == [
        ("mx1.example.com", "ok"), ("mx2.example.com", "nodata")]
    assert include.term is not None and include.term.text == "include:_spf.example.net"
    assert include.children == ()  # the included record has no DNS terms
    assert (outcome.dns_terms, outcome.void_lookups) == (3, 0)
    assert [(d, s.qname) for d, s in outcome.walk()][:3] == [
        (0, "example.com"), (1, "example.com"), (1, "example.com")]
    assert "ip4:203.0.113.9" in outcome.render()


async def test_match_path_runs_through_include_and_redirect() -> None:
    dns = resolver({
        "example.com": [{"TXT": "v=spf1 redirect=_spf.example.com"}],
        "_spf.example.com": [{"TXT": "v=spf1 include:inner.example.org -all"}],
        "inner.example.org": [{"TXT": "v=spf1 ip6:2001:db8::/32"}],
    })
    outcome = await check_host(dns, "2001:db8::25", "example.com", "b@example.com")
    assert outcome.result == "pass"
    assert [t.text for t in outcome.match_path] == [
        "redirect=_spf.example.com", "include:inner.example.org", "ip6:2001:db8::/32"]
    assert outcome.matched_term == TermRef("inner.example.org", 1, "ip6:2001:db8::/32")
    assert outcome.record == "v=spf1 redirect=_spf.example.com"


async def test_first_term_past_the_dns_term_limit() -> None:
    record = "v=spf1 " + " ".join(["a"] * 5 + ["include:b.example.com"]) + " -all"
    dns = resolver({
        "example.com": [{"TXT": record}, {"A": "192.0.2.1"}],
        "b.example.com": [{"TXT": "v=spf1 a a a a exists:x.example.com a"},
                          {"A": "192.0.2.2"}],
        "x.example.com": [{"A": "127.0.0.2"}],
    })
    outcome = await check_host(dns, "203.0.113.5", "example.com", "c@example.com")
    assert outcome.result == "permerror"
    assert outcome.dns_terms == 10
    assert outcome.past_limit == TermRef("b.example.com", 5, "exists:x.example.com")
    assert outcome.limit_exceeded == LIMIT_DNS_TERMS
    assert outcome.problem and "first past the limit" in outcome.problem
    # The term past the limit made no query: the last step is the 4th "a".
    *_, include = outcome.lookups[0].children
    assert [s.term.text for s in include.children if s.term] == ["a"] * 4


async def test_third_void_lookup_is_named() -> None:
    dns = resolver({"example.com": [
        {"TXT": "v=spf1 a:n1.example.com mx:n2.example.com exists:n3.example.com "
                "?all"}]})
    outcome = await check_host(dns, "192.0.2.7", "example.com", "d@example.com")
    assert outcome.result == "permerror"
    assert outcome.void_lookups == 3
    assert outcome.past_limit == TermRef("example.com", 3, "exists:n3.example.com")
    assert [s.void for s in outcome.lookups[0].children] == [True, True, True]


async def test_too_many_mx_names() -> None:
    mxs = [{"MX": [str(i), f"mx{i}.example.com"]} for i in range(11)]
    dns = resolver({"example.com": [{"TXT": "v=spf1 mx -all"}, *mxs]})
    outcome = await check_host(dns, "192.0.2.7", "example.com", "e@example.com")
    assert outcome.result == "permerror"
    assert outcome.past_limit == TermRef("example.com", 1, "mx")
    assert "11 MX records" in (outcome.problem or "")


async def test_static_count_walks_past_an_early_match() -> None:
    dns = resolver({
        "example.com": [{"TXT": "v=spf1 ip4:192.0.2.0/24 include:a.example.net "
                                "include:b.example.net mx redirect=r.example.org"}],
        "a.example.net": [{"TXT": "v=spf1 a a a a include:%{d}.m.example.net"}],
        "b.example.net": [{"TXT": "v=spf1 ptr exists:x.example.net "
                                  "include:example.com"}],
        "r.example.org": [{"TXT": "v=spf1 a -all"}],
    })
    early = await check_host(dns, "192.0.2.9", "example.com", "f@example.com")
    assert early.result == "pass" and early.dns_terms == 0

    count = await count_lookups(dns, "example.com")
    assert count.total == 13 and count.exceeds_limit
    # 1 + 4 + 1 (a.example.net), 1 + 3 (b.example.net, loop not followed): mx is 11th.
    assert count.first_past_limit == TermRef("example.com", 4, "mx")
    assert count.terms[-1].nested[0].running_total == 13
    include_a = count.terms[0]
    assert include_a.target == "a.example.net" and include_a.running_total == 1
    assert "not followed" in include_a.nested[-1].note
    assert any("loops back to example.com" in p for p in count.problems)


async def test_explanation_expands_exp_letters() -> None:
    dns = resolver({
        "example.com": [{"TXT": "v=spf1 -all exp=why.example.com"}],
        "why.example.com": [{"TXT": ["%{c} may not send for %{d} ",
                                     "(seen by %{r} at %{t})"]}],
    })
    outcome = await check_host(dns, "2001:DB8::1", "example.com", "g@example.com",
                               receiver="mx.example.net", now=1234)
    assert outcome.result == "fail"
    assert outcome.explanation == (
        "2001:db8::1 may not send for example.com (seen by mx.example.net at 1234)")
    exp_step = outcome.lookups[0].children[-1]
    assert exp_step.qname == "why.example.com" and exp_step.term is not None


async def test_default_explanation_when_exp_has_two_records() -> None:
    dns = resolver({
        "example.com": [{"TXT": "v=spf1 -all exp=why.example.com"}],
        "why.example.com": [{"TXT": "one"}, {"TXT": "two"}],
    })
    outcome = await check_host(dns, "192.0.2.1", "example.com", "h@example.com")
    assert outcome.explanation == (
        "example.com does not designate 192.0.2.1 as a permitted sender of "
        "h@example.com")
    assert "exp= ignored: 2 TXT records" in outcome.lookups[0].children[-1].detail


async def test_null_sender_checks_postmaster_at_helo() -> None:
    dns = resolver({"mail.example.com": [{"TXT": "v=spf1 a -all"},
                                         {"A": "192.0.2.3"}]})
    outcome = await evaluate(dns, "192.0.2.3", "<>", "mail.example.com")
    assert (outcome.result, outcome.identity) == ("pass", "helo")
    assert outcome.sender == "postmaster@mail.example.com"


@pytest.mark.parametrize("status", ["servfail", "refused", "timeout", "error"])
async def test_failed_record_lookup_is_temperror(status: str) -> None:
    class Failing:
        async def query(self, qname: str, rdtype: str) -> Answer:
            return Answer(qname=qname, rdtype=rdtype, status=status)  # type: ignore

    outcome = await check_host(Failing(), "192.0.2.1", "example.com", "i@example.com")
    assert outcome.result == "temperror"
    assert status in (outcome.problem or "")


async def test_identity_problems_give_none_without_queries() -> None:
    dns = resolver({})
    for domain in ("[192.0.2.1]", "localhost", "a..example.com", "x" * 64 + ".com"):
        outcome = await check_host(dns, "192.0.2.1", domain, f"j@{domain}")
        assert outcome.result == "none" and outcome.problem
    assert dns.asked == []


async def test_resolver_exception_and_overall_time_limit() -> None:
    class Broken:
        async def query(self, qname: str, rdtype: str) -> Answer:
            raise RuntimeError("resolver bug")

    broken = await check_host(Broken(), "192.0.2.1", "example.com", "k@example.com")
    assert broken.result == "temperror"
    assert "RuntimeError: resolver bug" in broken.lookups[0].detail

    class Hanging:
        async def query(self, qname: str, rdtype: str) -> Answer:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    hung = await check_host(Hanging(), "192.0.2.1", "example.com", "l@example.com",
                            time_limit=0.05)
    assert hung.result == "temperror" and "longer than" in (hung.problem or "")


async def test_bad_client_address_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        await check_host(resolver({}), "not-an-ip", "example.com", "m@example.com")
