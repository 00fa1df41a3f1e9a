"""One LDAP session of the Edge host, without I/O: bytes in, bytes out.

The lab's directory is deliberately tiny: simple bind against the lab users,
the RootDSE (RFC 4512 5.1), "Who am I?" (RFC 4532), and nothing else. Every
other operation gets its own response type with ``unwillingToPerform``, so a
real client shows a clear refusal rather than hanging.

Bytes that are not LDAP end the session with a Notice of Disconnection
(RFC 4511 4.4.1) and a close: after a framing error there is no way to find
the start of the next message.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from lab.ldap import ber, messages
from lab.ldap.ber import BerError
from lab.ldap.messages import (
    AbandonRequest,
    BindRequest,
    ExtendedRequest,
    LdapMessage,
    RefusedRequest,
    SearchRequest,
    UnbindRequest,
)

log = logging.getLogger(__name__)

# Result codes, RFC 4511 Appendix A.
SUCCESS: Final = 0
OPERATIONS_ERROR: Final = 1
PROTOCOL_ERROR: Final = 2
AUTH_METHOD_NOT_SUPPORTED: Final = 7
UNAVAILABLE_CRITICAL_EXTENSION: Final = 12
INVALID_CREDENTIALS: Final = 49
UNAVAILABLE: Final = 52
UNWILLING_TO_PERFORM: Final = 53

WHOAMI_OID: Final = "1.3.6.1.4.1.4203.1.11.3"  # RFC 4532 2
STARTTLS_OID: Final = "1.3.6.1.4.1.1466.20037"  # RFC 4511 4.14
NOTICE_OF_DISCONNECTION_OID: Final = "1.3.6.1.4.1.1466.20036"  # RFC 4511 4.4.1
VENDOR_NAME: Final = "Mailflow Lab"


@dataclass(frozen=True)
class LabDirectory:
    """The lab users as directory entries under ``dc=<domain parts>``."""

    domain: str
    users: Mapping[str, str]  # address -> password

    @property
    def base_dn(self) -> str:
        return ",".join(f"dc={label}" for label in self.domain.lower().split("."))

    def dn_of(self, address: str) -> str:
        return f"cn={address.partition('@')[0].lower()},{self.base_dn}"

    def _address_for(self, name: str) -> str | None:
        """The lab address a bind name means: a DN or ``user@domain``."""
        by_lower = {address.lower(): address for address in self.users}
        name = name.strip().lower()
        if "=" not in name:
            return by_lower.get(name)

        rdns = [rdn.strip() for rdn in name.split(",")]
        first, _, local = rdns[0].partition("=")
        rest = ",".join("=".join(p.strip() for p in rdn.split("=", 1))
                        for rdn in rdns[1:])
        if first.strip() not in ("cn", "uid") or rest != self.base_dn:
            return None
        return by_lower.get(f"{local.strip()}@{self.domain.lower()}")

    def authenticate(self, name: str, password: bytes) -> str | None:
        """The canonical DN for a correct name and password, else ``None``."""
        address = self._address_for(name)
        if address is None:
            return None
        expected = self.users[address].encode("utf-8")
        # Constant time, so the lab does not teach a timing oracle.
        if not hmac.compare_digest(password, expected):
            return None
        return self.dn_of(address)

    def root_dse(self) -> list[tuple[str, list[bytes]]]:
        return [
            ("objectClass", [b"top"]),
            ("namingContexts", [self.base_dn.encode()]),
            ("supportedLDAPVersion", [b"3"]),
            ("supportedExtension", [WHOAMI_OID.encode()]),
            ("vendorName", [VENDOR_NAME.encode()]),
        ]


@dataclass(frozen=True)
class Output:
    """What the I/O shell must do: write ``data``, then close if ``close``."""

    data: bytes = b""
    close: bool = False


def notice_of_disconnection(code: int, message: str) -> bytes:
    """The unsolicited notification of RFC 4511 4.4.1 (messageID 0)."""
    return messages.extended_response(0, code, message,
                                      name=NOTICE_OF_DISCONNECTION_OID)


@dataclass
class LdapSession:
    """The state of one connection: its buffer and its bound identity."""

    directory: LabDirectory
    peer: str = "?"
    bound_dn: str = ""
    closed: bool = False
    _buffer: bytearray = field(default_factory=bytearray)

    def receive(self, data: bytes) -> Output:
        """Feed bytes from the peer; get every reply they complete."""
        if self.closed:
            return Output(close=True)
        self._buffer += data

        replies: list[bytes] = []
        while not self.closed:
            try:
                pdu = self._next_pdu()
                if pdu is None:
                    break
                message = messages.decode_message(pdu)
            except BerError as exc:
                log.info("ldap: %s sent bad BER (%s); disconnecting", self.peer, exc)
                replies.append(notice_of_disconnection(PROTOCOL_ERROR, str(exc)))
                self.closed = True
                break
            log.debug("ldap: %s -> #%d %r", self.peer, message.message_id,
                      message.operation)
            replies.append(self._handle(message))
        return Output(b"".join(replies), self.closed)

    def _next_pdu(self) -> bytes | None:
        if not self._buffer:
            return None
        if self._buffer[0] != ber.SEQUENCE:
            raise BerError("an LDAPMessage must start with a SEQUENCE")
        header = ber.header_length(self._buffer)
        if header is None:
            return None
        size, length = header
        if len(self._buffer) < size + length:
            return None
        pdu = bytes(self._buffer[:size + length])
        del self._buffer[:size + length]
        return pdu

    def _handle(self, message: LdapMessage) -> bytes:
        op = message.operation
        if message.message_id == 0:
            # RFC 4511 4.1.1.1: zero is reserved for unsolicited notifications.
            self.closed = True
            return notice_of_disconnection(PROTOCOL_ERROR, "messageID 0 is reserved")
        if isinstance(op, UnbindRequest):
            log.debug("ldap: %s unbinds", self.peer)
            self.closed = True
            return b""
        if isinstance(op, AbandonRequest):
            return b""  # RFC 4511 4.11: no response, and nothing is pending

        critical = [c.type for c in message.controls if c.criticality]
        if critical:
            return self._refuse(message, UNAVAILABLE_CRITICAL_EXTENSION,
                                f"unsupported critical control {critical[0]}")
        if isinstance(op, BindRequest):
            return self._bind(message.message_id, op)
        if isinstance(op, SearchRequest):
            return self._search(message.message_id, op)
        if isinstance(op, ExtendedRequest):
            return self._extended(message.message_id, op)
        return self._refuse(message, UNWILLING_TO_PERFORM,
                            "the lab directory is read-only")

    def _refuse(self, message: LdapMessage, code: int, text: str) -> bytes:
        op = message.operation
        log.debug("ldap: %s <- #%d refused (%d %s)", self.peer,
                  message.message_id, code, text)
        if isinstance(op, ExtendedRequest):
            return messages.extended_response(message.message_id, code, text)
        tag = {
            BindRequest: messages.BIND_RESPONSE,
            SearchRequest: messages.SEARCH_RESULT_DONE,
        }.get(type(op))
        if isinstance(op, RefusedRequest):
            tag = op.response_tag
        assert tag is not None
        return messages.result_response(message.message_id, tag, code, text)

    def _bind(self, message_id: int, op: BindRequest) -> bytes:
        # RFC 4511 4.2.1: a bind, even a failed one, first resets to anonymous.
        self.bound_dn = ""
        code, text = SUCCESS, ""
        if op.version != 3:
            code, text = PROTOCOL_ERROR, "only LDAPv3 is supported"
        elif op.password is None:
            code, text = AUTH_METHOD_NOT_SUPPORTED, "only simple bind is supported"
        elif not op.name and not op.password:
            text = "anonymous"
        elif not op.password:
            # RFC 4513 5.1.2: unauthenticated binds are refused by default.
            code, text = UNWILLING_TO_PERFORM, "unauthenticated bind refused"
        else:
            dn = self.directory.authenticate(op.name, op.password)
            if dn is None:
                code, text = INVALID_CREDENTIALS, "invalid credentials"
            else:
                self.bound_dn = dn

        log.info("ldap: %s bind as %r: %s", self.peer, op.name or "(anonymous)",
                 "success" if code == SUCCESS else f"{code} {text}")
        return messages.result_response(message_id, messages.BIND_RESPONSE, code,
                                        "" if code == SUCCESS else text)

    def _search(self, message_id: int, op: SearchRequest) -> bytes:
        # TODO: the filter is checked for shape only, never evaluated; the
        # RootDSE is all the lab serves and clients ask (objectClass=*).
        if op.base != "" or op.scope != 0:
            return messages.result_response(
                message_id, messages.SEARCH_RESULT_DONE, UNWILLING_TO_PERFORM,
                "the lab serves only the RootDSE (base \"\", scope base)")

        wanted = {a.lower() for a in op.attributes}
        # RFC 4511 4.5.1.8: no list or "*" means all user attributes. RootDSE
        # attributes are operational (RFC 4512 5.1), but the lab shows them
        # anyway so that a plain ldapsearch tells something; "1.1" is none.
        everything = not wanted or bool(wanted & {"*", "+"})
        attributes = [
            (name, [] if op.types_only else values)
            for name, values in self.directory.root_dse()
            if everything or name.lower() in wanted
        ]
        log.debug("ldap: %s <- #%d RootDSE, %d attributes", self.peer, message_id,
                  len(attributes))
        return (messages.search_result_entry(message_id, "", attributes)
                + messages.result_response(message_id, messages.SEARCH_RESULT_DONE,
                                           SUCCESS))

    def _extended(self, message_id: int, op: ExtendedRequest) -> bytes:
        if op.name == WHOAMI_OID:
            if op.value is not None:
                # RFC 4532 2.1: the request carries no value.
                return messages.extended_response(message_id, PROTOCOL_ERROR,
                                                  "whoami takes no value")
            # RFC 4532 2.2: "dn:" plus the DN, or empty when anonymous.
            authz_id = f"dn:{self.bound_dn}" if self.bound_dn else ""
            log.debug("ldap: %s <- #%d whoami %r", self.peer, message_id, authz_id)
            return messages.extended_response(message_id, SUCCESS,
                                              value=authz_id.encode())
        if op.name == STARTTLS_OID:
            # RFC 4513 3.1.1: TLS is already in place on LDAPS.
            return messages.extended_response(message_id, OPERATIONS_ERROR,
                                              "TLS is already established")
        # RFC 4511 4.12: an unknown request name gets protocolError.
        return messages.extended_response(message_id, PROTOCOL_ERROR,
                                          f"unsupported extended operation {op.name}")
