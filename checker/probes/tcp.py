"""TCP reachability: open, refused or filtered, told apart by how connect ends."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

State = Literal["open", "refused", "filtered", "unreachable"]


@dataclass
class Connection:
    state: State
    address: str
    port: int
    elapsed_ms: float
    detail: str = ""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    def evidence(self) -> str:
        how = {
            "open": "connected",
            "refused": "connection refused (TCP reset)",
            "filtered": "no reply: connect timed out",
            "unreachable": "unreachable",
        }[self.state]
        extra = f" ({self.detail})" if self.detail else ""
        return f"TCP {self.address}:{self.port}: {how} after " \
               f"{self.elapsed_ms:.0f} ms{extra}"

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)
            except (OSError, asyncio.TimeoutError):
                pass


async def connect(address: str, port: int, timeout: float) -> Connection:
    started = time.monotonic()

    def took() -> float:
        return (time.monotonic() - started) * 1000

    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port), timeout)
    except ConnectionRefusedError:
        return Connection("refused", address, port, took())
    except asyncio.TimeoutError:
        return Connection("filtered", address, port, took(), f"{timeout:g} s")
    except OSError as exc:
        return Connection("unreachable", address, port, took(), exc.strerror or "")
    return Connection("open", address, port, took(), reader=reader, writer=writer)
