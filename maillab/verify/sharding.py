"""Slicing the corpus for a CI job matrix: ``--shard I/N``.

Slices are taken from the sorted scenario names, round robin, so every job
of the matrix computes the same slices and together they cover the corpus
exactly once, whatever order the names were given in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_SHARDS = 1000

_SHARD = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,4})\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' as (I, N), with 1 <= I <= N; ValueError otherwise."""
    m = _SHARD.match(text)
    if not m:
        raise ValueError(f"a shard is I/N, such as 1/4: {text!r}")
    i, n = int(m[1]), int(m[2])
    if not 1 <= i <= n <= MAX_SHARDS:
        raise ValueError(f"a shard needs 1 <= I <= N <= {MAX_SHARDS}: {text!r}")
    return i, n


def shard(names: Iterable[str], index: int, count: int) -> list[str]:
    """The ``index``-th (1-based) of ``count`` slices of the names."""
    ordered = sorted(set(names))
    return ordered[index - 1::count]
