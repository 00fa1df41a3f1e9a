"""Exercise sets: named, ordered lists of scenarios for one lesson.

A set file lives in ``scenarios/sets/`` and names scenarios that other
people add and rename over time, so every member is checked against the
bundled scenarios when the set is loaded; a missing one is reported at its
line in the set file.
"""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lab.errors import ScenarioError
from lab.scenario import bundled_dir, bundled_names

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024
MAX_MEMBERS = 50

Level = Literal["beginner", "intermediate", "advanced"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class SetError(ScenarioError):
    """A set file is unreadable, invalid, or names a scenario that is not there."""


class ExerciseSet(BaseModel):
    """One lesson: a title, a level and the scenarios in the order taught."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = Field(min_length=1, max_length=200)
    level: Level
    description: str = Field(default="", max_length=2000)
    scenarios: tuple[str, ...] = Field(min_length=1, max_length=MAX_MEMBERS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"not a set name (a-z, 0-9, '-'): {value!r}")
        return value

    @field_validator("scenarios")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen = [v for i, v in enumerate(value) if v in value[:i]]
        if seen:
            raise ValueError(f"scenario listed twice: {seen[0]}")
        return value


def sets_dir() -> Path:
    """Where bundled sets live: next to the bundled scenarios."""
    return bundled_dir() / "sets"


def set_names() -> list[str]:
    return sorted(p.stem for p in sets_dir().glob("*.yaml"))


def is_set(name_or_path: str) -> bool:
    """Whether an argument names a bundled set or is a set file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path.resolve().parent == sets_dir().resolve() or _looks_like_set(path)
    return (sets_dir() / f"{name_or_path}.yaml").is_file()


def _looks_like_set(path: Path) -> bool:
    # A scenario has a 'question'; a set has 'scenarios' and no question.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")[:MAX_BYTES])
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "scenarios" in data and "question" not in data


def load_set(name_or_path: str, *, known: list[str] | None = None) -> ExerciseSet:
    """A bundled set by name, or a set file by path, validated.

    ``known`` is the list of scenario names members must come from; by default
    the scenarios bundled right now.
    """
    path = _resolve(name_or_path)
    text = _read(path)
    node = _compose(text, str(path))
    if not isinstance(node, yaml.MappingNode):
        raise SetError("a set is a mapping of fields", path=str(path), line=1)

    raw = yaml.safe_load(text)
    raw.setdefault("name", path.stem)
    try:
        found = ExerciseSet.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        raise SetError(message, path=str(path), line=_line(node, loc),
                       field=".".join(str(p) for p in loc)) from None

    names = bundled_names() if known is None else known
    for i, member in enumerate(found.scenarios):
        if member not in names:
            near = difflib.get_close_matches(member, names, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise SetError(f"no bundled scenario '{member}'{hint}", path=str(path),
                           line=_line(node, ("scenarios", i)),
                           field=f"scenarios[{i}]")
    return found


def bundled_sets() -> list[ExerciseSet]:
    return [load_set(n) for n in set_names()]


def _resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if not path.is_file():
            raise SetError("no such set file", path=name_or_path)
        return path
    candidate = sets_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        near = difflib.get_close_matches(name_or_path, set_names(), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise SetError(f"no exercise set of that name{hint}", path=name_or_path)
    return candidate


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SetError(f"cannot read: {exc.strerror}", path=str(path)) from None
    if len(data) > MAX_BYTES:
        raise SetError(f"larger than {MAX_BYTES} bytes", path=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SetError(f"not UTF-8 (byte {exc.start})", path=str(path)) from None


def _compose(text: str, path: str) -> yaml.Node | None:
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise SetError("YAML aliases are not allowed in sets", path=path,
                               line=event.start_mark.line + 1)
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SetError(f"YAML syntax error: {exc.problem}", path=path,
                       line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise SetError(f"YAML error: {exc}", path=path) from None


def _line(root: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The line of the deepest node along ``loc`` that the file has."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, child = key.start_mark.line + 1, value
                    break
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and part < len(node.value)):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
