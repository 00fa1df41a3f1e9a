"""Scoring a checker that speaks its own codes: their code to ours, or ignored.

A mapping file is YAML or JSON. Its simplest form maps each of their codes to
one of ours, or to ``null`` to ignore it::

    SPF_NOT_FOUND: spf.missing
    DMARC_WEAK_POLICY: null

A value may also be ``{code: OURS, subject: any}`` when the checker does not
name subjects as we do: the finding then matches the expected finding of
that code whatever its subject. The long form puts the codes under ``codes``
and adds ``unmapped: keep`` (default; an unknown code is scored as is, and
so counts as unexpected) or ``unmapped: ignore``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .contract import Pair, ReportedFinding

log = logging.getLogger(__name__)

MAX_MAPPING_BYTES = 256 * 1024
MAX_ENTRIES = 5000


class MappingError(ValueError):
    """A mapping file that cannot be read or says something impossible."""


@dataclass(frozen=True)
class Rule:
    #: Our code, or None to ignore the finding.
    code: str | None
    any_subject: bool = False


@dataclass(frozen=True)
class CodeMap:
    rules: dict[str, Rule] = field(default_factory=dict)
    ignore_unmapped: bool = False


def parse_mapping(doc: Any, *, source: str = "<mapping>") -> CodeMap:
    """Build a CodeMap from a decoded mapping document."""
    if not isinstance(doc, dict):
        raise MappingError(f"{source}: a mapping is an object of code: code")
    unmapped = "keep"
    if isinstance(doc.get("codes"), dict):
        unmapped = doc.get("unmapped", "keep")
        extra = set(doc) - {"codes", "unmapped", "version"}
        if extra:
            raise MappingError(f"{source}: unknown keys {sorted(extra)}")
        doc = doc["codes"]
    if unmapped not in ("keep", "ignore"):
        raise MappingError(f"{source}: unmapped must be 'keep' or 'ignore'")
    if len(doc) > MAX_ENTRIES:
        raise MappingError(f"{source}: more than {MAX_ENTRIES} entries")

    rules = {}
    for theirs, value in doc.items():
        where = f"{source}: {theirs!r}"
        if value is None or isinstance(value, str):
            rules[str(theirs)] = Rule(value)
            continue
        if not isinstance(value, dict) or set(value) - {"code", "subject"}:
            raise MappingError(f"{where}: expected a code, null, or "
                               "{code: ..., subject: any|exact}")
        subject = value.get("subject", "exact")
        if subject not in ("any", "exact"):
            raise MappingError(f"{where}: subject must be 'any' or 'exact'")
        code = value.get("code")
        if code is not None and not isinstance(code, str):
            raise MappingError(f"{where}: code must be a string or null")
        rules[str(theirs)] = Rule(code, subject == "any")
    return CodeMap(rules, unmapped == "ignore")


def load_mapping(path: Path) -> CodeMap:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{path}: {exc.strerror}") from None
    if len(data) > MAX_MAPPING_BYTES:
        raise MappingError(f"{path}: larger than {MAX_MAPPING_BYTES} bytes")
    text = data.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: {exc}") from None
    return parse_mapping(doc, source=str(path))


def apply_mapping(found: Iterable[ReportedFinding], mapping: CodeMap | None,
                  expected: Iterable[Pair]) -> list[Pair]:
    """Their findings as our (code, subject) pairs, ready to be scored."""
    pairs: list[Pair] = []
    relaxed: list[str] = []
    for f in found:
        rule = mapping.rules.get(f.code) if mapping else None
        if rule is None:
            if mapping is not None and mapping.ignore_unmapped:
                continue
            pairs.append((f.code, f.subject))
        elif rule.code is None:
            continue
        elif rule.any_subject:
            relaxed.append(rule.code)
        else:
            pairs.append((rule.code, f.subject))
    return pairs + relax_subjects(relaxed, expected)


def relax_subjects(codes: list[str], expected: Iterable[Pair]) -> list[Pair]:
    """Give subject-less findings the subjects of the expected ones.

    Each finding takes the next expected subject of its code not yet taken;
    once they are all taken, further findings of that code repeat the last
    one (a checker saying the same thing twice is not wrong twice). A code
    nothing expects keeps an empty subject, and so counts as unexpected.
    """
    by_code: dict[str, list[str]] = {}
    for code, subject in sorted(set(expected)):
        by_code.setdefault(code, []).append(subject)

    taken: dict[str, int] = {}
    out = []
    for code in codes:
        subjects = by_code.get(code)
        if not subjects:
            out.append((code, ""))
            continue
        i = taken.get(code, 0)
        out.append((code, subjects[min(i, len(subjects) - 1)]))
        taken[code] = i + 1
    return out
