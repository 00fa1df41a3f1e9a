"""``maillab classroom``: serve one room until Ctrl-C, then stop every lab."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import sys
from pathlib import Path

import click
from aiohttp import web

from lab.errors import ScenarioError

from . import tokens
from .app import Classroom, Settings

log = logging.getLogger(__name__)

DEFAULT_DATA = Path(".maillab") / "classroom"


class RoomInputError(click.ClickException):
    """A bad set or option: exit status 2, like every other bad input."""

    exit_code = 2


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


@click.command("classroom")
@click.option("--set", "set_name", metavar="NAME", help="Exercise set to start with.")
@click.option("--listen", default="127.0.0.1", show_default=True,
              help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8025,
              show_default=True, help="Port to listen on (0: any free one).")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DATA, show_default=True,
              help="Directory of the room's database; reuse it to resume.")
@click.option("--max-labs", type=click.IntRange(1, 100), default=8,
              show_default=True, help="Labs running at once in the room.")
@click.option("--max-students", type=click.IntRange(1, 1000), default=200,
              show_default=True, help="Students who may join.")
def classroom_command(set_name: str | None, listen: str, port: int, data: Path,
                      max_labs: int, max_students: int) -> None:
    """Serve a knowledge check to one room: students join, answer, are scored."""
    if not is_loopback(listen):
        click.secho(f"warning: listening on {listen}, which is not loopback: "
                    "anyone who can reach it may join, and labs still listen "
                    "on this machine's loopback only.", fg="yellow", err=True)
    settings = Settings(data=data, set_name=set_name, max_labs=max_labs,
                        max_students=max_students)
    token = tokens.new_token()
    try:
        room = Classroom(settings, token)
    except ScenarioError as exc:
        raise RoomInputError(str(exc)) from None

    try:
        asyncio.run(_serve(room, listen, port))
    except OSError as exc:
        click.secho(f"error: cannot listen on {listen}:{port}: {exc.strerror}",
                    fg="red", err=True)
        sys.exit(1)


async def _serve(room: Classroom, listen: str, port: int) -> None:
    runner = web.AppRunner(room.app(), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, listen, port)
        await site.start()
        host, bound = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{bound}"
        click.echo(f"Students join at  {base}/", color=False)
        click.echo(f"Teacher page      {base}/teacher?token={room.teacher_token}")
        click.echo(f"Data directory    {room.settings.data}")
        click.echo("Ctrl-C stops the room and every lab in it.", err=True)
        sys.stdout.flush()

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        # Cleanup stops every student's lab and closes the database.
        await runner.cleanup()
        click.echo("room closed; every lab stopped", err=True)


def main() -> None:
    """Run the classroom on its own (``python -m maillab.classroom``)."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    classroom_command.main(prog_name="maillab classroom")
