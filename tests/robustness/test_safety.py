"""The lab stays inside its box: loopback only, no relay, no file escapes.

(a) Every socket a running lab holds is bound to 127.0.0.0/8, never to a
wildcard address, for every bundled scenario. (b) Its SMTP listeners never
relay: a recipient outside the scenario's domains is refused 550 5.7.1 on
port 25 and 530 on 587 without authentication, and with authentication is
still never accepted. (c) A scenario file is data: Python tags, include
tags, aliases (a "billion laughs" bomb, refused quickly), deep nesting and
user names that are paths are refused with a ScenarioError naming file and
line, and no such name ever creates a directory outside the mail root.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import smtplib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lab.errors import ScenarioError
from lab.runtime import Lab
from lab.scenario import bundled_dir, bundled_names, load
from lab.scenario.model import User
from lab.store import UnsafeUserName, normalise_user

from .support import ALICE, STEP, SmtpClient, endpoint, message_for, token

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

# region: (a) loopback only


def _socket_inodes() -> set[int]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            found.add(int(match.group(1)))
    return found


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    # IPv6: four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return ipaddress.IPv6Address(words)


def _bound(inodes: set[int]) -> list[tuple[str, str, int]]:
    """(table, local address, port) of each of ``inodes`` in /proc/net."""
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/net/{table}") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                local, inode = fields[1], int(fields[9])
                if inode in inodes:
                    host, port = local.split(":")
                    found.append((table, str(_address(host)), int(port, 16)))
    return found


def _on_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in LOOPBACK


async def test_no_lab_socket_listens_on_a_wildcard_address():
    names = bundled_names()
    assert "healthy" in names
    checked = 0
    for name in names:
        before = _socket_inodes()
        async with Lab(load(name)) as lab:
            bound = _bound(_socket_inodes() - before)
            # The lab's own sockets were found: one per port it recorded.
            recorded = sum(len(ports) for ports in lab.ports.values())
            assert len(bound) >= recorded - 2, (name, bound)
            outside = [b for b in bound if not _on_loopback(b[1])]
            assert not outside, f"{name}: listening off loopback: {outside}"
            checked += len(bound)
    assert checked > 10 * len(names)


# endregion
# region: (b) no relay

#: Outside domains, each refused 550 5.7.1 (relay denied).
OUTSIDE = ["bob@fabrikam.test", "x@example.com", "alice@contoso.test.evil.test",
           "alice@sub.contoso.test", "root@[127.0.0.1]", "a@contoso.tes"]
#: Tricks on our own domain: refused too (no such user, malformed).
TRICKS = ["bob%fabrikam.test@contoso.test", "alice@contoso.test@evil.test",
          "@contoso.test:bob@fabrikam.test", "fabrikam.test!bob@contoso.test"]


@pytest.mark.parametrize("rcpt", OUTSIDE + TRICKS)
async def test_port_25_refuses_to_relay(healthy_lab, rcpt):
    for host in ("mx1", "relay"):
        client = await SmtpClient.connect(endpoint(healthy_lab, host, 25))
        try:
            assert (await client.command("EHLO c.fabrikam.test")).code == 250
            assert (await client.command("MAIL FROM:<x@fabrikam.test>")).code == 250
            reply = await client.command(f"RCPT TO:<{rcpt}>")
            if rcpt in OUTSIDE:
                assert reply.code == 550 and b"5.7.1" in reply.text, reply.text
            else:
                assert 500 <= reply.code < 600, reply.text
            assert (await client.command("DATA")).code == 503
        finally:
            await client.quit()
    for listener in healthy_lab.smtp["mx1"] + healthy_lab.smtp["relay"]:
        assert not listener.policy.accepted


domains = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){1,2}",
                        fullmatch=True).filter(lambda d: d != "contoso.test")


async def test_no_outside_domain_is_relayed(healthy_lab):
    loop = asyncio.get_running_loop()
    mx = endpoint(healthy_lab, "mx1", 25)

    async def rcpt(domain: str) -> int:
        client = await SmtpClient.connect(mx)
        try:
            await client.command("EHLO c.fabrikam.test")
            await client.command("MAIL FROM:<x@fabrikam.test>")
            return (await client.command(f"RCPT TO:<alice@{domain}>")).code
        finally:
            await client.quit()

    @settings(max_examples=60, deadline=None, database=None)
    @given(domain=domains)
    def fuzz(domain: str) -> None:
        code = asyncio.run_coroutine_threadsafe(rcpt(domain), loop).result(4 * STEP)
        assert code == 550, (domain, code)

    await asyncio.to_thread(fuzz)
    assert not healthy_lab.smtp["mx1"][0].policy.accepted


async def test_submission_without_auth_is_530(healthy_lab):
    client = await SmtpClient.connect(endpoint(healthy_lab, "mail", 587))
    try:
        assert (await client.command("EHLO c.fabrikam.test")).code == 250
        await client.command("MAIL FROM:<alice@contoso.test>")
        for rcpt in ("bob@fabrikam.test", "x@example.com", ALICE):
            reply = await client.command(f"RCPT TO:<{rcpt}>")
            assert reply.code == 530, reply.text
    finally:
        await client.quit()


async def test_authenticated_submission_goes_only_to_the_lab(healthy_lab):
    """Signed-in users may send outside; the relay then routes to loopback only."""
    host, port = endpoint(healthy_lab, "mail", 587)
    context = ssl.create_default_context(cafile=str(healthy_lab.ca_file))

    def rcpt() -> int:
        with smtplib.SMTP(host, port, timeout=STEP) as client:
            client.starttls(context=context)
            client.login(ALICE, "alice-lab-password")
            client.mail(ALICE)
            code, _ = client.rcpt("bob@fabrikam.test")
            client.rset()
            return code

    # Queued for the lab's outbound relay, or refused: never handed anywhere
    # else by the submission server itself.
    assert await asyncio.to_thread(rcpt) in (250, 451, 550)


public = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).filter(
    lambda ip: not _on_loopback(str(ip)) and str(ip) != "::1")


@settings(max_examples=200, deadline=None, database=None)
@given(address=public)
def test_the_relay_never_routes_off_loopback(address):
    from lab.relay.resolver import Lookup
    from lab.relay.route import assemble

    answer = Lookup("mx.fabrikam.test", "A" if address.version == 4 else "AAAA",
                    "ok", (str(address),))
    empty = Lookup("mx.fabrikam.test", "AAAA" if address.version == 4 else "A",
                   "nodata")
    a, aaaa = (answer, empty) if address.version == 4 else (empty, answer)
    route = assemble("fabrikam.test", [(10, "mx.fabrikam.test")], [(a, aaaa)])
    assert route.targets == ()
    assert route.failure is not None and "outside the lab" in route.failure.reason


# endregion
# region: (c) scenario files are data

HEALTHY = (bundled_dir() / "healthy.yaml").read_text()


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _refused(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load(str(path))
    error = caught.value
    assert error.path == str(path)
    assert str(path) in str(error)
    return error


@pytest.mark.parametrize("extra, line_of", [
    ("extra: !!python/object/apply:builtins.open [{canary}, w]\n", "extra"),
    ("extra: !!python/object/new:os.system [touch {canary}]\n", "extra"),
    ("extra: !!python/name:os.system\n", "extra"),
    ("title: !include {canary}\n", "title"),
    ("title: !!binary aGVsbG8=\n", "title"),
    ("symptoms: !!set {{a: null}}\n", "symptoms"),
    ("title: !<tag:yaml.org,2002:python/str> x\n", "title"),
], ids=["object-apply", "object-new", "name", "include", "binary", "set",
        "verbatim"])
def test_tags_are_refused_with_their_line(tmp_path, extra, line_of):
    canary = tmp_path / "canary"
    text = HEALTHY.rstrip("\n") + "\n" + extra.format(canary=canary)
    error = _refused(_write(tmp_path, text))
    assert "tag" in error.reason
    assert error.line == text.count("\n")  # the last line, where the tag is
    assert not canary.exists()


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
title: *i
"""


@pytest.mark.timeout(10)
def test_billion_laughs_is_refused_quickly(tmp_path):
    error = _refused(_write(tmp_path, BILLION_LAUGHS))
    assert "alias" in error.reason.lower()
    assert error.line == 2


@pytest.mark.timeout(10)
def test_merge_key_alias_is_refused(tmp_path):
    text = HEALTHY + "base: &base {name: alice}\nother:\n  <<: *base\n"
    error = _refused(_write(tmp_path, text))
    assert "alias" in error.reason.lower()


@pytest.mark.timeout(10)
def test_oversized_and_binary_files_are_refused(tmp_path):
    big = _refused(_write(tmp_path, HEALTHY + "#" + "x" * 300_000 + "\n"))
    assert "larger" in big.reason
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"title: \xff\xfe\x00\n")
    assert "UTF-8" in _refused(path).reason


_CHILD = """
import sys
from lab.errors import ScenarioError
from lab.scenario import load
try:
    load(sys.argv[1])
except ScenarioError as exc:
    print(exc)
    sys.exit(2)
"""


def _load_in_child(path: Path, timeout: float) -> subprocess.CompletedProcess:
    """``load`` in a process of its own, so a runaway parse is bounded."""
    return subprocess.run([sys.executable, "-c", _CHILD, str(path)],
                          capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_deep_nesting_is_a_scenario_error(tmp_path):
    depth = 500
    path = _write(tmp_path, HEALTHY + "extra: " + "[" * depth + "]" * depth + "\n")
    done = _load_in_child(path, timeout=10)
    assert done.returncode == 2, done.stderr[-300:]
    assert f"{path}:" in done.stdout


def test_nesting_bomb_is_refused_quickly(tmp_path):
    depth = 20_000
    path = _write(tmp_path, HEALTHY + "extra: " + "[" * depth + "]" * depth + "\n")
    try:
        done = _load_in_child(path, timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("a 40 KB scenario kept the loader busy for 8 s")
    assert done.returncode == 2, done.stderr[-300:]


PATH_NAMES = ["../../etc", "../x", "a/b", "/abs", ".hidden", "x\x00y", "..",
              "alice/../../x", "C:\\x", "~root"]


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("name", PATH_NAMES)
def test_path_like_user_names_are_refused(tmp_path, name):
    text = HEALTHY + f"organisation:\n  users:\n    - name: {name!r}\n"
    text = text.replace("\x00", "\\0").replace("'", '"') if "\x00" in name else text
    before = _tree(tmp_path)
    error = _refused(_write(tmp_path, text))
    assert error.line == HEALTHY.count("\n") + 3
    assert error.field == "organisation.users[0].name"
    assert _tree(tmp_path) - before == {Path("bad.yaml")}


@pytest.mark.parametrize("name", PATH_NAMES[:5])
async def test_path_like_user_names_never_leave_the_mail_root(tmp_path, name):
    """Past the loader (a scenario built in code), the store still holds."""
    box = tmp_path / "box"
    base = load("healthy")
    organisation = base.organisation.model_copy(update={
        "users": [User.model_construct(name=name, password="pw"),
                  *base.organisation.users]})
    scenario = base.model_copy(update={"organisation": organisation})
    lab = Lab(scenario, directory=box / "lab")
    await lab.start()
    before = _tree(tmp_path)
    try:
        # Mail for that user: refused, or the store refuses to write it.
        client = await SmtpClient.connect(endpoint(lab, "mx1", 25))
        try:
            await client.command("EHLO c.fabrikam.test")
            reply = await client.send("x@fabrikam.test", f"{name}@contoso.test",
                                      message_for(token()))
            assert reply.code != 250
        finally:
            await client.quit()
        with pytest.raises(UnsafeUserName):
            lab.store.mailbox(name)
        with pytest.raises(UnsafeUserName):
            lab.store.deliver(name, b"Subject: x\r\n\r\nx\r\n")
        grown = _tree(tmp_path) - before
    finally:
        await lab.stop()
    mail_root = Path("box/lab/mail")
    # The session itself is logged in the lab's transcripts; nothing else
    # may appear, least of all outside the mail root.
    grown = {p for p in grown if p.parts[:3] != ("box", "lab", "transcripts")}
    assert not grown, f"the attempts created {sorted(grown)[:5]}"
    users = {p.name for p in (tmp_path / mail_root).iterdir()}
    assert users <= {"alice", "bob", "postmaster"}
    assert mail_root in _tree(tmp_path)


USER_NAMES = ["a..b", "alice..", "x.._y", "a-..-b"]


def test_every_user_the_scenario_allows_the_store_allows():
    for name in USER_NAMES:
        try:
            User(name=name)
        except ValidationError:
            continue
        assert normalise_user(name) == name


# endregion
