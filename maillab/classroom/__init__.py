"""The classroom: a small web app where one room takes a knowledge check."""

from .app import Classroom, Settings
from .command import classroom_command

__all__ = ["Classroom", "Settings", "classroom_command"]
