"""The POX Autodiscover request parser and response builder, without I/O."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lab.http import autodiscover
from lab.http.autodiscover import (
    OUTLOOK_RESPONSE_NS,
    RESPONSE_NS,
    AutodiscoverRejected,
    AutodiscoverRequest,
    answer,
    parse_request,
)
from tests.http.conftest import SERVERS, USERS, request_xml

NS = {"a": RESPONSE_NS, "o": OUTLOOK_RESPONSE_NS}


def _protocols(xml: bytes) -> dict[str, dict[str, str]]:
    root = ET.fromstring(xml)
    found = {}
    for protocol in root.iterfind("o:Response/o:Account/o:Protocol", NS):
        fields = {child.tag.split("}")[1]: child.text or "" for child in protocol}
        found[fields["Type"]] = fields
    return found


def _error_code(xml: bytes) -> str | None:
    root = ET.fromstring(xml)
    return root.findtext("o:Response/o:Error/o:ErrorCode", namespaces=NS)


def test_parse_outlook_request() -> None:
    request = parse_request(request_xml("alice@contoso.test"))

    assert request.email_address == "alice@contoso.test"
    assert request.acceptable_response_schema == OUTLOOK_RESPONSE_NS


def test_known_user_gets_imap_pop3_and_smtp_settings() -> None:
    result = answer(parse_request(request_xml("Alice@Contoso.test")), USERS,
                    SERVERS)

    assert result.error_code is None
    root = ET.fromstring(result.xml)
    assert root.tag == f"{{{RESPONSE_NS}}}Autodiscover"
    assert root.findtext("o:Response/o:User/o:DisplayName", namespaces=NS) == "Alice"
    account = root.find("o:Response/o:Account", NS)
    assert account is not None
    assert account.findtext("o:AccountType", namespaces=NS) == "email"
    assert account.findtext("o:Action", namespaces=NS) == "settings"

    protocols = _protocols(result.xml)
    assert protocols["IMAP"]["Server"] == "mail.contoso.test"
    assert (protocols["IMAP"]["Port"], protocols["IMAP"]["SSL"]) == ("993", "on")
    assert (protocols["POP3"]["Port"], protocols["POP3"]["SSL"]) == ("995", "on")
    assert protocols["SMTP"]["Port"] == "587"
    assert protocols["SMTP"]["Encryption"] == "TLS"
    assert protocols["SMTP"]["LoginName"] == "alice@contoso.test"


def test_unknown_address_gets_error_500() -> None:
    result = answer(parse_request(request_xml("mallory@contoso.test")), USERS,
                    SERVERS)

    assert result.error_code == autodiscover.ADDRESS_NOT_FOUND
    assert _error_code(result.xml) == "500"
    root = ET.fromstring(result.xml)
    message = root.findtext("o:Response/o:Error/o:Message", namespaces=NS)
    assert message == "The e-mail address cannot be found."


def test_other_response_schema_gets_error_601() -> None:
    mobile = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/2006"
    result = answer(parse_request(request_xml("alice@contoso.test", mobile)),
                    USERS, SERVERS)

    assert result.error_code == autodiscover.SCHEMA_NOT_AVAILABLE
    assert _error_code(result.xml) == "601"


@pytest.mark.parametrize("body", [
    b"<Autodiscover><Request/></Autodiscover>",  # no namespace
    b"<Something xmlns='urn:x'/>",
    request_xml("alice@contoso.test").replace(b"<EMailAddress>alice@contoso.test"
                                              b"</EMailAddress>", b""),
])
def test_well_formed_but_wrong_request_gets_error_600(body: bytes) -> None:
    result = answer(parse_request(body), USERS, SERVERS)

    assert result.error_code == autodiscover.INVALID_REQUEST
    assert _error_code(result.xml) == "600"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i + 1, (b"&lol%d;" % i if i else b"&lol;")
                                          * 10) for i in range(9))
    + b"]><Autodiscover>&lol9;</Autodiscover>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<Autodiscover>&x;</Autodiscover>"
)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY,
                                  b"<!DOCTYPE Autodiscover><Autodiscover/>"])
def test_doctype_is_refused(body: bytes) -> None:
    with pytest.raises(AutodiscoverRejected, match="DOCTYPE"):
        parse_request(body)


@pytest.mark.parametrize("body", [
    b"", b"not xml at all", b"<Autodiscover><Request>", b"<a>&undefined;</a>",
    "<a>\u00e9</a>".encode("latin-1"),
])
def test_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(AutodiscoverRejected, match="malformed"):
        parse_request(body)


def test_deep_nesting_is_refused() -> None:
    body = b"<a>" * 50 + b"</a>" * 50

    with pytest.raises(AutodiscoverRejected, match="deeply"):
        parse_request(body)


def test_oversized_body_is_refused_before_parsing() -> None:
    body = b"<a>" + b"x" * autodiscover.MAX_REQUEST_BYTES + b"</a>"

    with pytest.raises(AutodiscoverRejected) as caught:
        parse_request(body)
    assert caught.value.too_large


def test_overlong_address_is_not_looked_up() -> None:
    request = parse_request(request_xml("a" * 400 + "@contoso.test"))

    assert request == AutodiscoverRequest(None, OUTLOOK_RESPONSE_NS)


def test_display_name_from_local_part() -> None:
    assert autodiscover.display_name_for("alice.smith@contoso.test") == "Alice Smith"
