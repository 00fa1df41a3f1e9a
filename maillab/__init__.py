"""The ``maillab`` command: wires the lab and the checker together."""

__version__ = "0.1.0"
