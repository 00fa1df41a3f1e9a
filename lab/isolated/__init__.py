"""Isolated mode: each lab in a network namespace of its own.

The lab keeps its scenario's addresses on the namespace's loopback, every
service on its standard port, port faults as nftables rules, and its own DNS
as the resolver of whatever runs inside. See ``namespace`` (building and
removing a namespace), ``firewall`` (the rules), ``child`` (running the lab
inside and dying with its parent), ``supervisor`` (the whole parent side),
``registry`` and ``control`` (``maillab status`` and ``maillab down``).
"""

from __future__ import annotations

from .capability import Support, isolation_support
from .errors import IsolationError, ToolFailed
from .firewall import PortRule, rules_from_plan
from .namespace import LabNamespace
from .supervisor import IsolatedLab, IsolatedSpec, new_lab_id, supervise

__all__ = [
    "IsolatedLab", "IsolatedSpec", "IsolationError", "LabNamespace", "PortRule",
    "Support", "ToolFailed", "isolation_support", "new_lab_id", "rules_from_plan",
    "supervise",
]
