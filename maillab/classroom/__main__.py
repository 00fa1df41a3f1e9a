"""``python -m maillab.classroom``: the room without the rest of the command line."""

from .command import main

main()
