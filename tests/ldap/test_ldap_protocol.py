"""Byte transcripts of one LDAP session, without sockets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.ldap import ber, messages, protocol
from lab.ldap.messages import LdapResponse, decode_response
from lab.ldap.protocol import LabDirectory, LdapSession
from tests.ldap.conftest import ALICE_DN, DOMAIN, USERS


def _session() -> LdapSession:
    return LdapSession(LabDirectory(DOMAIN, USERS), peer="test")


def _responses(data: bytes) -> list[LdapResponse]:
    found = []
    offset = 0
    while offset < len(data):
        _, end = ber.decode_one(data, offset)
        found.append(decode_response(data[offset:end]))
        offset = end
    return found


def _one(session: LdapSession, request: bytes) -> LdapResponse:
    output = session.receive(request)
    [response] = _responses(output.data)
    return response


def test_simple_bind_transcript() -> None:
    session = _session()
    dn, password = ALICE_DN.encode(), b"alice-secret"
    # SEQUENCE { INTEGER 1, [APPLICATION 0] { INTEGER 3, dn, [0] password } }
    bind = (bytes([0x60, 5 + len(dn) + 2 + len(password), 0x02, 0x01, 0x03,
                   0x04, len(dn)]) + dn + bytes([0x80, len(password)]) + password)
    request = bytes([0x30, 3 + len(bind), 0x02, 0x01, 0x01]) + bind

    output = session.receive(request)

    assert request == messages.bind_request(1, ALICE_DN, "alice-secret")
    # SEQUENCE { INTEGER 1, [APPLICATION 1] { ENUMERATED 0, "", "" } }
    assert output.data == bytes.fromhex("300c02010161070a010004000400")
    assert not output.close
    assert session.bound_dn == ALICE_DN


def test_whoami_transcript() -> None:
    session = _session()
    session.receive(messages.bind_request(1, ALICE_DN, "alice-secret"))
    oid = protocol.WHOAMI_OID.encode()
    request = bytes([0x30, 5 + 2 + len(oid), 0x02, 0x01, 0x02,
                     0x77, 2 + len(oid), 0x80, len(oid)]) + oid

    output = session.receive(request)

    authz = f"dn:{ALICE_DN}".encode()
    result = bytes.fromhex("0a010004000400") + bytes([0x8B, len(authz)]) + authz
    assert output.data == (bytes([0x30, 5 + len(result), 0x02, 0x01, 0x02,
                                  0x78, len(result)]) + result)


def test_bind_with_the_address_works() -> None:
    session = _session()

    response = _one(session, messages.bind_request(1, "Alice@Contoso.test",
                                                   "alice-secret"))

    assert (response.tag, response.result_code) == (messages.BIND_RESPONSE, 0)
    assert session.bound_dn == ALICE_DN


def test_bind_dn_is_matched_loosely_on_case_and_spaces() -> None:
    session = _session()

    response = _one(session, messages.bind_request(
        1, "UID=alice, DC=contoso, DC=test", "alice-secret"))

    assert response.result_code == 0


def test_wrong_password_and_unknown_user_are_invalid_credentials() -> None:
    session = _session()

    wrong = _one(session, messages.bind_request(1, ALICE_DN, "guess"))
    unknown = _one(session, messages.bind_request(2, "cn=eve,dc=contoso,dc=test",
                                                  "alice-secret"))
    other_base = _one(session, messages.bind_request(3, "cn=alice,dc=example",
                                                     "alice-secret"))

    assert [r.result_code for r in (wrong, unknown, other_base)] == [49, 49, 49]
    assert session.bound_dn == ""


def test_anonymous_and_unauthenticated_binds() -> None:
    session = _session()

    anonymous = _one(session, messages.bind_request(1, "", ""))
    unauthenticated = _one(session, messages.bind_request(2, ALICE_DN, ""))

    assert anonymous.result_code == protocol.SUCCESS
    assert unauthenticated.result_code == protocol.UNWILLING_TO_PERFORM


def test_ldap_v2_and_sasl_binds_are_refused() -> None:
    v2 = ber.sequence(ber.integer(7), ber.sequence(
        ber.integer(2), ber.octet_string(""), ber.octet_string(b"", 0x80),
        tag=messages.BIND_REQUEST))
    sasl = ber.sequence(ber.integer(8), ber.sequence(
        ber.integer(3), ber.octet_string(""),
        ber.sequence(ber.octet_string("EXTERNAL"), tag=messages.SASL_AUTH),
        tag=messages.BIND_REQUEST))
    session = _session()

    assert _one(session, v2).result_code == protocol.PROTOCOL_ERROR
    assert _one(session, sasl).result_code == protocol.AUTH_METHOD_NOT_SUPPORTED


def test_whoami_after_bind_and_after_failed_bind() -> None:
    session = _session()
    whoami = protocol.WHOAMI_OID

    anonymous = _one(session, messages.extended_request(1, whoami))
    _one(session, messages.bind_request(2, ALICE_DN, "alice-secret"))
    bound = _one(session, messages.extended_request(3, whoami))
    _one(session, messages.bind_request(4, ALICE_DN, "wrong"))
    reset = _one(session, messages.extended_request(5, whoami))

    assert (anonymous.result_code, anonymous.value) == (0, b"")
    assert (bound.tag, bound.message_id) == (messages.EXTENDED_RESPONSE, 3)
    assert bound.value == f"dn:{ALICE_DN}".encode()
    assert reset.value == b""  # RFC 4511 4.2.1: a failed bind is anonymous


def test_root_dse_search() -> None:
    session = _session()

    output = session.receive(messages.search_request(2, ""))
    entry, done = _responses(output.data)

    assert (entry.tag, entry.dn) == (messages.SEARCH_RESULT_ENTRY, "")
    attributes = dict(entry.attributes)
    assert attributes["namingContexts"] == (b"dc=contoso,dc=test",)
    assert attributes["supportedLDAPVersion"] == (b"3",)
    assert attributes["vendorName"] == (b"Mailflow Lab",)
    assert (done.tag, done.result_code) == (messages.SEARCH_RESULT_DONE, 0)


def test_root_dse_search_selects_attributes() -> None:
    session = _session()

    output = session.receive(messages.search_request(
        2, "", attributes=("NamingContexts",)))
    entry, _ = _responses(output.data)
    nothing, _ = _responses(session.receive(
        messages.search_request(3, "", attributes=("1.1",))).data)

    assert [name for name, _ in entry.attributes] == ["namingContexts"]
    assert nothing.attributes == ()


def test_search_below_the_root_dse_is_refused() -> None:
    session = _session()

    done = _one(session, messages.search_request(2, "dc=contoso,dc=test", scope=2))

    assert done.tag == messages.SEARCH_RESULT_DONE
    assert done.result_code == protocol.UNWILLING_TO_PERFORM


def test_other_operations_get_their_own_refusal() -> None:
    modify = ber.sequence(ber.integer(4), ber.sequence(
        ber.octet_string(ALICE_DN), ber.sequence(), tag=ber.application(6)))
    delete_tag = ber.application(10, constructed=False)
    delete = ber.sequence(ber.integer(5), ber.octet_string(ALICE_DN, delete_tag))
    session = _session()

    modified = _one(session, modify)
    deleted = _one(session, delete)

    assert (modified.tag, modified.result_code) == (ber.application(7), 53)
    assert (deleted.tag, deleted.result_code) == (ber.application(11), 53)


def test_unknown_extended_operation_and_starttls() -> None:
    session = _session()

    unknown = _one(session, messages.extended_request(1, "1.2.3.4"))
    starttls = _one(session, messages.extended_request(2, protocol.STARTTLS_OID))

    assert unknown.result_code == protocol.PROTOCOL_ERROR
    assert starttls.result_code == protocol.OPERATIONS_ERROR


def test_unknown_critical_control_is_unavailable_critical_extension() -> None:
    control = ber.sequence(ber.octet_string("1.2.840.113556.1.4.319"),
                           ber.boolean(True))
    request = messages.search_request(9, "")
    envelope = ber.decode_one(request)[0]
    with_control = ber.sequence(envelope.content,
                                ber.sequence(control, tag=messages.CONTROLS))

    done = _one(_session(), with_control)

    assert done.result_code == protocol.UNAVAILABLE_CRITICAL_EXTENSION


def test_pipelined_requests_split_byte_by_byte() -> None:
    session = _session()
    stream = (messages.bind_request(1, ALICE_DN, "alice-secret")
              + messages.extended_request(2, protocol.WHOAMI_OID)
              + messages.unbind_request(3))

    data = b"".join(session.receive(stream[i:i + 1]).data
                    for i in range(len(stream)))

    bind, whoami = _responses(data)
    assert (bind.message_id, whoami.message_id) == (1, 2)
    assert whoami.value == f"dn:{ALICE_DN}".encode()
    assert session.closed


def test_unbind_closes_without_a_reply() -> None:
    output = _session().receive(messages.unbind_request(1))

    assert output == protocol.Output(b"", True)


def test_abandon_gets_no_reply() -> None:
    abandon = ber.sequence(ber.integer(2),
                           ber.integer(1, messages.ABANDON_REQUEST))

    assert _session().receive(abandon) == protocol.Output(b"", False)


def _is_notice(output: protocol.Output) -> bool:
    [notice] = _responses(output.data)
    return (output.close and notice.message_id == 0
            and notice.response_name == protocol.NOTICE_OF_DISCONNECTION_OID
            and notice.result_code == protocol.PROTOCOL_ERROR)


def test_garbage_gets_a_notice_of_disconnection() -> None:
    session = _session()

    output = session.receive(b"GET / HTTP/1.1\r\n\r\n")

    assert _is_notice(output)
    assert session.receive(messages.unbind_request(1)) == protocol.Output(b"", True)


def test_oversized_pdu_is_refused_from_its_header() -> None:
    assert _is_notice(_session().receive(bytes.fromhex("3084000fffff")))


def test_message_id_zero_is_refused() -> None:
    assert _is_notice(_session().receive(messages.unbind_request(0)))


def test_deep_filter_is_refused() -> None:
    deep = ber.octet_string("objectClass", messages.FILTER_PRESENT)
    for _ in range(40):
        deep = ber.sequence(deep, tag=0xA0)  # and
    search = ber.sequence(ber.integer(2), ber.sequence(
        ber.octet_string(""), ber.enumerated(0), ber.enumerated(0), ber.integer(0),
        ber.integer(0), ber.boolean(False), deep, ber.sequence(),
        tag=messages.SEARCH_REQUEST))

    assert _is_notice(_session().receive(search))


def test_bind_request_repr_masks_the_password() -> None:
    message = messages.decode_message(messages.bind_request(1, ALICE_DN, "s3cret"))

    assert "s3cret" not in repr(message)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_session(data: bytes) -> None:
    output = _session().receive(data)

    if output.data:
        assert _responses(output.data)
