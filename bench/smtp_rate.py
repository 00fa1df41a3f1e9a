"""SMTP: messages per second into the lab's MX on port 25, against references.

Measured: wall time for a fixed number of 1 KiB messages from
``a@fabrikam.test`` to ``alice@contoso.test``, a new connection per message,
a fixed number of sessions in parallel, delivered to

* the lab: ``maillab up healthy --dir DIR`` in a child process; the MX
  address and port 25's actual port come from ``DIR/state.json``;
* the lab's own ``SmtpListener`` and ``MailPolicy`` without a mail store
  (messages kept in memory), in a child process: the lab's SMTP code
  without the cost of durable delivery;
* a bare ``aiosmtpd.controller.Controller`` whose handler discards each
  message (what aiosmtpd costs without the lab's policy and store);
* Postfix's ``smtp-sink`` (Debian package ``postfix``; only the binary is
  used, no Postfix service is started).

Load: Postfix's ``smtp-source`` when installed, else a small asyncio client
doing the same dialogue (EHLO, MAIL, RCPT, DATA, QUIT). Both stop at the
first refused message; a run only counts when every message was accepted.
The lab keeps messages in memory or in its Maildir store; either works.

    python3 bench/smtp_rate.py [--quick] [--messages N] [--sessions N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    LOOPBACK, Child, RunningLab, fmt, free_port, print_machine, print_table,
    ratio, read_ready, rss_kb, tool, tree_cpu_seconds, wait_port,
)

SENDER = "a@fabrikam.test"
RECIPIENT = "alice@contoso.test"


# region: the bare aiosmtpd reference

def serve_aiosmtpd(port: int) -> None:
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope):  # type: ignore
            return "250 2.0.0 OK: discarded"

    controller = Controller(Discard(), hostname=LOOPBACK, port=port)
    controller.start()
    print(f"READY {port}", flush=True)
    stop = False

    def done(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, done)
    signal.signal(signal.SIGINT, done)
    try:
        while not stop:
            time.sleep(0.1)
    finally:
        controller.stop()


def serve_lab_memory(port: int) -> None:
    from lab.smtp.policy import MailPolicy
    from lab.smtp.server import SmtpListener

    async def main() -> None:
        policy = MailPolicy(domain="contoso.test", users={"alice": "x"},
                            hostname="mx1.contoso.test")
        listener = SmtpListener(policy, LOOPBACK, port)
        await listener.start()
        print(f"READY {listener.port}", flush=True)
        try:
            while True:
                await asyncio.sleep(0.5)
                policy.accepted.clear()  # keep memory flat over long runs
        finally:
            await listener.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# endregion
# region: load generators

def smtp_source(binary: str, host: str, port: int, messages: int,
                sessions: int, size: int) -> float:
    argv = [binary, "-l", str(size), "-m", str(messages), "-s", str(sessions),
            "-f", SENDER, "-t", RECIPIENT, f"{host}:{port}"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True,
                          timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "fatal" in done.stderr or "error" in done.stderr:
        raise SystemExit(f"smtp-source against {host}:{port} failed "
                         f"({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


async def _one_message(host: str, port: int, body: bytes) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async def reply(expect: str) -> None:
            while True:
                line = await asyncio.wait_for(reader.readline(), 10)
                if not line:
                    raise ConnectionError("connection closed")
                if line[3:4] != b"-":
                    break
            if not line.startswith(expect.encode()):
                raise RuntimeError(f"unexpected reply {line!r}")

        await reply("220")
        for command, expect in ((b"EHLO bench.fabrikam.test", "250"),
                                (f"MAIL FROM:<{SENDER}>".encode(), "250"),
                                (f"RCPT TO:<{RECIPIENT}>".encode(), "250"),
                                (b"DATA", "354")):
            writer.write(command + b"\r\n")
            await reply(expect)
        writer.write(body + b".\r\n")
        await reply("250")
        writer.write(b"QUIT\r\n")
        await reply("221")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def asyncio_source(host: str, port: int, messages: int, sessions: int,
                   size: int) -> float:
    line = b"X" * 78 + b"\r\n"
    head = (f"From: <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: bench\r\n\r\n"
            .encode())
    body = head + line * max(1, (size - len(head)) // len(line))

    async def run() -> None:
        left = iter(range(messages))

        async def worker() -> None:
            for _ in left:
                await _one_message(host, port, body)

        await asyncio.gather(*(worker() for _ in range(sessions)))

    started = time.perf_counter()
    asyncio.run(asyncio.wait_for(run(), 120))
    return time.perf_counter() - started


# endregion


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 10 s in all")
    parser.add_argument("--messages", type=int, help="messages per run")
    parser.add_argument("--sessions", type=int, default=20,
                        help="sessions in parallel (default 20)")
    parser.add_argument("--size", type=int, default=1024, help="message bytes")
    parser.add_argument("--rounds", type=int, help="rounds (default 2, quick 1)")
    parser.add_argument("--client", choices=("auto", "smtp-source", "asyncio"),
                        default="auto")
    parser.add_argument("--serve", choices=("aiosmtpd", "lab-memory"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "aiosmtpd":
        serve_aiosmtpd(args.port)
        return 0
    if args.serve == "lab-memory":
        serve_lab_memory(args.port)
        return 0
    messages = args.messages or (300 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 2)

    source = tool("smtp-source") if args.client != "asyncio" else None
    if args.client == "smtp-source" and not source:
        raise SystemExit("smtp-source is not installed (Debian: package postfix)")
    sink = tool("smtp-sink")

    def load(host: str, port: int) -> float:
        if source:
            return smtp_source(source, host, port, messages, args.sessions,
                               args.size)
        return asyncio_source(host, port, messages, args.sessions, args.size)

    print_machine()
    print(f"load: {'smtp-source' if source else 'asyncio client'}, {messages} "
          f"messages of {args.size} bytes, {args.sessions} sessions in parallel, "
          f"a connection per message, {rounds} rounds (best kept)")
    if not sink:
        print("smtp-sink not installed (Debian: package postfix): skipped")

    servers: list[tuple[str, str, int, int]] = []
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    rss: dict[str, int | None] = {}
    with contextlib.ExitStack() as stack:
        lab = RunningLab("healthy")
        stack.callback(lab.stop)
        mx = lab.address_of("mx1")
        servers.append(("lab MX (port 25)", mx, lab.port(mx, 25), lab.pid))

        for kind, label in (("lab-memory", "lab SmtpListener, no store"),
                            ("aiosmtpd", "bare aiosmtpd Controller")):
            port = free_port(kind=socket.SOCK_STREAM)
            child = Child([sys.executable, __file__, "--serve", kind,
                           "--port", str(port)], stdout=subprocess.PIPE,
                          sig=signal.SIGINT)
            stack.callback(child.stop)
            read_ready(child)
            wait_port(LOOPBACK, port, proc=child.proc)
            servers.append((label, LOOPBACK, port, child.pid))

        if sink:
            port = free_port(kind=socket.SOCK_STREAM)
            child = Child([sink, "-u", "nobody", f"{LOOPBACK}:{port}", "256"])
            stack.callback(child.stop)
            wait_port(LOOPBACK, port, proc=child.proc)
            servers.append(("Postfix smtp-sink", LOOPBACK, port, child.pid))

        for _ in range(rounds):
            for label, host, port, _pid in servers:
                before = tree_cpu_seconds(_pid)
                elapsed = load(host, port)
                used = tree_cpu_seconds(_pid) - before
                if elapsed < best.get(label, float("inf")):
                    best[label] = elapsed
                    cpu[label] = used
        for label, _host, _port, pid in servers:
            rss[label] = rss_kb(pid)

    rows = [[label, messages / best[label], best[label],
             cpu[label] / messages * 1e3, (rss[label] or 0) / 1024]
            for label, *_ in servers]
    print_table(["server", "msg/s", "seconds", "server CPU ms/msg",
                 "RSS MB after"], rows,
                title="SMTP on loopback, new connection per message")
    lab_rate = rows[0][1]
    for row in rows[1:]:
        print(f"ratio lab/{row[0]}: {fmt(ratio(lab_rate, row[1]))}x")
    print("The lab row includes its mail store (a durable Maildir fsyncs each "
          "message and its directory before the 250 reply) when it has one.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
