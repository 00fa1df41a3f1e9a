"""Running the lab process inside its namespace, and dying with its parent.

Design. Python 3.11 has no ``os.setns``, and switching the namespace of a
process that already runs threads is fragile anyway, so the parent
(``maillab up --network isolated``) creates the namespace and then starts the
lab as a new process inside it: ``ip netns exec NAME python -m maillab ...``.
``ip netns exec`` enters the namespace, makes a private mount namespace with
/etc/netns/NAME bind-mounted over /etc, and execs the command in place, so
the lab process is the direct child of the parent.

Two watchdogs make sure nothing survives the parent, even a SIGKILL:

* the child asks the kernel for a signal when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, set between fork and exec; it survives exec
  of a program that is not set-uid, which ``ip`` and ``python`` are not);
* a reaper, a separate small process in a session of its own (so a Ctrl-C
  for the parent's terminal does not stop it), waits on the parent's pidfd
  and, when the parent is gone, stops whatever still runs in the namespace
  and deletes it, with everything its registry record lists. It exits on its
  own once the record disappears, which is what a clean shutdown does.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import IsolationError

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def run_inside(name: str, argv: Sequence[str], *,
               deathsig: int = signal.SIGTERM, **kw: Any) -> subprocess.Popen[Any]:
    """Start ``argv`` inside namespace ``name``; it gets ``deathsig`` if we die.

    SIGTERM by default, so a lab stops its services in order; the reaper
    follows up with SIGKILL for anything still there.
    """
    command = ["ip", "netns", "exec", name, *argv]
    log.debug("start inside %s: %s", name, " ".join(argv))
    # preexec_fn runs between fork and exec; it only makes one system call.
    return subprocess.Popen(command, preexec_fn=die_with_parent(deathsig), **kw)


def die_with_parent(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` that ties the child's life to the calling process."""
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            os._exit(126)

        # The parent may have died before prctl: then no signal will come.
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return arm


def start_reaper(name: str, *, interval: float = 0.5) -> subprocess.Popen[bytes]:
    """Start the reaper for the registered lab ``name`` (see module docstring)."""
    argv = [sys.executable, "-m", "lab.isolated.reaper", name,
            "--interval", f"{interval:g}"]
    try:
        reaper = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  start_new_session=True, close_fds=True)
    except OSError as exc:
        raise IsolationError(f"cannot start the reaper for {name}: {exc}") from None
    log.debug("reaper %d watches %s", reaper.pid, name)
    return reaper
