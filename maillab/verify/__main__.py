"""``python -m maillab.verify``: the ``verify`` command on its own."""

from .command import verify_command

verify_command(prog_name="maillab verify")
