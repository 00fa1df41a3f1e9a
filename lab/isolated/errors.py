"""Errors of isolated mode."""

from __future__ import annotations

from ..errors import LabStartError


class IsolationError(LabStartError):
    """A namespace, an address or a firewall table could not be set up.

    It is a ``LabStartError``: the machine, not the scenario, is at fault, so
    the command line exits 1.
    """


class ToolFailed(IsolationError):
    """A system tool (``ip``, ``nft``, ``sysctl``) failed or timed out."""

    def __init__(self, argv: list[str], detail: str) -> None:
        self.argv = argv
        self.detail = detail
        super().__init__(f"{' '.join(argv)}: {detail}")
