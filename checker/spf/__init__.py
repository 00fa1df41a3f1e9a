"""SPF (RFC 7208) evaluation that explains itself.

``check_host`` and ``evaluate`` give one of the seven results together with
the evidence: the matching term, every DNS query and its cause, and the
counters of the processing limits. ``count_lookups`` walks a record's
include and redirect chain in full to warn about the 10-lookup limit
before some client's address happens to reach it.
"""

from .evaluator import DEFAULT_EXPLANATION, check_host, evaluate
from .lookup_count import CountedTerm, LookupCount, count_lookups
from .lookups import Resolver
from .results import RESULTS, LookupStep, Result, SpfEvaluation, TermRef
from .terms import SpfRecord, SpfSyntaxError, parse_record, select_record

__all__ = [
    "DEFAULT_EXPLANATION",
    "RESULTS",
    "CountedTerm",
    "LookupCount",
    "LookupStep",
    "Resolver",
    "Result",
    "SpfEvaluation",
    "SpfRecord",
    "SpfSyntaxError",
    "TermRef",
    "check_host",
    "count_lookups",
    "evaluate",
    "parse_record",
    "select_record",
]
