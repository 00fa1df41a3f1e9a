"""The POX Autodiscover exchange of Outlook, as pure functions.

A client POSTs an ``<Autodiscover>`` request naming an e-mail address and the
response schema it understands ([MS-OXDSCLI] 2.2.3); the server answers with
the account's protocol settings, or with an ``<Error>`` carrying one of the
documented error codes ([MS-OXDSCLI] 2.2.4.1.1.3.1: 500 address not found,
600 invalid request, 601 schema not available).

Requests come from the network, so parsing is bounded in size and depth and
refuses any document type declaration: with no DTD there is no entity to
expand, which rules out "billion laughs" and external entity tricks.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

REQUEST_NS: Final = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006")
RESPONSE_NS: Final = (
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006")
OUTLOOK_RESPONSE_NS: Final = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/"
    "responseschema/2006a")

MAX_REQUEST_BYTES: Final = 64 * 1024
MAX_DEPTH: Final = 8
MAX_ADDRESS_LENGTH: Final = 320  # RFC 5321 4.5.3.1: 64 + "@" + 255

ADDRESS_NOT_FOUND: Final = 500
INVALID_REQUEST: Final = 600
SCHEMA_NOT_AVAILABLE: Final = 601

_ERROR_MESSAGES: Final = {
    ADDRESS_NOT_FOUND: "The e-mail address cannot be found.",
    INVALID_REQUEST: "Invalid Request",
    SCHEMA_NOT_AVAILABLE: "Provider is not available for the requested schema.",
}


class AutodiscoverRejected(ValueError):
    """The request body is not an acceptable XML document (HTTP 400/413)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


@dataclass(frozen=True)
class AutodiscoverRequest:
    """What a POX request asks for ([MS-OXDSCLI] 2.2.3.1)."""

    email_address: str | None
    acceptable_response_schema: str | None
    legacy_dn: str | None = None


@dataclass(frozen=True)
class ProtocolSettings:
    """One ``<Protocol>`` entry of the response ([MS-OXDSCLI] 2.2.4.1.1.2.2)."""

    type: str  # IMAP, POP3 or SMTP
    server: str
    port: int
    ssl: bool  # implicit TLS on connect
    encryption: str | None = None  # "TLS" for STARTTLS, per Outlook's reading
    login_name: str | None = None


@dataclass(frozen=True)
class AutodiscoverResult:
    """The XML to answer and what it says, for logs and tests."""

    xml: bytes
    error_code: int | None


class _Builder(ET.TreeBuilder):
    """A tree builder that refuses a DOCTYPE and bounds the nesting."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        # Called at the start of the declaration, before any entity in its
        # internal subset is declared, let alone expanded.
        raise AutodiscoverRejected("DOCTYPE is not allowed")

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise AutodiscoverRejected("XML nested too deeply")
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _child_text(parent: ET.Element, local: str) -> str | None:
    for child in parent:
        if _split(child.tag)[1] == local:
            text = (child.text or "").strip()
            return text or None
    return None


def parse_request(body: bytes) -> AutodiscoverRequest:
    """Read a POX request; raise :class:`AutodiscoverRejected` on bad XML.

    A well-formed document that is not an Outlook request still parses: its
    fields come back ``None`` and :func:`answer` turns that into error 600,
    as Exchange does, instead of an HTTP error.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise AutodiscoverRejected("request body too large", too_large=True)

    parser = ET.XMLParser(target=_Builder())
    try:
        parser.feed(body)
        root = parser.close()
    except AutodiscoverRejected:
        raise
    except ET.ParseError as exc:
        raise AutodiscoverRejected(f"malformed XML: {exc}") from None

    namespace, local = _split(root.tag)
    if local != "Autodiscover" or namespace != REQUEST_NS:
        return AutodiscoverRequest(None, None)
    request = next((c for c in root if _split(c.tag)[1] == "Request"), None)
    if request is None:
        return AutodiscoverRequest(None, None)

    address = _child_text(request, "EMailAddress")
    if address is not None and len(address) > MAX_ADDRESS_LENGTH:
        address = None
    return AutodiscoverRequest(
        email_address=address,
        acceptable_response_schema=_child_text(request, "AcceptableResponseSchema"),
        legacy_dn=_child_text(request, "LegacyDN"),
    )


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def error_response(code: int, *, debug_data: str = "",
                   time: str = "00:00:00.0000000", error_id: str = "0",
                   ) -> bytes:
    """An ``<Error>`` answer ([MS-OXDSCLI] 2.2.4.1.1.3)."""
    root = ET.Element("Autodiscover", {"xmlns": RESPONSE_NS})
    response = ET.SubElement(root, "Response", {"xmlns": OUTLOOK_RESPONSE_NS})
    error = ET.SubElement(response, "Error", {"Time": time, "Id": error_id})
    _text(error, "ErrorCode", str(code))
    _text(error, "Message", _ERROR_MESSAGES.get(code, "Error"))
    _text(error, "DebugData", debug_data)
    return _serialise(root)


def settings_response(display_name: str, protocols: list[ProtocolSettings],
                      ) -> bytes:
    """An ``<Account>`` answer with ``Action`` settings ([MS-OXDSCLI] 2.2.4.1.1.2)."""
    root = ET.Element("Autodiscover", {"xmlns": RESPONSE_NS})
    response = ET.SubElement(root, "Response", {"xmlns": OUTLOOK_RESPONSE_NS})
    user = ET.SubElement(response, "User")
    _text(user, "DisplayName", display_name)
    account = ET.SubElement(response, "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")

    for settings in protocols:
        protocol = ET.SubElement(account, "Protocol")
        _text(protocol, "Type", settings.type)
        _text(protocol, "Server", settings.server)
        _text(protocol, "Port", str(settings.port))
        if settings.login_name:
            _text(protocol, "LoginName", settings.login_name)
        _text(protocol, "SPA", "off")
        if settings.encryption:
            # Outlook reads Encryption in preference to SSL; "TLS" means
            # STARTTLS on the plain port.
            _text(protocol, "Encryption", settings.encryption)
        else:
            _text(protocol, "SSL", "on" if settings.ssl else "off")
        _text(protocol, "AuthRequired", "on")
    return _serialise(root)


def display_name_for(address: str) -> str:
    """A readable name from the local part: ``alice.smith`` -> ``Alice Smith``."""
    local = address.partition("@")[0]
    words = local.replace("_", ".").replace("-", ".").split(".")
    return " ".join(word.capitalize() for word in words if word) or address


def lab_protocols(address: str, servers: Mapping[str, tuple[str, int]],
                  ) -> list[ProtocolSettings]:
    """The lab's protocols for one user, from ``servers`` (kind -> host, port).

    IMAP and POP3 are served with implicit TLS (993, 995), submission with
    STARTTLS (587, RFC 8314 3.3 names both); the lab fixes the kind, the
    scenario only the host and port.
    """
    protocols: list[ProtocolSettings] = []
    for kind, type_, ssl, encryption in (("imap", "IMAP", True, None),
                                         ("pop3", "POP3", True, None),
                                         ("smtp", "SMTP", False, "TLS")):
        if kind in servers:
            host, port = servers[kind]
            protocols.append(ProtocolSettings(
                type=type_, server=host, port=port, ssl=ssl,
                encryption=encryption, login_name=address))
    return protocols


def answer(request: AutodiscoverRequest, users: Mapping[str, str],
           servers: Mapping[str, tuple[str, int]],
           display_names: Mapping[str, str] | None = None,
           time: str = "00:00:00.0000000") -> AutodiscoverResult:
    """Settings for a known address, or the documented error otherwise.

    ``time`` goes into an error's ``Time`` attribute; the caller owns the
    clock so that this stays a pure function.
    """
    if request.email_address is None:
        return AutodiscoverResult(error_response(INVALID_REQUEST, time=time),
                                  INVALID_REQUEST)
    if request.acceptable_response_schema != OUTLOOK_RESPONSE_NS:
        return AutodiscoverResult(error_response(SCHEMA_NOT_AVAILABLE, time=time),
                                  SCHEMA_NOT_AVAILABLE)

    by_lower = {address.lower(): address for address in users}
    address = by_lower.get(request.email_address.lower())
    if address is None:
        log.info("autodiscover: %s is not a lab user", request.email_address)
        return AutodiscoverResult(error_response(ADDRESS_NOT_FOUND, time=time),
                                  ADDRESS_NOT_FOUND)

    names = display_names or {}
    display_name = names.get(address) or display_name_for(address)
    xml = settings_response(display_name, lab_protocols(address, servers))
    log.info("autodiscover: settings for %s", address)
    return AutodiscoverResult(xml, None)
