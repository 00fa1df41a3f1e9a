"""The checker's exception tree.

``CheckerError`` is split by fault: ``UsageError`` when we were asked for
something impossible (a bad resolver address, an unreadable state file),
``ProbeError`` when the network or the peer got in the way.
"""


class CheckerError(Exception):
    """Base of every error the checker raises on purpose."""


class UsageError(CheckerError):
    """The checker was given input it cannot work with."""


class ProbeError(CheckerError):
    """A probe could not complete because of the network or the peer."""
