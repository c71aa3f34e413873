"""Pausing Python's cyclic garbage collector around bulk creation of acyclic objects.

Loading a large snapshot creates millions of small frozen dataclasses, and evaluating it
hundreds of thousands of findings; none of them form reference cycles, yet each allocation
burst makes the collector rescan everything alive. Pausing it roughly halves load and
evaluation time on a 150 MiB snapshot (tests/benchmarks/bench_scan.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
