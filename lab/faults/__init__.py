"""The fault catalogue: every fault type a scenario can inject.

``Fault`` is the tagged union the scenario model validates against; add a
type by writing its class in the module of its layer and listing it here.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Union

from pydantic import Field

from .base import FaultBase, details, summary
from .dmarc import DmarcMissing, DmarcPolicyNone, DmarcSyntax
from .dns import (
    DnsLame,
    DnsNxdomain,
    DnsRefused,
    DnsServfail,
    DnsSlow,
    DnsTcpBlocked,
    DnsTimeout,
)
from .outbound import RelayEhloUnresolvable, RelayListed
from .ports import PortBlocked
from .views import DnsForwarderBroken, DnsInternalOnly, DnsSplitMismatch
from .records import (
    MxHostUnresolvable,
    MxImplicit,
    MxMissing,
    MxNull,
    MxToCname,
    MxToIpLiteral,
    MxWrongAddress,
    PtrMismatch,
    PtrMissing,
)
from .transport import (
    AutodiscoverMissing,
    AutodiscoverRedirectBroken,
    CrlUnreachable,
    ImapLoginDisabled,
    Pop3Down,
    SmtpAuthBeforeTls,
    SmtpBannerMasked,
    SmtpOpenRelay,
    SmtpReply,
    SmtpSlowBanner,
    SmtpStarttlsBroken,
    SmtpStarttlsMissing,
    TlsExpired,
    TlsNameMismatch,
    TlsNotYetValid,
    TlsSelfSigned,
    TlsUnknownCa,
)
from .spf import (
    SpfIncludeMissing,
    SpfIpNotAuthorized,
    SpfMissing,
    SpfMultipleRecords,
    SpfPlusAll,
    SpfPtrMechanism,
    SpfSyntax,
    SpfTooManyLookups,
    SpfUnsplitLongString,
    SpfVoidLookups,
)

CATALOGUE: tuple[type[FaultBase], ...] = (
    PortBlocked,
    PtrMissing,
    PtrMismatch,
    SpfMissing,
    SpfSyntax,
    SpfTooManyLookups,
    SpfIpNotAuthorized,
    MxMissing,
    MxHostUnresolvable,
    MxToCname,
    MxToIpLiteral,
    MxNull,
    MxImplicit,
    MxWrongAddress,
    SpfVoidLookups,
    SpfMultipleRecords,
    SpfIncludeMissing,
    SpfPlusAll,
    SpfPtrMechanism,
    SpfUnsplitLongString,
    DnsServfail,
    DnsTimeout,
    DnsRefused,
    DnsNxdomain,
    DnsSlow,
    DnsTcpBlocked,
    DnsLame,
    DnsInternalOnly,
    DnsForwarderBroken,
    DnsSplitMismatch,
    DmarcMissing,
    DmarcSyntax,
    DmarcPolicyNone,
    TlsExpired,
    TlsNotYetValid,
    TlsNameMismatch,
    TlsSelfSigned,
    TlsUnknownCa,
    SmtpStarttlsMissing,
    SmtpStarttlsBroken,
    SmtpBannerMasked,
    SmtpAuthBeforeTls,
    SmtpOpenRelay,
    SmtpReply,
    SmtpSlowBanner,
    ImapLoginDisabled,
    Pop3Down,
    AutodiscoverMissing,
    AutodiscoverRedirectBroken,
    CrlUnreachable,
    RelayEhloUnresolvable,
    RelayListed,
)

BY_NAME: dict[str, type[FaultBase]] = {
    cls.model_fields["type"].default: cls for cls in CATALOGUE
}

Fault = Annotated[
    Union[tuple(CATALOGUE)],  # type: ignore[valid-type]
    Field(discriminator="type"),
]


def closest(name: str) -> str | None:
    """The known fault name nearest to a misspelt one, if any is near."""
    found = difflib.get_close_matches(name, BY_NAME, n=1, cutoff=0.5)
    return found[0] if found else None


__all__ = ["BY_NAME", "CATALOGUE", "Fault", "FaultBase", "closest", "details",
           "summary"]
