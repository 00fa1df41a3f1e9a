"""Which port a service gets: its standard one, or a documented offset.

A process that may not bind ports below 1024 (not root, no
CAP_NET_BIND_SERVICE) runs every service at ``standard + OFFSET`` instead:
25 becomes 10025, 53 becomes 10053. The state file records the map, and the
checker reads it with ``--lab``.
"""

from __future__ import annotations

import errno
import functools
import socket

OFFSET = 10000


@functools.cache
def may_bind_privileged(host: str = "127.0.0.1") -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind((host, 1))
    except PermissionError:
        return False
    except OSError as exc:
        return exc.errno != errno.EACCES
    finally:
        probe.close()
    return True


def actual_port(standard: int, *, offset: bool) -> int:
    return standard + OFFSET if offset and standard < 1024 else standard
