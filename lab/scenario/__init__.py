"""Scenario files: the format, its validation and where bundled ones live."""

from .loader import bundled_dir, bundled_names, load, load_text, resolve
from .model import Scenario

__all__ = ["Scenario", "bundled_dir", "bundled_names", "load", "load_text", "resolve"]
