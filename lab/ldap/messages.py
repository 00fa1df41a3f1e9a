"""LDAPv3 messages (RFC 4511 4) over :mod:`lab.ldap.ber`, both directions.

The server side decodes requests and encodes responses; the client side
(tests, the checker) encodes requests and decodes responses. Only the
operations the lab answers are decoded in full: the others are recognised by
their tag so that they can be refused with the right response type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lab.ldap import ber
from lab.ldap.ber import BerError, Tlv

# Protocol operation tags (RFC 4511 Appendix B), as identifier octets.
BIND_REQUEST: Final = ber.application(0)
BIND_RESPONSE: Final = ber.application(1)
UNBIND_REQUEST: Final = ber.application(2, constructed=False)
SEARCH_REQUEST: Final = ber.application(3)
SEARCH_RESULT_ENTRY: Final = ber.application(4)
SEARCH_RESULT_DONE: Final = ber.application(5)
ABANDON_REQUEST: Final = ber.application(16, constructed=False)
EXTENDED_REQUEST: Final = ber.application(23)
EXTENDED_RESPONSE: Final = ber.application(24)

#: Requests the lab refuses, and the response type each one expects.
REFUSED_REQUESTS: Final = {
    ber.application(6): ber.application(7),  # modify
    ber.application(8): ber.application(9),  # add
    ber.application(10, constructed=False): ber.application(11),  # delete
    ber.application(12): ber.application(13),  # modify DN
    ber.application(14): ber.application(15),  # compare
}

CONTROLS: Final = ber.context(0, constructed=True)
SIMPLE_AUTH: Final = ber.context(0)
SASL_AUTH: Final = ber.context(3, constructed=True)
EXTENDED_NAME: Final = ber.context(0)
EXTENDED_VALUE: Final = ber.context(1)
RESPONSE_NAME: Final = ber.context(10)
RESPONSE_VALUE: Final = ber.context(11)
FILTER_PRESENT: Final = ber.context(7)

MAX_MESSAGE_ID: Final = 2**31 - 1


@dataclass(frozen=True)
class Control:
    """RFC 4511 4.1.11."""

    type: str
    criticality: bool
    value: bytes | None


@dataclass(frozen=True)
class BindRequest:
    """RFC 4511 4.2; ``password`` is ``None`` for a SASL bind."""

    version: int
    name: str
    password: bytes | None
    sasl_mechanism: str | None = None

    def __repr__(self) -> str:
        # Never let a password reach a log line through repr().
        return (f"BindRequest(version={self.version}, name={self.name!r}, "
                f"password=***, sasl_mechanism={self.sasl_mechanism!r})")


@dataclass(frozen=True)
class UnbindRequest:
    """RFC 4511 4.3."""


@dataclass(frozen=True)
class SearchRequest:
    """RFC 4511 4.5.1; the filter is checked for shape but not kept."""

    base: str
    scope: int
    deref_aliases: int
    size_limit: int
    time_limit: int
    types_only: bool
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class ExtendedRequest:
    """RFC 4511 4.12."""

    name: str
    value: bytes | None


@dataclass(frozen=True)
class AbandonRequest:
    """RFC 4511 4.11."""

    message_id: int


@dataclass(frozen=True)
class RefusedRequest:
    """An operation the lab does not serve; ``response_tag`` is its reply."""

    tag: int
    response_tag: int


Operation = (BindRequest | UnbindRequest | SearchRequest | ExtendedRequest
             | AbandonRequest | RefusedRequest)


@dataclass(frozen=True)
class LdapMessage:
    """RFC 4511 4.1.1: an envelope around one operation."""

    message_id: int
    operation: Operation
    controls: tuple[Control, ...] = ()


# -- server side: requests in -------------------------------------------


def _expect(element: Tlv, tag: int, what: str) -> Tlv:
    if element.tag != tag:
        raise BerError(f"{what}: expected tag {tag:#04x}, got {element.tag:#04x}")
    return element


def _decode_controls(element: Tlv) -> tuple[Control, ...]:
    controls: list[Control] = []
    for item in element.children():
        parts = _expect(item, ber.SEQUENCE, "control").children()
        if not parts:
            raise BerError("control without a type")
        control_type = _expect(parts[0], ber.OCTET_STRING, "controlType").as_text()
        criticality, value = False, None
        for part in parts[1:]:
            if part.tag == ber.BOOLEAN:
                criticality = part.as_bool()
            elif part.tag == ber.OCTET_STRING:
                value = part.content
            else:
                raise BerError("unexpected element in control")
        controls.append(Control(control_type, criticality, value))
    return tuple(controls)


def _decode_bind(element: Tlv) -> BindRequest:
    parts = element.children()
    if len(parts) != 3:
        raise BerError("BindRequest needs version, name, authentication")
    version = _expect(parts[0], ber.INTEGER, "version").as_int()
    name = _expect(parts[1], ber.OCTET_STRING, "name").as_text()
    auth = parts[2]
    if auth.tag == SIMPLE_AUTH:
        return BindRequest(version, name, auth.content)
    if auth.tag == SASL_AUTH:
        sasl = auth.children()
        if not sasl:
            raise BerError("SASL credentials without a mechanism")
        mechanism = _expect(sasl[0], ber.OCTET_STRING, "mechanism").as_text()
        return BindRequest(version, name, None, mechanism)
    raise BerError(f"unknown authentication choice {auth.tag:#04x}")


def _decode_search(element: Tlv) -> SearchRequest:
    parts = element.children()
    if len(parts) != 8:
        raise BerError("SearchRequest needs eight fields")
    base = _expect(parts[0], ber.OCTET_STRING, "baseObject").as_text()
    scope = _expect(parts[1], ber.ENUMERATED, "scope").as_int()
    deref = _expect(parts[2], ber.ENUMERATED, "derefAliases").as_int()
    size_limit = _expect(parts[3], ber.INTEGER, "sizeLimit").as_int()
    time_limit = _expect(parts[4], ber.INTEGER, "timeLimit").as_int()
    types_only = _expect(parts[5], ber.BOOLEAN, "typesOnly").as_bool()
    if parts[6].tag & ber.CLASS_MASK != ber.CONTEXT:
        raise BerError("filter must be a context-tagged choice")
    if parts[6].constructed:
        ber.check_depth(parts[6])
    selection = _expect(parts[7], ber.SEQUENCE, "attributes").children()
    attributes = tuple(_expect(a, ber.OCTET_STRING, "attribute").as_text()
                       for a in selection)
    return SearchRequest(base, scope, deref, size_limit, time_limit, types_only,
                         attributes)


def _decode_extended(element: Tlv) -> ExtendedRequest:
    parts = element.children()
    if not parts or len(parts) > 2:
        raise BerError("ExtendedRequest needs a name and at most a value")
    name = _expect(parts[0], EXTENDED_NAME, "requestName").as_text()
    value = None
    if len(parts) == 2:
        value = _expect(parts[1], EXTENDED_VALUE, "requestValue").content
    return ExtendedRequest(name, value)


def _decode_operation(element: Tlv) -> Operation:
    if element.tag == BIND_REQUEST:
        return _decode_bind(element)
    if element.tag == UNBIND_REQUEST:
        return UnbindRequest()
    if element.tag == SEARCH_REQUEST:
        return _decode_search(element)
    if element.tag == EXTENDED_REQUEST:
        return _decode_extended(element)
    if element.tag == ABANDON_REQUEST:
        return AbandonRequest(ber.decode_integer(element.content))
    if element.tag in REFUSED_REQUESTS:
        if element.constructed:
            ber.check_depth(element)
        return RefusedRequest(element.tag, REFUSED_REQUESTS[element.tag])
    raise BerError(f"unknown protocol operation {element.tag:#04x}")


def decode_message(pdu: bytes) -> LdapMessage:
    """One complete LDAPMessage; :class:`BerError` if it is not one."""
    envelope, end = ber.decode_one(pdu)
    if end != len(pdu):
        raise BerError("trailing octets after the message")
    parts = _expect(envelope, ber.SEQUENCE, "LDAPMessage").children()
    if len(parts) not in (2, 3):
        raise BerError("LDAPMessage needs messageID and protocolOp")

    message_id = _expect(parts[0], ber.INTEGER, "messageID").as_int()
    if not 0 <= message_id <= MAX_MESSAGE_ID:
        raise BerError("messageID out of range")
    operation = _decode_operation(parts[1])
    controls: tuple[Control, ...] = ()
    if len(parts) == 3:
        controls = _decode_controls(_expect(parts[2], CONTROLS, "controls"))
    return LdapMessage(message_id, operation, controls)


# -- server side: responses out ------------------------------------------


def _envelope(message_id: int, operation: bytes) -> bytes:
    return ber.sequence(ber.integer(message_id), operation)


def _result(code: int, matched_dn: str, message: str) -> bytes:
    # RFC 4511 4.1.9: resultCode, matchedDN, diagnosticMessage.
    return (ber.enumerated(code) + ber.octet_string(matched_dn)
            + ber.octet_string(message))


def result_response(message_id: int, tag: int, code: int, message: str = "",
                    matched_dn: str = "") -> bytes:
    """Any response that is an LDAPResult alone (bind, done, modify ...)."""
    return _envelope(message_id, ber.tlv(tag, _result(code, matched_dn, message)))


def search_result_entry(message_id: int, dn: str,
                        attributes: list[tuple[str, list[bytes]]]) -> bytes:
    """RFC 4511 4.5.2: the entry's name and its PartialAttributeList."""
    partial = ber.sequence(*(
        ber.sequence(ber.octet_string(name),
                     ber.set_of(*(ber.octet_string(v) for v in values)))
        for name, values in attributes))
    entry = ber.sequence(ber.octet_string(dn), partial, tag=SEARCH_RESULT_ENTRY)
    return _envelope(message_id, entry)


def extended_response(message_id: int, code: int, message: str = "", *,
                      name: str | None = None, value: bytes | None = None,
                      ) -> bytes:
    """RFC 4511 4.12: LDAPResult plus optional responseName/responseValue."""
    content = _result(code, "", message)
    if name is not None:
        content += ber.octet_string(name, RESPONSE_NAME)
    if value is not None:
        content += ber.octet_string(value, RESPONSE_VALUE)
    return _envelope(message_id, ber.tlv(EXTENDED_RESPONSE, content))


# -- client side -------------------------------------------------------------


def bind_request(message_id: int, name: str, password: str | bytes) -> bytes:
    secret = password.encode() if isinstance(password, str) else password
    op = ber.sequence(ber.integer(3), ber.octet_string(name),
                      ber.octet_string(secret, SIMPLE_AUTH), tag=BIND_REQUEST)
    return _envelope(message_id, op)


def unbind_request(message_id: int) -> bytes:
    return _envelope(message_id, ber.tlv(UNBIND_REQUEST, b""))


def search_request(message_id: int, base: str = "", *, scope: int = 0,
                   attributes: tuple[str, ...] = (),
                   present: str = "objectClass") -> bytes:
    """A search with the filter ``(present=*)``, as ldapsearch sends."""
    op = ber.sequence(
        ber.octet_string(base), ber.enumerated(scope), ber.enumerated(0),
        ber.integer(0), ber.integer(0), ber.boolean(False),
        ber.octet_string(present, FILTER_PRESENT),
        ber.sequence(*(ber.octet_string(a) for a in attributes)),
        tag=SEARCH_REQUEST)
    return _envelope(message_id, op)


def extended_request(message_id: int, name: str,
                     value: bytes | None = None) -> bytes:
    content = ber.octet_string(name, EXTENDED_NAME)
    if value is not None:
        content += ber.octet_string(value, EXTENDED_VALUE)
    return _envelope(message_id, ber.tlv(EXTENDED_REQUEST, content))


@dataclass(frozen=True)
class LdapResponse:
    """A decoded response; ``attributes`` for an entry, ``value`` for extended."""

    message_id: int
    tag: int
    result_code: int | None = None
    matched_dn: str = ""
    diagnostic_message: str = ""
    dn: str = ""
    attributes: tuple[tuple[str, tuple[bytes, ...]], ...] = ()
    response_name: str | None = None
    value: bytes | None = None


def decode_response(pdu: bytes) -> LdapResponse:
    """A server's LDAPMessage, for clients and tests."""
    envelope, _ = ber.decode_one(pdu)
    parts = _expect(envelope, ber.SEQUENCE, "LDAPMessage").children()
    message_id = _expect(parts[0], ber.INTEGER, "messageID").as_int()
    op = parts[1]
    fields = op.children()

    if op.tag == SEARCH_RESULT_ENTRY:
        attributes = tuple(
            (pair[0].as_text(), tuple(v.content for v in pair[1].children()))
            for pair in (item.children() for item in fields[1].children()))
        return LdapResponse(message_id, op.tag, dn=fields[0].as_text(),
                            attributes=attributes)

    name = value = None
    for extra in fields[3:]:
        if extra.tag == RESPONSE_NAME:
            name = extra.as_text()
        elif extra.tag == RESPONSE_VALUE:
            value = extra.content
    return LdapResponse(
        message_id, op.tag, result_code=fields[0].as_int(),
        matched_dn=fields[1].as_text(), diagnostic_message=fields[2].as_text(),
        response_name=name, value=value)
