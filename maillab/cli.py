"""The ``maillab`` command line. It only wires ``lab`` and ``checker``.

Exit statuses: 0 success; 1 a diagnosis found problems, a scenario did not
match, or the lab could not start; 2 bad input (a scenario file, an option).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from checker.errors import CheckerError
from checker.errors import UsageError as CheckerUsage
from lab.errors import LabError, LabStartError, ScenarioError

out = Console()
err = Console(stderr=True)


def _logging(verbose: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(name)s: %(message)s",
                        handlers=[RichHandler(console=err, show_path=False)])


def _fail(message: str, status: int) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(status)


class _Lazy(click.Group):
    """Commands with modules of their own are imported only when used, so
    'maillab check' does not pay for the classroom's web stack."""

    lazy = {"quiz": "maillab.quiz:quiz_command",
            "classroom": "maillab.classroom:classroom_command",
            "verify": "maillab.verify.command:verify_command",
            "scenarios": "maillab.generate:scenarios_group"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            import importlib

            module, _, attr = self.lazy[name].partition(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=_Lazy, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="maillab")
@click.option("-v", "--verbose", count=True, help="-v for INFO, -vv for DEBUG.")
def main(verbose: int) -> None:
    """Mailflow Lab: build a mail organisation, break it, diagnose it."""
    _logging(verbose)


# region: scenarios

@main.command()
def schema() -> None:
    """Print the JSON Schema of the scenario format."""
    from lab.scenario.model import Scenario

    doc = Scenario.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "Mailflow Lab scenario, format version 1"
    click.echo(json.dumps(doc, indent=2))


@main.command()
@click.argument("names", nargs=-1)
def validate(names: tuple[str, ...]) -> None:
    """Validate scenario files (all bundled ones when none is named)."""
    from lab.scenario import bundled_names, load

    for name in names or bundled_names():
        try:
            scenario = load(name)
        except ScenarioError as exc:
            _fail(str(exc), 2)
        out.print(f"ok  {scenario.name}: {scenario.title}", highlight=False)


@main.command()
def faults() -> None:
    """List the fault types a scenario can inject."""
    from lab.faults import CATALOGUE, summary

    table = Table("fault", "what it injects", "findings")
    for cls in CATALOGUE:
        table.add_row(cls.model_fields["type"].default, summary(cls),
                      ", ".join(cls.findings))
    out.print(table)


# endregion
# region: the lab

@main.command()
@click.argument("scenario")
@click.option("--slot", type=click.IntRange(0, 199),
              help="Lab number (address block); default: free.")
@click.option("--dir", "directory", type=click.Path(path_type=Path),
              help="Lab directory (kept); default: a temporary one, removed.")
@click.option("--network", type=click.Choice(["loopback", "isolated", "auto",
                                              "inside"]),
              default="loopback", show_default=True,
              help="loopback: 127.77.<slot>.x on this machine; isolated: the "
              "scenario's own addresses in a network namespace; auto: isolated "
              "where possible.")
@click.pass_context
def up(ctx: click.Context, scenario: str, slot: int | None,
       directory: Path | None, network: str) -> None:
    """Run a scenario's lab in the foreground until Ctrl-C."""
    from lab.runtime import Lab
    from lab.scenario import load

    try:
        loaded = load(scenario)
    except ScenarioError as exc:
        _fail(str(exc), 2)

    if network in ("isolated", "auto"):
        from lab.isolated import isolation_support

        support = isolation_support()
        if support:
            sys.exit(_up_isolated(ctx, scenario, loaded, directory))
        if network == "isolated":
            _fail(support.why, 1)
        err.print(f"[yellow]loopback mode:[/] {support.why}", highlight=False)

    async def serve() -> None:
        lab = Lab(loaded, slot=slot, directory=directory,
                  network="isolated" if network == "inside" else "loopback")
        await lab.start()
        record = None
        if network != "inside":
            from .labs import register_loopback

            record = register_loopback(
                scenario, lab.state_file,
                None if directory else lab.directory)
        try:
            _show_lab(lab, record.name if record else None)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await lab.stop()
            if record is not None:
                record.forget()
            err.print("lab stopped; nothing left behind")

    try:
        asyncio.run(serve())
    except LabStartError as exc:
        _fail(str(exc), 1)


def _up_isolated(ctx: click.Context, scenario: str, loaded,  # type: ignore
                 directory: Path | None) -> int:
    """Build the namespace, run this same command inside it, clean up after."""
    import tempfile

    from lab.isolated import IsolatedSpec, new_lab_id, rules_from_plan, supervise
    from lab.plan import build_plan

    plan = build_plan(loaded, network="isolated")
    own = directory is None
    lab_dir = directory or Path(tempfile.mkdtemp(prefix="maillab-"))
    hosts = list(plan.hosts.values()) + [h for p in plan.partners for h in p.hosts]
    spec = IsolatedSpec(
        name=new_lab_id(loaded.name), scenario=scenario,
        addresses=tuple(a for h in hosts for a in h.addresses),
        nameserver=plan.resolver.address, search=(plan.domain,),
        hosts=tuple((h.fqdn, a) for h in hosts for a in h.addresses),
        rules=tuple(rules_from_plan(plan.blocked,
                                    {h.name: h.address for h in hosts})),
        state_file=str(lab_dir / "state.json"),
        remove_paths=(str(lab_dir),) if own else ())
    verbose = ctx.find_root().params.get("verbose", 0)
    argv = [sys.executable, "-m", "maillab", *(["-v"] * verbose), "up",
            "--network", "inside", "--dir", str(lab_dir), scenario]
    try:
        status = supervise(spec, argv)
    except LabError as exc:
        _fail(str(exc), 1)
    return 0 if status in (0, -signal.SIGINT, -signal.SIGTERM) else 1


@main.command()
def status() -> None:
    """List the running labs."""
    from .labs import running

    labs = running()
    if not labs:
        out.print("no lab is running")
        return
    table = Table("name", "scenario", "network", "pid", "state file")
    for r in labs:
        table.add_row(r.name, r.scenario, "isolated" if r.netns else "loopback",
                      str(r.pid), r.state_file or "-")
    out.print(table)


@main.command()
@click.argument("lab_name")
def down(lab_name: str) -> None:
    """Stop a running lab (by name or scenario) and remove what it left."""
    from .labs import find, stop

    try:
        record = find(lab_name)
        stop(record)
    except LabError as exc:
        _fail(str(exc), 1)
    out.print(f"stopped {record.name}")


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("lab_name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(lab_name: str, command: tuple[str, ...]) -> None:
    """Run one command inside a running lab: maillab exec LAB -- CMD ..."""
    sys.exit(_inside(lab_name, list(command)))


@main.command()
@click.argument("lab_name")
def shell(lab_name: str) -> None:
    """Open an interactive shell inside a running lab."""
    import os

    sh = os.environ.get("SHELL", "/bin/bash")
    sys.exit(_inside(lab_name, [sh, "-i"], prompt=True))


def _ca_of(state_file: str | None) -> str | None:
    try:
        return json.loads(Path(state_file or "").read_text()).get("ca_file")
    except (OSError, ValueError, AttributeError):
        return None


def _inside(lab_name: str, command: list[str], prompt: bool = False) -> int:
    """Run ``command`` in the lab's namespace (or, for a loopback lab, beside
    it), with MAILLAB_STATE naming its state file."""
    import os
    import subprocess

    from .labs import find

    try:
        record = find(lab_name)
    except LabError as exc:
        _fail(str(exc), 1)
    env = dict(os.environ, MAILLAB_STATE=record.state_file or "",
               MAILLAB_LAB=record.name)
    ca = _ca_of(record.state_file)
    if ca:
        # The tools trust the lab's CA, as a company's machines trust its own
        # (OpenSSL, curl, Python and Perl's IO::Socket::SSL all read these).
        env.update(SSL_CERT_FILE=ca, CURL_CA_BUNDLE=ca, REQUESTS_CA_BUNDLE=ca)
    if prompt:
        env["PS1"] = f"(maillab:{record.scenario}) \\w\\$ "
    argv = (["ip", "netns", "exec", record.name] if record.netns else []) + command
    try:
        return subprocess.call(argv, env=env)
    except FileNotFoundError as exc:
        _fail(f"cannot run {command[0]}: {exc.strerror}", 2)
        return 2


def _show_lab(lab, name: str | None) -> None:  # type: ignore[no-untyped-def]
    state = lab.state()
    title = f"lab '{state['scenario']}' for {state['domain']}"
    if name:
        title += f" ({name})"
    table = Table("host", "address", "services (standard → actual port)",
                  title=title)
    by_addr = state["ports"]
    for h in state["hosts"]:
        ports = by_addr.get(h["address"], {})
        shown = ", ".join(f"{k}→{v}" if str(v) != k else k for k, v in ports.items())
        table.add_row(h["fqdn"], h["address"], shown or "-")
    out.print(table)
    resolver = state["resolver"]
    ip, _, port = resolver.rpartition(":")
    out.print(f"resolver  {resolver}    state file  {lab.state_file}",
              highlight=False)
    if state.get("network") == "isolated":
        # These addresses exist only inside the lab's namespace.
        scenario = state["scenario"]
        out.print(f"try       maillab shell {scenario}   (inside: dig "
                  f"{state['domain']} MX, maillab check {state['domain']})",
                  highlight=False)
        out.print(f"          maillab exec {scenario} -- dig {state['domain']} MX",
                  highlight=False)
    else:
        out.print(f"try       dig @{ip} -p {port} {state['domain']} MX",
                  highlight=False)
        out.print(f"          maillab check {state['domain']} --lab "
                  f"{lab.state_file}", highlight=False)
    out.print("Ctrl-C stops the lab.")


# endregion
# region: the checker

@main.command()
@click.argument("domain")
@click.option("--resolver", help="DNS server to ask, IP[:PORT].")
@click.option("--outbound-ip", "outbound", multiple=True,
              help="Address the organisation sends from (repeatable).")
@click.option("--lab", "lab_state", type=click.Path(path_type=Path),
              help="A running lab's state file (resolver, relay, port map).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="PEM file of the CAs to trust (default: the lab's, else the "
              "system's).")
@click.option("--account", metavar="ADDRESS",
              help="A test mailbox for the end-to-end mail-flow probe; its "
              "password comes from MAILLAB_ACCOUNT_PASSWORD.")
@click.option("--view", type=click.Choice(["external", "internal"]),
              default="external", show_default=True,
              help="Where the checker stands when the organisation has split "
              "DNS: the internet's view, or its own servers'.")
@click.option("--blocklist", "blocklists", multiple=True,
              help="DNS blocklist zone to look the outbound addresses up in "
              "(repeatable; default: the lab's).")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0,
              show_default=True, help="Seconds for each network step.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(domain: str, resolver: str | None, outbound: tuple[str, ...],
          lab_state: Path | None, ca_file: str | None, account: str | None,
          view: str, blocklists: tuple[str, ...], timeout: float,
          as_json: bool) -> None:
    """Diagnose DOMAIN's mail flow over the network."""
    from checker.diagnose import diagnose
    from checker.target import from_options

    if resolver is None and lab_state is None:
        lab_state, resolver = _defaults_inside()
    try:
        import os

        password = os.environ.get("MAILLAB_ACCOUNT_PASSWORD")
        if account and not password:
            raise CheckerUsage("--account needs MAILLAB_ACCOUNT_PASSWORD set")
        target = from_options(domain, resolver, outbound, lab_state,
                              ca_file=ca_file,
                              account=(account, password) if account else None,
                              blocklists=blocklists or None, view=view)
        report = asyncio.run(diagnose(target, timeout=timeout,
                                      dns_timeout=min(timeout, 2.0)))
    except CheckerError as exc:
        _fail(str(exc), 2)

    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _show_report(report)
    sys.exit(1 if report.findings else 0)


def _defaults_inside() -> tuple[Path | None, str | None]:
    """Inside a lab ('maillab shell' or 'exec') its state file is in the
    environment; anywhere else the system's resolver is the one to ask."""
    import os

    state = os.environ.get("MAILLAB_STATE")
    if state and Path(state).is_file():
        return Path(state), None
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return None, parts[1]
    except OSError:
        pass
    return None, None


def _show_report(report) -> None:  # type: ignore[no-untyped-def]
    t = report.target
    out.print(f"[bold]{t.domain}[/] via resolver {t.resolver[0]}:{t.resolver[1]}, "
              f"{report.queries} DNS queries, {report.elapsed_s:.2f} s",
              highlight=False)
    if not report.findings:
        out.print("[green]no findings[/]: DNS, SPF, DMARC, every mail port, TLS "
                  "and the mail flow look right")
        return
    for f in report.findings:
        colour = {"error": "red", "warning": "yellow"}.get(f.meta.severity, "blue")
        said = f.summary if f.summary.startswith(f.subject) else \
            f"{f.subject}: {f.summary}"
        out.print(f"[{colour}]{f.meta.severity:7}[/] [bold]{f.code}[/] {said}",
                  highlight=False)
        for line in f.evidence:
            out.print(f"          {line}", highlight=False, markup=False)
        out.print(f"          fix: {f.meta.remediation} ({f.meta.reference})",
                  highlight=False, style="dim")


# endregion
# region: run

@main.command()
@click.argument("names", nargs=-1)
@click.option("--jobs", "-j", type=click.IntRange(1, 32), default=4,
              show_default=True, help="Labs run at once.")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0,
              show_default=True, help="Seconds for each network step of the checker.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--network", type=click.Choice(["loopback", "isolated"]),
              default="loopback", show_default=True,
              help="isolated: each lab in its own namespace, checked from inside.")
def run(names: tuple[str, ...], jobs: int, timeout: float, as_json: bool,
        network: str) -> None:
    """Bring up each scenario, diagnose it, compare with its ground truth."""
    from lab.scenario import bundled_names, load

    from .run import run_many

    chosen = list(names) or bundled_names()
    try:
        loaded = [load(n) for n in chosen]
    except ScenarioError as exc:
        _fail(str(exc), 2)
    paths = [n for n in chosen]

    def progress(score) -> None:  # type: ignore[no-untyped-def]
        if not as_json:
            mark = "[green]✓[/]" if score.matched else "[red]✗[/]"
            err.print(f"{mark} {score.scenario}", highlight=False)

    try:
        if network == "isolated":
            from lab.isolated import isolation_support

            support = isolation_support()
            if not support:
                _fail(support.why, 1)
        scores = asyncio.run(run_many(paths, jobs=jobs, timeout=timeout,
                                      on_done=progress, network=network))
    except LabError as exc:
        _fail(str(exc), 1)
    order = {s.name: i for i, s in enumerate(loaded)}
    scores.sort(key=lambda s: order.get(s.scenario, 0))

    if as_json:
        click.echo(json.dumps({"matched": all(s.matched for s in scores),
                               "scenarios": [s.to_json() for s in scores]},
                              indent=2))
    else:
        table = Table("scenario", "expected", "found", "verdict")
        for s in scores:
            verdict = (f"[yellow]skipped[/]: {s.skipped}" if s.skipped else
                       "[green]matched[/]" if s.matched else
                       f"[red]{s.error}[/]" if s.error else "[red]mismatch[/]")
            table.add_row(s.scenario, _codes(s.expected) or "(none)",
                          _codes(s.found) or "(none)", verdict)
        out.print(table)
        skipped = sum(1 for s in scores if s.skipped)
        good = sum(s.matched for s in scores) - skipped
        tail = f" ({skipped} skipped)" if skipped else ""
        out.print(f"{good}/{len(scores) - skipped} scenarios matched{tail}")
    sys.exit(0 if all(s.matched for s in scores) else 1)


def _codes(pairs) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(f"{c} {s}" for c, s in pairs)


# endregion


# region: mail flow

def _lab_dir(state: Path) -> Path:
    try:
        data = json.loads(Path(state).read_text())
        return Path(data["directory"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _fail(f"cannot read lab state file {state}: {exc}", 2)
        raise  # unreachable


def _control(state: Path, command: dict) -> dict:  # type: ignore[type-arg]
    from lab.mailflow import send_command

    try:
        reply = send_command(_lab_dir(state), command)
    except (OSError, TimeoutError) as exc:
        _fail(f"the lab does not answer: {exc}", 1)
    if not reply.get("ok"):
        _fail(str(reply.get("error")), 1)
    return reply


lab_option = click.option(
    "--lab", "lab_state", required=True, type=click.Path(path_type=Path),
    help="The running lab's state file (printed by 'maillab up').")


@main.group(invoke_without_command=True)
@lab_option
@click.option("--json", "as_json", is_flag=True, help="Print the queues as JSON.")
@click.pass_context
def queue(ctx: click.Context, lab_state: Path, as_json: bool) -> None:
    """Show the outbound queues of a running lab, per next hop."""
    ctx.obj = lab_state
    if ctx.invoked_subcommand is not None:
        return
    rows = _control(lab_state, {"action": "queue"})["queues"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    import time as _time

    table = Table("sender", "next hop", "state", "messages", "last error",
                  "next retry")
    for r in rows:
        wait = "" if r["next_retry"] is None else \
            f"in {max(0.0, r['next_retry'] - _time.time()):.0f} s"
        table.add_row(r["sender"], r["next_hop"], r["state"], str(r["messages"]),
                      r["last_error"] or "", wait)
    out.print(table if rows else "all queues are empty")


def _queue_action(action: str):  # type: ignore[no-untyped-def]
    @click.argument("next_hop")
    @click.pass_obj
    def command(lab_state: Path, next_hop: str) -> None:
        reply = _control(lab_state, {"action": action, "next_hop": next_hop})
        n = reply["entries"]
        out.print(f"{action}: {next_hop} ({n} {'entry' if n == 1 else 'entries'})")

    command.__doc__ = {"retry": "Try a next hop's waiting messages now.",
                       "suspend": "Hold a next hop's messages.",
                       "resume": "Release a suspended next hop."}[action]
    return command


for _action in ("retry", "suspend", "resume"):
    queue.command(_action)(_queue_action(_action))


@main.command()
@lab_option
@click.option("--from", "mail_from", required=True, help="A lab or partner address.")
@click.option("--to", "rcpt_to", required=True, multiple=True)
@click.option("--subject", default="Lab message")
def send(lab_state: Path, mail_from: str, rcpt_to: tuple[str, ...],
         subject: str) -> None:
    """Send a message from a partner's (or our) relay, as its users would."""
    reply = _control(lab_state, {"action": "send", "from": mail_from,
                                 "to": list(rcpt_to), "subject": subject})
    out.print(f"queued {reply['message_id']} ({len(reply['queued'])} entries)",
              highlight=False)


@main.command()
@lab_option
@click.argument("host", required=False)
def logs(lab_state: Path, host: str | None) -> None:
    """SMTP sessions the lab made or received, both sides, for HOST or all."""
    from lab.relay import read_transcripts

    for session in read_transcripts(_lab_dir(lab_state) / "transcripts", host):
        when = session.get("time")
        if isinstance(when, (int, float)):
            import datetime as _dt

            when = _dt.datetime.fromtimestamp(when, _dt.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S UTC")
        out.print(f"[bold]{session.get('host')}[/] {session.get('direction')} "
                  f"{session.get('peer')} {when}", highlight=False)
        for side, text in session.get("lines", []):  # type: ignore[union-attr]
            out.print(f"  {side}: {text}", highlight=False, markup=False)


# endregion
# region: commands with modules of their own

@main.command("findings-doc")
@click.option("--check", is_flag=True, help="Exit 1 if docs/findings.md is stale.")
def findings_doc(check: bool) -> None:
    """Regenerate docs/findings.md (the finding codes) from the code."""
    from .verify.catalogue import main as render

    sys.exit(render(["--check"] if check else []))


# endregion

