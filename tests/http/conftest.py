"""Fixtures for the Autodiscover host: a lab CA and running HTTP/HTTPS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lab.http import HttpService, start_http
from lab.http.autodiscover import OUTLOOK_RESPONSE_NS, REQUEST_NS
from lab.tls import LabCA, server_context

HOSTNAME = "autodiscover.contoso.test"
DOMAIN = "contoso.test"
USERS = {"alice@contoso.test": "alice-secret", "bob@contoso.test": "bob-secret"}
SERVERS = {
    "imap": ("mail.contoso.test", 993),
    "pop3": ("mail.contoso.test", 995),
    "smtp": ("mail.contoso.test", 587),
}
TIMEOUT = 5.0


def request_xml(address: str, schema: str = OUTLOOK_RESPONSE_NS) -> bytes:
    return (
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


@pytest.fixture
def lab_ca(tmp_path: Path) -> LabCA:
    return LabCA.create(tmp_path / "tls", "Contoso")


StartHttp = Callable[..., "contextlib.AbstractAsyncContextManager[HttpService]"]


@pytest.fixture
def http_service(lab_ca: LabCA) -> StartHttp:
    """``async with http_service(**overrides) as service``."""
    cert = lab_ca.issue([HOSTNAME], ["127.0.0.1"],
                        crl_url=f"http://{HOSTNAME}/lab.crl")

    @contextlib.asynccontextmanager
    async def serve(**overrides: Any) -> AsyncIterator[HttpService]:
        options: dict[str, Any] = dict(
            hostname=HOSTNAME, domain=DOMAIN, users=USERS, servers=SERVERS,
            ssl_context=server_context(cert), crl_der=lab_ca.crl_der)
        options.update(overrides)
        service = await start_http("127.0.0.1", 0, 0, **options)
        try:
            yield service
        finally:
            await service.close()

    return serve
