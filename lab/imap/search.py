"""SEARCH criteria (RFC 3501 section 6.4.4): parsed into predicates."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from lab.imap.mime import header_lines, split_entity
from lab.imap.parser import (
    Atom,
    ParenList,
    ParseError,
    SequenceSet,
    Token,
    astring,
    atom,
    is_sequence_set,
    sequence_set,
)

MAX_KEYS = 200


@dataclass
class Candidate:
    """One message as SEARCH sees it; the bytes are loaded only if needed."""

    seq: int
    uid: int
    flags: frozenset[str]
    size: int
    internal_date: float
    load: Callable[[], bytes]
    largest_seq: int
    largest_uid: int
    _raw: bytes | None = field(default=None, repr=False)

    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = self.load()
        return self._raw


Predicate = Callable[[Candidate], bool]

_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
    "RECENT": ("\\Recent", True), "OLD": ("\\Recent", False),
}
_HEADER_KEYS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc",
                "SUBJECT": "subject"}
_DATE_RE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_MONTHS = {m: i + 1 for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split())}


def _date(tok: Token) -> datetime.date:
    m = _DATE_RE.fullmatch(astring(tok).decode("ascii", "replace"))
    if m is None or m.group(2).lower() not in _MONTHS:
        raise ParseError("bad date")
    try:
        return datetime.date(int(m.group(3)), _MONTHS[m.group(2).lower()],
                             int(m.group(1)))
    except ValueError as exc:
        raise ParseError("bad date") from exc


def _contains(haystack: bytes, needle: bytes) -> bool:
    # Case-insensitive substring match (RFC 3501 section 6.4.4).
    return needle.lower() in haystack.lower()


def _header_has(raw: bytes, name: str, needle: bytes) -> bool:
    header, _ = split_entity(raw)
    for field_name, line in header_lines(header):
        if field_name == name:
            value = line.split(b":", 1)[1]
            if not needle or _contains(value, needle):
                return True
    return False


def _internal(c: Candidate) -> datetime.date:
    return datetime.datetime.fromtimestamp(c.internal_date, datetime.UTC).date()


def _sent(c: Candidate) -> datetime.date | None:
    header, _ = split_entity(c.raw())
    for field_name, line in header_lines(header):
        if field_name == "date":
            try:
                return parsedate_to_datetime(
                    line.split(b":", 1)[1].decode("ascii", "replace").strip()
                ).date()
            except (TypeError, ValueError, IndexError):
                return None
    return None


def _date_test(kind: str, when: datetime.date,
               get: Callable[[Candidate], datetime.date | None]) -> Predicate:
    def test(c: Candidate) -> bool:
        day = get(c)
        if day is None:
            return False
        if kind == "BEFORE":
            return day < when
        if kind == "ON":
            return day == when
        return day >= when
    return test


def _in_set(seqs: SequenceSet, by_uid: bool) -> Predicate:
    if by_uid:
        return lambda c: seqs.contains(c.uid, c.largest_uid)
    return lambda c: seqs.contains(c.seq, c.largest_seq)


class _Reader:
    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.keys = 0

    def next(self) -> Token:
        if self.pos >= len(self.tokens):
            raise ParseError("missing search argument")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def key(self) -> Predicate:
        self.keys += 1
        if self.keys > MAX_KEYS:
            raise ParseError("too many search keys")

        tok = self.next()
        if isinstance(tok, ParenList):
            inner = _Reader(tok.items)
            inner.keys = self.keys
            preds = []
            while inner.pos < len(inner.tokens):
                preds.append(inner.key())
            self.keys = inner.keys
            if not preds:
                raise ParseError("empty search list")
            return lambda c: all(p(c) for p in preds)
        name = atom(tok).upper()
        if is_sequence_set(name):
            return _in_set(sequence_set(tok), by_uid=False)
        return self._named(name)

    def _named(self, name: str) -> Predicate:
        if name == "ALL":
            return lambda c: True
        if name in _FLAG_KEYS:
            flag, wanted = _FLAG_KEYS[name]
            return lambda c: (flag in c.flags) == wanted
        if name == "NEW":
            return lambda c: "\\Recent" in c.flags and "\\Seen" not in c.flags
        if name in ("KEYWORD", "UNKEYWORD"):
            kw = atom(self.next())
            return lambda c: (kw in c.flags) == (name == "KEYWORD")
        if name in _HEADER_KEYS:
            needle, header = astring(self.next()), _HEADER_KEYS[name]
            return lambda c: _header_has(c.raw(), header, needle)
        if name == "HEADER":
            header = astring(self.next()).decode("ascii", "replace").lower()
            needle = astring(self.next())
            return lambda c: _header_has(c.raw(), header, needle)
        if name == "BODY":
            needle = astring(self.next())
            return lambda c: _contains(split_entity(c.raw())[1], needle)
        if name == "TEXT":
            needle = astring(self.next())
            return lambda c: _contains(c.raw(), needle)
        if name in ("LARGER", "SMALLER"):
            text = atom(self.next())
            if not text.isdigit() or len(text) > 10:
                raise ParseError("bad size")
            size = int(text)
            if name == "LARGER":
                return lambda c: c.size > size
            return lambda c: c.size < size
        if name in ("BEFORE", "ON", "SINCE"):
            return _date_test(name, _date(self.next()), _internal)
        if name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            return _date_test(name[4:], _date(self.next()), _sent)
        if name == "UID":
            return _in_set(sequence_set(self.next()), by_uid=True)
        if name == "NOT":
            inner = self.key()
            return lambda c: not inner(c)
        if name == "OR":
            left, right = self.key(), self.key()
            return lambda c: left(c) or right(c)
        raise ParseError(f"unknown search key {name}")


def parse_search(args: tuple[Token, ...]) -> Predicate:
    """All keys must match (implicit AND); a leading CHARSET is checked."""
    if len(args) >= 2 and isinstance(args[0], Atom) and \
            args[0].value.upper() == "CHARSET":
        charset = astring(args[1]).decode("ascii", "replace").upper()
        if charset not in ("US-ASCII", "UTF-8"):
            raise UnsupportedCharset(charset)
        args = args[2:]

    reader = _Reader(args)
    preds = []
    while reader.pos < len(args):
        preds.append(reader.key())
    if not preds:
        raise ParseError("SEARCH needs at least one key")
    return lambda c: all(p(c) for p in preds)


class UnsupportedCharset(ParseError):
    """Answered with NO [BADCHARSET] (RFC 3501 section 7.1)."""
