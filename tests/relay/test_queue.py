"""The durable queue: SIGKILL recovery, queue-viewer grouping, hop actions."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab.relay import OutboundQueue, RetrySchedule
from lab.relay.errors import MessageTooLarge, QueueFull, RelayError, TooManyRecipients
from lab.relay.queue import snapshot

from .world import T0, baseline_records

CHILD = textwrap.dedent("""
    import sys
    from lab.relay import OutboundQueue
    queue = OutboundQueue(sys.argv[1])
    n = 0
    while True:
        n += 1
        rcpt = "bob@fabrikam.test" if n % 2 else "nobody@nullmx.test"
        body = b"Subject: m%d\\r\\n\\r\\n" % n + b"x" * 2000 + b"\\r\\n"
        (entry_id,) = queue.enqueue("alice@contoso.test", [rcpt], body, 1.7e9)
        if n == 3:
            queue.save(queue.get(entry_id).with_state("active"))
        print(entry_id, flush=True)
""")


def enqueue_then_sigkill(queue_dir: Path, count: int) -> list[str]:
    """Run an enqueuing process, SIGKILL it mid-stream; the ids it reported."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(queue_dir)],
                             stdout=subprocess.PIPE, text=True)
    returned = []
    try:
        while len(returned) < count:
            line = child.stdout.readline()
            assert line, "the child died before enqueuing"
            returned.append(line.strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return returned


async def test_sigkill_loses_no_entry_whose_enqueue_returned(make_world, tmp_path):
    queue_dir = tmp_path / "w0" / "queue"
    returned = await asyncio.to_thread(enqueue_then_sigkill, queue_dir, 25)

    records = baseline_records() + [("nullmx.test", "MX", (0, "."), 300)]
    world = await make_world(records)
    recovered = {e.id: e for e in world.queue.entries()}
    assert set(returned) <= set(recovered)
    assert all(e.state == "ready" for e in recovered.values())
    assert not list((queue_dir / "tmp").iterdir())

    conclusions = await world.run(T0)
    assert len(conclusions) == len(recovered)
    assert all(c.done for c in conclusions)
    assert len(world.queue) == 0
    delivered = sum(1 for c in conclusions if c.delivered)
    bounced = sum(1 for c in conclusions if c.failed)
    assert delivered + bounced == len(recovered)
    assert len(world.partner_inbox()) == delivered
    assert len(world.inbox("alice")) == bounced


def test_half_enqueued_message_is_removed_on_reopen(tmp_path: Path):
    queue = OutboundQueue(tmp_path)
    (kept,) = queue.enqueue("a@contoso.test", ["b@fabrikam.test"], b"x", T0)
    queue.close()
    orphan = tmp_path / "msg" / "0123orphan.eml"
    orphan.write_bytes(b"no metadata was ever written")
    (tmp_path / "tmp" / "partial").write_bytes(b"half")

    reopened = OutboundQueue(tmp_path)

    assert [e.id for e in reopened.entries()] == [kept]
    assert not orphan.exists()
    assert reopened.content(kept) == b"x"
    reopened.close()


def test_one_process_owns_a_queue_directory(tmp_path: Path):
    queue = OutboundQueue(tmp_path)
    with pytest.raises(RelayError):
        OutboundQueue(tmp_path)
    queue.close()


def test_bounds(tmp_path: Path):
    queue = OutboundQueue(tmp_path, max_entries=2, max_message=10, max_recipients=2)
    with pytest.raises(MessageTooLarge):
        queue.enqueue("a@contoso.test", ["b@x.test"], b"y" * 11, T0)
    with pytest.raises(TooManyRecipients):
        queue.enqueue("a@contoso.test", ["b@x.test", "c@x.test", "d@x.test"],
                      b"y", T0)
    queue.enqueue("a@contoso.test", ["b@x.test"], b"y", T0)
    with pytest.raises(QueueFull):
        queue.enqueue("a@contoso.test", ["c@y.test", "d@z.test"], b"y", T0)
    assert len(queue) == 1
    queue.close()


def test_split_by_next_hop_and_queue_viewer_actions(tmp_path: Path):
    queue = OutboundQueue(tmp_path)
    ids = queue.enqueue("alice@contoso.test",
                        ["bob@fabrikam.test", "eve@Fabrikam.test", "x@tailspin.test"],
                        b"Subject: hi\r\n\r\nbody\r\n", T0)
    assert len(ids) == 2
    hops = {h.next_hop: h for h in queue.summary()}
    assert hops["fabrikam.test"].message_count == 1
    assert hops["fabrikam.test"].state == "ready"
    fab = next(e for e in queue.entries() if e.next_hop == "fabrikam.test")
    assert [r.address for r in fab.rcpt_to] == ["bob@fabrikam.test",
                                                "eve@Fabrikam.test"]

    queue.save(fab.with_state("retry", next_attempt=T0 + 300, attempts=1,
                              last_error="451 4.7.1 Greylisted"))
    assert queue.due(T0) == [queue.get(ids[1])]
    assert queue.retry("fabrikam.test", T0 + 1) == 1
    assert fab.id in {e.id for e in queue.due(T0 + 1)}

    assert queue.suspend("fabrikam.test") == 1
    assert queue.get(fab.id).state == "suspended"
    (late,) = queue.enqueue("alice@contoso.test", ["carol@fabrikam.test"], b"z", T0)
    assert queue.get(late).state == "suspended"
    hops = {h.next_hop: h for h in queue.summary()}
    assert hops["fabrikam.test"].state == "suspended"
    assert hops["fabrikam.test"].message_count == 2
    queue.close()

    viewed = {h.next_hop: h for h in snapshot(tmp_path)}
    assert viewed["fabrikam.test"].state == "suspended"
    assert viewed["tailspin.test"].message_count == 1

    reopened = OutboundQueue(tmp_path)
    assert reopened.is_suspended("fabrikam.test")
    assert reopened.resume("fabrikam.test") == 2
    assert reopened.get(fab.id).state == "retry"
    assert reopened.get(late).state == "ready"
    reopened.close()


def test_default_schedule_is_postfix_like():
    schedule = RetrySchedule()
    waits = [schedule.wait_after(n) for n in range(1, 8)]
    assert waits == [300, 600, 1200, 2400, 3600, 3600, 3600]
    assert schedule.next_attempt(1, T0, T0 + 10) == T0 + 310
    assert schedule.next_attempt(9, T0, T0 + 5 * 86400) is None
    assert not schedule.delay_notice_due(T0, T0 + 3 * 3600, False)
    assert schedule.delay_notice_due(T0, T0 + 4 * 3600, False)
    assert not schedule.delay_notice_due(T0, T0 + 5 * 3600, True)


def test_shortened_schedule_never_retries_past_give_up():
    schedule = RetrySchedule.shortened([1, 2, 4], give_up=30)
    assert [schedule.wait_after(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 4]
    assert schedule.next_attempt(5, T0, T0 + 28) == T0 + 30
    assert schedule.next_attempt(6, T0, T0 + 30) is None
    with pytest.raises(ValueError):
        RetrySchedule.shortened([], give_up=30)
