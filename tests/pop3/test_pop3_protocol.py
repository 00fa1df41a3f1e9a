"""Byte transcripts of the sans-IO POP3 session: client bytes in, replies out."""

from __future__ import annotations

import base64

import pytest
from .conftest import FakeMailbox
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.pop3 import Authenticated, Close, Pop3Session, Pop3Settings, StartTLS
from lab.pop3.maildrop import MaildropLocks
from lab.pop3.protocol import State

MESSAGES = [
    b"Subject: one\r\n\r\nfirst\r\n",
    b"Subject: two\n\n.dotted\nlast line\n",
]
USERS = {"alice@contoso.test": "s3cret"}


def _authenticate(login: str, password: str) -> str | None:
    return "alice" if USERS.get(login) == password else None


def _session(mailbox: FakeMailbox | None = None, *, locks=None,
             **settings) -> tuple[Pop3Session, FakeMailbox]:
    box = mailbox or FakeMailbox(list(MESSAGES))
    session = Pop3Session(
        Pop3Settings(hostname="mail.contoso.test", **settings), _authenticate,
        lambda name: box, locks=locks)
    return session, box


def _login(session: Pop3Session) -> None:
    out = session.receive_data(b"USER alice@contoso.test\r\nPASS s3cret\r\n")
    assert out.data.endswith(b"+OK maildrop has 2 messages (59 octets)\r\n")


def test_greeting_names_the_host() -> None:
    session, _ = _session()

    assert session.greeting() == b"+OK mail.contoso.test POP3 ready\r\n"


def test_full_transcript() -> None:
    session, box = _session()
    transcript = [
        (b"CAPA\r\n",
         b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
         b"AUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n"
         b"IMPLEMENTATION Mailflow-Lab\r\n.\r\n"),
        (b"USER alice@contoso.test\r\n", b"+OK send PASS\r\n"),
        (b"PASS s3cret\r\n", b"+OK maildrop has 2 messages (59 octets)\r\n"),
        (b"STAT\r\n", b"+OK 2 59\r\n"),
        (b"LIST\r\n", b"+OK 2 messages\r\n1 23\r\n2 36\r\n.\r\n"),
        (b"LIST 2\r\n", b"+OK 2 36\r\n"),
        (b"UIDL\r\n", b"+OK 2 messages\r\n1 7.1\r\n2 7.2\r\n.\r\n"),
        (b"UIDL 1\r\n", b"+OK 1 7.1\r\n"),
        (b"RETR 2\r\n",
         b"+OK 36 octets\r\nSubject: two\r\n\r\n..dotted\r\nlast line\r\n.\r\n"),
        (b"TOP 2 1\r\n",
         b"+OK top of message follows\r\nSubject: two\r\n\r\n..dotted\r\n.\r\n"),
        (b"DELE 1\r\n", b"+OK message 1 deleted\r\n"),
        (b"DELE 1\r\n", b"-ERR message 1 already deleted\r\n"),
        (b"RETR 1\r\n", b"-ERR message 1 already deleted\r\n"),
        (b"STAT\r\n", b"+OK 1 36\r\n"),
        (b"LIST\r\n", b"+OK 1 messages\r\n2 36\r\n.\r\n"),
        (b"NOOP\r\n", b"+OK\r\n"),
        (b"QUIT\r\n",
         b"+OK mail.contoso.test POP3 server signing off (1 messages left)\r\n"),
    ]
    for sent, expected in transcript:
        assert session.receive_data(sent).data == expected, sent

    assert box.deleted == ["k1"]
    assert session.state is State.CLOSED


def test_dele_is_applied_only_on_quit() -> None:
    session, box = _session()
    _login(session)

    session.receive_data(b"DELE 1\r\nDELE 2\r\n")
    assert box.deleted == []
    out = session.receive_data(b"QUIT\r\n")

    assert box.deleted == ["k1", "k2"]
    assert out.events == (Close("quit"),)


def test_rset_unmarks_and_a_dropped_connection_deletes_nothing() -> None:
    session, box = _session()
    _login(session)

    assert session.receive_data(b"DELE 1\r\nRSET\r\n").data == (
        b"+OK message 1 deleted\r\n+OK maildrop has 2 messages (59 octets)\r\n")
    session.receive_data(b"DELE 2\r\n")
    session.connection_lost()

    assert box.deleted == []


def test_bare_lf_commands_and_lower_case_keywords() -> None:
    session, _ = _session()
    _login(session)

    assert session.receive_data(b"stat\n").data == b"+OK 2 59\r\n"


def test_commands_split_across_reads_and_pipelined() -> None:
    session, _ = _session()

    assert session.receive_data(b"US").data == b""
    assert session.receive_data(b"ER alice@contoso.test\r\nPA").data == (
        b"+OK send PASS\r\n")
    out = session.receive_data(b"SS s3cret\r\nSTAT\r\n")

    assert out.data.endswith(b"+OK 2 59\r\n")
    assert out.events == (Authenticated("alice@contoso.test", "alice"),)


def test_wrong_password_and_too_many_failures() -> None:
    session, _ = _session(max_auth_failures=2)
    bad = b"USER alice@contoso.test\r\nPASS nope\r\n"

    first = session.receive_data(bad)
    second = session.receive_data(bad)

    assert first.data == (
        b"+OK send PASS\r\n-ERR [AUTH] invalid user name or password\r\n")
    assert second.events == (Close("too many failed logins"),)
    assert session.closed


def test_pass_without_user_and_state_errors() -> None:
    session, _ = _session()

    assert session.receive_data(b"PASS x\r\n").data == b"-ERR USER first\r\n"
    assert session.receive_data(b"STAT\r\n").data == (
        b"-ERR STAT not valid in this state\r\n")
    assert session.receive_data(b"FROB\r\n").data == (
        b"-ERR unknown command 'FROB'\r\n")
    _login(session)
    assert session.receive_data(b"USER bob\r\n").data == (
        b"-ERR USER not valid in this state\r\n")


@pytest.mark.parametrize("arg", [b"0", b"3", b"-1", b"x", b"", b"99999999999"])
def test_bad_message_numbers(arg: bytes) -> None:
    session, _ = _session()
    _login(session)

    reply = session.receive_data(b"RETR " + arg + b"\r\n").data

    assert reply in (b"-ERR no such message\r\n",
                     b"-ERR invalid message number\r\n")


def test_top_needs_two_numbers() -> None:
    session, _ = _session()
    _login(session)

    assert session.receive_data(b"TOP 1\r\n").data == b"-ERR usage: TOP msg n\r\n"
    assert session.receive_data(b"TOP 1 x\r\n").data == (
        b"-ERR usage: TOP msg n\r\n")


def test_overlong_line_is_refused_and_session_goes_on() -> None:
    session, _ = _session()

    out = session.receive_data(b"NOOP " + b"x" * 300)
    rest = session.receive_data(b"yyy\r\nCAPA\r\n")

    assert out.data == b"-ERR line too long\r\n"
    assert rest.data.startswith(b"+OK Capability list follows\r\n")


def test_line_of_exactly_255_octets_is_accepted() -> None:
    session, _ = _session()
    line = b"USER " + b"a" * 248 + b"\r\n"
    assert len(line) == 255

    assert session.receive_data(line).data == b"+OK send PASS\r\n"
    assert session.receive_data(b"USER " + b"a" * 249 + b"\r\n").data == (
        b"-ERR line too long\r\n")


def test_too_many_commands_closes() -> None:
    session, _ = _session(max_commands=3)

    out = session.receive_data(b"CAPA\r\n" * 4)

    assert out.data.endswith(
        b"-ERR [SYS/PERM] too many commands, closing connection\r\n")
    assert out.events == (Close("too many commands"),)
    assert session.receive_data(b"CAPA\r\n").data == b""


def test_garbage_bytes_get_err_not_a_crash() -> None:
    session, _ = _session()

    out = session.receive_data(b"\xff\xfe\x00\r\n\x00\x01\r\n\r\n")

    assert out.data == (b"-ERR command is not valid UTF-8\r\n"
                        b"-ERR unknown command '\\x00\\x01'\r\n"
                        b"-ERR unknown command ''\r\n")


def test_stls_then_discards_injected_plaintext() -> None:
    session, _ = _session(tls_available=True)

    capa = session.receive_data(b"CAPA\r\n").data
    out = session.receive_data(b"STLS\r\nUSER injected\r\n")
    ignored = session.receive_data(b"PASS injected\r\n")
    session.tls_established()
    after = session.receive_data(b"CAPA\r\nSTLS\r\n").data

    assert b"STLS\r\n" in capa
    assert out.data == b"+OK Begin TLS negotiation\r\n"
    assert out.events == (StartTLS(),)
    assert ignored.data == b""
    assert b"STLS\r\n" not in after.split(b".\r\n")[0]
    assert after.endswith(b"-ERR TLS already active\r\n")
    assert session.receive_data(b"PASS s3cret\r\n").data == b"-ERR USER first\r\n"


def test_stls_unavailable_without_tls() -> None:
    session, _ = _session()

    assert session.receive_data(b"STLS\r\n").data == b"-ERR STLS not available\r\n"


def test_require_tls_hides_user_and_refuses_login() -> None:
    session, _ = _session(tls_available=True, require_tls=True)

    capa = session.receive_data(b"CAPA\r\n").data
    user = session.receive_data(b"USER alice@contoso.test\r\n").data
    auth = session.receive_data(b"AUTH PLAIN\r\n").data
    session.receive_data(b"STLS\r\n")
    session.tls_established()
    capa_tls = session.receive_data(b"CAPA\r\n").data

    assert b"USER\r\n" not in capa and b"SASL" not in capa
    assert b"STLS\r\n" in capa
    assert user == auth == b"-ERR [AUTH] TLS required, use STLS first\r\n"
    assert b"USER\r\n" in capa_tls and b"STLS" not in capa_tls
    _login(session)


def _plain(authzid: str, authcid: str, password: str) -> bytes:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode())


def test_auth_plain_with_initial_response() -> None:
    session, _ = _session()

    out = session.receive_data(
        b"AUTH PLAIN " + _plain("", "alice@contoso.test", "s3cret") + b"\r\n")

    assert out.data == b"+OK maildrop has 2 messages (59 octets)\r\n"
    assert session.state is State.TRANSACTION


def test_auth_plain_with_continuation_and_cancel() -> None:
    session, _ = _session()

    assert session.receive_data(b"AUTH PLAIN\r\n").data == b"+ \r\n"
    assert session.receive_data(b"*\r\n").data == (
        b"-ERR authentication cancelled\r\n")
    assert session.receive_data(b"AUTH PLAIN\r\n").data == b"+ \r\n"
    assert session.receive_data(b"!!notbase64\r\n").data == (
        b"-ERR malformed SASL PLAIN response\r\n")
    session.receive_data(b"AUTH PLAIN\r\n")
    out = session.receive_data(_plain("bob", "alice@contoso.test", "s3cret")
                               + b"\r\n")
    assert out.data == b"-ERR [AUTH] invalid user name or password\r\n"
    assert session.receive_data(b"AUTH CRAM-MD5\r\n").data == (
        b"-ERR unsupported SASL mechanism\r\n")


def test_second_session_on_a_locked_maildrop_is_refused() -> None:
    locks = MaildropLocks()
    box = FakeMailbox(list(MESSAGES))
    first, _ = _session(box, locks=locks)
    second, _ = _session(box, locks=locks)
    _login(first)

    busy = second.receive_data(b"USER alice@contoso.test\r\nPASS s3cret\r\n")
    first.receive_data(b"QUIT\r\n")
    again = second.receive_data(b"USER alice@contoso.test\r\nPASS s3cret\r\n")

    assert busy.data.endswith(b"-ERR [IN-USE] maildrop already locked\r\n")
    assert again.data.endswith(b"+OK maildrop has 2 messages (59 octets)\r\n")


def test_message_vanishing_under_the_session_gives_err() -> None:
    session, box = _session()
    _login(session)
    del box.messages["k1"]

    assert session.receive_data(b"RETR 1\r\n").data == (
        b"-ERR [SYS/TEMP] message unavailable\r\n")
    assert session.receive_data(b"QUIT\r\n").data.startswith(b"+OK")


def test_quit_in_authorization_signs_off() -> None:
    session, _ = _session()

    out = session.receive_data(b"QUIT\r\nCAPA\r\n")

    assert out.data == b"+OK mail.contoso.test POP3 server signing off\r\n"
    assert out.events == (Close("quit"),)


def test_passwords_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="lab.pop3")
    session, _ = _session()

    session.receive_data(b"USER alice@contoso.test\r\nPASS s3cret\r\nQUIT\r\n")
    plain = _plain("", "alice@contoso.test", "s3cret")
    for lines in (b"AUTH PLAIN " + plain + b"\r\n", b"AUTH PLAIN\r\n" + plain
                  + b"\r\n"):
        other, _ = _session()
        other.receive_data(lines)

    text = caplog.text
    assert "C: PASS ****" in text
    assert "s3cret" not in text and plain.decode() not in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_never_crash_the_session(chunks: list[bytes]) -> None:
    session, box = _session(tls_available=True)
    session.receive_data(b"USER alice@contoso.test\r\nPASS s3cret\r\n")

    for chunk in chunks:
        out = session.receive_data(chunk)
        assert out.data == b"" or out.data.endswith(b"\r\n")

    assert box.deleted == [] or session.closed


def test_endless_line_without_newline_is_cut_off() -> None:
    session, _ = _session(max_commands=5)

    replies = [session.receive_data(b"x" * 1000) for _ in range(10)]

    assert replies[0].data == b"-ERR line too long\r\n"
    assert Close("too many commands") in [e for r in replies for e in r.events]
    assert session.closed
