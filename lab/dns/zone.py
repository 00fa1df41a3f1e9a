"""Zone data as the responder looks it up: names, types, resource records.

A ``Zone`` holds several apexes at once (the organisation, its reverse zone,
outside domains). ``lookup`` implements the authoritative part of RFC 1034
section 4.3.2: the answer, a CNAME and its in-zone target, NODATA (the name
exists, the type does not) or NXDOMAIN, with the apex SOA in the authority
section of negative answers (RFC 2308 section 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RR, SOA, SRV, TXT, A, DNSLabel

NEGATIVE_TTL = 60

#: The rdata classes for the record types scenarios use.
_RDATA = {"A": A, "AAAA": AAAA, "NS": NS, "PTR": PTR, "CNAME": CNAME}


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def txt_strings(value: str | bytes | tuple[bytes, ...]) -> list[bytes]:
    """A TXT value as its character-strings, each at most 255 octets.

    A plain string longer than 255 octets is split (RFC 7208 section 3.3
    joins the parts again); a tuple is taken as the record's own strings.
    """
    if isinstance(value, tuple):
        return [bytes(s) for s in value]
    data = value.encode("utf-8") if isinstance(value, str) else value
    return [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]


def make_rr(name: str, rtype: str, value: object, ttl: int = 300) -> RR:
    """One dnslib resource record from the plan's simple value forms."""
    qtype = getattr(QTYPE, rtype)
    if rtype in _RDATA:
        rdata = _RDATA[rtype](value)
    elif rtype == "MX":
        pref, exchange = value  # type: ignore[misc]
        rdata = MX(exchange, pref)
    elif rtype == "SRV":
        prio, weight, port, target = value  # type: ignore[misc]
        rdata = SRV(prio, weight, port, target)
    elif rtype in ("TXT", "SPF"):
        rdata = TXT(txt_strings(value))  # type: ignore[arg-type]
    else:
        raise ValueError(f"record type not served by the lab: {rtype}")
    return RR(DNSLabel(name), qtype, rdata=rdata, ttl=ttl)


@dataclass
class Answer:
    """What ``lookup`` found: the rcode and the three sections."""

    rcode: str
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    authoritative: bool = True


@dataclass
class Zone:
    apexes: list[str]
    records: dict[tuple[str, str], list[RR]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, apexes: Iterable[str],
              records: Iterable[tuple[str, str, object, int]]) -> Zone:
        zone = cls(apexes=sorted({_key(a) for a in apexes}, key=len, reverse=True))
        for name, rtype, value, ttl in records:
            zone.add(make_rr(name, rtype, value, ttl))
        return zone

    def add(self, rr: RR) -> None:
        name = _key(str(rr.rname))
        rtype = QTYPE[rr.rtype]
        self.records.setdefault((name, rtype), []).append(rr)

        # Every ancestor up to the apex exists too (empty non-terminals).
        apex = self.apex_of(name)
        while apex is not None:
            self.names.add(name)
            if name == apex or "." not in name:
                if apex == "" and name:
                    name = ""
                    continue
                break
            name = name.split(".", 1)[1]

    def apex_of(self, name: str) -> str | None:
        """The longest apex holding ``name``; "" is the root, holding all."""
        name = _key(name)
        for apex in self.apexes:
            if name == apex or name.endswith("." + apex) or apex == "":
                return apex
        return None

    def add_name(self, name: str) -> None:
        """A name that exists without records of its own (NODATA for all)."""
        self.names.add(_key(name))

    def soa(self, apex: str) -> RR:
        primary = next(iter(self.records.get((apex, "NS"), [])), None)
        mname = str(primary.rdata.label) if primary else f"ns.{apex}"
        rdata = SOA(mname, f"hostmaster.{apex}".rstrip("."),
                    (1, 3600, 600, 86400, NEGATIVE_TTL))
        return RR(DNSLabel(apex), QTYPE.SOA, rdata=rdata, ttl=NEGATIVE_TTL)

    def lookup(self, qname: str, qtype: str) -> Answer:
        name = _key(qname)
        apex = self.apex_of(name)
        if apex is None:
            if name.rpartition(".")[2].isdigit():
                # No top-level label is all digits (RFC 3696 section 2): an
                # address typed where a name belongs does not exist, as the
                # root would say.
                return Answer("NXDOMAIN")
            return Answer("REFUSED", authoritative=False)

        out = Answer("NOERROR")
        for _ in range(8):  # a bound on CNAME chains inside our own zones
            if qtype == "SOA" and name == apex:
                out.answer.append(self.soa(apex))
                return out
            found = self._rrs(name, qtype)
            if found:
                out.answer.extend(found)
                return out
            alias = self.records.get((name, "CNAME"))
            if alias and qtype != "CNAME":
                out.answer.extend(alias)
                name = _key(str(alias[0].rdata.label))
                if self.apex_of(name) is None:
                    return out
                continue
            break

        if not out.answer and name not in self.names:
            out.rcode = "NXDOMAIN"
        out.authority.append(self.soa(self.apex_of(name) or apex))
        return out

    def _rrs(self, name: str, qtype: str) -> list[RR]:
        if qtype == "ANY":
            return [rr for (n, _), rrs in self.records.items() if n == name
                    for rr in rrs]
        return self.records.get((name, qtype), [])
