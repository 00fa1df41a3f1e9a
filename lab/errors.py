"""The lab's exception tree.

``ScenarioError`` is the user's to fix (a bad file); ``LabStartError`` is the
machine's (a port taken, an address that cannot be bound). The command line
maps the first to exit status 2 and the second to 1.
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the lab raises on purpose."""


class ScenarioError(LabError):
    """A scenario file is unreadable or invalid.

    ``path``, ``line`` and ``field`` say where; ``str()`` is the one message
    the user sees.
    """

    def __init__(self, message: str, *, path: str = "<scenario>",
                 line: int | None = None, field: str | None = None) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message
        where = path if line is None else f"{path}:{line}"
        what = f" (field '{field}')" if field else ""
        super().__init__(f"{where}: {message}{what}")


class UnknownScenario(ScenarioError):
    """A scenario name that is neither a bundled scenario nor a file."""


class LabStartError(LabError):
    """The lab could not bring a service up on this machine."""
