"""A lab killed at random moments keeps every message it answered 250 for.

The lab runs as its own process (``maillab up healthy --dir DIR``) while
senders stream messages to its MX; a token counts as accepted only when
its 250 arrives. The lab is killed with SIGKILL at seeded random moments,
three times, and restarted on the same directory each time. Afterwards
every accepted message is in alice's Maildir exactly once, every file in
new/ and cur/ is a whole message (its token in the Message-ID and in the
end marker), the partial deliveries the dead processes left in tmp/ are
gone, and IMAP and POP3 count what the Maildir holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import json
import os
import poplib
import random
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.store import MailStore

from .support import (
    ALICE,
    ALICE_PASSWORD,
    STEP,
    SmtpClient,
    SmtpError,
    message_for,
    token,
)

SEED = 7
ROUNDS = 3
SENDERS = 4
START_BOUND = 20.0

_END = re.compile(rb"END-OF-MESSAGE ([0-9a-f]{32})\r\n\Z")
_ID = re.compile(rb"^Message-ID: <([0-9a-f]{32})@fabrikam\.test>\r$", re.MULTILINE)


class LabProcess:
    """``maillab up`` in a child process; ended by its PID only.

    The slot is pinned: left free, a restarted lab takes the first free
    slot, and while it is down another lab on this machine may take its
    old one, so clients still pointed at the old addresses would deliver
    to a stranger. Slots from 150 up are far from those tests pick first.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.slot = 150 + os.getpid() % 50

    async def start(self, *, first: bool = False) -> dict:
        for _ in range(10 if first else 1):
            state = await self._start()
            if state is not None:
                return state
            self.slot = 150 + (self.slot - 150 + 1) % 50
        raise AssertionError(f"the lab could not start again in slot {self.slot}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started_at = time.time()
        with open(self.directory.parent / "lab.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "maillab", "up", "healthy",
                 "--slot", str(self.slot), "--dir", str(self.directory)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    async def _start(self) -> dict | None:
        self.proc = self._spawn()
        state_file = self.directory / "state.json"
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None  # the slot is taken (exit status 1)
            with contextlib.suppress(OSError, ValueError):
                state = json.loads(state_file.read_text())
                if state.get("pid") == self.proc.pid:
                    return state
            await asyncio.sleep(0.05)
        raise AssertionError("the lab did not write its state file in time")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _address(state: dict, host: str, standard: int) -> tuple[str, int]:
    address = next(h["address"] for h in state["hosts"] if h["name"] == host)
    return address, state["ports"][address][str(standard)]


async def _sender(where: dict, accepted: list[str], stop: asyncio.Event) -> None:
    """Sends messages for as long as asked; notes a token only on its 250."""
    while not stop.is_set():
        client = None
        try:
            client = await SmtpClient.connect(where["mx"], timeout=STEP)
            if client.banner.code != 220:
                raise SmtpError("not greeted")
            if (await client.command("EHLO durable.fabrikam.test")).code != 250:
                raise SmtpError("EHLO refused")
            while not stop.is_set():
                tok = token()
                reply = await client.send("durable@fabrikam.test", ALICE,
                                          message_for(tok, size=2000))
                if reply.code != 250:
                    raise SmtpError(reply.text)
                accepted.append(tok)
        except (TimeoutError, OSError, SmtpError, asyncio.IncompleteReadError):
            await asyncio.sleep(0.02)  # the lab is down or restarting
        finally:
            if client is not None:
                client.writer.close()


def _read_maildir(directory: Path) -> tuple[list[str], Path]:
    """Tokens of every visible message, each file checked whole."""
    box = MailStore(directory / "mail").mailbox("alice")
    tokens = []
    for sub in ("new", "cur"):
        for path in sorted((box.path / sub).iterdir()):
            data = path.read_bytes()
            end, ident = _END.search(data), _ID.search(data)
            assert end and ident, f"a partial message is visible: {path.name}"
            assert end.group(1) == ident.group(1)
            assert data == message_for(end.group(1).decode(), size=2000), (
                f"a message was stored altered: {path.name}")
            tokens.append(end.group(1).decode())
    return tokens, box.path


@pytest.mark.timeout(120)
async def test_sigkill_loses_nothing_answered_250(tmp_path):
    rng = random.Random(SEED)
    lab = LabProcess(tmp_path / "lab")
    accepted: list[str] = []
    stop = asyncio.Event()
    senders: list[asyncio.Task[None]] = []
    try:
        state = await lab.start(first=True)
        where = {"mx": _address(state, "mx1", 25)}
        senders = [asyncio.create_task(_sender(where, accepted, stop))
                   for _ in range(SENDERS)]
        for _ in range(ROUNDS):
            before = len(accepted)
            await asyncio.sleep(rng.uniform(0.4, 1.5))
            for _ in range(100):  # at least a few messages per round
                if len(accepted) > before + 5:
                    break
                await asyncio.sleep(0.05)
            lab.kill()
            state = await lab.start()
            assert _address(state, "mx1", 25) == where["mx"]
        for _ in range(100):  # the restarted lab serves again
            if len(accepted) > before + 10:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*senders), 4 * STEP)

        tokens, maildir = _read_maildir(lab.directory)
        assert len(accepted) > 20
        assert len(tokens) == len(set(tokens)), "a message is stored twice"
        missing = set(accepted) - set(tokens)
        assert not missing, f"{len(missing)} messages answered 250 are gone"
        # The dead processes' partial deliveries were swept at the restart.
        stale = [p.name for p in (maildir / "tmp").iterdir()
                 if p.stat().st_mtime < lab.started_at]
        assert not stale, f"partial deliveries left in tmp/: {stale[:3]}"

        ca = ssl.create_default_context(cafile=state["ca_file"])

        def count_imap() -> int:
            host, port = _address(state, "mail", 993)
            with imaplib.IMAP4_SSL(host, port, ssl_context=ca,
                                   timeout=STEP) as client:
                client.login(ALICE, ALICE_PASSWORD)
                status, data = client.select("INBOX", readonly=True)
                assert status == "OK"
                client.logout()
                return int(data[0])

        def count_pop3() -> int:
            host, port = _address(state, "mail", 995)
            # A generous bound: POP3 login reads the whole maildrop (see
            # test_pop3_login_on_a_big_maildrop_does_not_freeze_the_lab).
            client = poplib.POP3_SSL(host, port, context=ca, timeout=30)
            try:
                client.user(ALICE)
                client.pass_(ALICE_PASSWORD)
                return client.stat()[0]
            finally:
                client.quit()

        assert await asyncio.to_thread(count_imap) == len(tokens)
        assert await asyncio.to_thread(count_pop3) == len(tokens)
    finally:
        stop.set()
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        lab.stop()
