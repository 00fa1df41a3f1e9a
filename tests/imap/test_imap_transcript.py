"""Byte transcripts of the sans-IO session: client bytes in, exact bytes out."""

from __future__ import annotations

import base64
import pathlib

import pytest

from lab.imap import Close, ImapSession, SessionConfig, StartTLS, State
from lab.imap.framing import Limits
from lab.store import MailStore

MSG = (b"From: Bob <bob@contoso.test>\r\nTo: alice@contoso.test\r\n"
       b"Subject: Hello\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
       b"\r\nHi there\r\n")
USERS = {"alice@contoso.test": "secret"}


@pytest.fixture
def store(tmp_path: pathlib.Path) -> MailStore:
    store = MailStore(tmp_path)
    key = store.deliver("alice", MSG, internal_date=1704103200.0)
    # Fix the file time so INTERNALDATE is predictable byte for byte.
    path = next((tmp_path / "alice" / "new").iterdir())
    assert path.name == key
    return store


def session(store: MailStore, *, tls: bool = False, disabled: bool = True,
            limits: Limits | None = None) -> ImapSession:
    config = SessionConfig("imap.test", tls_available=True,
                           login_disabled_before_tls=disabled,
                           limits=limits or Limits())
    return ImapSession(store, USERS, config, tls_active=tls)


def run(s: ImapSession, *lines: bytes) -> bytes:
    return b"".join(s.receive_data(line).data for line in lines)


def uidvalidity(store: MailStore) -> int:
    return store.mailbox("alice").uidvalidity


def test_greeting_before_tls_disables_login(store: MailStore) -> None:
    s = session(store)

    assert s.greeting().data == (
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR UNSELECT STARTTLS "
        b"LOGINDISABLED] imap.test IMAP4rev1 ready\r\n")
    assert run(s, b"a1 LOGIN alice secret\r\n") == (
        b"a1 NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS\r\n")
    assert run(s, b"a2 AUTHENTICATE PLAIN\r\n") == (
        b"a2 NO [PRIVACYREQUIRED] Use STARTTLS first\r\n")
    assert s.state is State.NOT_AUTHENTICATED


def test_starttls_discards_pipelined_plaintext(store: MailStore) -> None:
    s = session(store)

    result = s.receive_data(b"a1 STARTTLS\r\na2 LOGIN alice secret\r\n")
    ignored = s.receive_data(b"a3 NOOP\r\n")
    s.tls_started()
    after = run(s, b"a4 CAPABILITY\r\n")

    assert result.data == b"a1 OK Begin TLS negotiation now\r\n"
    assert result.events == (StartTLS(),)
    assert ignored.data == b""
    assert after == (b"* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR UNSELECT "
                     b"AUTH=PLAIN\r\na4 OK CAPABILITY completed\r\n")
    assert run(s, b"a5 STARTTLS\r\n") == b"a5 BAD STARTTLS not available\r\n"


def test_login_select_fetch_transcript(store: MailStore) -> None:
    s = session(store, tls=True)
    v = uidvalidity(store)

    out = run(
        s,
        b'a1 LOGIN "alice" {6}\r\n',
        b"secret\r\n",
        b"a2 SELECT INBOX\r\n",
        b"a3 FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)\r\n",
        b"a4 FETCH 1 BODY[TEXT]\r\n",
        b"a5 UID STORE 1 -FLAGS.SILENT (\\Seen)\r\n",
        b"a6 UID SEARCH UNSEEN\r\n",
        b"a7 LOGOUT\r\n",
    )

    assert out == (
        b"+ Ready for literal data\r\n"
        b"a1 OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR UNSELECT] Logged in\r\n"
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* 1 EXISTS\r\n"
        b"* 1 RECENT\r\n"
        b"* OK [UNSEEN 1] First unseen message\r\n"
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
        b"* OK [UIDNEXT 2] Predicted next UID\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)]"
        b" Permanent flags\r\n"
        b"a2 OK [READ-WRITE] SELECT completed\r\n"
        b'* 1 FETCH (UID 1 RFC822.SIZE 121 INTERNALDATE " 1-Jan-2024 10:00:00'
        b' +0000" FLAGS (\\Recent))\r\n'
        b"a3 OK FETCH completed\r\n"
        b"* 1 FETCH (BODY[TEXT] {10}\r\nHi there\r\n FLAGS (\\Recent \\Seen))\r\n"
        b"a4 OK FETCH completed\r\n"
        b"a5 OK UID STORE completed\r\n"
        b"* SEARCH 1\r\n"
        b"a6 OK UID SEARCH completed\r\n"
        b"* BYE imap.test logging out\r\n"
        b"a7 OK LOGOUT completed\r\n"
    ) % v
    assert s.state is State.LOGOUT


def test_authenticate_plain_with_continuation(store: MailStore) -> None:
    s = session(store, tls=True)
    token = base64.b64encode(b"\0alice\0secret")

    first = run(s, b"a1 AUTHENTICATE PLAIN\r\n")
    second = run(s, token + b"\r\n")

    assert first == b"+ \r\n"
    assert second == (b"a1 OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR UNSELECT]"
                      b" Logged in\r\n")


def test_authenticate_plain_initial_response_and_cancel(store: MailStore) -> None:
    s = session(store, tls=True)
    bad = base64.b64encode(b"\0alice\0nope")

    assert run(s, b"a1 AUTHENTICATE PLAIN " + bad + b"\r\n") == (
        b"a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
    assert run(s, b"a2 AUTHENTICATE PLAIN\r\n", b"*\r\n") == (
        b"+ \r\na2 BAD Authentication cancelled\r\n")
    assert run(s, b"a3 AUTHENTICATE CRAM-MD5\r\n") == (
        b"a3 NO Unsupported authentication mechanism\r\n")


def test_three_failed_logins_end_the_session(store: MailStore) -> None:
    s = session(store, tls=True)

    out = run(s, b"a LOGIN alice x\r\n", b"b LOGIN alice y\r\n")
    last = s.receive_data(b"c LOGIN alice z\r\n")

    assert out.count(b"NO [AUTHENTICATIONFAILED]") == 2
    assert last.data == b"* BYE Too many authentication failures\r\n"
    assert last.events == (Close("Too many authentication failures"),)


def test_state_and_syntax_errors_are_tagged_bad(store: MailStore) -> None:
    s = session(store, tls=True)

    assert run(s, b"a1 SELECT INBOX\r\n") == (
        b"a1 BAD Command not valid in this state\r\n")
    assert run(s, b"a2 FROBNICATE\r\n") == b"a2 BAD Unknown command\r\n"
    assert run(s, b'a3 LOGIN "unterminated\r\n') == (
        b"a3 BAD Syntax error: unterminated quoted string\r\n")
    assert run(s, b"\r\n") == b"* BAD Syntax error: expected an atom\r\n"
    assert run(s, b"a4 NOOP\r\n") == b"a4 OK NOOP completed\r\n"


def test_overlong_line_and_literal_bounds(store: MailStore) -> None:
    limits = Limits(max_line=100, max_literal=10, max_append_literal=50)
    s = session(store, tls=True, limits=limits)

    assert run(s, b"a1 NOOP " + b"x" * 200 + b"\r\n") == b"a1 BAD Line too long\r\n"
    assert run(s, b"a2 LOGIN {11}\r\n") == b"a2 BAD Literal too large\r\n"
    assert run(s, b"a3 NOOP\r\n") == b"a3 OK NOOP completed\r\n"
    fatal = s.receive_data(b"a4 LOGIN {11+}\r\n")
    assert fatal.data == b"* BYE Literal too large\r\n"
    assert fatal.events == (Close("Literal too large"),)
    assert s.receive_data(b"a5 NOOP\r\n").data == b""


def test_unterminated_line_over_limit_is_fatal(store: MailStore) -> None:
    s = session(store, limits=Limits(max_line=64))

    result = s.receive_data(b"a" * 65)

    assert result.data == b"* BYE Line too long\r\n"
    assert isinstance(result.events[0], Close)


def test_command_count_limit(store: MailStore) -> None:
    s = session(store, limits=Limits(max_commands=2))

    out = s.receive_data(b"a NOOP\r\nb NOOP\r\nc NOOP\r\n")

    assert out.data == (b"a OK NOOP completed\r\nb OK NOOP completed\r\n"
                        b"* BYE Too many commands in one session\r\n")


def test_examine_is_read_only_and_peek_keeps_unseen(store: MailStore) -> None:
    s = session(store, tls=True, disabled=False)
    run(s, b"a LOGIN alice@contoso.test secret\r\n")

    examine = run(s, b"b EXAMINE INBOX\r\n")
    fetched = run(s, b"c FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])\r\n")
    stored = run(s, b"d STORE 1 +FLAGS (\\Deleted)\r\n")

    assert b"* OK [PERMANENTFLAGS ()] Permanent flags\r\n" in examine
    assert examine.endswith(b"b OK [READ-ONLY] EXAMINE completed\r\n")
    assert fetched == (b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\n"
                       b"Subject: Hello\r\n\r\n)\r\nc OK FETCH completed\r\n")
    assert stored == b"d NO [READ-ONLY] Mailbox is read-only\r\n"
    [m] = store.mailbox("alice").list()
    assert m.flags == frozenset() and m.recent


def test_new_mail_and_foreign_expunge_are_reported(store: MailStore) -> None:
    s = session(store, tls=True)
    run(s, b"a LOGIN alice secret\r\n", b"b SELECT INBOX\r\n")

    store.deliver("alice", MSG)
    fetch = run(s, b"c FETCH 1 FLAGS\r\n")
    box = store.mailbox("alice")
    box.delete(box.list()[0].key)
    during_search = run(s, b"d SEARCH ALL\r\n")
    noop = run(s, b"e NOOP\r\n")

    assert fetch == (b"* 1 FETCH (FLAGS (\\Recent))\r\n* 2 EXISTS\r\n"
                     b"* 2 RECENT\r\nc OK FETCH completed\r\n")
    assert during_search == b"* SEARCH 1 2\r\nd OK SEARCH completed\r\n"
    assert noop == b"* 1 EXPUNGE\r\ne OK NOOP completed\r\n"


def test_store_expunge_close(store: MailStore) -> None:
    store.deliver("alice", MSG)
    s = session(store, tls=True)
    run(s, b"a LOGIN alice secret\r\n", b"b SELECT INBOX\r\n")

    stored = run(s, b"c STORE 1:* +FLAGS (\\Deleted \\Flagged)\r\n")
    unflag = run(s, b"d STORE 2 -FLAGS.SILENT (\\Deleted)\r\n")
    expunged = run(s, b"e EXPUNGE\r\n")
    closed = run(s, b"f CLOSE\r\n")

    assert stored == (
        b"* 1 FETCH (FLAGS (\\Deleted \\Flagged \\Recent))\r\n"
        b"* 2 FETCH (FLAGS (\\Deleted \\Flagged \\Recent))\r\n"
        b"c OK STORE completed\r\n")
    assert unflag == b"d OK STORE completed\r\n"
    assert expunged == b"* 1 EXPUNGE\r\ne OK EXPUNGE completed\r\n"
    assert closed == b"f OK CLOSE completed\r\n"
    [left] = store.mailbox("alice").list()
    assert left.uid == 2 and left.flags == frozenset({"\\Flagged"})


def test_list_status_and_append(store: MailStore) -> None:
    s = session(store, tls=True)
    run(s, b"a LOGIN alice secret\r\n")

    out = run(
        s,
        b'b LIST "" ""\r\n',
        b'c LIST "" *\r\n',
        b'd LSUB "" INBOX\r\n',
        b'e APPEND INBOX (\\Seen) "05-Feb-2024 08:09:10 +0100" {10+}\r\n',
        b"Subject:\r\n\r\n",
        b"f STATUS INBOX (MESSAGES UNSEEN UIDNEXT)\r\n",
        b"g SELECT Archive\r\n",
    )

    assert out == (
        b'* LIST (\\Noselect) "/" ""\r\nb OK LIST completed\r\n'
        b'* LIST (\\HasNoChildren) "/" INBOX\r\nc OK LIST completed\r\n'
        b'* LSUB (\\HasNoChildren) "/" INBOX\r\nd OK LSUB completed\r\n'
        b"e OK APPEND completed\r\n"
        b"* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3)\r\n"
        b"f OK STATUS completed\r\n"
        b"g NO [NONEXISTENT] Only INBOX exists here\r\n"
    )
    appended = store.mailbox("alice").list()[1]
    assert appended.flags == frozenset({"\\Seen"})
    assert appended.internal_date == 1707116950.0


def test_partial_fetch_and_search_keys(store: MailStore) -> None:
    s = session(store, tls=True)
    run(s, b"a LOGIN alice secret\r\n", b"b SELECT INBOX\r\n")

    out = run(
        s,
        b"c FETCH 1 (BODY.PEEK[]<0.4> BODY.PEEK[1]<3.5>)\r\n",
        b'd SEARCH OR FROM "nobody" SUBJECT hello NOT DELETED\r\n',
        b"e SEARCH LARGER 1000\r\n",
        b"f SEARCH SINCE 1-Jan-2024 BEFORE 2-Jan-2024\r\n",
        b"g SEARCH CHARSET KOI8-R ALL\r\n",
        b"h FETCH 9 FLAGS\r\n",
    )

    assert out == (
        b"* 1 FETCH (BODY[]<0> {4}\r\nFrom BODY[1]<3> {5}\r\nthere)\r\n"
        b"c OK FETCH completed\r\n"
        b"* SEARCH 1\r\nd OK SEARCH completed\r\n"
        b"* SEARCH\r\ne OK SEARCH completed\r\n"
        b"* SEARCH 1\r\nf OK SEARCH completed\r\n"
        b"g NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\n"
        b"h BAD Invalid arguments: no such message\r\n"
    )
