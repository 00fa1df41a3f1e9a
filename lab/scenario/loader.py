"""Reading scenario files: YAML in, a validated ``Scenario`` or one clear error.

The YAML is composed into nodes first, so every value keeps the line it came
from; a validation error is then reported at the line of the field it names.
Aliases, explicit tags and oversized files are refused before anything is
built: a scenario is data, and a YAML bomb or a ``!!python`` tag is not.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ScenarioError, UnknownScenario
from ..faults import closest
from .model import Scenario, cross_check

MAX_BYTES = 256 * 1024

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


def bundled_dir() -> Path:
    """Where the bundled scenarios live (``MAILLAB_SCENARIOS`` overrides)."""
    env = os.environ.get("MAILLAB_SCENARIOS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "scenarios"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    """A bundled scenario's name, or a path to a scenario file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not path.is_file():
            raise UnknownScenario("no such scenario file", path=name_or_path)
        return path
    candidate = bundled_dir() / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    near = difflib.get_close_matches(name_or_path, bundled_names(), n=1)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise UnknownScenario(f"no bundled scenario of that name{hint}",
                          path=name_or_path)


def load(name_or_path: str) -> Scenario:
    path = resolve(name_or_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", path=str(path)) from None
    if len(data) > MAX_BYTES:
        raise ScenarioError(f"larger than {MAX_BYTES} bytes", path=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 (byte {exc.start})", path=str(path)) from None
    return load_text(text, path=str(path), default_name=path.stem)


def load_text(text: str, *, path: str = "<scenario>",
              default_name: str = "scenario") -> Scenario:
    node = _compose(text, path)
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1 if node is not None else 1
        raise ScenarioError("a scenario is a mapping of fields", path=path, line=line)
    _no_duplicate_keys(node, path)
    raw = _construct(node)
    raw.setdefault("name", default_name)

    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise _explain(exc, node, path) from None

    for loc, message in cross_check(scenario):
        raise ScenarioError(message, path=path, line=_line(node, loc),
                            field=_dotted(loc))
    return scenario


#: No scenario needs more: the format itself nests about six levels deep.
MAX_DEPTH = 40


def _depth_problem(text: str) -> tuple[int, str] | None:
    """A line nested past MAX_DEPTH, found before PyYAML sees the text.

    PyYAML's composer recurses once per level and its scanner slows down
    quadratically with flow nesting, so a small file of brackets is a bomb.
    The count is rough on purpose (quotes are not parsed): a real scenario is
    nowhere near the limit.
    """
    flow = 0
    for number, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip(" "))
        if indent > 2 * MAX_DEPTH:
            return number, f"indented {indent} columns"
        flow += line.count("[") + line.count("{")
        if flow > MAX_DEPTH:
            return number, f"{flow} open brackets"
        flow = max(0, flow - line.count("]") - line.count("}"))
    return None


def _compose(text: str, path: str) -> yaml.Node | None:
    deep = _depth_problem(text)
    if deep is not None:
        raise ScenarioError(f"nested too deeply for a scenario ({deep[1]})",
                            path=path, line=deep[0])
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ScenarioError("YAML aliases are not allowed in scenarios",
                                    path=path, line=event.start_mark.line + 1)
            tag = getattr(event, "tag", None)
            if tag and tag not in _PLAIN_TAGS and tag != "!":
                raise ScenarioError(f"YAML tag {tag} is not allowed in scenarios",
                                    path=path, line=event.start_mark.line + 1)
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(f"YAML syntax error: {exc.problem}", path=path,
                            line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML error: {exc}", path=path) from None
    except RecursionError:
        raise ScenarioError("nested too deeply for a scenario", path=path) from None


def _no_duplicate_keys(root: yaml.Node, path: str) -> None:
    """YAML keeps the last of two equal keys; a scenario must say it once."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise ScenarioError(f"'{key.value}' is given twice",
                                            path=path, line=key.start_mark.line + 1,
                                            field=key.value)
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _explain(exc: ValidationError, root: yaml.Node, path: str) -> ScenarioError:
    """The most telling validation error, as one message at its line.

    A misspelt key shows up twice, as an unknown field and as a missing one;
    the unknown field is the cause, so it is reported, with the missing name
    as the suggestion.
    """
    errors = exc.errors()
    rank = {"extra_forbidden": 0, "union_tag_invalid": 1}
    error = min(errors, key=lambda e: rank.get(e["type"], 2))
    loc = tuple(error["loc"])
    message = error["msg"].removeprefix("Value error, ")

    if error["type"] == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", ""))
        near = closest(tag)
        hint = f"; did you mean '{near}'?" if near else ""
        message = f"unknown fault type '{tag}'{hint}"
        loc = (*loc, "type")
    elif error["type"] == "union_tag_not_found":
        message = "a fault needs a 'type'"
    elif error["type"] == "extra_forbidden":
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing"
                   and tuple(e["loc"][:-1]) == loc[:-1]]
        near = difflib.get_close_matches(str(loc[-1]), missing, n=1)
        message = "unknown field" + (f"; did you mean '{near[0]}'?" if near else "")
    elif error["type"] == "missing":
        message = "required field is missing"

    # Tagged unions put the tag into the location; the file has no such key.
    loc = tuple(p for i, p in enumerate(loc)
                if not (i > 0 and loc[i - 1] == _int_at(loc, i - 1) and
                        isinstance(p, str) and "." in p))
    return ScenarioError(message, path=path, line=_line(root, loc),
                         field=_dotted(loc))


def _int_at(loc: tuple[Any, ...], i: int) -> Any:
    return loc[i] if isinstance(loc[i], int) else object()


def _line(root: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The line of the deepest node along ``loc`` that the file has."""
    node = root
    line = root.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if key.value == part:
                    line = key.start_mark.line + 1
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
