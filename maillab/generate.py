"""``maillab scenarios generate``: seeded variations of a scenario.

A checker that passes the corpus by recognising ``contoso.test`` with ``mx1``
at ``.11`` has learnt the lab, not mail. ``vary`` keeps a scenario's meaning
(roles, faults, what a correct diagnosis contains) and changes what a
checker could memorise: the domain, the host names, the order of the hosts
(and so their addresses), the users, the order of the records.

``vary`` is a pure function of the raw scenario data and a seed; the
commands only read, validate and write files around it.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from lab.errors import ScenarioError
from lab.faults import BY_NAME
from lab.scenario.loader import bundled_dir, bundled_names, load, load_text, resolve
from lab.scenario.model import Organisation, Scenario

#: First labels of the new organisation domains, all under the reserved
#: ``.test`` TLD (RFC 2606), so no variation names a real domain.
DOMAIN_WORDS = (
    "adatum", "alpine", "bluebird", "coho", "fourthcoffee", "humongous",
    "litware", "lucerne", "margie", "northwind", "proseware", "tailspin",
    "treyresearch", "wideworld", "wingtip", "woodgrove",
)

#: Host name stems by the host's first role; a digit or letter follows.
HOST_STEMS = {
    "dns": ("ns", "dns", "names", "resolver"),
    "mx": ("mx", "inbound", "mailin", "smtp-in", "gw"),
    "edge": ("edge", "perimeter"),
    "mailbox": ("mbx", "store", "mailstore", "exch", "post"),
    "outbound": ("out", "smtp-out", "sender", "mta", "egress"),
    "autodiscover": ("autodiscover",),
}

USER_NAMES = (
    "dana", "erin", "farah", "grace", "hugo", "ivan", "jun", "kemal", "lena",
    "mateo", "nadia", "oscar", "priya", "quinn", "rosa", "sami", "tomas",
    "uma", "viktor", "wen",
)

#: Clients find Autodiscover at autodiscover.<domain> by convention, and
#: the checker probes that name too; renaming the host would change what
#: the scenario reproduces, so it keeps its name.
FIXED_NAMES = {"autodiscover"}

_LABEL_TOKEN = re.compile(r"[a-z0-9-]+")


def vary(raw: dict[str, Any], seed: int) -> dict[str, Any]:
    """A seeded variation of a scenario's raw data; the input is not changed."""
    rng = random.Random(seed)
    data = copy.deepcopy(raw)
    org = data.setdefault("organisation", {})

    # Defaults that name hosts or users must be written out before renaming,
    # or they would silently point at hosts that no longer exist.
    _materialise(org, data.get("faults", []))
    old_domain = org.get("domain", _default("domain"))

    # The reserved names (other organisations, names faults invent) must not
    # collide with anything new.
    reserved = _reserved(data)
    domain = _new_domain(rng, old_domain, reserved)
    org["domain"] = domain

    hosts = _rename_hosts(rng, org, data.get("faults", []), reserved)
    org["hosts"] = _reorder(rng, org["hosts"])

    users = _replace_users(rng, org, data.get("outside", []))

    # Order does not matter for a DNS record set, so a checker must not rely
    # on it either.
    rng.shuffle(org.get("records", []))
    for outside in data.get("outside", []):
        rng.shuffle(outside.get("records", []))

    # Every string last, so placeholders, names and prose agree with the new
    # hosts, users and domain.
    rewrite = _rewriter(old_domain, domain, hosts, users,
                        _partner_users(data.get("outside", [])))
    return _in_model_order(_walk(data, rewrite))


def _in_model_order(data: dict[str, Any]) -> dict[str, Any]:
    """Keys in the order the model declares them, so a file reads as usual."""
    def ordered(mapping: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        rank = {name: i for i, name in enumerate(fields)}
        return dict(sorted(mapping.items(), key=lambda kv: rank.get(kv[0], len(rank))))

    data = ordered(data, list(Scenario.model_fields))
    if "organisation" in data:
        data["organisation"] = ordered(data["organisation"],
                                       list(Organisation.model_fields))
    return data


def _default(field: str) -> Any:
    info = Organisation.model_fields[field]
    if info.default_factory is not None:
        return info.default_factory()
    return info.default


def _materialise(org: dict[str, Any], faults: list[dict[str, Any]]) -> None:
    for field in ("hosts", "users", "relay", "spf"):
        if field not in org:
            value = _default(field)
            if isinstance(value, list):
                value = [item.model_dump(exclude_defaults=True) for item in value]
            org[field] = value

    for fault in faults:
        cls = BY_NAME.get(fault.get("type", ""))
        if cls is None:
            continue
        for name, info in cls.model_fields.items():
            default = info.default
            if name in fault or not isinstance(default, str):
                continue
            # A default host, or a default record with {addr:HOST} in it.
            if name == "host" or "{" in default:
                fault[name] = default


def _reserved(data: dict[str, Any]) -> set[str]:
    """Labels and domains a new name must not take."""
    names: set[str] = set(FIXED_NAMES)
    for outside in data.get("outside", []):
        names.add(str(outside.get("domain", "")).lower())
    for blocklist in data.get("blocklists", []):
        names.add(str(blocklist.get("zone", "")).lower())
    for fault in data.get("faults", []):
        cls = BY_NAME.get(fault.get("type", ""))
        fields = cls.model_fields if cls is not None else {}
        for name, info in fields.items():
            value = fault.get(name, info.default)
            if name not in ("type", "host") and isinstance(value, str):
                names.update(_LABEL_TOKEN.findall(value.lower()))
    return names


def _new_domain(rng: random.Random, old: str, reserved: set[str]) -> str:
    words = [w for w in DOMAIN_WORDS if f"{w}.test" not in reserved]
    while True:
        word = rng.choice(words)
        # A number half of the time widens the space beyond the word list.
        name = f"{word}-{rng.randint(2, 99)}.test" if rng.random() < 0.5 else (
            f"{word}.test")
        if name != old and name not in reserved:
            return name


def _rename_hosts(rng: random.Random, org: dict[str, Any],
                  faults: list[dict[str, Any]], reserved: set[str]) -> dict[str, str]:
    """New names for the hosts, applied to every field that names a host."""
    old_names = {h["name"] for h in org["hosts"]}
    taken = set(reserved) | old_names
    mapping: dict[str, str] = {}
    for host in org["hosts"]:
        if host["name"] in FIXED_NAMES:
            mapping[host["name"]] = host["name"]
            continue
        stems = HOST_STEMS.get(host["roles"][0], ("host",))
        while True:
            suffix = rng.choice((str(rng.randint(1, 9)), rng.choice("abcdefgh")))
            name = f"{rng.choice(stems)}{suffix}"
            if name not in taken:
                break
        taken.add(name)
        mapping[host["name"]] = name

    org["hosts"] = [{**h, "name": mapping[h["name"]]} for h in org["hosts"]]
    if org.get("relay") is not None:
        org["relay"] = mapping.get(org["relay"], org["relay"])
    for fault in faults:
        if fault.get("host") in mapping:
            fault["host"] = mapping[fault["host"]]
    for record in org.get("records", []):
        # A relative record name that is a host's label moves with the host.
        if record.get("name") in mapping:
            record["name"] = mapping[record["name"]]
    return {old: new for old, new in mapping.items() if old != new}


def _reorder(rng: random.Random, hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hosts in a new order, so each gets another address.

    Two places stay put. The lab claims a loopback slot by binding its
    resolver's address (the slot's first, .10, when the first DNS host comes
    first); a resolver elsewhere would claim a slot whose other addresses
    another lab holds. And MX preferences follow the order of the MX hosts
    (10, 20, ...), so MX hosts keep their order among themselves and only
    move relative to the others.
    """
    resolver = next((h for h in hosts if "dns" in h["roles"]), None)
    if resolver is None or hosts[0] is not resolver:
        # A file whose resolver is not first already claims slots that way.
        head, rest = [], list(hosts)
    else:
        head, rest = [resolver], hosts[1:]

    mx = [h for h in rest if "mx" in h["roles"]]
    shuffled = list(rest)
    for _ in range(8):
        order = list(range(len(rest)))
        rng.shuffle(order)
        mx_iter = iter(mx)
        shuffled = [next(mx_iter) if "mx" in rest[i]["roles"] else rest[i]
                    for i in order]
        if shuffled != rest:
            break
    return head + shuffled


def _replace_users(rng: random.Random, org: dict[str, Any],
                   outside: list[dict[str, Any]]) -> dict[str, str]:
    """A new set of one to three users; old names map onto new ones."""
    old = [u["name"] for u in org["users"]]
    if not old:
        # A scenario without users says something (no test account): keep it.
        return {}
    avoid = set(old) | _partner_users(outside)
    pool = [n for n in USER_NAMES if n not in avoid]
    new = rng.sample(pool, rng.randint(1, 3))
    passwords = [u.get("password", "") for u in org["users"]]
    org["users"] = [
        {"name": name, **({"password": passwords[i]}
                          if i < len(passwords) and passwords[i] else {})}
        for i, name in enumerate(new)
    ]
    # A user the new set has no place for is spoken of as the first one.
    return {name: new[i] if i < len(new) else new[0] for i, name in enumerate(old)}


def _partner_users(outside: list[dict[str, Any]]) -> set[str]:
    return {str(u) for o in outside for u in (o.get("users") or [])}


def _rewriter(old_domain: str, domain: str, hosts: dict[str, str],
              users: dict[str, str], partner_users: set[str]) -> Callable[[str], str]:
    edge = r"(?<![a-z0-9-])"
    end = r"(?![a-z0-9-])"
    dom = re.escape(old_domain)

    def alternation(names: list[str]) -> str:
        return "|".join(re.escape(n) for n in names)

    def exact(pattern: str) -> re.Pattern[str]:
        # Whole names only: "mx1" must not match inside "mx10" or "old-mx1".
        return re.compile(edge + pattern + end, re.IGNORECASE)

    rules: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = []
    if hosts:
        names = alternation(list(hosts))
        rules.append((re.compile(r"\{(addr|rev):(" + names + r")\}"),
                      lambda m: f"{{{m[1]}:{hosts[m[2]]}}}"))
        rules.append((exact("(" + names + r")\." + dom),
                      lambda m: f"{hosts[m[1].lower()]}.{domain}"))
    if users:
        names = alternation(list(users))
        rules.append((exact("(" + names + ")@" + dom),
                      lambda m: f"{users[m[1].lower()]}@{domain}"))
        # "Alice's mail" in a complaint: only a name no partner also uses,
        # so Bob at the partner stays Bob.
        ours = [u for u in users if u not in partner_users]
        if ours:
            rules.append((re.compile(r"\b(" + alternation(
                [u.capitalize() for u in ours]) + r")\b"),
                lambda m: users[m[1].lower()].capitalize()))
    rules.append((exact(dom), lambda m: domain))

    def rewrite(text: str) -> str:
        for pattern, replace in rules:
            text = pattern.sub(replace, text)
        return text

    return rewrite


def _walk(value: Any, rewrite: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list):
        return [_walk(v, rewrite) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, rewrite) for k, v in value.items()}
    return value


class _Dumper(yaml.SafeDumper):
    """Scenario files refuse YAML aliases, so none is ever written."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=80)


class _BadInput(click.ClickException):
    """Bad input (a scenario, an option): exit status 2, as elsewhere."""

    exit_code = 2


def _read_raw(name: str) -> tuple[str, dict[str, Any]]:
    """The scenario's stem and raw data, after the loader has accepted it."""
    try:
        scenario = load(name)
        path = resolve(name)
    except ScenarioError as exc:
        raise _BadInput(str(exc)) from None
    # The loader has refused aliases, tags and oversized files already.
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw.pop("name", None)
    return scenario.name, raw


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


@click.command("generate")
@click.argument("scenario")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the first variation.")
@click.option("--count", type=click.IntRange(1, 1000), default=1,
              show_default=True, help="How many variations (seeds N, N+1, ...).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("generated"), show_default=True,
              help="Folder for the files; created if missing.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def generate_command(scenario: str, seed: int, count: int, out_dir: Path,
                     force: bool) -> None:
    """Write seeded variations of SCENARIO as <name>-v<seed>.yaml files."""
    if _inside(out_dir, bundled_dir()):
        raise _BadInput(f"{out_dir} is inside the bundled scenarios; "
                        "choose another --out")
    name, raw = _read_raw(scenario)

    # Every file is built and validated before any is written, so a failure
    # leaves no half-written set behind.
    files: list[tuple[Path, str]] = []
    for n in range(seed, seed + count):
        path = out_dir / f"{name}-v{n}.yaml"
        if path.exists() and not force:
            raise _BadInput(f"{path} exists; give --force to overwrite it")
        text = to_yaml(vary(raw, n))
        try:
            load_text(text, path=str(path), default_name=path.stem)
        except ScenarioError as exc:
            raise click.ClickException(f"variation {n} is not valid: {exc}") from None
        files.append((path, text))

    out_dir.mkdir(parents=True, exist_ok=True)
    for path, text in files:
        path.write_text(text, encoding="utf-8")
        click.echo(str(path))


@click.command("list")
def list_command() -> None:
    """List the bundled scenarios with their titles."""
    for name in bundled_names():
        try:
            title = load(name).title
        except ScenarioError as exc:
            title = f"(invalid: {exc})"
        click.echo(f"{name}  {title}")


@click.group("scenarios")
def scenarios_group() -> None:
    """Work with scenario files: list them, generate variations."""


scenarios_group.add_command(generate_command)
scenarios_group.add_command(list_command)
