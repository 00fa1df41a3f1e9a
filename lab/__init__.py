"""The lab: a small mail organisation on one machine, built from a scenario.

``lab.scenario`` reads and validates scenario files, ``lab.plan`` turns one
into the concrete hosts, records and ports of a running lab, and the service
packages (``lab.dns``, ``lab.smtp``, ...) serve that plan on real sockets.
"""
