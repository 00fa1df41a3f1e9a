"""The zone data of the openspf test suite, as a plain mapping and a resolver.

The suite's FORMAT.md describes the rules implemented here:

* every ``SPF`` entry (the obsolete type 99) is also served as TXT, unless
  the name has a ``TXT`` entry of its own; ``TXT: NONE`` is such an entry
  and means "no TXT record at all";
* ``TIMEOUT`` makes every type time out, except the types with a record
  listed before it;
* a name missing from the data is NXDOMAIN, a name present without the
  asked type is NODATA.

One rule FORMAT.md leaves unsaid and the case "cname-aliasing" needs: like
a recursive resolver, ``lookup`` follows a CNAME when another type is
asked, and answers SERVFAIL for a loop or an overly long chain.

``zone_from_zonedata`` gives ``{(name, rdtype): records | "TIMEOUT"}``, with
``(name, "*")`` standing for "every other type" of a TIMEOUT name, so the
same data can be served from a real DNS server. Records take the shapes of
``checker.dns.Answer``. The suite's strings hold bytes that are not UTF-8
(YAML ``\\xNN`` escapes); the loader keeps them as the exact bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from checker.dns import Answer, Record

TIMEOUT: Literal["TIMEOUT"] = "TIMEOUT"
ANY_TYPE = "*"

Zone = dict[tuple[str, str], "tuple[Record, ...] | Literal['TIMEOUT']"]

SUITE_ENV = "MAILLAB_SPF_SUITE"


def suite_dir() -> Path | None:
    """Where the suite files are: $MAILLAB_SPF_SUITE, else beside the repo."""
    configured = os.environ.get(SUITE_ENV)
    if configured:
        path = Path(configured)
        return path if path.is_dir() else None
    repo = Path(__file__).resolve().parents[2]
    path = repo.parent / "shared" / "testsuites" / "spf"
    return path if path.is_dir() else None


@dataclass(frozen=True)
class Case:
    section: str
    name: str
    helo: str
    host: str
    mailfrom: str
    results: tuple[str, ...]
    explanation: str | None
    spec: str
    zone: Zone = field(repr=False, compare=False, hash=False)


def load_suite(path: Path) -> list[Case]:
    """Every case of a suite file, each with its section's zone.

    BaseLoader keeps every scalar a string (no "NONE" or "0" guessing), and
    the double-quoted ``\\xNN`` escapes arrive as code points below 256,
    which ``_octets`` turns back into the bytes the suite meant.
    """
    cases: list[Case] = []
    with path.open("rb") as stream:
        for section in yaml.load_all(stream, Loader=yaml.BaseLoader):
            zone = zone_from_zonedata(section.get("zonedata") or {})
            for name, case in section["tests"].items():
                result = case["result"]
                results = tuple(result) if isinstance(result, list) else (result,)
                cases.append(Case(
                    section=section["description"], name=name,
                    helo=case.get("helo", ""), host=case["host"],
                    mailfrom=case.get("mailfrom", ""), results=results,
                    explanation=case.get("explanation"),
                    spec=str(case.get("spec", "")), zone=zone,
                ))
    return cases


def _octets(text: str) -> bytes:
    """The bytes a suite string stands for (its escapes are all \\xNN)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _name(text: str) -> str:
    return text[:-1].lower() if text.endswith(".") else text.lower()


def _txt(data: object) -> tuple[bytes, ...]:
    parts = data if isinstance(data, list) else [data]
    return tuple(_octets(str(part)) for part in parts)


def _record(rdtype: str, data: object) -> Record:
    if rdtype in ("TXT", "SPF"):
        return _txt(data)
    if rdtype == "MX":
        assert isinstance(data, list) and len(data) == 2, data
        return (int(data[0]), _name(str(data[1])))
    if rdtype in ("PTR", "CNAME", "NS"):
        return _name(str(data))
    return str(data)


def zone_from_zonedata(zonedata: Mapping[str, object]) -> Zone:
    """Turn one section's ``zonedata`` into ``{(name, rdtype): records}``."""
    zone: Zone = {}
    for raw_name, entries in zonedata.items():
        name = _name(raw_name)
        listed: dict[str, list[Record]] = {}
        timed_out = False
        own_txt = any(isinstance(e, dict) and "TXT" in e for e in entries or [])
        for entry in entries or []:
            if entry == TIMEOUT:
                timed_out = True
                break
            ((rdtype, data),) = entry.items()
            if rdtype == "TXT" and data == "NONE":
                continue
            listed.setdefault(rdtype, []).append(_record(rdtype, data))
            # RFC 7208 drops type SPF: serve it as TXT unless TXT is given.
            if rdtype == "SPF" and not own_txt:
                listed.setdefault("TXT", []).append(_record(rdtype, data))
        if own_txt:
            listed.setdefault("TXT", [])
        for rdtype, records in listed.items():
            zone[(name, rdtype)] = tuple(records)
        if timed_out:
            # Types named before TIMEOUT answer; everything else times out,
            # including a TXT that was only "NONE".
            for key in [k for k in zone if k[0] == name and not zone[k]]:
                zone[key] = TIMEOUT
            zone[(name, ANY_TYPE)] = TIMEOUT
        elif not listed:
            zone[(name, ANY_TYPE)] = ()
    return zone


#: Longest CNAME chain ``lookup`` follows before it calls it a failure.
MAX_CNAME_CHAIN = 8


def lookup(zone: Zone, qname: str, rdtype: str) -> Answer:
    """The answer ``zone`` gives, by the rules of the module docstring."""
    name = _name(qname)
    seen = [name]
    while rdtype != "CNAME" and (name, rdtype) not in zone:
        alias = zone.get((name, "CNAME"))
        if not alias or alias == TIMEOUT:
            break
        name = str(alias[0])
        if name in seen or len(seen) > MAX_CNAME_CHAIN:
            return Answer(qname=seen[0], rdtype=rdtype, status="servfail",
                          detail="CNAME loop: " + " -> ".join([*seen, name]))
        seen.append(name)
    answer = _lookup_one(zone, name, rdtype)
    return Answer(qname=seen[0], rdtype=rdtype, status=answer.status,
                  records=answer.records, detail=answer.detail)


def _lookup_one(zone: Zone, name: str, rdtype: str) -> Answer:
    found = zone.get((name, rdtype))
    if found is None:
        found = zone.get((name, ANY_TYPE))
        if found is None and not any(key[0] == name for key in zone):
            return Answer(qname=name, rdtype=rdtype, status="nxdomain")
        if found is None or found == ():
            return Answer(qname=name, rdtype=rdtype, status="nodata")
    if found == TIMEOUT:
        return Answer(qname=name, rdtype=rdtype, status="timeout",
                      detail="TIMEOUT in zone data")
    if not found:
        return Answer(qname=name, rdtype=rdtype, status="nodata")
    return Answer(qname=name, rdtype=rdtype, status="ok",
                  records=tuple(found))  # type: ignore[arg-type]


class ZoneResolver:
    """A resolver over a ``Zone``, recording the questions it was asked."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.asked: list[tuple[str, str]] = []

    async def query(self, qname: str, rdtype: str) -> Answer:
        self.asked.append((qname, rdtype))
        return lookup(self.zone, qname, rdtype)
