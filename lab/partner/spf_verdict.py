"""The partner's SPF verdict, from pyspf: an implementation independent of
the checker's own, so that each can catch the other's mistakes.

pyspf asks DNS through one module-level function, ``spf.DNSLookup``, which
by default uses the system's resolver. We replace it once by a function
that asks the resolver named in a context variable (the lab's DNS, at its
address and port) and otherwise falls back to pyspf's own; the system's
resolver configuration is never read or changed. Evaluation runs in a
worker thread (pyspf is synchronous); ``asyncio.to_thread`` carries the
context variable there.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
import spf

log = logging.getLogger(__name__)

#: RFC 7208 section 4.6.4 allows 20 s per evaluation; the lab is on loopback.
EVALUATION_TIMEOUT = 5.0

_server: contextvars.ContextVar[tuple[str, int, float] | None] = \
    contextvars.ContextVar("lab_spf_server", default=None)
_install_guard = threading.Lock()
_resolvers: dict[tuple[str, int, float], dns.resolver.Resolver] = {}


@dataclass(frozen=True)
class SpfVerdict:
    result: str
    explanation: str = ""


def _resolver(server: tuple[str, int, float]) -> dns.resolver.Resolver:
    with _install_guard:
        found = _resolvers.get(server)
        if found is None:
            # configure=False: no resolv.conf, no search list, only the lab.
            found = dns.resolver.Resolver(configure=False)
            found.nameservers = [server[0]]
            found.port = server[1]
            found.timeout = found.lifetime = server[2]
            _resolvers[server] = found
        return found


def _lab_lookup(name: str, qtype: str, strict: Any = True,
                timeout: float = 20) -> list[tuple[tuple[str, str], Any]]:
    """pyspf's lookup contract: ``[((name, type), value), ...]``, answers only."""
    server = _server.get()
    if server is None:
        return _pyspf_lookup(name, qtype, strict, timeout)
    resolver = _resolver(server)
    try:
        answers = resolver.resolve(name, qtype, lifetime=min(timeout, server[2]),
                                   raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise spf.TempError(f"DNS {exc}") from None
    except dns.exception.DNSException as exc:
        raise spf.TempError(f"DNS {type(exc).__name__}: {exc}") from None

    out: list[tuple[tuple[str, str], Any]] = []
    for rdata in answers.rrset or ():
        if qtype in ("A", "AAAA"):
            value: Any = rdata.address
        elif qtype == "MX":
            value = (rdata.preference, rdata.exchange)
        elif qtype == "PTR":
            value = rdata.target.to_text(True)
        elif qtype in ("TXT", "SPF"):
            value = rdata.strings
        else:
            continue
        out.append(((name, qtype), value))
    return out


_pyspf_lookup = spf.DNSLookup


def _install() -> None:
    with _install_guard:
        if spf.DNSLookup is not _lab_lookup:
            spf.DNSLookup = _lab_lookup


def _evaluate(address: str, mail_from: str, helo: str, receiver: str) -> SpfVerdict:
    # An empty MAIL FROM is checked as postmaster@<helo> (RFC 7208 s. 2.4);
    # pyspf does that itself when the sender is empty.
    query = spf.query(i=address, s=mail_from, h=helo, receiver=receiver,
                      timeout=EVALUATION_TIMEOUT, querytime=EVALUATION_TIMEOUT)
    result, _code, explanation = query.check()
    return SpfVerdict(str(result), str(explanation))


async def spf_verdict(address: str, mail_from: str, helo: str, *, receiver: str,
                      server: str, port: int, timeout: float = 2.0) -> SpfVerdict:
    """pyspf's check_host() result for this client, asking only ``server:port``."""
    _install()
    token = _server.set((server, port, timeout))
    try:
        verdict = await asyncio.wait_for(
            asyncio.to_thread(_evaluate, address, mail_from, helo, receiver),
            EVALUATION_TIMEOUT + 1)
    except TimeoutError:
        verdict = SpfVerdict("temperror", "SPF evaluation timed out")
    finally:
        _server.reset(token)
    log.info("spf %s for %s from <%s> helo %s: %s", verdict.result, address,
             mail_from, helo, verdict.explanation)
    return verdict
