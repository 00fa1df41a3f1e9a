"""The DNS server's sockets: UDP and TCP on one address, both from one responder.

TCP follows RFC 7766: two-octet length prefixes, several queries per
connection, an idle timeout, and a cap on connections so a flood of idle
clients cannot starve the rest. UDP replies above the client's limit are
truncated by the responder, which sends the client to TCP.
"""

from __future__ import annotations

import asyncio
import logging
import struct

from .responder import Responder

log = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 10.0
MAX_TCP_CONNECTIONS = 128


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply, delay = self.responder.respond(data)
        except Exception:  # noqa: BLE001 - one bad packet must not stop the server
            log.exception("dns: unexpected error answering %s", addr)
            return
        if reply is None or self.transport is None:
            return
        if delay:
            asyncio.get_running_loop().call_later(delay, self._send, reply, addr)
        else:
            self.transport.sendto(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("dns udp error: %s", exc)


class DnsServer:
    """Serves one responder on ``host:port`` over UDP and, unless told not to, TCP.

    With ``reuse_port`` the sockets set SO_REUSEPORT, so several processes can
    serve the same port and Linux spreads the queries over them.
    """

    def __init__(self, responder: Responder, host: str, port: int = 53, *,
                 tcp: bool = True, reuse_port: bool = False) -> None:
        self.responder = responder
        self.host = host
        self.port = port
        self.serve_tcp = tcp
        self.reuse_port = reuse_port
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        wanted = self.port
        # Port 0 picks a free UDP port; the same TCP port may still be taken,
        # so a few picks are allowed before giving up.
        for attempt in range(10 if wanted == 0 else 1):
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self.responder), local_addr=(self.host, wanted),
                reuse_port=self.reuse_port or None)
            self.port = self._udp.get_extra_info("sockname")[1]
            if not self.serve_tcp:
                break
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, self.host, self.port, backlog=64,
                    reuse_port=self.reuse_port or None)
                break
            except OSError:
                self._udp.close()
                self._udp = None
                if wanted != 0 or attempt == 9:
                    raise
        log.info("dns listening on %s:%d (udp%s)", self.host, self.port,
                 "+tcp" if self.serve_tcp else " only")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._clients) >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self._clients.add(task)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                (size,) = struct.unpack("!H", head)
                data = await asyncio.wait_for(reader.readexactly(size),
                                              TCP_IDLE_TIMEOUT)
                reply, delay = self.responder.respond(data, tcp=True)
                if reply is None:
                    continue
                if delay:
                    await asyncio.sleep(delay)
                writer.write(struct.pack("!H", len(reply)) + reply)
                await asyncio.wait_for(writer.drain(), TCP_IDLE_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        except Exception:  # noqa: BLE001 - log, drop this client, keep serving
            log.exception("dns: unexpected error on a TCP client")
        finally:
            self._clients.discard(task)
            writer.close()
