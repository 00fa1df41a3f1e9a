"""Regression-testing mail checkers against scenarios with known ground truth.

``contract`` says what a checker is given and must answer, ``runner`` runs
one against labs, ``mapping``, ``scoring``, ``sharding`` and ``junit`` are
the pure parts of scoring it, ``command`` is ``maillab verify``, and
``catalogue`` renders the finding catalogue document.
"""

from .contract import DEFAULT_COMMAND, ContractError, HostInfo, LabInfo, lab_info
from .runner import Outcome, verify, verify_many

__all__ = ["DEFAULT_COMMAND", "ContractError", "HostInfo", "LabInfo", "Outcome",
           "lab_info", "verify", "verify_many"]
