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


FORWARD_TIMEOUT = 2.0


def _refused_elsewhere(reply: bytes) -> bool:
    """A REFUSED that is not authoritative: a name outside our zones."""
    return len(reply) >= 4 and reply[3] & 0x0F == 5 and not reply[2] & 0x04


def _as_servfail(reply: bytes) -> bytes:
    # Keep ID and question; rcode SERVFAIL, RA set: a resolver that tried.
    return reply[:2] + bytes((reply[2], (reply[3] & 0xF0) | 0x80 | 2)) + reply[4:]


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, done: asyncio.Future[bytes]) -> None:
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.done.done():
            self.done.set_result(data)


async def forward(data: bytes, upstream: tuple[str, int]) -> bytes | None:
    """Ask ``upstream`` the same question; its reply, or None on silence."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Upstream(done), remote_addr=upstream)
    try:
        transport.sendto(data)
        return await asyncio.wait_for(done, FORWARD_TIMEOUT)
    except (asyncio.TimeoutError, OSError):
        return None
    finally:
        transport.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder, outside: str = "refuse",
                 upstream: tuple[str, int] | None = None) -> None:
        self.responder = responder
        self.outside = outside
        self.upstream = upstream
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
        if self.outside != "refuse" and _refused_elsewhere(reply):
            if self.outside == "servfail" or self.upstream is None:
                reply = _as_servfail(reply)
            else:
                asyncio.get_running_loop().create_task(self._relay(data, addr))
                return
        if delay:
            asyncio.get_running_loop().call_later(delay, self._send, reply, addr)
        else:
            self.transport.sendto(reply, addr)

    async def _relay(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.upstream is not None
        reply = await forward(data, self.upstream)
        if reply is not None:
            self._send(reply, addr)

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
                 outside: str = "refuse", upstream: tuple[str, int] | None = None,
                 tcp: bool = True, reuse_port: bool = False) -> None:
        self.responder = responder
        self.host = host
        self.port = port
        #: Names outside our zones: "refuse" (an authoritative server),
        #: "forward" to ``upstream`` (an internal resolver), or "servfail"
        #: (a resolver whose forwarder is broken).
        self.outside = outside
        self.upstream = upstream
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
                lambda: _Udp(self.responder, self.outside, self.upstream),
                local_addr=(self.host, wanted),
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
                if self.outside != "refuse" and _refused_elsewhere(reply):
                    if self.outside == "forward" and self.upstream is not None:
                        # TODO: forwarded over UDP even for a TCP client, so an
                        # upstream answer too large for UDP arrives truncated.
                        reply = await forward(data, self.upstream) or reply
                    else:
                        reply = _as_servfail(reply)
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
