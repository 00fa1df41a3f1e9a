"""Domain names as SPF sees them: validity, truncation, reverse names.

RFC 7208 checks names in two places. Section 4.3 looks at the <domain>
handed to check_host() and answers "none" when it is not a usable
multi-label name. Section 7.3 says an expanded target name longer than 253
characters loses labels from the left until it fits; after that a name that
still cannot be put in a DNS query (an empty or over-long label) is treated
as non-existent, the reading RFC 7208 leaves open and the test suite accepts.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: RFC 1035 section 2.3.4, as text without the final dot (RFC 7208 7.3).
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63


def strip_root(name: str) -> str:
    """The name without one final dot; "a.example." and "a.example" are one."""
    return name[:-1] if name.endswith(".") else name


def truncate_left(name: str) -> str:
    """Drop labels from the left until the name fits (RFC 7208 section 7.3)."""
    while len(name) > MAX_NAME_LENGTH and "." in name:
        name = name.split(".", 1)[1]
    return name


def query_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be asked about in DNS, or None when it can.

    Characters are not restricted: SPF targets may hold ":" or "/" or even
    spaces after macro expansion, and DNS carries any octet in a label.
    """
    if not name:
        return "the name is empty"
    if not name.isascii() or not name.isprintable():
        return "the name holds non-ASCII or control characters"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is {len(name)} characters long (limit {MAX_NAME_LENGTH})"
    for label in name.split("."):
        if not label:
            return "the name has an empty label"
        if len(label) > MAX_LABEL_LENGTH:
            return (f"label {label[:20]!r}... is {len(label)} characters long "
                    f"(limit {MAX_LABEL_LENGTH})")
    return None


def identity_problem(domain: str) -> str | None:
    """Why ``domain`` gets "none" in initial processing (RFC 7208 section 4.3)."""
    if domain.startswith("["):
        return f"{domain!r} is an address literal, not a domain name"
    name = strip_root(domain)
    problem = query_name_problem(name)
    if problem:
        return f"{domain!r} is not a valid domain name: {problem}"
    if "." not in name:
        return f"{domain!r} is not a fully qualified (multi-label) domain name"
    return None


def is_same_or_subdomain(name: str, parent: str) -> bool:
    """True when ``name`` is ``parent`` or lies below it, ignoring case."""
    name, parent = strip_root(name).lower(), strip_root(parent).lower()
    return name == parent or name.endswith("." + parent)


def client_address(ip: str) -> IPAddress:
    """The SMTP client's address; IPv4-mapped IPv6 counts as IPv4 (RFC 7208 5)."""
    address = ipaddress.ip_address(ip.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def dotted(address: IPAddress) -> str:
    """The "i" macro value: dotted quad, or dotted nibbles for IPv6 (7.3).

    Nibbles are upper case as in the example of RFC 7208 section 7.4; DNS
    ignores the case, and explanations then read like the RFC's.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return ".".join(address.exploded.replace(":", "").upper())


def reverse_name(address: IPAddress) -> str:
    """The in-addr.arpa or ip6.arpa name whose PTR records name ``address``."""
    return address.reverse_pointer.lower()
