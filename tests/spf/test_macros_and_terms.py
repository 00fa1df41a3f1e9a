"""Parsing and macro expansion on their own, without any DNS."""

from __future__ import annotations

import ipaddress

import pytest

from checker.spf import SpfSyntaxError, parse_record, select_record
from checker.spf.macros import (
    MacroContext,
    MacroSyntaxError,
    expand,
    parse_macro_string,
)

# RFC 7208 section 7.4: the sender and addresses its examples use.
CONTEXT = MacroContext(
    sender="strong-bad@email.example.com", local_part="strong-bad",
    sender_domain="email.example.com", domain="email.example.com",
    ip=ipaddress.ip_address("192.0.2.3"), helo="mx.example.org",
    receiver="mx.example.net", now=1700000000,
)


@pytest.mark.parametrize(("macro", "expected"), [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l-}", "strong.bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
     "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ("%%%_%-", "% %20"),
])
def test_rfc_examples_expand(macro: str, expected: str) -> None:
    assert expand(parse_macro_string(macro), CONTEXT) == expected


def test_ipv6_i_macro_is_dotted_nibbles() -> None:
    context = MacroContext(**{**CONTEXT.__dict__,
                              "ip": ipaddress.ip_address("2001:db8::cb01")})
    expanded = expand(parse_macro_string("%{ir}.%{v}._spf.%{d2}"), context)
    assert expanded == ("1.0.B.C." + "0." * 20 + "8.B.D.0.1.0.0.2.ip6._spf.example.com")


def test_explanation_letters_and_url_escaping() -> None:
    spec = parse_macro_string("%{c} to %{r} at %{t}: %{L}", explanation=True)
    context = MacroContext(**{**CONTEXT.__dict__, "local_part": "a b&c"})
    assert expand(spec, context) == (
        "192.0.2.3 to mx.example.net at 1700000000: a%20b%26c")


@pytest.mark.parametrize("text", ["%{c}", "%{r}.x.com", "%{t}", "%{x}", "%{d0}",
                                  "%(d)", "a%b", "%", "%{d", "a b"])
def test_bad_domain_macros(text: str) -> None:
    with pytest.raises(MacroSyntaxError):
        parse_macro_string(text)


def test_record_selection() -> None:
    assert select_record([(b"v=spf1 ", b"-all"), (b"\x96 not spf",)]).record == \
        "v=spf1 -all"
    assert select_record([(b"v=spf10 -all",)]).record is None
    two = select_record([(b"v=spf1 -all",), (b"V=SPF1 +all",)])
    assert two.record is None and two.spf_count == 2
    assert "non-ASCII byte 0x80 at offset 7" in (
        select_record([(b"v=spf1 \x80a -all",)]).problem or "")


def test_parse_record_terms_and_positions() -> None:
    record = parse_record("V=SPF1  ip4:192.0.2.0/24 -A:mail.example.com/24//64 "
                          "?include:_spf.example.net  exp=why.%{d} foo=bar ~all ")
    names = [(t.position, getattr(t, "name", None)) for t in record.terms]
    assert names == [(1, "ip4"), (2, "a"), (3, "include"), (4, "exp"),
                     (5, "foo"), (6, "all")]
    a = record.mechanisms[1]
    assert (a.qualifier, a.cidr4, a.cidr6) == ("-", 24, 64)
    assert a.domain_spec is not None and a.domain_spec.text == "mail.example.com"
    assert record.exp is not None and record.redirect is None


@pytest.mark.parametrize(("record", "position", "reason"), [
    ("v=spf1 ip4:1.2.3.4 -all moo", 3, "unknown mechanism"),
    ("v=spf1 a:111.222.33.44", 1, "use ip4:111.222.33.44"),
    ("v=spf1 redirect:x.example.com", 1, "is a modifier"),
    ("v=spf1 exp=a.example.com exp=b.example.com", 2, "second exp="),
    ("v=spf1 ip4:1.2.3.4/032", 1, "leading zeros"),
    ("v=spf1 a/24/64", 1, "dual-cidr-length"),
    ("v=spf1 include:x.example.com/24", 1, "top-level label"),
    ("v=spf1 a:ctrl.example.com\rptr", 1, "not allowed"),
])
def test_syntax_errors_name_the_term(record: str, position: int, reason: str) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        parse_record(record)
    assert caught.value.position == position
    assert reason in caught.value.reason
