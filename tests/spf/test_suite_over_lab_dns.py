"""The RFC 7208 suite again, its zone data served by the lab's own DNS server.

Each case's section becomes a lab ``Zone`` holding the root (so names the
data lacks are NXDOMAIN, as on the internet), TIMEOUT entries become
responder rules that send no reply, and the checker's real ``DnsClient``
asks over UDP (and TCP when an answer is truncated). The lab DNS is held to
the same 203 verdicts as the in-memory resolver.
"""

from __future__ import annotations

import pytest

from checker.dns import DnsClient
from checker.spf import evaluate
from lab.dns import DnsServer, Responder, Zone
from lab.dns.responder import Rule

from .test_rfc7208_suite import RFC7208
from .zonedata import ANY_TYPE, TIMEOUT, Case

#: Cases that cannot pass over real DNS, with the reason. None today.
KNOWN_FAILURES: dict[str, str] = {}

_SERVED = {"A", "AAAA", "MX", "TXT", "SPF", "PTR", "CNAME", "NS"}


def lab_zone(case: Case) -> tuple[Zone, list[Rule]]:
    zone = Zone.build([""], [])
    listed: dict[str, set[str]] = {}
    timeouts: dict[str, set[str]] = {}
    whole: set[str] = set()
    for (name, rdtype), records in case.zone.items():
        zone.add_name(name)
        if records == TIMEOUT:
            if rdtype == ANY_TYPE:
                whole.add(name)
            else:
                timeouts.setdefault(name, set()).add(rdtype)
            continue
        if rdtype == ANY_TYPE or rdtype not in _SERVED:
            continue
        listed.setdefault(name, set()).add(rdtype)
        for record in records:
            if rdtype in ("TXT", "SPF") and record == ():
                # RFC 1035 section 3.3.14: a TXT holds one or more strings, so
                # no zone file can hold this one ("null-text"); a real server
                # refuses it at load time, and so do we.
                continue
            zone_record = Zone.build([""], [(name, rdtype, record, 300)])
            for rrs in zone_record.records.values():
                for rr in rrs:
                    zone.add(rr)

    rules = [Rule(n, "timeout", types=frozenset(t)) for n, t in timeouts.items()]
    rules += [Rule(n, "timeout", except_types=frozenset(listed.get(n, set())))
              for n in whole]
    return zone, rules


def _param(case: Case) -> object:
    marks = []
    if case.name in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[case.name],
                                       strict=True))
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in RFC7208])
async def test_rfc7208_case_over_lab_dns(case: Case) -> None:
    zone, rules = lab_zone(case)
    server = DnsServer(Responder(zone, rules), "127.0.0.1", 0)
    await server.start()
    try:
        client = DnsClient("127.0.0.1", server.port, timeout=1.0)
        outcome = await evaluate(client, case.host, case.mailfrom, case.helo,
                                 default_explanation="DEFAULT", now=0)
    finally:
        await server.close()
    context = f"{case.section} / {case.name}\n{outcome.render()}"
    assert outcome.result in case.results, context
    if case.explanation is not None:
        assert outcome.explanation == case.explanation, context
