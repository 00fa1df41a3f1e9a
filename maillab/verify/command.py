"""``maillab verify``: score a checker against the scenario corpus.

Exit statuses: 0 every scenario matched; 1 a finding was missed or
unexpected, or a checker or lab broke; 2 bad input (a scenario, an option,
a mapping file).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from lab.errors import ScenarioError
from lab.scenario import bundled_names, load

from .contract import DEFAULT_COMMAND, schema_text
from .junit import render_junit
from .mapping import CodeMap, MappingError, load_mapping
from .runner import DEFAULT_TIMEOUT, Outcome, verify_many
from .scoring import Summary, summarise
from .sharding import parse_shard, shard

log = logging.getLogger(__name__)

out = Console()
err = Console(stderr=True)

MAX_JOBS = 64


def _print_schema(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(schema_text(), nl=False)
        ctx.exit(0)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


@click.command("verify")
@click.argument("scenarios", nargs=-1)
@click.option("--checker", "command", default=DEFAULT_COMMAND, show_default=True,
              help="Checker command line; placeholders {domain} {resolver} "
                   "{resolver_ip} {resolver_port} {outbound} {state}.")
@click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), default=4,
              show_default=True, help="Labs run at once.")
@click.option("--timeout", type=click.FloatRange(0.1, 3600), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds the checker may take per scenario.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--junit", "junit_file", type=click.Path(path_type=Path),
              help="Write JUnit XML here (one testcase per scenario).")
@click.option("--map", "map_file", type=click.Path(path_type=Path),
              help="YAML/JSON mapping of the checker's codes to ours.")
@click.option("--shard", "shard_spec", metavar="I/N",
              help="Run only the I-th of N slices of the sorted corpus.")
@click.option("--print-schema", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_schema, help="Print the report JSON Schema and exit.")
def verify_command(scenarios: tuple[str, ...], command: str, jobs: int,
                   timeout: float, as_json: bool, junit_file: Path | None,
                   map_file: Path | None, shard_spec: str | None) -> None:
    """Score a checker against scenarios (all bundled ones when none is named)."""
    mapping: CodeMap | None = None
    try:
        mapping = load_mapping(map_file) if map_file else None
        every = [load(n) for n in (scenarios or bundled_names())]
        # Labs here run in loopback mode: a scenario that needs a namespace
        # of its own (an IPv6 path) would be scored on a lab without it.
        away = sorted(s.name for s in every if s.network == "isolated")
        if away:
            err.print(f"not scored here (they need isolated mode): "
                      f"{', '.join(away)}", highlight=False)
        names = scenarios or bundled_names()
        loaded = {s.name: n for s, n in zip(every, names, strict=True)
                  if s.network != "isolated"}
        chosen = sorted(loaded)
        if shard_spec:
            chosen = shard(chosen, *parse_shard(shard_spec))
    except (ScenarioError, MappingError, ValueError) as exc:
        _fail(str(exc))

    outcomes = _run(chosen, loaded, command, jobs=jobs, timeout=timeout,
                    mapping=mapping, quiet=as_json)
    scores = [o.score for o in outcomes]
    summary = summarise(scores)

    if junit_file is not None:
        junit_file.parent.mkdir(parents=True, exist_ok=True)
        junit_file.write_text(render_junit(
            scores, checker=command,
            durations={o.score.scenario: o.elapsed_s for o in outcomes}))
    if as_json:
        click.echo(json.dumps({"checker": command, "summary": summary.to_json(),
                               "scenarios": [s.to_json() for s in scores]},
                              indent=2))
    else:
        _show(outcomes, summary)
    sys.exit(0 if summary.ok else 1)


def _run(chosen: list[str], paths: dict[str, str], command: str, *, jobs: int,
         timeout: float, mapping: CodeMap | None, quiet: bool) -> list[Outcome]:
    progress = Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.description}"), console=err,
                        disable=quiet, transient=True)
    with progress:
        task = progress.add_task("", total=len(chosen))

        def done(outcome: Outcome) -> None:
            mark = "✓" if outcome.score.matched else "✗"
            progress.update(task, advance=1,
                            description=f"{mark} {outcome.score.scenario}")

        outcomes = asyncio.run(verify_many(
            [paths[n] for n in chosen], command, jobs=jobs, mapping=mapping,
            timeout=timeout, on_done=done))
    return sorted(outcomes, key=lambda o: o.score.scenario)


def _show(outcomes: list[Outcome], summary: Summary) -> None:
    table = Table("scenario", "found", "missed", "unexpected", "verdict")
    for o in outcomes:
        s = o.score
        hits = [p for p in s.expected if p in s.found]
        verdict = "[green]matched[/]" if s.matched else (
            "[red]error[/]" if s.error else "[red]mismatch[/]")
        table.add_row(s.scenario, _pairs(hits), _pairs(s.missed),
                      _pairs(s.unexpected), verdict)
    out.print(table)
    for o in outcomes:
        if o.score.error:
            # The error text is the checker's: never read it as markup.
            out.print(Text.assemble((o.score.scenario, "red"), ": ", o.score.error))

    codes = Table("code", "found", "missed", "unexpected", "precision", "recall",
                  title="by finding code")
    for t in (*summary.by_code, summary.overall):
        codes.add_row(t.code, str(t.found), str(t.missed), str(t.unexpected),
                      _ratio(t.precision), _ratio(t.recall))
    out.print(codes)
    out.print(f"{summary.matched}/{summary.scenarios} scenarios matched"
              + (f", {summary.errors} errors" if summary.errors else ""))


def _pairs(pairs) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(f"{c} {s}" for c, s in pairs) or "-"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
