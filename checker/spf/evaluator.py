"""check_host() of RFC 7208, written here rather than taken from a library.

Why by hand: pyspf and its kin hand back a verdict and perhaps a line of
text. A diagnostician needs the reasons: which term matched and where, every
DNS query and the term that caused it, how close the record came to the
limits of section 4.6.4, and which term went past them. So the evaluator
keeps the whole lookup tree and returns it with the result.

Theory of operation: ``check_host`` validates the identity (section 4.3),
then ``_check_domain`` fetches and selects the record (4.4, 4.5), parses
all of it (4.6), walks the mechanisms in order (4.6.2, 5), falls back to
redirect (6.1) and the default neutral (4.7), and computes the explanation
of a fail (6.2). include and redirect recurse into ``_check_domain`` with
the same ``Evaluation``, so the limits count across the whole check;
permerror and temperror end everything at once, as ``Abort``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

from ..errors import UsageError
from .lookups import FAILED, Abort, Evaluation, Resolver, Step, is_void
from .macros import MacroString, MacroSyntaxError, parse_macro_string
from .mechanisms import match_a, match_exists, match_ip, match_mx, match_ptr
from .names import client_address, identity_problem, strip_root
from .results import Result, SpfEvaluation, TermRef
from .terms import Mechanism, SpfRecord, SpfSyntaxError, parse_record, select_record

log = logging.getLogger(__name__)

#: Used when a fail has no usable exp= (section 6.2 leaves the text to us).
DEFAULT_EXPLANATION = "%{d} does not designate %{c} as a permitted sender of %{s}"
#: Section 4.6.4 asks for a bound on the elapsed time of at least 20 seconds.
DEFAULT_TIME_LIMIT = 20.0


@dataclass(frozen=True)
class _Verdict:
    result: Result
    path: tuple[TermRef, ...] = ()
    explanation: str | None = None
    problem: str | None = None


async def check_host(
    dns: Resolver, ip: str, domain: str, sender: str, helo: str = "",
    receiver: str = "unknown", *, default_explanation: str = DEFAULT_EXPLANATION,
    now: float | None = None, time_limit: float = DEFAULT_TIME_LIMIT,
) -> SpfEvaluation:
    """Evaluate the SPF record of ``domain`` for a client at ``ip``.

    ``sender`` is the MAIL FROM (or postmaster@helo) address, ``helo`` the
    EHLO name for %{h}, ``receiver`` this host's name for %{r}, ``now``
    the time for %{t}. Raises ``UsageError`` only for an unusable ``ip``.
    """
    try:
        address = client_address(ip)
    except ValueError:
        raise UsageError(f"not an IP address: {ip!r}") from None
    local_part, _, sender_domain = sender.rpartition("@")
    local_part = local_part or "postmaster"  # section 4.3
    sender = f"{local_part}@{sender_domain}"
    domain = domain.strip()
    outcome = SpfEvaluation(result="none", domain=domain, ip=ip, sender=sender)

    # Section 4.3: a malformed identity gives "none" without any query.
    problem = identity_problem(domain)
    if problem:
        return replace(outcome, problem=problem)

    try:
        default = parse_macro_string(default_explanation, explanation=True)
    except MacroSyntaxError as exc:
        raise UsageError(f"bad default explanation: {exc.reason}") from None
    run = Evaluation(
        dns=dns, ip=address, sender=sender, local_part=local_part,
        sender_domain=sender_domain, helo=helo, receiver=receiver,
        now=int(time.time() if now is None else now),
    )
    roots: list[Step] = []
    try:
        async with asyncio.timeout(time_limit):
            verdict = await _check_domain(run, strip_root(domain), roots, None,
                                          explain=default)
    except Abort as abort:
        return _finish(outcome, run, roots, _Verdict(abort.result),
                       problem=abort.problem, problem_term=abort.term,
                       limit=abort.limit)
    except TimeoutError:
        return _finish(outcome, run, roots, _Verdict("temperror"),
                       problem=f"the check took longer than {time_limit:g} s "
                       "(RFC 7208 section 4.6.4)")
    return _finish(outcome, run, roots, verdict, problem=verdict.problem)


async def evaluate(
    dns: Resolver, ip: str, mail_from: str, helo: str, receiver: str = "unknown",
    *, default_explanation: str = DEFAULT_EXPLANATION, now: float | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> SpfEvaluation:
    """Check the identity RFC 7208 section 2.4 picks: MAIL FROM, or HELO.

    With the null reverse-path the "MAIL FROM" identity is
    postmaster@<helo>, checked against the HELO domain.
    """
    options = dict(default_explanation=default_explanation, now=now,
                   time_limit=time_limit)
    mail_from = mail_from.strip()
    if mail_from.startswith("<") and mail_from.endswith(">"):
        mail_from = mail_from[1:-1]
    if not mail_from:
        outcome = await check_host(dns, ip, helo, f"postmaster@{helo}", helo,
                                   receiver, **options)  # type: ignore[arg-type]
        return replace(outcome, identity="helo")
    domain = mail_from.rpartition("@")[2]
    return await check_host(dns, ip, domain, mail_from, helo, receiver,
                            **options)  # type: ignore[arg-type]


def _finish(outcome: SpfEvaluation, run: Evaluation, roots: list[Step],
            verdict: _Verdict, *, problem: str | None,
            problem_term: TermRef | None = None,
            limit: str | None = None) -> SpfEvaluation:
    finished = replace(
        outcome, result=verdict.result, record=run.record,
        matched_term=verdict.path[-1] if verdict.path else None,
        match_path=verdict.path, explanation=verdict.explanation,
        lookups=tuple(step.freeze() for step in roots),
        dns_terms=run.dns_terms, void_lookups=run.void_lookups,
        limit_exceeded=limit,
        past_limit=problem_term if limit else None,
        problem=problem, problem_term=problem_term,
    )
    log.debug("spf %s for %s at %s: %s", finished.result, finished.sender,
              finished.ip, problem or finished.matched_term)
    return finished


async def _check_domain(
    run: Evaluation, domain: str, steps: list[Step], via: TermRef | None, *,
    explain: MacroString | None,
) -> _Verdict:
    """One check_host() level: fetch, select, parse and evaluate a record.

    ``explain`` is the default explanation to use on a fail, or None when
    the caller (an include) throws the explanation away anyway.
    """
    # Section 4.4: the TXT lookup; failures are temperror, no data is none.
    answer, step = await run.query(domain, "TXT", steps, via)
    if answer.status in FAILED:
        raise Abort("temperror", f"the TXT lookup of {domain} failed: "
                    f"{answer.status} (RFC 7208 section 4.4)", via)
    if is_void(answer):
        what = "does not exist" if answer.status == "nxdomain" else \
            "has no TXT records"
        return _Verdict("none", problem=f"{domain} {what}, so it has no SPF record")

    # Section 4.5: exactly one record must begin with "v=spf1".
    selection = select_record(answer.records)
    if selection.record is None:
        step.detail = selection.problem or ""
        if selection.spf_count:
            raise Abort("permerror", f"{domain}: {selection.problem}", via)
        return _Verdict("none", problem=f"{domain}: {selection.problem}")
    if selection.txt_count > 1:
        step.detail = f"SPF record among {selection.txt_count} TXT records"
    if via is None:
        run.record = selection.record
    try:
        record = parse_record(selection.record)
    except SpfSyntaxError as exc:
        ref = TermRef(domain, exc.position, exc.text)
        raise Abort("permerror", f"syntax error in {ref}: {exc.reason}",
                    ref) from None
    return await _evaluate_record(run, record, domain, step.children,
                                  explain=explain)


async def _evaluate_record(
    run: Evaluation, record: SpfRecord, domain: str, steps: list[Step], *,
    explain: MacroString | None,
) -> _Verdict:
    # Sections 4.6.2 and 5: the first matching mechanism decides.
    for mechanism in record.mechanisms:
        term = TermRef(domain, mechanism.position, mechanism.text)
        inner = await _match(run, mechanism, domain, steps, term)
        if inner is None:
            continue
        result: Result = mechanism.result  # type: ignore[assignment]
        explanation = None
        if result == "fail" and explain is not None:
            explanation = await _explanation(run, record, domain, steps, explain)
        return _Verdict(result, path=(term, *inner), explanation=explanation)

    # Section 6.1: redirect once no mechanism matched; its result is ours.
    redirect = record.redirect
    if redirect is not None:
        term = TermRef(domain, redirect.position, redirect.text)
        run.count_term(term)
        target, problem = await run.target(redirect.value, domain, steps, term)
        if problem:
            raise Abort("permerror", f"{term}: the target {target!r} is not a "
                        f"usable name: {problem} (RFC 7208 section 6.1)", term)
        inner = await _check_domain(run, target, steps, term, explain=explain)
        if inner.result == "none":
            raise Abort("permerror", f"{term} leads to no SPF record: "
                        f"{inner.problem} (RFC 7208 section 6.1)", term)
        return replace(inner, path=(term, *inner.path))

    # Section 4.7: nothing matched.
    return _Verdict("neutral", problem=None)


async def _match(run: Evaluation, mechanism: Mechanism, domain: str,
                 steps: list[Step], term: TermRef) -> tuple[TermRef, ...] | None:
    """None when the mechanism does not match; else the terms matched inside."""
    if mechanism.name == "all":
        return ()
    if mechanism.name in ("ip4", "ip6"):
        return () if match_ip(mechanism, run.ip) else None

    run.count_term(term)
    target, problem = await run.target(mechanism.domain_spec, domain, steps, term)
    if mechanism.name == "include":
        return await _include(run, target, problem, steps, term)
    # A name that cannot be queried is treated as non-existent (4.3, 5/10/3).
    if problem:
        return None
    if mechanism.name == "a":
        matched = await match_a(run, mechanism, target, steps, term)
    elif mechanism.name == "mx":
        matched = await match_mx(run, mechanism, target, steps, term)
    elif mechanism.name == "ptr":
        matched = await match_ptr(run, target, steps, term)
    else:
        matched = await match_exists(run, target, steps, term)
    return () if matched else None


async def _include(run: Evaluation, target: str, problem: str | None,
                   steps: list[Step], term: TermRef) -> tuple[TermRef, ...] | None:
    """Section 5.2: pass matches; fail, softfail, neutral do not; none is permerror."""
    if problem:
        raise Abort("permerror", f"{term}: the target {target!r} is not a "
                    f"usable name: {problem} (RFC 7208 section 5.2)", term)
    inner = await _check_domain(run, target, steps, term, explain=None)
    if inner.result == "none":
        raise Abort("permerror", f"{term} leads to no SPF record: "
                    f"{inner.problem} (RFC 7208 section 5.2)", term)
    return inner.path if inner.result == "pass" else None


async def _explanation(run: Evaluation, record: SpfRecord, domain: str,
                       steps: list[Step], default: MacroString) -> str:
    """Section 6.2: the exp= text, or the default when it cannot be had.

    The exp lookup counts towards neither limit. A bad target, a DNS error,
    no record or more than one, non-ASCII text or bad macros in it all mean
    "proceed as if no exp modifier was given"; the step says which.
    """
    exp = record.exp
    text: str | None = None
    if exp is not None:
        term = TermRef(domain, exp.position, exp.text)
        target, problem = await run.target(exp.value, domain, steps, term)
        if not problem:
            text = await _explanation_text(run, target, domain, steps, term)
    spec = default if text is None else parse_macro_string(text, explanation=True)
    return await run.expand(spec, domain, steps, None)


async def _explanation_text(run: Evaluation, target: str, domain: str,
                            steps: list[Step], term: TermRef) -> str | None:
    answer, step = await run.query(target, "TXT", steps, term)
    if answer.status != "ok" or len(answer.records) != 1:
        step.detail = (f"exp= ignored: {len(answer.records)} TXT records, "
                       f"status {answer.status} (RFC 7208 section 6.2)")
        return None
    raw = b"".join(p if isinstance(p, bytes) else str(p).encode()
                   for p in answer.records[0])  # type: ignore[union-attr]
    try:
        text = raw.decode("ascii")
        parse_macro_string(text, explanation=True)
    except (UnicodeDecodeError, MacroSyntaxError) as exc:
        step.detail = f"exp= ignored: the text is not a valid explanation ({exc})"
        return None
    return text
