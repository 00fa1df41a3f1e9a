"""Running the system tools isolated mode depends on, always with a timeout."""

from __future__ import annotations

import logging
import subprocess

from .errors import ToolFailed

log = logging.getLogger(__name__)

#: Seconds any one call of ``ip``, ``nft`` or ``sysctl`` may take.
TOOL_TIMEOUT = 10.0


def tool(argv: list[str], *, stdin: str | None = None,
         timeout: float = TOOL_TIMEOUT, check: bool = True) -> str:
    """Run ``argv``; return its stdout, or raise ``ToolFailed`` with its stderr."""
    log.debug("run %s", " ".join(argv))
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise ToolFailed(argv, "not installed") from None
    except subprocess.TimeoutExpired:
        raise ToolFailed(argv, f"no answer within {timeout:g} s") from None

    if check and done.returncode != 0:
        detail = done.stderr.strip() or f"exit status {done.returncode}"
        raise ToolFailed(argv, detail)
    return done.stdout
