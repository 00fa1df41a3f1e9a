"""What the outbound relay refuses, as ``LabError`` subclasses."""

from __future__ import annotations

from lab.errors import LabError


class RelayError(LabError):
    """Base of the relay's own errors."""


class QueueFull(RelayError):
    """The queue holds its maximum number of entries (answer 452 4.3.1)."""


class MessageTooLarge(RelayError):
    """A message above the queue's size bound (answer 552 5.3.4)."""


class TooManyRecipients(RelayError):
    """More recipients than one queued message may carry (452 4.5.3)."""


class EntryNotFound(RelayError, KeyError):
    """No queue entry has this id (delivered, bounced or never queued)."""


class CorruptEntry(RelayError):
    """A metadata file on disk that cannot be read back."""
