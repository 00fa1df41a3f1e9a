"""Maildir store: delivery, UIDs, flags, user-name safety, crash durability."""

from __future__ import annotations

import asyncio
import itertools
import os
import pathlib
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from lab.store import MailStore, MessageNotFound, UnsafeUserName

MSG = b"From: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n"


def test_deliver_lands_in_new_and_lists(tmp_path: pathlib.Path) -> None:
    store = MailStore(tmp_path)

    key = store.deliver("alice@contoso.test", MSG)

    box = store.mailbox("alice@contoso.test")
    assert os.listdir(tmp_path / "alice@contoso.test" / "new") == [key]
    assert os.listdir(tmp_path / "alice@contoso.test" / "tmp") == []
    [m] = box.list()
    assert (m.key, m.uid, m.size, m.flags, m.recent) == (
        key, 1, len(MSG), frozenset(), True)
    assert box.read(key) == MSG
    assert box.uid_next() == 2


def test_uids_ascend_and_persist_across_reopen(tmp_path: pathlib.Path) -> None:
    store = MailStore(tmp_path)
    keys = [store.deliver("bob", MSG + bytes([65 + i])) for i in range(5)]
    box = store.mailbox("bob")
    first = [(m.key, m.uid) for m in box.list()]
    validity = box.uidvalidity

    box.delete(keys[4])
    reopened = MailStore(tmp_path).mailbox("bob")
    again = [(m.key, m.uid) for m in reopened.list()]
    later = MailStore(tmp_path).deliver("bob", MSG)

    assert [k for k, _ in first] == keys
    assert [u for _, u in first] == [1, 2, 3, 4, 5]
    assert again == first[:4]
    assert reopened.uidvalidity == validity
    # UID 5 was used and deleted: it must never come back (RFC 3501 2.3.1.1).
    assert {m.key: m.uid for m in reopened.list()}[later] == 6


def test_flags_round_trip_to_maildir_letters(tmp_path: pathlib.Path) -> None:
    store = MailStore(tmp_path)
    key = store.deliver("carol", MSG)
    box = store.mailbox("carol")
    box.list()

    box.set_flags(key, frozenset({"\\Seen", "\\Deleted", "\\Answered"}))
    names = os.listdir(tmp_path / "carol" / "cur")
    box.set_flags(key, frozenset({"F", "D"}))
    [m] = box.list()

    assert names == [key + ":2,RST"]
    assert m.flags == frozenset({"\\Flagged", "\\Draft"})
    assert m.uid == 1 and not m.recent
    assert box.read(key) == MSG


def test_claim_recent_moves_to_cur(tmp_path: pathlib.Path) -> None:
    store = MailStore(tmp_path)
    key = store.deliver("dave", MSG)
    box = store.mailbox("dave")
    uid = box.list()[0].uid

    assert box.claim_recent() == [key]
    [m] = box.list()
    assert (m.uid, m.recent) == (uid, False)


def test_delete_and_missing_key(tmp_path: pathlib.Path) -> None:
    store = MailStore(tmp_path)
    key = store.deliver("erin", MSG)
    box = store.mailbox("erin")

    box.delete(key)

    assert box.list() == []
    with pytest.raises(MessageNotFound):
        box.read(key)


@pytest.mark.parametrize("user", [
    "../evil", "a/b", "..", ".hidden", "", "a\x00b", "x" * 200, "a\\b",
    "foo/../../etc", "a..b",
])
def test_unsafe_user_names_refused(tmp_path: pathlib.Path, user: str) -> None:
    store = MailStore(tmp_path / "root")

    with pytest.raises(UnsafeUserName):
        store.deliver(user, MSG)

    assert list((tmp_path / "root").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_user_names_are_case_insensitive(tmp_path: pathlib.Path) -> None:
    store = MailStore(tmp_path)
    store.deliver("Alice@Contoso.TEST", MSG)

    assert store.users() == ["alice@contoso.test"]
    assert len(store.mailbox("alice@contoso.test").list()) == 1


def test_stale_tmp_is_ignored_and_cleaned(tmp_path: pathlib.Path) -> None:
    MailStore(tmp_path).mailbox("frank")
    stale = tmp_path / "frank" / "tmp" / "123.M1P1Q1.host"
    stale.write_bytes(b"From: half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    box = MailStore(tmp_path).mailbox("frank")

    assert box.list() == []
    assert not stale.exists()


async def test_deliver_async_concurrent(tmp_path: pathlib.Path) -> None:
    store = MailStore(tmp_path)

    keys = await asyncio.wait_for(asyncio.gather(
        *(store.deliver_async("gina", MSG + str(i).encode()) for i in range(20))
    ), timeout=20)

    listed = store.mailbox("gina").list()
    assert len(set(keys)) == 20
    assert sorted(m.key for m in listed) == sorted(keys)
    assert [m.uid for m in listed] == list(range(1, 21))


async def test_concurrent_deliveries_share_directory_fsyncs(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MailStore(tmp_path)
    store.mailbox("hugo")
    new = os.path.realpath(tmp_path / "hugo" / "new")
    clock = itertools.count()
    guard = threading.Lock()
    renamed: dict[str, int] = {}
    dir_syncs: list[tuple[int, int]] = []  # (start, end) of each fsync of new/
    crowd = threading.Event()
    real_fsync, real_rename = os.fsync, os.rename

    def rename(src: str, dst: str) -> None:
        real_rename(src, dst)
        with guard:
            renamed[os.path.basename(dst)] = next(clock)
            if len(renamed) >= 4:
                crowd.set()

    def fsync(fd: int) -> None:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            real_fsync(fd)
            return
        assert os.path.realpath(f"/proc/self/fd/{fd}") == new
        # Hold the first directory fsync until a few renames queue up behind
        # it, so the test does not depend on how fast threads start.
        crowd.wait(timeout=10)
        with guard:
            start = next(clock)
        real_fsync(fd)
        with guard:
            dir_syncs.append((start, next(clock)))

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "fsync", fsync)

    async def one(i: int) -> tuple[str, int]:
        key = await store.deliver_async("hugo", MSG + str(i).encode())
        with guard:
            return key, next(clock)

    done = await asyncio.wait_for(
        asyncio.gather(*(one(i) for i in range(12))), timeout=30)
    monkeypatch.undo()

    assert len(dir_syncs) < len(done)
    for key, returned in done:
        # Some fsync of new/ began after this rename and ended before the
        # caller was told the message was stored.
        assert any(renamed[key] < start and end < returned
                   for start, end in dir_syncs), key
    assert sorted(m.key for m in store.mailbox("hugo").list()) == sorted(
        key for key, _ in done)


WRITER = r"""
import pathlib, sys
from lab.store import MailStore
store = MailStore(pathlib.Path(sys.argv[1]))
i = 0
while True:
    body = (b"X-Seq: %d\r\n\r\n" % i) + b"z" * (20000 + i) + b"\r\nEND\r\n"
    key = store.deliver("crash", body)
    sys.stdout.write(f"{key} {i}\n")
    sys.stdout.flush()
    i += 1
"""


def test_sigkill_mid_delivery_leaves_only_whole_messages(
    tmp_path: pathlib.Path,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=pathlib.Path(__file__).resolve().parents[2],
    )
    acked: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while len(acked) < 40 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, seq = line.decode().split()
            acked[key] = int(seq)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            # Lines already written before the kill are acknowledged too.
            for line in proc.stdout.read().decode().splitlines():
                key, seq = line.split()
                acked[key] = int(seq)

    box = MailStore(tmp_path).mailbox("crash")
    listed = box.list()
    keys = [m.key for m in listed]

    assert len(acked) >= 40
    assert len(keys) == len(set(keys))
    assert set(acked) <= set(keys)
    for m in listed:
        data = box.read(m.key)
        seq = int(data.split(b"\r\n", 1)[0].split(b": ")[1])
        assert data.endswith(b"\r\nEND\r\n")
        assert len(data) == m.size == len(b"X-Seq: %d\r\n\r\n" % seq) + 20007 + seq


def test_stray_directories_are_not_users(tmp_path: pathlib.Path) -> None:
    for name in ("Upper", ".hidden", "ok"):
        for sub in ("tmp", "new", "cur"):
            (tmp_path / name / sub).mkdir(parents=True)

    store = MailStore(tmp_path)

    assert store.users() == ["ok"]
