"""``python -m maillab.quiz``: the quiz without the rest of the command line."""

from .terminal import main

main()
