"""Parser, framing and MIME section units, plus a fuzz test of the session."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.imap import ImapSession, SessionConfig
from lab.imap.fetch import body_structure, envelope, section_bytes
from lab.imap.framing import CommandFrame, ContinueFrame, ErrorFrame, Framer, Limits
from lab.imap.mime import parse_entity
from lab.imap.parser import (
    Atom,
    ParenList,
    ParseError,
    Section,
    String,
    fetch_attrs,
    parse_command,
    sequence_set,
)
from lab.store import MailStore


def test_parse_command_tokens() -> None:
    cmd = parse_command(
        b'A1 UID FETCH 1:3,7 (FLAGS BODY.PEEK[HEADER.FIELDS (From "To")]<0.9>)'
        b' "q\\"x" {3}\r\nabc\r\n')

    assert cmd.tag == "A1" and cmd.name == "UID FETCH"
    assert cmd.args == (
        Atom("1:3,7"),
        ParenList((Atom("FLAGS"),
                   Atom('BODY.PEEK[HEADER.FIELDS (From "To")]<0.9>'))),
        String(b'q"x'),
        String(b"abc", literal=True),
    )


@pytest.mark.parametrize("raw", [
    b"+tag NOOP\r\n", b"a1\r\n", b'a1 LOGIN "x\\y"\r\n', b"a1 FETCH 1 (FLAGS\r\n",
    b"a1 LOGIN {5}\r\nab\r\n", b"a1 FETCH 1 BODY[HEADER\r\n",
])
def test_parse_errors(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_command(raw)


def test_sequence_sets() -> None:
    seqs = sequence_set(Atom("2:4,9,*"))

    assert [n for n in range(1, 12) if seqs.contains(n, 11)] == [2, 3, 4, 9, 11]
    # "559:*" always includes the largest UID (RFC 3501 section 6.4.8).
    assert sequence_set(Atom("559:*")).contains(500, 500)
    for bad in ("0", "1:", "a", "1::2", "4294967296"):
        with pytest.raises(ParseError):
            sequence_set(Atom(bad))


def test_fetch_attrs_macros_and_sections() -> None:
    fast = fetch_attrs(Atom("FAST"))
    [peek] = fetch_attrs(Atom("BODY.PEEK[1.2.MIME]<10.20>"))

    assert [a.name for a in fast] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert peek.peek and peek.partial == (10, 20)
    assert peek.section == Section(part=(1, 2), text="MIME")
    for bad in ("BODY[NOPE]", "BODY[HEADER.FIELDS]", "BODY[]<1.0>", "X-FOO"):
        with pytest.raises(ParseError):
            fetch_attrs(Atom(bad))


def test_framer_literals() -> None:
    framer = Framer(Limits(max_literal=8))

    framer.feed(b"a LOGIN {3}\r\n")
    first = framer.pull()
    framer.feed(b"bob {2+}\r\npw\r\nb NOOP\r\n")
    frames = [framer.pull(), framer.pull(), framer.pull()]

    assert first == ContinueFrame()
    assert frames == [CommandFrame(b"a LOGIN {3}\r\nbob {2+}\r\npw\r\n"),
                      CommandFrame(b"b NOOP\r\n"), None]


def test_framer_refuses_big_literal_without_continuation() -> None:
    framer = Framer(Limits(max_literal=8, max_append_literal=100))

    framer.feed(b"a LOGIN {9}\r\nb APPEND INBOX {50}\r\n")

    assert framer.pull() == ErrorFrame("a", "Literal too large", fatal=False)
    assert framer.pull() == ContinueFrame()


MULTIPART = (
    b"From: a@x.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
    b"preamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
    b"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>2</b>\r\n"
    b"--XX--\r\nepilogue\r\n"
)


def test_multipart_sections_and_structure() -> None:
    entity = parse_entity(MULTIPART)

    assert section_bytes(MULTIPART, Section(part=(1,))) == b"first part"
    assert section_bytes(MULTIPART, Section(part=(2,))) == b"<b>2</b>"
    assert section_bytes(MULTIPART, Section(part=(2,), text="MIME")) == (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n")
    assert section_bytes(MULTIPART, Section(part=(3,))) is None
    assert body_structure(entity) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1)'
        b'("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 8 1) "MIXED")')


def test_envelope_defaults_sender_and_reply_to() -> None:
    env = envelope(b"From: Ann <ann@x.test>\r\nSubject: s\r\n\r\nbody")

    assert env == (b'(NIL "s" (("Ann" NIL "ann" "x.test")) (("Ann" NIL "ann"'
                   b' "x.test")) (("Ann" NIL "ann" "x.test")) NIL NIL NIL NIL NIL)')


_PIECES = st.sampled_from([
    b"a LOGIN alice pw\r\n", b"b SELECT INBOX\r\n", b"c FETCH 1:* (BODY[] FLAGS)\r\n",
    b"{5}\r\n", b"{3+}\r\n", b"d STORE 1 +FLAGS (\\Deleted)\r\n", b"e EXPUNGE\r\n",
    b'"', b"(", b")", b"[", b"\r\n", b" ", b"*", b"\x00", b"\xff", b"UID ",
    b"f SEARCH OR NOT (", b"g AUTHENTICATE PLAIN\r\n", b"h APPEND INBOX {4}\r\n",
])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=40)), max_size=30))
def test_session_survives_any_bytes(tmp_path: pathlib.Path,
                                    chunks: list[bytes]) -> None:
    store = MailStore(tmp_path)
    store.deliver("alice@x.test", b"Subject: x\r\n\r\nbody\r\n")
    s = ImapSession(store, {"alice@x.test": "pw"},
                    SessionConfig("h", login_disabled_before_tls=False))

    for chunk in chunks:
        result = s.receive_data(chunk)
        # Replies are always whole lines, whatever the input was.
        assert result.data == b"" or result.data.endswith(b"\r\n")
