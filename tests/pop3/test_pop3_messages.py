"""CRLF normalisation, dot-stuffing and TOP cutting (RFC 1939 section 3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lab.pop3.messages import (
    normalise_crlf,
    split_lines,
    stuff,
    top_lines,
    unstuff,
)


def test_bare_lf_and_missing_final_newline_become_crlf() -> None:
    assert normalise_crlf(b"a\nb\r\nc") == b"a\r\nb\r\nc\r\n"
    assert normalise_crlf(b"") == b""


def test_lines_starting_with_a_dot_are_stuffed() -> None:
    assert stuff([b".", b"..x", b"y"]) == b"..\r\n...x\r\ny\r\n.\r\n"
    assert stuff([]) == b".\r\n"


def test_top_keeps_header_blank_line_and_n_body_lines() -> None:
    message = b"A: 1\nB: 2\n\nl1\nl2\nl3\n"

    assert top_lines(message, 0) == [b"A: 1", b"B: 2", b""]
    assert top_lines(message, 2) == [b"A: 1", b"B: 2", b"", b"l1", b"l2"]
    assert top_lines(b"A: 1\nB: 2\n", 5) == [b"A: 1", b"B: 2"]


lines = st.lists(st.binary(max_size=20).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=20)


@given(lines)
def test_unstuff_inverts_stuff(body: list[bytes]) -> None:
    expected = b"".join(line + b"\r\n" for line in body)

    assert unstuff(stuff(body)) == expected
    assert unstuff(stuff(split_lines(expected))) == expected
