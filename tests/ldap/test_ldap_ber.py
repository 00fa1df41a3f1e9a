"""The BER subset of LDAP: encodings, and refusals of what LDAP forbids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.ldap import ber
from lab.ldap.ber import BerError, Tlv


@pytest.mark.parametrize(("value", "encoded"), [
    (0, "020100"), (127, "02017f"), (128, "02020080"), (256, "02020100"),
    (-1, "0201ff"), (2**31 - 1, "02047fffffff"),
])
def test_integers_use_the_shortest_twos_complement(value: int, encoded: str) -> None:
    assert ber.integer(value).hex() == encoded
    element, end = ber.decode_one(bytes.fromhex(encoded))
    assert element.as_int() == value
    assert end == len(encoded) // 2


def test_long_form_length_round_trips() -> None:
    content = b"x" * 300
    encoded = ber.octet_string(content)

    assert encoded[:4].hex() == "0482012c"
    assert ber.decode_one(encoded)[0].content == content


def test_nested_sequence_decodes_to_children() -> None:
    encoded = ber.sequence(ber.integer(5), ber.octet_string("dn"), ber.boolean(True))

    children = ber.decode_one(encoded)[0].children()

    assert [c.tag for c in children] == [ber.INTEGER, ber.OCTET_STRING, ber.BOOLEAN]
    assert children[2].as_bool() is True
    assert ber.boolean(True).hex() == "0101ff"


@pytest.mark.parametrize(("data", "reason"), [
    (bytes.fromhex("3080"), "indefinite"),
    (bytes.fromhex("1f0100"), "high tag"),
    (bytes.fromhex("3085ffffffffff"), "length of length"),
    (bytes.fromhex("3083100000"), "exceeds"),
])
def test_forbidden_headers_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(BerError, match=reason):
        ber.header_length(data)


def test_incomplete_header_waits_for_more() -> None:
    assert ber.header_length(b"\x30") is None
    assert ber.header_length(b"\x30\x82\x01") is None
    assert ber.header_length(b"\x30\x82\x01\x00") == (4, 256)


def test_element_running_past_its_container_is_refused() -> None:
    with pytest.raises(BerError, match="past"):
        ber.decode_one(bytes.fromhex("300502010104"))


def test_nesting_beyond_the_bound_is_refused() -> None:
    deep = ber.octet_string(b"")
    for _ in range(ber.MAX_DEPTH + 5):
        deep = ber.sequence(deep)

    with pytest.raises(BerError, match="nesting"):
        ber.check_depth(ber.decode_one(deep)[0])


def test_primitive_has_no_children() -> None:
    with pytest.raises(BerError, match="primitive"):
        Tlv(ber.OCTET_STRING, b"abc").children()


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_ber_error(data: bytes) -> None:
    try:
        elements = ber.decode_all(data)
    except BerError:
        return
    # Re-encoding uses minimal lengths, so it can only be shorter or equal.
    assert sum(len(ber.tlv(e.tag, e.content)) for e in elements) <= len(data)
