"""Drive a command in a pseudo-terminal as a person at the keyboard would."""

from __future__ import annotations

import codecs
import os
import pty
import re
import select
import subprocess
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A child process on a pty; ``expect`` waits for text, ``type`` sends a line."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
        master, slave = pty.openpty()
        self._master = master
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=cwd, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.seen = ""
        self._raw = ""
        self._decode = codecs.getincrementaldecoder("utf-8")("replace")
        self._read_upto = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # the child closed the terminal
            return False
        if not chunk:
            return False
        # Strip colours from the whole text: an escape may span two reads.
        self._raw += self._decode.decode(chunk)
        self.seen = ANSI.sub("", self._raw).replace("\r", "")
        return True

    def expect(self, text: str, timeout: float = 15.0) -> str:
        """Wait for ``text`` after what was already matched; return what came."""
        deadline = time.monotonic() + timeout
        exited = False
        while True:
            found = self.seen.find(text, self._read_upto)
            if found >= 0:
                start, self._read_upto = self._read_upto, found + len(text)
                return self.seen[start:self._read_upto]
            if exited or time.monotonic() > deadline:
                raise AssertionError(f"never saw {text!r}; the screen held:\n"
                                     f"{self.seen[-3000:]}")
            if not self._read(0.5) and self.proc.poll() is not None:
                # One last look at whatever the child wrote before exiting.
                exited = not self._read(0.2)

    def type(self, line: str) -> None:
        os.write(self._master, line.encode() + b"\r")

    def wait(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        os.close(self._master)
