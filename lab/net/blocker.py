"""Blocked ports without privileges.

A firewall that drops SYNs makes a client's connect time out; one that
rejects makes it fail at once. Without nftables we get both from the kernel:
``reject`` is simply a port nothing listens on (the kernel answers the SYN
with a reset), and ``drop`` is a listener with a backlog of zero whose one
accept-queue slot we fill ourselves. Linux discards a SYN that arrives while
the accept queue is full (tcp_conn_request), so the client retransmits until
its own timeout, exactly as behind a dropping firewall.
"""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)


class DroppingPort:
    """Holds ``host:port`` so that connections to it time out."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(0)
        self._listener = listener
        self.port = listener.getsockname()[1]

        # Fill the accept queue; nobody ever calls accept().
        for _ in range(2):
            filler = socket.socket(family, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect((self.host, self.port))
            except BlockingIOError:
                pass
            self._fillers.append(filler)
        log.info("port %s:%d drops connections (accept queue held full)",
                 self.host, self.port)

    def close(self) -> None:
        for s in self._fillers:
            s.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
