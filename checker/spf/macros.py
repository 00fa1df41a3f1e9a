"""Macro strings (RFC 7208 section 7): parsing and expansion, without I/O.

Theory of operation: a macro string is parsed once, when its record is
read, into literal runs and macro tokens. Section 4.6 wants syntax errors
found anywhere in a record before it is believed, so parsing happens up
front; expansion later only substitutes values and cannot fail. The ``p``
letter needs DNS lookups; the evaluator resolves it first and passes the
value in the context, which keeps this module free of I/O.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from .names import IPAddress, dotted

#: Section 7.1: macro-letter. c, r and t are allowed only in explanation text.
DOMAIN_LETTERS = frozenset("slodiphv")
EXPLANATION_LETTERS = DOMAIN_LETTERS | frozenset("crt")
DELIMITERS = ".-+,/_="

# Section 7.3: upper-case letters are URL-escaped; unreserved stays as is.
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_BODY = re.compile(r"([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\Z")
# A number of parts larger than this is the same as "all of them".
_MAX_PARTS = 1000


class MacroSyntaxError(ValueError):
    """A macro string breaks the grammar of RFC 7208 section 7.1."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


@dataclass(frozen=True)
class Macro:
    """One ``%{...}`` expansion: letter, right-hand parts, reversal, splitters."""

    letter: str
    url_escape: bool
    parts: int | None
    reverse: bool
    delimiters: str


Token = str | Macro


@dataclass(frozen=True)
class MacroString:
    """A parsed macro string; ``tail`` is the literal text after the last macro.

    ``tail`` is what the domain-end rule of section 7.1 looks at: a
    domain-spec must end in a macro or in "." and a valid top label.
    """

    text: str
    tokens: tuple[Token, ...]
    tail: str

    def uses(self, letter: str) -> bool:
        return any(isinstance(t, Macro) and t.letter == letter for t in self.tokens)

    @property
    def has_macros(self) -> bool:
        return any(isinstance(t, Macro) for t in self.tokens)


@dataclass(frozen=True)
class MacroContext:
    """The values the letters stand for (section 7.3)."""

    sender: str
    local_part: str
    sender_domain: str
    domain: str
    ip: IPAddress
    helo: str
    receiver: str = "unknown"
    now: int = 0
    validated_name: str = "unknown"


def parse_macro_string(text: str, *, explanation: bool = False) -> MacroString:
    """Parse ``text``; ``explanation`` allows SP and the letters c, r, t.

    Section 7.1: macro-literal is %x21-24 / %x26-7E, explain-string adds SP,
    and "%" must be followed by "{", "%", "_" or "-".
    """
    letters = EXPLANATION_LETTERS if explanation else DOMAIN_LETTERS
    tokens: list[Token] = []
    literal: list[str] = []
    tail_start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            if not ("\x21" <= ch <= "\x7e" or (explanation and ch == " ")):
                raise MacroSyntaxError(f"character {ch!r} is not allowed here", i)
            literal.append(ch)
            i += 1
            continue

        # "%%", "%_" and "%-" are macro-expands too (they end a domain-spec).
        follower = text[i + 1:i + 2]
        if follower in ("%", "_", "-"):
            literal.append({"%": "%", "_": " ", "-": "%20"}[follower])
            i += 2
            tail_start = len("".join(literal))
            continue
        if follower != "{":
            shown = follower or "end of text"
            raise MacroSyntaxError(f"'%' followed by {shown!r}", i)

        end = text.find("}", i + 2)
        if end < 0:
            raise MacroSyntaxError("'%{' without a closing '}'", i)
        macro = _parse_body(text[i + 2:end], letters, i)
        if literal:
            tokens.append("".join(literal))
            literal = []
        tokens.append(macro)
        tail_start = 0
        i = end + 1

    if literal:
        tokens.append("".join(literal))
    tail = tokens[-1][tail_start:] if tokens and isinstance(tokens[-1], str) else ""
    return MacroString(text=text, tokens=tuple(tokens), tail=tail)


def _parse_body(body: str, letters: frozenset[str], offset: int) -> Macro:
    match = _BODY.match(body)
    if not match:
        raise MacroSyntaxError(f"'%{{{body}}}' is not a valid macro", offset)
    letter, digits, reverse, delimiters = match.groups()
    if letter.lower() not in letters:
        where = "here" if letter.lower() in EXPLANATION_LETTERS else "at all"
        raise MacroSyntaxError(f"macro letter {letter!r} is not allowed {where}",
                               offset)

    # Section 7.3: the number of parts, when given, MUST be nonzero.
    parts: int | None = None
    if digits:
        significant = digits.lstrip("0")
        if not significant:
            raise MacroSyntaxError(f"'%{{{body}}}' asks for zero parts", offset)
        parts = min(int(significant[:6]), _MAX_PARTS)
    return Macro(letter=letter.lower(), url_escape=letter.isupper(), parts=parts,
                 reverse=bool(reverse), delimiters=delimiters)


def expand(macro_string: MacroString, context: MacroContext) -> str:
    """Substitute every macro of ``macro_string`` (section 7.3)."""
    out: list[str] = []
    for token in macro_string.tokens:
        out.append(token if isinstance(token, str) else _expand_one(token, context))
    return "".join(out)


def _expand_one(macro: Macro, context: MacroContext) -> str:
    value = _letter_value(macro.letter, context)

    # Split on the delimiters (default "."), reverse, keep the right-hand parts.
    if macro.parts is not None or macro.reverse or macro.delimiters:
        pattern = "[" + re.escape(macro.delimiters or ".") + "]"
        pieces = re.split(pattern, value)
        if macro.reverse:
            pieces.reverse()
        if macro.parts is not None:
            pieces = pieces[-macro.parts:]
        value = ".".join(pieces)

    if macro.url_escape:
        value = "".join(
            ch if ch in _UNRESERVED
            else "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
            for ch in value
        )
    return value


def _letter_value(letter: str, context: MacroContext) -> str:
    if letter == "s":
        return context.sender
    if letter == "l":
        return context.local_part
    if letter == "o":
        return context.sender_domain
    if letter == "d":
        return context.domain
    if letter == "i":
        return dotted(context.ip)
    if letter == "p":
        return context.validated_name
    if letter == "v":
        return "in-addr" if context.ip.version == 4 else "ip6"
    if letter == "h":
        return context.helo
    if letter == "c":
        return str(context.ip)
    if letter == "r":
        return context.receiver
    return str(context.now)
