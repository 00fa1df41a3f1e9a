"""Whether isolated mode works on this machine, and if not, why.

Isolated mode needs a named network namespace (``ip netns add`` bind-mounts
it under /run/netns, which takes CAP_SYS_ADMIN) and nftables inside it
(CAP_NET_ADMIN). The probe tries the real thing: it adds a namespace, lists
its nftables tables and deletes it again, so a kernel without netns or
nf_tables support is found here and not half way through ``maillab up``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolFailed
from .tools import tool

log = logging.getLogger(__name__)

#: What a lab in loopback mode cannot show, for the one-line explanation.
LOOPBACK_LIMITS = (
    "loopback mode runs instead, without the scenario's own addresses, "
    "firewall rejects by ICMP, and a resolver for the tools students run"
)

# Bit numbers in the CapEff mask of /proc/self/status (linux/capability.h).
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


@dataclass(frozen=True)
class Support:
    """The answer of ``isolation_support``: ``why`` is one line for the user."""

    available: bool
    why: str

    def __bool__(self) -> bool:
        return self.available


def isolation_support() -> Support:
    """Probe for isolated mode: privileges, ``ip`` and ``nft``, a test netns."""
    if not sys.platform.startswith("linux"):
        return _no(f"network namespaces are Linux only (this is {sys.platform})")

    if not _has_capabilities(CAP_SYS_ADMIN, CAP_NET_ADMIN):
        if _unprivileged_userns():
            return _no("not root: this machine allows unprivileged user "
                       "namespaces, but named lab namespaces need root "
                       "(run maillab with sudo, or in the compose bundle)")
        return _no("not root, and unprivileged user namespaces are disabled")

    for name in ("ip", "nft"):
        if shutil.which(name) is None:
            package = "iproute2" if name == "ip" else "nftables"
            return _no(f"'{name}' is not installed (package {package})")

    probe = f"maillab-probe-{os.getpid()}"
    try:
        tool(["ip", "netns", "add", probe])
    except ToolFailed as exc:
        return _no(f"cannot create a network namespace: {exc.detail}")
    try:
        tool(["ip", "netns", "exec", probe, "nft", "list", "tables"])
    except ToolFailed as exc:
        return _no(f"nftables does not work in a namespace: {exc.detail}")
    finally:
        tool(["ip", "netns", "delete", probe], check=False)

    log.debug("isolated mode is available")
    return Support(True, "isolated mode is available (network namespaces, nftables)")


def _no(reason: str) -> Support:
    return Support(False, f"isolated mode unavailable: {reason}; {LOOPBACK_LIMITS}")


def _has_capabilities(*bits: int) -> bool:
    if os.geteuid() == 0:
        return True
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            mask = int(line.split()[1], 16)
            return all(mask >> bit & 1 for bit in bits)
    return False


def _unprivileged_userns() -> bool:
    # Debian's switch; kernels without it allow them unless the limit is 0.
    switch = Path("/proc/sys/kernel/unprivileged_userns_clone")
    limit = Path("/proc/sys/user/max_user_namespaces")
    try:
        if switch.exists() and switch.read_text().strip() == "0":
            return False
        return not limit.exists() or int(limit.read_text()) > 0
    except (OSError, ValueError):
        return False
