"""The outbound relay: a durable queue, a delivery agent and its notices."""

from .delivery import DeliveryAgent, RelayConfig
from .entry import HopSummary, QueueEntry, Recipient
from .queue import OutboundQueue
from .resolver import LabResolver
from .schedule import RetrySchedule
from .transcript import TranscriptLog, read_transcripts

__all__ = [
    "DeliveryAgent",
    "HopSummary",
    "LabResolver",
    "OutboundQueue",
    "QueueEntry",
    "Recipient",
    "RelayConfig",
    "RetrySchedule",
    "TranscriptLog",
    "read_transcripts",
]
