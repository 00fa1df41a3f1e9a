"""DMARC (RFC 7489): the record at _dmarc.<domain>, its grammar and policy.

The parser is a pure function so its grammar (section 6.4) can be tested on
strings; the probe only fetches the TXT record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..dns import DnsClient
from ..findings import Finding
from .dnsfail import dns_failure

_TAG = re.compile(r"^([a-z]+)=(.*)$")
_POLICIES = {"none", "quarantine", "reject"}


@dataclass(frozen=True)
class DmarcRecord:
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def policy(self) -> str:
        return self.tags["p"]


class DmarcSyntaxError(ValueError):
    pass


def parse_dmarc(text: str) -> DmarcRecord:
    """Parse one record; raise DmarcSyntaxError naming the first bad part."""
    parts = [p.strip() for p in text.split(";")]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing ';' is allowed
    if not parts or parts[0].replace(" ", "") != "v=DMARC1":
        raise DmarcSyntaxError(f"must begin with 'v=DMARC1;', not {parts[0]!r}")

    tags: dict[str, str] = {}
    for part in parts[1:]:
        match = _TAG.match(part.replace(" ", "", 1) if " =" in part else part)
        if match is None:
            raise DmarcSyntaxError(f"not a tag=value pair: {part!r}")
        name, value = match.group(1), match.group(2).strip()
        tags.setdefault(name, value)

    # Section 6.3: p is required and comes right after v.
    if "p" not in tags:
        raise DmarcSyntaxError("no policy: the p= tag is required")
    if tags["p"] not in _POLICIES:
        raise DmarcSyntaxError(f"unknown policy p={tags['p']}")
    if "sp" in tags and tags["sp"] not in _POLICIES:
        raise DmarcSyntaxError(f"unknown subdomain policy sp={tags['sp']}")
    if "pct" in tags and not (tags["pct"].isdigit() and int(tags["pct"]) <= 100):
        raise DmarcSyntaxError(f"pct must be 0-100, not {tags['pct']}")
    for key in ("adkim", "aspf"):
        if key in tags and tags[key] not in ("r", "s"):
            raise DmarcSyntaxError(f"{key} must be r or s, not {tags[key]}")
    for key in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in tags.get(key, "").split(","))):
            if not uri.startswith("mailto:") or "@" not in uri:
                raise DmarcSyntaxError(f"{key} needs mailto: URIs, not {uri!r}")
    return DmarcRecord(tags)


async def probe_dmarc(dns: DnsClient, domain: str) -> list[Finding]:
    name = f"_dmarc.{domain}"
    answer = await dns.query(name, "TXT")
    if not answer.definite:
        return [dns_failure(answer, "the DMARC lookup failed")]

    texts = [b"".join(r).decode("utf-8", "replace") for r in answer.records
             if isinstance(r, tuple)]
    records = [t for t in texts if t.lower().startswith("v=dmarc1")]
    if not records:
        # Close misses like "v=DMARC1, p=..." still start with the version.
        return [Finding("dmarc.missing", domain, f"{domain} publishes no DMARC "
                        "record", (answer.evidence(),))]
    if len(records) > 1:
        return [Finding("dmarc.syntax", domain, f"{name} has {len(records)} "
                        "DMARC records; receivers ignore them all (6.6.3)",
                        (answer.evidence(),))]
    try:
        record = parse_dmarc(records[0])
    except DmarcSyntaxError as exc:
        return [Finding("dmarc.syntax", domain, f"the DMARC record of {domain} "
                        f"does not parse: {exc}", (answer.evidence(),))]
    if record.policy == "none":
        return [Finding("dmarc.policy-none", domain,
                        f"{domain}'s DMARC policy is p=none: monitoring only",
                        (answer.evidence(),))]
    return []
