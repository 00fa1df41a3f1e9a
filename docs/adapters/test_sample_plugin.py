"""How a checker's own test suite uses Mailflow Lab (a sample to copy).

Run it with the plugin enabled: ``pytest -p maillab.pytest_plugin`` (once the
package's pytest11 entry point is installed, plain ``pytest`` is enough).
The "checker" here is a few dnspython queries, standing in for yours.
"""

import asyncio

import dns.asyncresolver
import dns.resolver
import pytest

from maillab.pytest_plugin import maillab_scenarios


def resolver_for(lab) -> dns.resolver.Resolver:
    # Ask the lab's DNS server only, never the machine's resolver.
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [lab.resolver_ip]
    r.port = lab.resolver_port
    r.lifetime = 2.0
    return r


def has_ptr(lab, address: str) -> bool:
    try:
        resolver_for(lab).resolve_address(address)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return False
    return True


@pytest.mark.maillab_scenarios("healthy", "ptr-missing")
def test_relay_ptr_sync(maillab_lab):
    relay = maillab_lab.outbound[0]
    broken = ("ptr.missing", relay) in maillab_lab.expected
    assert has_ptr(maillab_lab, relay) is not broken


@maillab_scenarios("healthy", "mx-missing")
async def test_mx_async(maillab_lab):
    r = dns.asyncresolver.Resolver(configure=False)
    r.nameservers = [maillab_lab.resolver_ip]
    r.port = maillab_lab.resolver_port
    r.lifetime = 2.0
    try:
        answer = await r.resolve(maillab_lab.domain, "MX")
        names = [str(rr.exchange).rstrip(".") for rr in answer]
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        names = []
    missing = ("mx.missing", maillab_lab.domain) in maillab_lab.expected
    assert (names == []) is missing
    if names:
        mx = maillab_lab.host(names[0])
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(mx.address, mx.port(25)), 2.0)
        banner = await asyncio.wait_for(reader.readline(), 2.0)
        writer.close()
        assert banner.startswith(b"220")


def test_inline_scenario(maillab_lab_factory):
    lab = maillab_lab_factory({"name": "no-spf",
                               "faults": [{"type": "spf.missing"}]})
    assert lab.scenario == "no-spf"
    assert lab.expected == (("spf.missing", lab.domain),)
    try:
        txt = [b"".join(rr.strings) for rr in
               resolver_for(lab).resolve(lab.domain, "TXT")]
    except dns.resolver.NoAnswer:
        txt = []
    assert not any(t.startswith(b"v=spf1") for t in txt)


async def test_factory_from_asyncio(maillab_lab_factory):
    lab = await maillab_lab_factory.astart("port25-rejected")
    mx = lab.host("mx1")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection(mx.address, mx.port(25)), 2.0)
    assert lab.expected == (("port.closed", f"{mx.fqdn}:25"),)
