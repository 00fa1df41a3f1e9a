"""HTTP and HTTPS of the Autodiscover host.

``lab.http.autodiscover`` reads POX Autodiscover requests and writes the
answers, without I/O; ``lab.http.server`` serves them, the Autodiscover
HTTP redirect and the lab CA's CRL on aiohttp.
"""

from lab.http.server import HttpService, start_http

__all__ = ["HttpService", "start_http"]
