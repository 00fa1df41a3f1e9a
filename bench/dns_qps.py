"""DNS: queries per second and latency of the lab's server against references.

Measured: UDP queries per second with a fixed number of queries in flight,
and p50/p99 latency both under that load and at a light fixed rate, for

* the lab: ``lab.dns.DnsServer(Responder(zone), "127.0.0.1", port)`` on
  asyncio, in its own process;
* dnslib's threaded ``dnslib.server.DNSServer`` with a resolver answering
  from the same ``Zone`` (same records, same answers), in its own process;
* NSD (Debian package ``nsd``) serving zone files written from the same
  plan, one server process, in the foreground, loopback only.

The zone is the bundled ``healthy`` scenario's. The query mix covers MX, A,
TXT, PTR and NXDOMAIN. One load generator for all three: ``dnsperf`` when
installed, else a small asyncio UDP client. Before the load, every server
gets a verification sweep in which every answer's rcode and answer count
must match the zone's own lookup; under dnsperf the response-code mix must
match too. Targets (from the issue): lab >= 5x dnslib, lab >= 0.2x NSD.

    python3 bench/dns_qps.py [--quick] [--seconds S] [--inflight N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    LOOPBACK, Child, fmt, free_port, percentile, print_machine, print_table,
    ratio, read_ready, target_line, tool, tree_cpu_seconds,
)

#: The query mix: (name, type). Weights are equal; NXDOMAIN names included.
MIX = [
    ("contoso.test", "MX"),
    ("mx1.contoso.test", "A"),
    ("mail.contoso.test", "A"),
    ("contoso.test", "TXT"),
    ("11.0.77.127.in-addr.arpa", "PTR"),
    ("13.0.77.127.in-addr.arpa", "PTR"),
    ("nope.contoso.test", "A"),
    ("old-mx.contoso.test", "MX"),
]

TARGET_VS_DNSLIB = 5.0
TARGET_VS_NSD = 0.2


# region: the zone, the servers

def build_zone():  # type: ignore[no-untyped-def]
    from lab.dns import Zone
    from lab.plan import build_plan
    from lab.scenario import load

    plan = build_plan(load("healthy"))
    return plan, Zone.build(plan.zones, ((r.name, r.rtype, r.value, r.ttl)
                                         for r in plan.records))


def serve_lab(port: int) -> None:
    from lab.dns import DnsServer, Responder

    _, zone = build_zone()

    async def main() -> None:
        server = DnsServer(Responder(zone), LOOPBACK, port)
        await server.start()
        print(f"READY {server.port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


def serve_dnslib(port: int) -> None:
    import signal

    from dnslib import QTYPE, RCODE
    from dnslib.server import BaseResolver, DNSLogger, DNSServer

    _, zone = build_zone()

    class SameZone(BaseResolver):
        def resolve(self, request, handler):  # type: ignore[no-untyped-def]
            reply = request.reply()
            q = request.q
            found = zone.lookup(str(q.qname), QTYPE.get(q.qtype, str(q.qtype)))
            reply.header.rcode = getattr(RCODE, found.rcode)
            reply.header.ra = 0
            for rr in found.answer:
                reply.add_answer(rr)
            for rr in found.authority:
                reply.add_auth(rr)
            return reply

    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data",
                      prefix=False, logf=lambda s: None)
    server = DNSServer(SameZone(), port=port, address=LOOPBACK, logger=quiet)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(f"READY {port}", flush=True)
    try:
        server.start()  # serve_forever in this thread, a thread per request
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server.server_close()


def write_nsd(directory: Path, port: int) -> Path:
    """Zone files and an nsd.conf for the plan's zones; returns the conf."""
    plan, zone = build_zone()
    conf = [
        "server:",
        f"  ip-address: {LOOPBACK}@{port}",
        f"  port: {port}",
        "  do-ip4: yes",
        "  do-ip6: no",
        "  server-count: 1",
        "  reuseport: no",
        '  username: ""',
        '  chroot: ""',
        f'  zonesdir: "{directory}"',
        f'  pidfile: "{directory}/nsd.pid"',
        f'  zonelistfile: "{directory}/zone.list"',
        f'  xfrdfile: "{directory}/xfrd.state"',
        f'  xfrdir: "{directory}"',
        f'  logfile: "{directory}/nsd.log"',
        '  database: ""',
        "  hide-version: yes",
        # Response rate limiting is on by default in Debian's build; it would
        # throttle a benchmark from one address.
        "  rrl-ratelimit: 0",
        "  rrl-whitelist-ratelimit: 0",
        "  verbosity: 0",
        "remote-control:",
        "  control-enable: no",
    ]
    for apex in zone.apexes:
        lines = [f"$ORIGIN {apex}.", zone.soa(apex).toZone()]
        for (name, _), rrs in sorted(zone.records.items()):
            if zone.apex_of(name) == apex:
                lines.extend(rr.toZone() for rr in rrs)
        (directory / f"{apex}.zone").write_text("\n".join(lines) + "\n")
        conf += ["zone:", f"  name: {apex}", f'  zonefile: "{apex}.zone"']
    path = directory / "nsd.conf"
    path.write_text("\n".join(conf) + "\n")
    return path


def start_python_server(kind: str) -> tuple[Child, int]:
    port = free_port()
    child = Child([sys.executable, __file__, "--serve", kind, "--port", str(port)],
                  stdout=-1)
    try:
        line = read_ready(child)
        return child, int(line.split()[1])
    except BaseException:
        child.stop()
        raise


def start_nsd(nsd: str, directory: Path) -> tuple[Child, int]:
    port = free_port()
    conf = write_nsd(directory, port)
    check = tool("nsd-checkconf")
    if check:
        import subprocess

        subprocess.run([check, str(conf)], check=True, timeout=10)
    child = Child([nsd, "-d", "-c", str(conf)], tree=True)
    try:
        wait_udp(port, child)
        return child, port
    except BaseException:
        child.stop()
        raise


def wait_udp(port: int, child: Child, timeout: float = 10.0) -> None:
    query = make_query("contoso.test", "SOA", 1)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            if not child.alive():
                child.stop()
                raise RuntimeError(f"server exited: {child.errors()[-2000:]}")
            s.sendto(query, (LOOPBACK, port))
            try:
                s.recvfrom(4096)
                return
            except OSError:
                continue
    raise TimeoutError(f"no DNS answer on {LOOPBACK}:{port}")


# endregion
# region: queries and answers

def make_query(name: str, rtype: str, msg_id: int) -> bytes:
    from dnslib import QTYPE

    wire = b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\0"
    return (struct.pack("!HHHHHH", msg_id, 0x0100, 1, 0, 0, 0) + wire
            + struct.pack("!HH", getattr(QTYPE, rtype), 1))


def expectations() -> list[tuple[int, int]]:
    """(rcode, answer count) for each query of the mix, from the zone itself."""
    from dnslib import RCODE

    _, zone = build_zone()
    out = []
    for name, rtype in MIX:
        found = zone.lookup(name, rtype)
        out.append((getattr(RCODE, found.rcode), len(found.answer)))
    return out


@dataclass
class Load:
    sent: int = 0
    ok: int = 0
    bad: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    first_bad: str = ""

    @property
    def qps(self) -> float:
        return ratio(self.ok + self.bad, self.elapsed)


class _Client(asyncio.DatagramProtocol):
    """Keeps ``inflight`` queries outstanding; checks rcode and answer count."""

    def __init__(self, inflight: int, deadline: float, limit: int | None,
                 rate: float | None) -> None:
        self.templates = [make_query(n, t, 0)[2:] for n, t in MIX]
        self.expected = expectations()
        self.inflight = inflight
        self.deadline = deadline
        self.limit = limit
        self.rate = rate
        self.load = Load()
        self.pending: dict[int, tuple[int, float]] = {}
        self.next_id = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        if self.rate is None:
            for _ in range(self.inflight):
                self.send()

    def send(self) -> None:
        now = time.perf_counter()
        if now >= self.deadline or (self.limit is not None
                                    and self.load.sent >= self.limit):
            if not self.pending and not self.done.done():
                self.done.set_result(None)
            return
        index = self.load.sent % len(MIX)
        msg_id = self.next_id
        self.next_id = (self.next_id + 1) & 0xFFFF
        self.pending[msg_id] = (index, now)
        assert self.transport is not None
        self.transport.sendto(struct.pack("!H", msg_id) + self.templates[index])
        self.load.sent += 1

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore
        now = time.perf_counter()
        if len(data) < 12:
            return
        msg_id, flags, _, ancount = struct.unpack_from("!HHHH", data)
        entry = self.pending.pop(msg_id, None)
        if entry is None:
            return
        index, sent = entry
        self.load.latencies.append(now - sent)
        want = self.expected[index]
        if (flags & 0x8000) and (flags & 0xF, ancount) == want:
            self.load.ok += 1
        else:
            self.load.bad += 1
            if not self.load.first_bad:
                name, rtype = MIX[index]
                self.load.first_bad = (f"{name} {rtype}: rcode {flags & 0xF}, "
                                       f"{ancount} answers; want {want}")
        if self.rate is None:
            self.send()
        elif not self.pending and now >= self.deadline and not self.done.done():
            self.done.set_result(None)

    def expire(self, older_than: float) -> None:
        now = time.perf_counter()
        for msg_id, (_, sent) in list(self.pending.items()):
            if now - sent > older_than:
                del self.pending[msg_id]
                self.load.lost += 1
                if self.rate is None:
                    self.send()
        if not self.pending and now >= self.deadline and not self.done.done():
            self.done.set_result(None)


async def _drive(port: int, seconds: float, inflight: int, limit: int | None,
                 rate: float | None) -> Load:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = started + seconds
    transport, client = await loop.create_datagram_endpoint(
        lambda: _Client(inflight, deadline, limit, rate),
        remote_addr=(LOOPBACK, port))
    try:
        hard_stop = deadline + 3.0
        next_send = started
        while not client.done.done() and time.perf_counter() < hard_stop:
            if rate is not None and time.perf_counter() < deadline:
                while next_send <= time.perf_counter():
                    client.send()
                    next_send += 1.0 / rate
                await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
            else:
                await asyncio.wait([client.done], timeout=0.1)
            client.expire(1.0)
        client.load.lost += len(client.pending)
        client.load.elapsed = time.perf_counter() - started
        return client.load
    finally:
        transport.close()


def python_load(port: int, seconds: float, inflight: int = 50,
                limit: int | None = None, rate: float | None = None) -> Load:
    return asyncio.run(_drive(port, seconds, inflight, limit, rate))


def verify(port: int, rounds: int) -> Load:
    """Every mix query ``rounds`` times; every answer must be right."""
    return python_load(port, 10.0, inflight=8, limit=rounds * len(MIX))


# endregion
# region: dnsperf

_RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3,
           "NOTIMP": 4, "REFUSED": 5}


def dnsperf_load(dnsperf: str, port: int, seconds: float, *, inflight: int,
                 rate: float | None, workdir: Path) -> Load:
    import subprocess

    data = workdir / "queries.txt"
    data.write_text("".join(f"{n} {t}\n" for n, t in MIX))
    out = workdir / "dnsperf.out"
    argv = [dnsperf, "-s", LOOPBACK, "-p", str(port), "-d", str(data),
            "-l", str(seconds), "-q", str(inflight), "-t", "2", "-v"]
    if rate is not None:
        argv += ["-Q", str(int(rate))]
    with out.open("wb") as sink:
        subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, check=True,
                       timeout=seconds + 30)
    text = out.read_text(errors="replace")

    load = Load()
    want: dict[int, int] = {}
    for rcode, _ in expectations():
        want[rcode] = want.get(rcode, 0) + 1
    got: dict[int, int] = {}
    for line in text.splitlines():
        if line.startswith("> "):
            parts = line.split()
            if parts[1] == "T":  # timed out
                continue
            load.latencies.append(float(parts[-1]))
            code = _RCODES.get(parts[1], -1)
            got[code] = got.get(code, 0) + 1

    def number(label: str) -> float:
        found = re.search(rf"{label}:\s+([0-9.]+)", text)
        return float(found.group(1)) if found else float("nan")

    load.sent = int(number("Queries sent"))
    done = int(number("Queries completed"))
    load.lost = int(number("Queries lost"))
    load.elapsed = number(r"Run time \(s\)")
    # dnsperf cannot see answer counts: check the rcode mix (within 2 %).
    total = sum(got.values()) or 1
    for code in set(want) | set(got):
        share = got.get(code, 0) / total
        expected = want.get(code, 0) / len(MIX)
        if abs(share - expected) > 0.02:
            load.first_bad = (f"rcode {code}: {share:.1%} of answers, "
                              f"expected {expected:.1%}")
    load.bad = done if load.first_bad else 0
    load.ok = done - load.bad
    return load


# endregion


def measure(name: str, pid: int, port: int, args: argparse.Namespace,
            dnsperf: str | None, workdir: Path) -> dict[str, object]:
    check = verify(port, args.verify_rounds)
    if check.bad or check.lost:
        raise SystemExit(f"{name}: verification failed: {check.bad} wrong, "
                         f"{check.lost} lost; first: {check.first_bad}")
    cpu0, t0 = tree_cpu_seconds(pid), time.perf_counter()
    if dnsperf:
        heavy = dnsperf_load(dnsperf, port, args.seconds, inflight=args.inflight,
                             rate=None, workdir=workdir)
    else:
        heavy = python_load(port, args.seconds, inflight=args.inflight)
    cpu = ratio(tree_cpu_seconds(pid) - cpu0, time.perf_counter() - t0)
    if dnsperf:
        light = dnsperf_load(dnsperf, port, args.light_seconds, inflight=10,
                             rate=args.light_rate, workdir=workdir)
    else:
        light = python_load(port, args.light_seconds, rate=args.light_rate)
    for run in (heavy, light):
        if run.bad:
            raise SystemExit(f"{name}: wrong answers under load: {run.first_bad}")
    ms = 1000.0
    return {
        "server": name, "qps": heavy.qps,
        "p50": percentile(heavy.latencies, 50) * ms,
        "p99": percentile(heavy.latencies, 99) * ms,
        "lost": heavy.lost, "cpu": cpu * 100,
        "lp50": percentile(light.latencies, 50) * ms,
        "lp99": percentile(light.latencies, 99) * ms,
        "verified": check.ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 10 s in all")
    parser.add_argument("--seconds", type=float, help="load time per server")
    parser.add_argument("--inflight", type=int, default=100,
                        help="queries in flight under load (default 100)")
    parser.add_argument("--rounds", type=int,
                        help="rounds over all servers (default 2, quick 1)")
    parser.add_argument("--client", choices=("auto", "dnsperf", "asyncio"),
                        default="auto")
    parser.add_argument("--no-nsd", action="store_true")
    parser.add_argument("--serve", choices=("lab", "dnslib"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve == "lab":
        serve_lab(args.port)
        return 0
    if args.serve == "dnslib":
        serve_dnslib(args.port)
        return 0

    args.seconds = args.seconds or (2.0 if args.quick else 6.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.light_seconds = 0.5 if args.quick else 2.0
    args.light_rate = 1000.0
    args.verify_rounds = 25 if args.quick else 250

    dnsperf = tool("dnsperf") if args.client != "asyncio" else None
    if args.client == "dnsperf" and not dnsperf:
        raise SystemExit("dnsperf is not installed (Debian: apt-get install dnsperf)")
    nsd = None if args.no_nsd else tool("nsd")

    print_machine()
    print(f"load: {'dnsperf' if dnsperf else 'asyncio client'}, "
          f"{args.inflight} in flight for {args.seconds:g} s x {args.rounds} "
          f"rounds (best kept); light load "
          f"{args.light_rate:g} q/s for {args.light_seconds:g} s; mix of "
          f"{len(MIX)} questions (MX, A, TXT, PTR, NXDOMAIN)")
    if not nsd and not args.no_nsd:
        print("nsd not installed (Debian: apt-get install nsd): NSD skipped")

    best: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp, \
            contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        servers: list[tuple[str, int, int]] = []
        for kind, label in (("lab", "lab DnsServer"), ("dnslib", "dnslib DNSServer")):
            child, port = start_python_server(kind)
            stack.callback(child.stop)
            servers.append((label, child.pid, port))
        if nsd:
            nsd_dir = workdir / "nsd"
            nsd_dir.mkdir()
            child, port = start_nsd(nsd, nsd_dir)
            stack.callback(child.stop)
            servers.append(("NSD", child.pid, port))
        # Rounds alternate the servers, so a noisy neighbour hurts all alike;
        # each server's best round is kept.
        for _ in range(args.rounds):
            for label, pid, port in servers:
                row = measure(label, pid, port, args, dnsperf, workdir)
                if label not in best or row["qps"] > best[label]["qps"]:  # type: ignore
                    best[label] = row
    rows = [best[label] for label, _, _ in servers]

    print_table(
        ["server", "q/s", "p50 ms", "p99 ms", "lost", "server CPU %",
         "p50 ms @1k q/s", "p99 ms @1k q/s"],
        [[r["server"], r["qps"], r["p50"], r["p99"], r["lost"], r["cpu"],
          r["lp50"], r["lp99"]] for r in rows],
        title="DNS over UDP on loopback (every answer verified before the load)")

    lab_qps = float(rows[0]["qps"])  # type: ignore[arg-type]
    ok = True
    vs_dnslib = ratio(lab_qps, float(rows[1]["qps"]))  # type: ignore[arg-type]
    print(f"\nratio lab/dnslib: {fmt(vs_dnslib)}x")
    ok &= target_line("lab vs dnslib DNSServer", vs_dnslib, TARGET_VS_DNSLIB,
                      unit="x")
    if len(rows) > 2:
        vs_nsd = ratio(lab_qps, float(rows[2]["qps"]))  # type: ignore[arg-type]
        print(f"ratio lab/NSD: {fmt(vs_nsd)}x")
        ok &= target_line("lab vs NSD", vs_nsd, TARGET_VS_NSD, unit="x")
    lab_cpu = float(rows[0]["cpu"])  # type: ignore[arg-type]
    if lab_cpu > 90:
        print(f"note: the lab's one process used {lab_cpu:.0f} % of a core: it is "
              "the bottleneck. SO_REUSEPORT over 2 processes would need "
              "DnsServer to pass reuse_port=True to create_datagram_endpoint "
              "(a lab change), so it is not measured here.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
