"""IMAP command syntax (RFC 3501 section 9): tokens, sequence sets, fetch items.

The tokenizer is deliberately a little lenient (it accepts the flags "\\Seen"
and section atoms such as BODY[HEADER.FIELDS (From)] as single atoms) so that
the command handlers can stay small; anything malformed raises ParseError,
which the protocol turns into a tagged BAD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DEPTH = 8
MAX_RANGES = 1000


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class Atom:
    value: str


@dataclass(frozen=True)
class String:
    value: bytes
    literal: bool = False


@dataclass(frozen=True)
class ParenList:
    items: tuple[Token, ...]


Token = Atom | String | ParenList


@dataclass(frozen=True)
class Command:
    tag: str
    name: str  # upper case; "UID FETCH" style for UID commands
    args: tuple[Token, ...]


_TAG_RE = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]{1,64}")
_ATOM_STOP = frozenset(b' (){"\r\n')
_LITERAL_RE = re.compile(rb"\{([0-9]{1,10})\+?\}\r\n")


class _Lexer:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data) or self.data[self.pos:] == b"\r\n"

    def space(self) -> None:
        if self.data[self.pos:self.pos + 1] != b" ":
            raise ParseError("expected a space")
        self.pos += 1

    def token(self, depth: int = 0) -> Token:
        if depth > MAX_DEPTH:
            raise ParseError("too deeply nested")
        ch = self.data[self.pos:self.pos + 1]
        if ch == b"(":
            return self._list(depth)
        if ch == b'"':
            return self._quoted()
        if ch == b"{":
            return self._literal()
        return self._atom()

    def _list(self, depth: int) -> ParenList:
        self.pos += 1
        items: list[Token] = []
        while self.data[self.pos:self.pos + 1] != b")":
            if self.pos >= len(self.data):
                raise ParseError("unterminated list")
            if items:
                self.space()
            if self.data[self.pos:self.pos + 1] == b")":
                break
            items.append(self.token(depth + 1))
        self.pos += 1
        return ParenList(tuple(items))

    def _quoted(self) -> String:
        out = bytearray()
        i = self.pos + 1
        while i < len(self.data):
            c = self.data[i]
            if c == 0x22:  # closing quote
                self.pos = i + 1
                return String(bytes(out))
            if c == 0x5C:  # backslash quotes only '"' and '\' (RFC 3501 9)
                i += 1
                if i >= len(self.data) or self.data[i] not in b'"\\':
                    raise ParseError("bad escape in quoted string")
                c = self.data[i]
            elif c in (0x0D, 0x0A):
                break
            out.append(c)
            i += 1
        raise ParseError("unterminated quoted string")

    def _literal(self) -> String:
        m = _LITERAL_RE.match(self.data, self.pos)
        if m is None:
            raise ParseError("bad literal")
        start = m.end()
        end = start + int(m.group(1))
        if end > len(self.data):
            raise ParseError("short literal")
        self.pos = end
        return String(self.data[start:end], literal=True)

    def _atom(self) -> Atom:
        start = self.pos
        data = self.data
        while self.pos < len(data) and data[self.pos] not in _ATOM_STOP:
            if data[self.pos] == 0x5B:  # '[' opens a section: read to its ']'
                close = data.find(b"]", self.pos)
                if close < 0 or b"\r" in data[self.pos:close]:
                    raise ParseError("unterminated section")
                self.pos = close
            self.pos += 1
        if self.pos == start:
            raise ParseError("expected an atom")
        raw = data[start:self.pos]
        if any(c < 0x20 or c > 0x7E for c in raw):
            raise ParseError("bad character in atom")
        return Atom(raw.decode("ascii"))


def parse_command(raw: bytes) -> Command:
    """Parse one framed command: tag SP name [SP args] CRLF."""
    lexer = _Lexer(raw)
    tag_tok = lexer._atom()
    if not _TAG_RE.fullmatch(tag_tok.value) or "+" in tag_tok.value:
        raise ParseError("bad tag")
    lexer.space()
    name = lexer._atom().value.upper()
    if name == "UID":
        lexer.space()
        name = "UID " + lexer._atom().value.upper()

    args: list[Token] = []
    while not lexer.at_end():
        lexer.space()
        args.append(lexer.token())
    return Command(tag_tok.value, name, tuple(args))


def tag_of(raw: bytes) -> str:
    """Best-effort tag for a BAD reply to a command that did not parse."""
    first = raw.split(b" ", 1)[0].decode("ascii", "replace")
    return first if _TAG_RE.fullmatch(first) and "+" not in first else "*"


# -- argument helpers --------------------------------------------------------


def astring(tok: Token) -> bytes:
    if isinstance(tok, String):
        return tok.value
    if isinstance(tok, Atom):
        return tok.value.encode("ascii")
    raise ParseError("expected a string")


def atom(tok: Token) -> str:
    if not isinstance(tok, Atom):
        raise ParseError("expected an atom")
    return tok.value


def flag_list(tok: Token) -> frozenset[str]:
    items = tok.items if isinstance(tok, ParenList) else (tok,)
    flags = set()
    for item in items:
        value = atom(item)
        # System flags are case-insensitive (RFC 3501 section 2.3.2).
        flags.add(_canonical_flag(value))
    return frozenset(flags)


_SYSTEM = {f.lower(): f for f in
           ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft",
            "\\Recent")}


def _canonical_flag(value: str) -> str:
    if value.startswith("\\"):
        canon = _SYSTEM.get(value.lower())
        if canon is None:
            raise ParseError(f"unknown system flag {value}")
        return canon
    return value


# -- sequence sets (RFC 3501 section 9, "sequence-set") ----------------------


@dataclass(frozen=True)
class SequenceSet:
    ranges: tuple[tuple[int | None, int | None], ...]  # None is '*'

    def contains(self, n: int, largest: int) -> bool:
        for lo, hi in self.ranges:
            a = largest if lo is None else lo
            b = largest if hi is None else hi
            if min(a, b) <= n <= max(a, b):
                return True
        return False


_SEQ_NUMBER = re.compile(r"[1-9][0-9]{0,9}|\*")


def _seq_number(text: str) -> int | None:
    if not _SEQ_NUMBER.fullmatch(text):
        raise ParseError(f"bad sequence number {text!r}")
    if text == "*":
        return None
    value = int(text)
    if value > 0xFFFFFFFF:
        raise ParseError("sequence number out of range")
    return value


def sequence_set(tok: Token) -> SequenceSet:
    text = atom(tok)
    parts = text.split(",")
    if len(parts) > MAX_RANGES:
        raise ParseError("sequence set too long")
    ranges = []
    for part in parts:
        lo, sep, hi = part.partition(":")
        first = _seq_number(lo)
        ranges.append((first, _seq_number(hi) if sep else first))
    return SequenceSet(tuple(ranges))


def is_sequence_set(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9*:,]+", text))


# -- FETCH attributes (RFC 3501 section 6.4.5) --------------------------------


@dataclass(frozen=True)
class Section:
    part: tuple[int, ...] = ()
    text: str = ""  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        """The section as echoed in the FETCH response."""
        out = ".".join(str(p) for p in self.part)
        if self.text:
            out = f"{out}.{self.text}" if out else self.text
        if self.fields:
            out += " (" + " ".join(self.fields) + ")"
        return out


@dataclass(frozen=True)
class FetchAttr:
    name: str  # FLAGS, UID, BODY, BODYSTRUCTURE, RFC822.SIZE, ...
    section: Section | None = None  # only for BODY[...]
    peek: bool = False
    partial: tuple[int, int] | None = None


_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE = frozenset({
    "FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY",
    "BODYSTRUCTURE", "RFC822", "RFC822.HEADER", "RFC822.TEXT",
})
_BODY_RE = re.compile(
    r"(BODY|BODY\.PEEK)\[([^\]]*)\](?:<([0-9]{1,10})\.([0-9]{1,10})>)?",
    re.IGNORECASE,
)
_SECTION_RE = re.compile(
    r"((?:[1-9][0-9]{0,4})(?:\.[1-9][0-9]{0,4})*)?\.?"
    r"(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?"
    r"(?: \(([^()]*)\))?",
    re.IGNORECASE,
)


def _section(text: str) -> Section:
    m = _SECTION_RE.fullmatch(text)
    if m is None:
        raise ParseError(f"bad section {text!r}")
    part = tuple(int(p) for p in m.group(1).split(".")) if m.group(1) else ()
    kind = (m.group(2) or "").upper()
    fields_text = m.group(3)
    if kind.startswith("HEADER.FIELDS") != (fields_text is not None):
        raise ParseError("HEADER.FIELDS needs a field list")
    if kind == "MIME" and not part:
        raise ParseError("MIME needs a part number")
    if m.group(1) and text[len(m.group(1)):len(m.group(1)) + 1] not in ("", "."):
        raise ParseError(f"bad section {text!r}")
    fields = tuple(f.strip('"').upper() for f in (fields_text or "").split())
    return Section(part=part, text=kind, fields=fields)


def fetch_attr(text: str) -> FetchAttr:
    upper = text.upper()
    if upper in _SIMPLE:
        return FetchAttr(upper)

    m = _BODY_RE.fullmatch(text)
    if m is None:
        raise ParseError(f"unknown fetch attribute {text!r}")
    partial = None
    if m.group(3) is not None:
        partial = (int(m.group(3)), int(m.group(4)))
        if partial[1] == 0:
            raise ParseError("partial length must be positive")
    return FetchAttr(
        "BODY",
        section=_section(m.group(2)),
        peek=m.group(1).upper() == "BODY.PEEK",
        partial=partial,
    )


def fetch_attrs(tok: Token) -> tuple[FetchAttr, ...]:
    if isinstance(tok, Atom) and tok.value.upper() in _MACROS:
        return tuple(FetchAttr(n) for n in _MACROS[tok.value.upper()])

    items = tok.items if isinstance(tok, ParenList) else (tok,)
    if not items:
        raise ParseError("empty fetch attribute list")
    return tuple(fetch_attr(atom(item)) for item in items)
