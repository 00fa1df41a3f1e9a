"""500 concurrent SMTP sessions: none hangs, none is lost, none is doubled.

All 500 sessions are opened at once on the lab's MX and held; then each
that got a greeting sends one message to alice and QUITs. The listener's
contract is a cap on sessions (200 by default): above it a client gets
``421 4.3.2`` at once and the connection closes, which RFC 5321 section
3.8 makes a temporary refusal, so those clients retry once others have
finished. At the end every message answered 250 is in alice's Maildir
exactly once, and every one of the 500 got its 250 before the deadline.
A second test gives a dedicated listener room for all 500 at once.
"""

from __future__ import annotations

import asyncio
import re
import resource
import time

import pytest

from lab.smtp.policy import MailPolicy
from lab.smtp.server import SmtpListener
from lab.store import MailStore

from .support import ALICE, SmtpClient, endpoint, message_for, token

SESSIONS = 500
DEADLINE = 30.0


@pytest.fixture(autouse=True)
def enough_descriptors():
    """Both ends of 500 connections live in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * SESSIONS + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"needs {want} file descriptors, the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _stored_tokens(store: MailStore) -> list[str]:
    box = store.mailbox("alice")
    found = []
    for stored in box.list():
        found += re.findall(rb"END-OF-MESSAGE ([0-9a-f]{32})", box.read(stored.key))
    return [t.decode() for t in found]


async def _open(address: tuple[str, int]) -> SmtpClient:
    return await SmtpClient.connect(address, timeout=10)


async def _finish(client: SmtpClient, tok: str) -> int:
    """EHLO, one message, QUIT: the final reply's code."""
    try:
        if (await client.command("EHLO load.fabrikam.test", 10)).code != 250:
            return 0
        return (await client.send("load@fabrikam.test", ALICE, message_for(tok),
                                  timeout=10)).code
    finally:
        await client.quit()


async def _wave(address: tuple[str, int], tokens: list[str],
                accepted: set[str]) -> tuple[int, int]:
    """Open a session per token at once, hold them all, then send.

    Returns (greeted, refused); tokens answered 250 go into ``accepted``.
    """
    opened = await asyncio.gather(*(_open(address) for _ in tokens),
                                  return_exceptions=True)
    for result in opened:
        if isinstance(result, BaseException):
            raise result  # a connect that hangs or fails is a finding
    greeted, refused = [], []
    for client, tok in zip(opened, tokens):
        (greeted if client.banner.code == 220 else refused).append((client, tok))
    for client, _ in refused:
        # Clearly refused: the 421 of RFC 5321 section 3.8, then a close.
        assert client.banner.code == 421, client.banner.text
        assert client.banner.lines[0].startswith(b"421 4.3.2")
        assert await asyncio.wait_for(client.reader.read(), 5) == b""
        await client.close()
    codes = await asyncio.gather(*(_finish(c, t) for c, t in greeted))
    for code, (_, tok) in zip(codes, greeted):
        assert code == 250, f"a greeted session got {code}"
        accepted.add(tok)
    return len(greeted), len(refused)


async def _run_until_all_accepted(address, store: MailStore, cap: int) -> None:
    tokens = [token() for _ in range(SESSIONS)]
    accepted: set[str] = set()
    start = time.monotonic()
    pending = tokens
    waves = []
    while pending:
        assert time.monotonic() - start < DEADLINE, (
            f"{len(pending)} messages still refused after {DEADLINE:.0f}s")
        waves.append(await _wave(address, pending, accepted))
        pending = [t for t in tokens if t not in accepted]

    # The first wave held all 500 at once: exactly the cap was served.
    assert waves[0] == (min(cap, SESSIONS), SESSIONS - min(cap, SESSIONS))
    stored = _stored_tokens(store)
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert set(stored) == accepted == set(tokens)


async def test_500_sessions_on_the_lab_mx(healthy_lab):
    mx = endpoint(healthy_lab, "mx1", 25)
    listener = healthy_lab.smtp["mx1"][0]
    await _run_until_all_accepted(mx, healthy_lab.store, listener.max_sessions)
    await asyncio.sleep(0.1)
    assert listener.sessions == 0


async def test_500_sessions_when_the_cap_allows_them(tmp_path):
    store = MailStore(tmp_path / "mail")
    policy = MailPolicy(domain="contoso.test", users={"alice": "pw"},
                        hostname="mx1.contoso.test", deliver=store.deliver_async)
    listener = SmtpListener(policy, "127.0.0.1", 0, max_sessions=SESSIONS)
    await listener.start()
    try:
        await _run_until_all_accepted(("127.0.0.1", listener.port), store,
                                      SESSIONS)
    finally:
        await listener.close()
