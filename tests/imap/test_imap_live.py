"""Real sockets: Python's imaplib and curl against a live server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import imaplib
import shutil
import socket
import ssl

import pytest
from .imap_support import MESSAGE, TlsFiles

from lab.imap import start_imap_server
from lab.store import MailStore

TIMEOUT = 5


def _starttls_session(port: int, ctx: ssl.SSLContext) -> dict[str, object]:
    seen: dict[str, object] = {}
    with imaplib.IMAP4("127.0.0.1", port, timeout=TIMEOUT) as imap:
        seen["caps_before"] = imap.capabilities
        try:
            imap.login("alice@contoso.test", "wonder land")
        except imaplib.IMAP4.error as exc:
            seen["plain_login"] = str(exc)
        imap.starttls(ssl_context=ctx)
        seen["caps_after"] = imap.capabilities
        seen["login"] = imap.login("alice", "wonder land")[0]
        typ, data = imap.select("INBOX")
        seen["select"] = (typ, list(data))  # imaplib keeps appending to data
        seen["search"] = imap.search(None, "SUBJECT", '"Lab report"')
        seen["fetch"] = imap.fetch("1", "(BODY.PEEK[] FLAGS)")
        seen["unseen"] = imap.search(None, "UNSEEN")
        seen["uid_fetch"] = imap.uid("FETCH", "2", "(RFC822.HEADER)")
        seen["store"] = imap.store("1", "+FLAGS", "\\Deleted")
        seen["expunge"] = imap.expunge()
        seen["append"] = imap.append("INBOX", "(\\Seen)", None,
                                     b"Subject: appended\r\n\r\nx\r\n")
        seen["status"] = imap.status("INBOX", "(MESSAGES UNSEEN)")
        imap.close()
    return seen


async def test_imaplib_starttls_full_session(
    starttls_port: int, client_ssl: ssl.SSLContext, store: MailStore
) -> None:
    seen = await asyncio.wait_for(
        asyncio.to_thread(_starttls_session, starttls_port, client_ssl), 20)

    assert "LOGINDISABLED" in seen["caps_before"]  # type: ignore[operator]
    assert "STARTTLS" in seen["caps_before"]  # type: ignore[operator]
    assert "PRIVACYREQUIRED" in str(seen["plain_login"])
    assert "AUTH=PLAIN" in seen["caps_after"]  # type: ignore[operator]
    assert "LOGINDISABLED" not in seen["caps_after"]  # type: ignore[operator]
    assert seen["login"] == "OK"
    assert seen["select"] == ("OK", [b"2"])
    assert seen["search"] == ("OK", [b"1"])
    typ, data = seen["fetch"]  # type: ignore[misc]
    assert typ == "OK" and data[0][1] == MESSAGE
    assert seen["unseen"] == ("OK", [b"1 2"])  # PEEK left \Seen unset
    typ, data = seen["uid_fetch"]  # type: ignore[misc]
    assert b"UID 2" in data[0][0] and data[0][1].endswith(b"\r\n\r\n")
    assert seen["expunge"] == ("OK", [b"1"])
    assert seen["append"][0] == "OK"  # type: ignore[index]
    assert seen["status"] == ("OK", [b"INBOX (MESSAGES 2 UNSEEN 1)"])
    box = store.mailbox("alice")
    assert [m.uid for m in box.list()] == [2, 3]


def _imaps_session(port: int, ctx: ssl.SSLContext) -> tuple[object, ...]:
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx,
                           timeout=TIMEOUT) as imap:
        caps = imap.capabilities
        imap.authenticate("PLAIN", lambda _: b"\0bob@contoso.test\0builder")
        select = imap.select("INBOX", readonly=True)
        typ, _ = imap.store("1", "+FLAGS", "\\Seen")
        store_reply = typ
        imap.logout()
    return caps, select, store_reply


async def test_imaplib_implicit_tls_authenticate_plain(
    imaps_port: int, client_ssl: ssl.SSLContext
) -> None:
    caps, select, store_reply = await asyncio.wait_for(
        asyncio.to_thread(_imaps_session, imaps_port, client_ssl), 20)

    assert "AUTH=PLAIN" in caps  # type: ignore[operator]
    assert "STARTTLS" not in caps  # type: ignore[operator]
    assert select[0] == "OK" and list(select[1]) == [b"0"]  # type: ignore[index]
    assert store_reply == "NO"  # EXAMINE is read-only


def _bad_password(port: int, ctx: ssl.SSLContext) -> str:
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx,
                           timeout=TIMEOUT) as imap:
        try:
            imap.login("alice@contoso.test", "wrong")
        except imaplib.IMAP4.error as exc:
            return str(exc)
    return "logged in?"


async def test_wrong_password_is_refused(
    imaps_port: int, client_ssl: ssl.SSLContext
) -> None:
    text = await asyncio.wait_for(
        asyncio.to_thread(_bad_password, imaps_port, client_ssl), 20)

    assert "AUTHENTICATIONFAILED" in text


async def _curl(*args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--noproxy", "*",
        "--max-time", str(TIMEOUT), "--connect-timeout", str(TIMEOUT), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT + 5)
    assert proc.returncode is not None
    return proc.returncode, out, err


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")


@needs_curl
async def test_curl_imaps_fetches_message(
    imaps_port: int, tls_files: TlsFiles
) -> None:
    rc, out, err = await _curl(
        "--cacert", str(tls_files.ca), "--user", "alice@contoso.test:wonder land",
        f"imaps://127.0.0.1:{imaps_port}/INBOX;UID=1")

    assert rc == 0, err
    assert out == MESSAGE


@needs_curl
async def test_curl_imap_starttls_lists_inbox(
    starttls_port: int, tls_files: TlsFiles
) -> None:
    rc, out, err = await _curl(
        "--ssl-reqd", "--cacert", str(tls_files.ca),
        "--user", "alice:wonder land", f"imap://127.0.0.1:{starttls_port}/")

    assert rc == 0, err
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in out


@needs_curl
async def test_curl_without_tls_cannot_log_in(starttls_port: int) -> None:
    rc, out, err = await _curl(
        "--user", "alice:wonder land", f"imap://127.0.0.1:{starttls_port}/")

    assert rc != 0
    assert out == b""


async def _exchange(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        await asyncio.wait_for(reader.readline(), TIMEOUT)  # greeting
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), TIMEOUT)
    finally:
        writer.close()


async def test_garbage_does_not_stop_other_clients(
    starttls_port: int, client_ssl: ssl.SSLContext
) -> None:
    junk = await _exchange(starttls_port, b"\xff\x00\r\n" * 3 + b"x" * 20000)
    seen = await asyncio.wait_for(
        asyncio.to_thread(_starttls_session, starttls_port, client_ssl), 20)

    assert b"BAD" in junk or b"BYE" in junk
    assert seen["login"] == "OK"


async def test_connection_limit_says_bye(store: MailStore) -> None:
    server = await start_imap_server(
        "127.0.0.1", 0, store=store, users={}, hostname="h",
        login_disabled_before_tls=False, max_connections=1)
    port = server.sockets[0].getsockname()[1]
    try:
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        first = await asyncio.wait_for(r1.readline(), TIMEOUT)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        second = await asyncio.wait_for(r2.read(1000), TIMEOUT)
        w1.close()
        w2.close()
    finally:
        server.close()

    assert first.startswith(b"* OK [CAPABILITY IMAP4rev1")
    assert first.endswith(b"h IMAP4rev1 ready\r\n")
    assert second == b"* BYE Too many connections, try later\r\n"


async def test_idle_client_is_logged_out(store: MailStore) -> None:
    server = await start_imap_server(
        "127.0.0.1", 0, store=store, users={}, hostname="h",
        login_disabled_before_tls=False, idle_timeout=0.3)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(reader.readline(), TIMEOUT)
        rest = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
    finally:
        server.close()

    assert rest == b"* BYE Autologout; idle for too long\r\n"


async def test_plaintext_after_starttls_is_discarded(
    starttls_port: int, client_ssl: ssl.SSLContext
) -> None:
    # A command injected in the same packet as STARTTLS must not run over TLS.
    sock = socket.create_connection(("127.0.0.1", starttls_port), TIMEOUT)

    def run() -> bytes:
        with sock:
            f = sock.makefile("rb")
            f.readline()
            sock.sendall(b"a STARTTLS\r\nb CAPABILITY\r\n")
            assert f.readline() == b"a OK Begin TLS negotiation now\r\n"
            with client_ssl.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"c NOOP\r\n")
                return tls.recv(4096)

    reply = await asyncio.wait_for(asyncio.to_thread(run), 20)

    assert reply == b"c OK NOOP completed\r\n"
