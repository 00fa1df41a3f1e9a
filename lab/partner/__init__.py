"""Partner organisations: outside MX hosts with a large receiver's policy."""

from .policy import ClientFacts, Greylist, Listing, PartnerPolicy, RateLimiter, judge
from .server import PartnerHandler, PartnerServer

__all__ = [
    "ClientFacts",
    "Greylist",
    "Listing",
    "PartnerHandler",
    "PartnerPolicy",
    "PartnerServer",
    "RateLimiter",
    "judge",
]
