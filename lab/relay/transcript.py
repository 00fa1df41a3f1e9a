"""SMTP transcripts: both sides of every session, one JSON line per session.

A file per lab host (``<host>.jsonl``) in one directory, so ``maillab logs
HOST`` can show what the relay said to a partner and what the partner
answered. Each line is ``{"time", "host", "peer", "direction", "lines"}``
where ``lines`` holds ``["C", text]`` (client) and ``["S", text]`` (server)
pairs. Message bodies are not kept, only their size.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Direction = Literal["outbound", "inbound"]

MAX_LINES = 400
MAX_LINE = 1000
#: A transcript file above this size is moved to ``.1`` (one old generation).
MAX_FILE = 16 * 1024 * 1024


@dataclass
class Transcript:
    """The lines of one session as it happens, bounded."""

    host: str
    peer: str
    direction: Direction
    started: float
    lines: list[tuple[str, str]] = field(default_factory=list)
    dropped: int = 0

    def add(self, side: str, text: str) -> None:
        if len(self.lines) >= MAX_LINES:
            self.dropped += 1
            return
        self.lines.append((side, text[:MAX_LINE]))
        log.debug("%s %s %s %s: %s", self.host, self.direction, self.peer,
                  "<-" if side == "S" else "->", text[:MAX_LINE])

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "time": self.started, "host": self.host, "peer": self.peer,
            "direction": self.direction, "lines": [list(x) for x in self.lines]}
        if self.dropped:
            data["dropped"] = self.dropped
        return data


class TranscriptLog:
    """Appends finished transcripts to ``<directory>/<host>.jsonl``."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()

    def path_for(self, host: str) -> Path:
        safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in host)
        return self.directory / f"{safe or 'unknown'}.jsonl"

    def write(self, transcript: Transcript) -> None:
        line = json.dumps(transcript.to_json(), ensure_ascii=False) + "\n"
        path = self.path_for(transcript.host)
        with self._guard:
            try:
                if path.exists() and path.stat().st_size > MAX_FILE:
                    path.replace(path.with_suffix(".jsonl.1"))
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError as exc:
                # A transcript is evidence, not mail: losing one must not
                # stop a delivery.
                log.warning("cannot write transcript to %s: %s", path, exc)


def read_transcripts(directory: Path | str,
                     host: str | None = None) -> Iterator[dict[str, object]]:
    """Every stored session, oldest file first; only ``host``'s when given."""
    root = Path(directory)
    if not root.is_dir():
        return
    files = sorted(root.glob("*.jsonl"))
    if host is not None:
        files = [f for f in files if f.stem == host or f.stem.startswith(host + ".")]
    for path in files:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
