"""SPF records as data: record selection (RFC 7208 4.5) and term parsing (4.6).

Theory of operation: ``select_record`` gets the TXT records of a name as
DNS delivered them (character-strings as bytes) and picks the one SPF
record, or says why there is none or too many. ``parse_record`` turns that
record into terms, checking the whole grammar of sections 4.6.1, 5, 6 and 7
first, because a syntax error anywhere makes the record a permerror even
when an earlier term would have matched (section 4.6). Nothing here does
I/O; the evaluator feeds it answers and acts on the terms.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .macros import MacroString, MacroSyntaxError, parse_macro_string

#: Section 4.6.2: qualifier to result; no qualifier means "+".
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
#: Section 4.6.4: the terms that cause DNS queries and count towards 10.
DNS_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})

_VERSION = b"v=spf1"
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.\-]*)=(.*)\Z", re.S)
_NAME_AND_REST = re.compile(r"([^:/]*)(.*)\Z", re.S)
# dual-cidr-length after a domain-spec; the lazy domain keeps "/x" literals.
_DOMAIN_CIDR = re.compile(
    r"(?P<domain>.*?)(?:/(?P<c4>[0-9]+))?(?://(?P<c6>[0-9]+))?\Z", re.S)
_CIDR_ONLY = re.compile(r"(?:/(?P<c4>[0-9]+))?(?://(?P<c6>[0-9]+))?\Z")
_CIDR_DIGITS = re.compile(r"(?:0|[1-9][0-9]{0,2})\Z")
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
_IP4_NETWORK = re.compile(rf"({_QNUM}(?:\.{_QNUM}){{3}})(?:/([0-9]+))?\Z")
_IP6_NETWORK = re.compile(r"([0-9A-Fa-f:.]+)(?:/([0-9]+))?\Z")
_TOPLABEL = re.compile(
    r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])\Z"
)
_LOOKS_LIKE_IP4 = re.compile(r"[0-9]+(?:\.[0-9]+){3}\Z")

Fail = Callable[[str], "SpfSyntaxError"]


class SpfSyntaxError(ValueError):
    """A record breaks the grammar; ``position`` is the 1-based term number."""

    def __init__(self, reason: str, position: int, text: str) -> None:
        super().__init__(f"term {position} {text!r}: {reason}")
        self.reason = reason
        self.position = position
        self.text = text


@dataclass(frozen=True)
class Mechanism:
    """A directive: qualifier, mechanism name and its arguments (section 5)."""

    position: int
    text: str
    qualifier: str
    name: str
    domain_spec: MacroString | None = None
    cidr4: int | None = None
    cidr6: int | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    @property
    def result(self) -> str:
        return QUALIFIERS[self.qualifier]

    @property
    def queries_dns(self) -> bool:
        return self.name in DNS_TERMS


@dataclass(frozen=True)
class Modifier:
    """A name=value term (section 6); unknown names are kept and ignored."""

    position: int
    text: str
    name: str
    value: MacroString

    @property
    def queries_dns(self) -> bool:
        return self.name == "redirect"


Term = Mechanism | Modifier


@dataclass(frozen=True)
class SpfRecord:
    text: str
    terms: tuple[Term, ...]

    @property
    def mechanisms(self) -> tuple[Mechanism, ...]:
        return tuple(t for t in self.terms if isinstance(t, Mechanism))

    def modifier(self, name: str) -> Modifier | None:
        return next((t for t in self.terms
                     if isinstance(t, Modifier) and t.name == name), None)

    @property
    def redirect(self) -> Modifier | None:
        """Section 6.1: ignored when the record has an "all" mechanism."""
        if any(m.name == "all" for m in self.mechanisms):
            return None
        return self.modifier("redirect")

    @property
    def exp(self) -> Modifier | None:
        return self.modifier("exp")


@dataclass(frozen=True)
class Selection:
    """The outcome of record selection: the record, or why there is none."""

    record: str | None
    spf_count: int
    txt_count: int
    problem: str | None = None


def join_strings(record: object) -> bytes:
    """One TXT record's character-strings glued without spaces (section 3.3)."""
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8", "surrogateescape")
    if isinstance(record, tuple):
        return b"".join(join_strings(part) for part in record)
    return b""


def select_record(records: Iterable[object]) -> Selection:
    """Pick the SPF record among a name's TXT records (section 4.5).

    A record is SPF when it begins with "v=spf1", any case, followed by a
    space or its end. Other TXT records are none of our business, even when
    they are not ASCII. One SPF record that is not ASCII is a permerror
    (section 3.1); more than one is a permerror; none gives "none".
    """
    joined = [join_strings(r) for r in records]
    spf = [raw for raw in joined
           if raw[:6].lower() == _VERSION and raw[6:7] in (b"", b" ")]
    if not spf:
        return Selection(None, 0, len(joined),
                         f"no record begins with 'v=spf1' among {len(joined)} "
                         "TXT records")
    if len(spf) > 1:
        return Selection(None, len(spf), len(joined),
                         f"{len(spf)} records begin with 'v=spf1'; there must "
                         "be exactly one (RFC 7208 section 4.5)")
    raw = spf[0]
    try:
        return Selection(raw.decode("ascii"), 1, len(joined))
    except UnicodeDecodeError as exc:
        return Selection(None, 1, len(joined),
                         f"the SPF record holds the non-ASCII byte "
                         f"0x{raw[exc.start]:02x} at offset {exc.start} "
                         "(RFC 7208 section 3.1 allows only ASCII)")


def parse_record(text: str) -> SpfRecord:
    """Parse a selected record; raises ``SpfSyntaxError`` at the first error.

    Section 4.6.1: terms are separated by one or more SP and nothing else,
    so a tab or line break inside a record makes its term invalid.
    """
    if text[:6].lower() != "v=spf1" or text[6:7] not in ("", " "):
        raise SpfSyntaxError("the record does not begin with 'v=spf1 '", 0, text[:8])
    terms: list[Term] = []
    seen: set[str] = set()
    pieces = [piece for piece in text[6:].split(" ") if piece]
    for position, piece in enumerate(pieces, start=1):
        term = parse_term(piece, position)

        # Section 6: redirect and exp MUST NOT appear more than once each.
        if isinstance(term, Modifier) and term.name in ("redirect", "exp"):
            if term.name in seen:
                raise SpfSyntaxError(f"a second {term.name}= modifier",
                                     position, piece)
            seen.add(term.name)
        terms.append(term)
    return SpfRecord(text=text, terms=tuple(terms))


def parse_term(text: str, position: int) -> Term:
    modifier = _MODIFIER.match(text)
    if modifier:
        return _parse_modifier(modifier[1].lower(), modifier[2], text, position)

    qualifier = "+"
    body = text
    if body[:1] in QUALIFIERS:
        qualifier, body = body[0], body[1:]
    parts = _NAME_AND_REST.match(body)
    assert parts is not None  # the pattern matches every string
    name, rest = parts[1].lower(), parts[2]
    if name not in MECHANISMS:
        raise SpfSyntaxError(_unknown_mechanism(name, rest), position, text)

    def fail(reason: str) -> SpfSyntaxError:
        return SpfSyntaxError(reason, position, text)

    made = dict(position=position, text=text, qualifier=qualifier, name=name)
    if name == "all":
        if rest:
            raise fail("'all' takes no argument (RFC 7208 section 5.1)")
        return Mechanism(**made)  # type: ignore[arg-type]
    if name in ("ip4", "ip6"):
        network = _parse_network(name, rest, fail)
        return Mechanism(**made, network=network)  # type: ignore[arg-type]
    if name in ("a", "mx"):
        spec, cidr4, cidr6 = _parse_domain_and_cidr(rest, fail)
        return Mechanism(**made, domain_spec=spec,  # type: ignore[arg-type]
                         cidr4=cidr4, cidr6=cidr6)
    if name == "ptr" and rest == "":
        return Mechanism(**made)  # type: ignore[arg-type]
    if not rest.startswith(":"):
        need = "may only be followed by ':domain'" if name == "ptr" else \
            "needs ':domain'"
        raise fail(f"'{name}' {need} (RFC 7208 section 5)")
    spec = _domain_spec(rest[1:], fail)
    return Mechanism(**made, domain_spec=spec)  # type: ignore[arg-type]


def _unknown_mechanism(name: str, rest: str) -> str:
    if name in ("redirect", "exp"):
        return f"{name} is a modifier: write {name}=domain (RFC 7208 section 6)"
    if not name:
        return "a term without a mechanism name"
    return f"unknown mechanism {name!r} (RFC 7208 section 5)"


def _parse_modifier(name: str, value: str, text: str, position: int) -> Modifier:
    def fail(reason: str) -> SpfSyntaxError:
        return SpfSyntaxError(reason, position, text)

    # Known modifiers take a domain-spec and are not an unknown-modifier in
    # disguise when that is malformed (the erratum the test suite follows).
    if name in ("redirect", "exp"):
        spec = _domain_spec(value, fail)
        return Modifier(position=position, text=text, name=name, value=spec)
    try:
        parsed = parse_macro_string(value)
    except MacroSyntaxError as exc:
        raise fail(f"bad macro in modifier value: {exc.reason}") from None
    return Modifier(position=position, text=text, name=name, value=parsed)


def _domain_spec(text: str, fail: Fail) -> MacroString:
    """Section 7.1: domain-spec = macro-string domain-end."""
    if not text:
        raise fail("the domain-spec is empty")
    try:
        spec = parse_macro_string(text)
    except MacroSyntaxError as exc:
        raise fail(f"bad macro in domain-spec: {exc.reason}") from None

    # domain-end = ( "." toplabel [ "." ] ) / macro-expand
    tail = spec.tail
    if spec.tokens and not tail:
        return spec
    end = tail[:-1] if tail.endswith(".") else tail
    _, dot, toplabel = end.rpartition(".")
    if dot and _TOPLABEL.match(toplabel):
        return spec
    if _LOOKS_LIKE_IP4.match(text):
        raise fail(f"{text!r} is an IP address, not a domain; use ip4:{text}")
    raise fail(f"{text!r} does not end in a valid top-level label "
               "(RFC 7208 section 7.1)")


def _cidr(digits: str | None, limit: int, fail: Fail) -> int | None:
    if digits is None:
        return None
    if not _CIDR_DIGITS.match(digits) or int(digits) > limit:
        raise fail(f"prefix length /{digits} is not between 0 and {limit} "
                   "without leading zeros")
    return int(digits)


def _parse_domain_and_cidr(
    rest: str, fail: Fail
) -> tuple[MacroString | None, int | None, int | None]:
    """a and mx: [ ":" domain-spec ] [ dual-cidr-length ] (sections 5.3, 5.4)."""
    spec: MacroString | None = None
    if rest.startswith(":"):
        match = _DOMAIN_CIDR.match(rest[1:])
        assert match is not None
        spec = _domain_spec(match["domain"], fail)
    else:
        match = _CIDR_ONLY.match(rest)
        if match is None:
                    raise fail(f"{rest!r} is not a dual-cidr-length like /24//64")
    return spec, _cidr(match["c4"], 32, fail), _cidr(match["c6"], 128, fail)


def _parse_network(
    name: str, rest: str, fail: Fail
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """ip4 and ip6 (section 5.6): the network, with a single prefix length."""
    if not rest.startswith(":"):
        raise fail(f"'{name}' needs ':address' (RFC 7208 section 5.6)")
    if name == "ip4":
        match = _IP4_NETWORK.match(rest[1:])
        if not match:
            raise fail(f"{rest[1:]!r} is not a full dotted-quad IPv4 network")
        length = _cidr(match[2], 32, fail)
    else:
        match = _IP6_NETWORK.match(rest[1:])
        if not match:
            raise fail(f"{rest[1:]!r} is not an IPv6 network")
        length = _cidr(match[2], 128, fail)
    try:
        address = ipaddress.ip_address(match[1])
    except ValueError:
        raise fail(f"{match[1]!r} is not an IP{name[-1]} address") from None
    if address.version != int(name[-1]):
        raise fail(f"{match[1]!r} is not an IP{name[-1]} address")
    prefix = address.max_prefixlen if length is None else length
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)
