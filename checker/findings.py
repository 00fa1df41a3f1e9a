"""Findings: what the checker concludes, and the catalogue of their codes.

A code is stable: scenarios, scores and other people's tooling key on it.
Each has one severity, a meaning, what evidence proves it, the remediation
and the document the remediation rests on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    meaning: str
    proof: str
    remediation: str
    reference: str


CATALOGUE: dict[str, Code] = {c.code: c for c in (
    Code("mx.missing", "error",
         "The domain publishes no MX record and no address to fall back on.",
         "The MX query answered NXDOMAIN or NODATA, and so did A/AAAA at the apex.",
         "Publish MX records naming the hosts that accept mail for the domain.",
         "RFC 5321 section 5.1"),
    Code("mx.host-unresolvable", "error",
         "An MX record names a host that has no address.",
         "The exchange's A and AAAA queries answered NXDOMAIN or NODATA.",
         "Point the MX at a host with an A/AAAA record, or add the missing "
         "address record.",
         "RFC 5321 section 5.1; RFC 2181 section 10.3"),
    Code("ptr.missing", "error",
         "A sending or receiving address has no PTR record.",
         "The PTR query for the address's in-addr.arpa name answered NXDOMAIN "
         "or NODATA.",
         "Ask whoever holds the address block (the ISP or cloud provider) to "
         "publish a PTR naming the host, matching its A record and EHLO name.",
         "RFC 1912 section 2.1; RFC 8601 section 2.7.3"),
    Code("ptr.mismatch", "error",
         "A PTR names a host whose address does not lead back "
         "(forward-confirmed reverse DNS fails).",
         "The PTR answer's names, looked up forward, do not include the address.",
         "Make the PTR name a host whose A/AAAA record holds this address.",
         "RFC 8601 section 2.7.3 (iprev)"),
    Code("spf.missing", "warning",
         "The domain publishes no SPF record.",
         "No TXT record at the domain begins with 'v=spf1'.",
         "Publish one TXT record 'v=spf1 ... -all' listing the outbound relays.",
         "RFC 7208 section 4.5"),
    Code("spf.syntax", "error",
         "The SPF record does not parse, so every check ends in permerror.",
         "The evaluator's permerror and the term it could not parse.",
         "Fix the term named in the evidence; see the record syntax of RFC 7208.",
         "RFC 7208 sections 4.6 and 12"),
    Code("spf.too-many-lookups", "error",
         "Evaluating the SPF record needs more than 10 DNS-querying terms.",
         "The lookup tree with its count, and the first term past the limit.",
         "Flatten includes or drop unused ones until at most 10 terms query DNS.",
         "RFC 7208 section 4.6.4"),
    Code("spf.ip-not-authorized", "error",
         "The SPF record does not authorise the outbound relay's address.",
         "check_host() for the relay's address gave fail, softfail or neutral.",
         "Add the relay's address (ip4:/ip6:) or a mechanism that covers it.",
         "RFC 7208 section 2.6"),
    Code("port.filtered", "error",
         "A mail port does not answer: connections time out, as behind a "
         "firewall that drops packets.",
         "The TCP connect timed out with no reply.",
         "Allow the port through every firewall between the clients and the host.",
         "RFC 5321 section 4.5.3.2 (for SMTP timeouts)"),
    Code("port.closed", "error",
         "A mail port refuses connections: nothing listens, or a firewall "
         "rejects.",
         "The TCP connect was refused (reset) at once.",
         "Start the service on the port, or remove the rejecting firewall rule.",
         "RFC 9293 section 3.10.7.1"),
    Code("smtp.banner-bad", "error",
         "The SMTP server's greeting is missing or is not a 220.",
         "The transcript: the first line the server sent, or none in time.",
         "Make the server greet with '220 <its host name>' promptly.",
         "RFC 5321 section 4.3.1"),
    Code("smtp.ehlo-refused", "error",
         "The SMTP server refuses EHLO.",
         "The transcript: the EHLO command and its reply.",
         "Allow EHLO from any client; refusing it breaks ESMTP for every sender.",
         "RFC 5321 section 4.1.1.1"),
    Code("mx.cname", "warning",
         "An MX record names an alias (CNAME), not a host.",
         "The exchange's address lookup went through a CNAME.",
         "Point the MX at the canonical host name the CNAME leads to.",
         "RFC 2181 section 10.3; RFC 5321 section 5.1"),
    Code("mx.ip-literal", "error",
         "An MX record holds an IP address where a host name belongs.",
         "The MX answer's exchange parses as an IP address.",
         "Give the server a name (an A/AAAA record) and put that name in the MX.",
         "RFC 5321 section 5.1; RFC 7505 section 1"),
    Code("mx.null", "error",
         "The domain publishes a null MX (it accepts no mail), yet it sends mail.",
         "The MX answer is '0 .' and the SPF record authorises senders.",
         "Replace the null MX with MX records naming the inbound servers.",
         "RFC 7505 sections 3 and 4.2"),
    Code("mx.implicit", "warning",
         "The domain has no MX; mail relies on its own address (implicit MX).",
         "The MX query answered NODATA and the domain has an A/AAAA record.",
         "Publish an MX record naming the host that receives the mail.",
         "RFC 5321 section 5.1"),
    Code("spf.void-lookups", "error",
         "The SPF record makes more than two lookups that find nothing.",
         "The lookup tree with the NXDOMAIN/NODATA answers counted as void.",
         "Remove the terms that name hosts or domains that no longer exist.",
         "RFC 7208 section 4.6.4"),
    Code("spf.multiple-records", "error",
         "The domain publishes more than one SPF record.",
         "Two or more TXT records at the domain begin with 'v=spf1'.",
         "Merge them into one record.",
         "RFC 7208 section 4.5"),
    Code("spf.include-missing", "error",
         "The SPF record includes a domain that has no SPF record.",
         "The include target's TXT lookup found no 'v=spf1' record.",
         "Fix the include to the provider's current SPF name, or remove it.",
         "RFC 7208 section 5.2"),
    Code("spf.plus-all", "error",
         "The SPF record ends in +all: every host on the internet may send.",
         "The record's 'all' mechanism has the '+' qualifier (or none).",
         "End the record with -all (or ~all while testing).",
         "RFC 7208 sections 5.1 and 4.6.2"),
    Code("spf.ptr-mechanism", "warning",
         "The SPF record uses the ptr mechanism.",
         "A 'ptr' term in the record.",
         "Replace ptr with ip4:/ip6: or a: terms for the sending hosts.",
         "RFC 7208 section 5.5"),
    Code("spf.unsplit-long-string", "error",
         "An SPF record is one character-string of exactly 255 octets: it was "
         "cut at the DNS string limit.",
         "The TXT record's single string is 255 octets long.",
         "Enter long records as several quoted strings of at most 255 octets.",
         "RFC 7208 section 3.3; RFC 1035 section 3.3"),
    Code("dmarc.missing", "warning",
         "The domain publishes no DMARC record.",
         "The TXT lookup of _dmarc.<domain> found no 'v=DMARC1' record.",
         "Publish 'v=DMARC1; p=quarantine; rua=mailto:...' at _dmarc.<domain>.",
         "RFC 7489 section 6.1"),
    Code("dmarc.syntax", "error",
         "The DMARC record does not parse, so receivers ignore it.",
         "The record and the first tag that breaks the grammar.",
         "Write tags as 'name=value' separated by ';', v=DMARC1 first, then p=.",
         "RFC 7489 sections 6.3 and 6.4"),
    Code("dmarc.policy-none", "warning",
         "The DMARC policy is p=none: forged mail is not refused.",
         "The record's p tag.",
         "Move to p=quarantine, then p=reject, once reports show mail aligns.",
         "RFC 7489 section 6.3"),
    Code("dns.nxdomain", "error",
         "The domain itself does not exist in DNS.",
         "The query for the domain answered NXDOMAIN.",
         "Renew the registration or restore the zone at its DNS provider.",
         "RFC 8020; RFC 1034 section 4.3.2"),
    Code("dns.servfail", "error",
         "The name server answers SERVFAIL, so the check it belongs to is "
         "inconclusive.",
         "The query and its SERVFAIL answer.",
         "Repair the zone on the authoritative servers (zone file, DNSSEC).",
         "RFC 1035 section 4.1.1; RFC 8499"),
    Code("dns.timeout", "error",
         "The name server does not answer, so the check is inconclusive.",
         "The query and the time waited without a reply.",
         "Make the authoritative servers reachable on UDP and TCP port 53.",
         "RFC 1035 section 4.2; RFC 7766"),
    Code("dns.refused", "error",
         "The name server refuses the question, so the check is inconclusive.",
         "The query and its REFUSED answer.",
         "Serve the zone on that server, or fix the ACL that refuses queries.",
         "RFC 1035 section 4.1.1"),
    Code("dns.tcp-blocked", "error",
         "DNS over TCP fails while an answer is too large for UDP.",
         "The UDP answer had TC set, and the TCP retry got no reply.",
         "Allow TCP port 53 to the name servers (DNS is not UDP only).",
         "RFC 7766 section 5; RFC 1035 section 4.2.2"),
    Code("dns.slow", "warning",
         "The name server answers the domain's queries slowly.",
         "The queries that took longer than the threshold, with their times.",
         "Find the overloaded or distant server; add or move authoritative "
         "servers.",
         "RFC 1034 section 5.3.1"),
    Code("dns.internal-only", "error",
         "A record exists only in the internal view of split DNS: the "
         "organisation sees it, the internet does not.",
         "The same query answered in the internal view and NODATA/NXDOMAIN in "
         "the external one.",
         "Publish the record on the external (public) authoritative servers.",
         "RFC 6950 section 4; RFC 5321 section 5.1"),
    Code("dns.forwarder-broken", "error",
         "The internal resolver cannot resolve names outside the organisation.",
         "An outside domain's query through the internal resolver failed "
         "(SERVFAIL or no answer) while the external view answers.",
         "Repair the internal resolver's forwarders or let it recurse.",
         "RFC 5625; RFC 8499 (forwarder)"),
    Code("dns.split-mismatch", "error",
         "A sending host's address differs between the internal and the "
         "external view, so its reverse DNS confirms in only one of them.",
         "The host's A/AAAA answers in both views, and its PTR.",
         "Make both views publish the same address for internet-facing hosts.",
         "RFC 8601 section 2.7.3; RFC 6950 section 4"),
    Code("dns.lame", "error",
         "A name server listed for the domain does not serve it (lame "
         "delegation).",
         "The SOA query sent straight to that server, without an authoritative "
         "answer.",
         "Load the zone on that server, or remove it from the NS records.",
         "RFC 1912 section 2.8"),
    # region: TLS on the mail ports
    Code("tls.expired", "error",
         "The certificate a mail port presents has expired.",
         "The certificate's notAfter lies in the past.",
         "Renew the certificate and install it, with its chain, on the service.",
         "RFC 5280 section 4.1.2.5"),
    Code("tls.not-yet-valid", "error",
         "The certificate a mail port presents is not valid yet.",
         "The certificate's notBefore lies in the future.",
         "Check the server's clock and the certificate's dates; reissue it.",
         "RFC 5280 section 4.1.2.5"),
    Code("tls.name-mismatch", "error",
         "The certificate does not name the host it is presented for.",
         "The host name is absent from the certificate's subjectAltName.",
         "Reissue the certificate with the host name as a DNS SAN entry.",
         "RFC 9525 section 6.3 (formerly RFC 6125 section 6.4)"),
    Code("tls.self-signed", "error",
         "The certificate is self-signed: no trusted CA vouches for it.",
         "The certificate's issuer equals its subject, and it is not a trusted CA.",
         "Install a certificate issued by a CA the clients trust.",
         "RFC 5280 section 6.1"),
    Code("tls.unknown-ca", "error",
         "The certificate is issued by a CA the clients do not trust, or the "
         "chain to a trusted CA is incomplete.",
         "No path leads from the certificate to a trusted CA's signature.",
         "Install a certificate from a trusted CA, with every intermediate.",
         "RFC 5280 section 6.1; RFC 8446 section 4.4.2"),
    Code("tls.handshake-failed", "error",
         "TLS is offered (or implied by the port) but the handshake fails.",
         "The STARTTLS/STLS exchange or the implicit-TLS connect, then the "
         "alert, close or timeout that ended the handshake.",
         "Fix the service's TLS configuration, or the middlebox that breaks it.",
         "RFC 3207 section 4; RFC 8314 section 3"),
    Code("tls.old-version", "warning",
         "The server negotiates a TLS version older than 1.2.",
         "The negotiated protocol version of the handshake.",
         "Enable TLS 1.2 and 1.3 and disable TLS 1.0, TLS 1.1 and SSL.",
         "RFC 8996; RFC 8314 section 4.1"),
    # endregion
    # region: SMTP behaviour
    Code("smtp.starttls-missing", "error",
         "An SMTP port does not offer STARTTLS, so mail crosses in clear.",
         "The EHLO reply without the STARTTLS keyword.",
         "Enable STARTTLS with a valid certificate on the port.",
         "RFC 3207 section 4; RFC 8314 section 3.3"),
    Code("smtp.banner-masked", "error",
         "A middlebox inspecting ESMTP masks the greeting and strips "
         "STARTTLS (asterisks, 'XXXXXXXA').",
         "The greeting or EHLO lines made of asterisks or X's.",
         "Turn off ESMTP inspection (for example Cisco 'inspect esmtp' / "
         "'fixup smtp') on the firewall in front of the server.",
         "RFC 3207 section 4; RFC 5321 section 4.1.1.1"),
    Code("smtp.auth-before-tls", "error",
         "The submission port offers AUTH before STARTTLS, inviting clients "
         "to send passwords in clear.",
         "The EHLO reply before STARTTLS listing both AUTH and STARTTLS.",
         "Advertise AUTH only after STARTTLS (or use implicit TLS on 465).",
         "RFC 4954 section 4; RFC 8314 section 3.3"),
    Code("smtp.auth-missing", "error",
         "The submission port offers no AUTH even under TLS, so clients "
         "cannot log in to send.",
         "The EHLO reply after STARTTLS without the AUTH keyword.",
         "Enable SMTP AUTH (PLAIN or LOGIN under TLS) on the submission port.",
         "RFC 4954 section 3; RFC 6409 section 4.3"),
    Code("smtp.open-relay", "error",
         "An MX relays: it accepts mail for outside domains from an outside "
         "sender without authentication.",
         "MAIL FROM an outside sender and RCPT TO an outside domain answered "
         "250 (the probe then sent RSET, never DATA).",
         "Accept RCPT only for the organisation's domains unless the client "
         "authenticates or comes from an allowed network.",
         "RFC 5321 section 3.9; RFC 2505"),
    Code("smtp.slow-banner", "warning",
         "The SMTP greeting arrives only after seconds (tarpit, slow DNS "
         "lookups of the client, an overloaded server).",
         "The time from the TCP connect to the 220 greeting.",
         "Find what delays the greeting: the server's reverse lookups of the "
         "client, a greeting delay setting, or load.",
         "RFC 5321 section 4.5.3.2.1"),
    Code("smtp.tempfail", "error",
         "An MX defers mail to postmaster with a 4xx reply.",
         "The transcript: MAIL FROM and RCPT TO:<postmaster@domain> with the "
         "4xx answer.",
         "Find the greylisting, quota or policy service that answers 4xx; "
         "postmaster must always be accepted.",
         "RFC 5321 sections 4.2.1 and 4.5.1"),
    Code("smtp.refused", "error",
         "An MX refuses mail to postmaster with a 5xx reply.",
         "The transcript: MAIL FROM and RCPT TO:<postmaster@domain> with the "
         "5xx answer.",
         "Fix the recipient or sender policy that refuses it; every domain "
         "must accept mail for postmaster.",
         "RFC 5321 sections 4.2.1 and 4.5.1"),
    # endregion
    # region: the outbound relay as receivers judge it
    Code("relay.ehlo-unresolvable", "error",
         "The outbound relay greets and says EHLO with a host name that has "
         "no address in DNS, so receivers that check HELO refuse its mail.",
         "The relay's 220 greeting naming the host, and the A and AAAA "
         "queries for that name answering NXDOMAIN or NODATA.",
         "Set the relay's host name (Postfix myhostname, Exchange connector "
         "FQDN) to a name whose A/AAAA record holds the relay's address and "
         "that its PTR names.",
         "RFC 5321 section 4.1.4; RFC 1912 section 2.1"),
    Code("relay.ehlo-mismatch", "warning",
         "The outbound relay announces a host name whose addresses do not "
         "include the relay's own.",
         "The relay's 220 greeting and the A/AAAA answers for the name it "
         "announces, none of them the relay's address.",
         "Announce the relay's own name, the one whose A/AAAA record holds "
         "its address and that its PTR names.",
         "RFC 5321 section 4.1.4; RFC 1912 section 2.1"),
    Code("relay.listed", "error",
         "A DNS blocklist that receivers consult lists the outbound relay's "
         "address.",
         "The A query of the reversed address under the list's zone answering "
         "in 127.0.0.2-127.0.0.254, with the TXT reason the list gives.",
         "Stop what got the address listed (an open relay, a compromised "
         "account or host), then ask the list to delist it by its procedure.",
         "RFC 5782 sections 2.1 and 5 (127.0.0.2 is every list's test entry)"),
    # endregion
    # region: IMAP and POP3
    Code("imap.banner-bad", "error",
         "The IMAP server sends no '* OK' greeting.",
         "The transcript: the first line, or none in time.",
         "Make the IMAP service greet with '* OK' promptly.",
         "RFC 3501 section 7.1.1"),
    Code("imap.starttls-missing", "error",
         "IMAP port 143 does not offer STARTTLS.",
         "The CAPABILITY response without STARTTLS.",
         "Enable STARTTLS on 143, or offer only implicit TLS on 993.",
         "RFC 3501 section 6.2.1; RFC 2595 section 3.1; RFC 8314 section 3"),
    Code("imap.login-disabled", "error",
         "IMAP advertises LOGINDISABLED even under TLS: clients cannot log in.",
         "The CAPABILITY response after STARTTLS (or on 993) with LOGINDISABLED.",
         "Allow plaintext authentication over TLS (for example Dovecot's "
         "'disable_plaintext_auth' applies to non-TLS connections only).",
         "RFC 3501 section 6.2.3; RFC 2595 section 3.2"),
    Code("imap.login-failed", "error",
         "The test account cannot log in over IMAP.",
         "The LOGIN command (password masked) and its NO/BAD answer.",
         "Check the account, its password and the IMAP service's "
         "authentication backend.",
         "RFC 3501 section 6.2.3"),
    Code("pop3.banner-bad", "error",
         "The POP3 server sends no '+OK' greeting.",
         "The transcript: the first line, or none in time.",
         "Make the POP3 service greet with '+OK' promptly.",
         "RFC 1939 section 4"),
    Code("pop3.stls-missing", "error",
         "POP3 port 110 does not offer STLS.",
         "The CAPA response without STLS.",
         "Enable STLS on 110, or offer only implicit TLS on 995.",
         "RFC 2595 section 4; RFC 8314 section 3"),
    Code("pop3.login-failed", "error",
         "The test account cannot log in over POP3.",
         "USER and PASS (masked) with the -ERR answer.",
         "Check the account, its password and the POP3 service's "
         "authentication backend.",
         "RFC 1939 section 7"),
    # endregion
    # region: Autodiscover and CRL
    Code("autodiscover.missing", "error",
         "Autodiscover does not answer: mail clients cannot set themselves up.",
         "The POX POST to /autodiscover/autodiscover.xml and its 404 or "
         "non-XML answer.",
         "Publish the Autodiscover endpoint on the host (or fix the virtual "
         "directory), reachable over HTTPS.",
         "Microsoft, Autodiscover for Exchange; [MS-OXDSCLI] section 2.2.3"),
    Code("autodiscover.redirect-broken", "error",
         "Port 80's Autodiscover redirect does not lead to a working HTTPS "
         "endpoint (a loop, or a target that fails).",
         "The chain of HTTP status lines and Location headers.",
         "Redirect http://autodiscover.<domain>/autodiscover/autodiscover.xml "
         "once, with 302, to the HTTPS Autodiscover URL.",
         "Microsoft, Autodiscover for Exchange (HTTP redirect method); "
         "[MS-OXDISCO] section 3.1.5.1"),
    Code("crl.unreachable", "error",
         "A certificate's CRL Distribution Point cannot be fetched, or does "
         "not hold a CRL; clients that check revocation fail.",
         "The HTTP request to the URL and its answer (or its absence).",
         "Serve the CA's current CRL at that URL over plain HTTP.",
         "RFC 5280 sections 4.2.1.13 and 5; RFC 2585 section 4"),
    # endregion
    # region: end to end
    Code("flow.submission-failed", "error",
         "The test account cannot submit a message, although the port looks "
         "right.",
         "The submission transcript (STARTTLS, AUTH masked, MAIL, RCPT, DATA) "
         "up to the failing reply.",
         "Check the submission service's authentication and its sender and "
         "recipient policy for authenticated users.",
         "RFC 6409 section 4; RFC 4954 section 4"),
    Code("flow.imap-missing", "error",
         "A message submitted to the test account does not show up over IMAP.",
         "The UID SEARCH for the message's Message-ID, empty after waiting, or "
         "a FETCH without the body token.",
         "Follow the message through the queues and the delivery agent; "
         "check the mailbox store IMAP reads from.",
         "RFC 3501 sections 6.4.4 and 6.4.5; RFC 5321 section 6.1"),
    Code("flow.pop3-missing", "error",
         "A message delivered to the test account cannot be retrieved over "
         "POP3.",
         "LIST and RETR of the newest messages, none carrying the body token.",
         "Check that POP3 reads the same maildrop as delivery and IMAP.",
         "RFC 1939 sections 5 and 7"),
    # endregion
)}


@dataclass(frozen=True)
class Finding:
    code: str
    subject: str
    summary: str
    evidence: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def meta(self) -> Code:
        return CATALOGUE[self.code]

    def to_json(self) -> dict[str, Any]:
        meta = self.meta
        out = asdict(self)
        out["evidence"] = list(self.evidence)
        out.update(severity=meta.severity, remediation=meta.remediation,
                   reference=meta.reference)
        if not self.extra:
            out.pop("extra")
        return out
