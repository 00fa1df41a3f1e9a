"""A real namespace: its addresses, what reaches them, its resolver, teardown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lab.isolated import LabNamespace, firewall

from ..conftest import need
from .conftest import ADDR4, ADDR6, STEP, connect_result, listener, unique_name


def test_listener_inside_answers_curl_inside(namespace: LabNamespace,
                                             inside) -> None:
    curl = need("curl")
    inside(listener(ADDR4, 80))

    done = namespace.run([curl, "-sS", "-m", "2",
                          f"http://{ADDR4}/"], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"


def test_ipv6_address_can_be_bound_and_reached(namespace: LabNamespace,
                                               inside) -> None:
    inside(listener(ADDR6, 25))

    assert connect_result(namespace, ADDR6, 25) == "ok"


def test_outside_never_reaches_the_lab(namespace: LabNamespace, inside) -> None:
    inside(listener(ADDR4, 80))
    inside(listener(ADDR6, 80))

    # From the machine: the address is nobody's, or not routed at all.
    assert connect_result(None, ADDR4, 80) != "ok"
    assert connect_result(None, ADDR6, 80) != "ok"


def test_inside_has_only_loopback(namespace: LabNamespace) -> None:
    done = namespace.run(["ip", "-o", "link", "show"], capture_output=True,
                         text=True, check=True)

    names = [line.split(":")[1].strip() for line in done.stdout.splitlines()]
    assert names == ["lo"]
    # An address outside the lab has no route from inside.
    assert connect_result(namespace, "198.51.100.1", 80) == "unreachable"


def test_resolv_conf_names_the_lab_resolver(namespace: LabNamespace) -> None:
    namespace.resolv_conf(ADDR4, search=["contoso.test"])
    namespace.hosts_file({"mx1.contoso.test": ADDR4})

    resolv = namespace.run(["cat", "/etc/resolv.conf"], capture_output=True,
                           text=True, check=True).stdout
    hosts = namespace.run(["cat", "/etc/hosts"], capture_output=True,
                          text=True, check=True).stdout

    assert f"nameserver {ADDR4}" in resolv.splitlines()
    assert "search contoso.test" in resolv
    assert f"{ADDR4}\tmx1.contoso.test" in hosts
    # The machine's own /etc is left alone.
    assert f"nameserver {ADDR4}" not in Path("/etc/resolv.conf").read_text()


DNS_SERVER = """
import sys
from dnslib import RR, QTYPE, A
from dnslib.server import BaseResolver, DNSServer

class One(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(sys.argv[2]), ttl=60))
        return reply

server = DNSServer(One(), address=sys.argv[1], port=53)
server.start_thread()
print('ready', flush=True)
server.thread.join()
"""


def test_dig_inside_asks_the_lab_dns_by_default(namespace: LabNamespace,
                                                inside) -> None:
    dig = need("dig")
    namespace.resolv_conf(ADDR4)
    inside(["python3", "-c", DNS_SERVER, ADDR4, "192.0.2.25"])

    # No @server: dig takes the resolver from /etc/resolv.conf.
    done = namespace.run([dig, "+short", "+time=2", "+tries=1",
                          "mx1.contoso.test", "A"], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "192.0.2.25"


def test_destroy_leaves_nothing(support) -> None:
    ns = LabNamespace(unique_name(), (ADDR4,))
    ns.create()
    ns.resolv_conf(ADDR4)
    ns.apply_firewall([firewall.PortRule(ADDR4, 25)])
    sleeper = ns.popen(["sleep", "60"])
    ns.record(pid=sleeper.pid, scenario="healthy")
    assert firewall.has_table(netns=ns.name)

    ns.destroy()
    sleeper.wait(timeout=STEP)
    ns.destroy()  # twice is fine

    listed = subprocess.run(["ip", "netns", "list"], capture_output=True,
                            text=True, timeout=STEP, check=True).stdout
    assert ns.name not in listed
    assert not Path("/etc/netns", ns.name).exists()
    assert sleeper.returncode is not None
    from lab.isolated import registry
    assert registry.find(ns.name) is None


ADOPTED = """
import sys
from pathlib import Path
from lab.isolated import LabNamespace, firewall
from lab.isolated.firewall import PortRule

ns = LabNamespace(sys.argv[1], ("203.0.113.5", "2001:db8::5"), adopt=True,
                  etc_dir=Path(sys.argv[2]))
ns.create()
ns.resolv_conf("203.0.113.5")
ns.apply_firewall([PortRule("203.0.113.5", 25)])
print("up", firewall.has_table(netns=None), flush=True)
ns.destroy()
print("down", firewall.has_table(netns=None), flush=True)
"""


def test_adopted_namespace_gets_addresses_and_gives_them_back(
        namespace: LabNamespace, tmp_path: Path) -> None:
    # The fixture's namespace stands in for a container made with
    # network_mode: none; the adopted lab must leave it as it found it.
    done = namespace.run([sys.executable, "-c", ADOPTED, unique_name(),
                          str(tmp_path)], capture_output=True, text=True)
    after = namespace.run(["ip", "-o", "addr", "show", "dev", "lo"],
                          capture_output=True, text=True, check=True).stdout

    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["up True", "down False"]
    assert "203.0.113.5" not in after and "2001:db8::5" not in after
    assert ADDR4 in after
    assert not (tmp_path / "resolv.conf").exists()
