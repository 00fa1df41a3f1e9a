"""Both sides of an SMTP session, copied into the lab's transcript log.

aiosmtpd reads every client line through one stream reader and writes every
reply through ``push``; wrapping those two is all a transcript needs. Message
bodies are reduced to their size: the log is about the conversation.
"""

from __future__ import annotations

import time
from typing import Any

from aiosmtpd.smtp import SMTP

from ..relay.transcript import Transcript, TranscriptLog


class RecordingSMTP(SMTP):
    """aiosmtpd's session, recorded when ``transcripts`` is given."""

    def __init__(self, *args: Any, transcripts: TranscriptLog | None = None,
                 log_host: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transcripts = transcripts
        self._log_host = log_host or (self.hostname or "")
        self._transcript: Transcript | None = None
        self._body = False
        self._secret = False

    async def push(self, status: Any) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) \
            else str(status)
        if self._transcript is not None:
            for line in text.split("\r\n"):
                self._transcript.add("S", line)
        self._body = text.startswith("354")
        # After a 334 challenge the client's next line is a credential.
        self._secret = text.startswith("334")
        await super().push(status)

    async def _handle_client(self) -> None:
        if self._transcripts is None:
            await super()._handle_client()
            return
        peer = self.session.peer
        transcript = Transcript(self._log_host, f"{peer[0]}:{peer[1]}", "inbound",
                                time.time())
        self._transcript = transcript
        read = self._reader.readuntil
        octets = 0

        async def recording(separator: bytes = b"\n") -> bytes:
            nonlocal octets
            line = await read(separator)
            if not self._body:
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                if self._secret:
                    text = "****"  # never a secret in a log
                elif text.upper().startswith("AUTH "):
                    text = " ".join(text.split()[:2]) + " ****"
                transcript.add("C", text)
            elif line == b".\r\n":
                transcript.add("C", f"<message, {octets} octets>")
                self._body, octets = False, 0
            else:
                octets += len(line)
            return line

        self._reader.readuntil = recording  # type: ignore[method-assign]
        try:
            await super()._handle_client()
        finally:
            self._transcripts.write(transcript)
