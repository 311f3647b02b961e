"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(repeats: int, function: Callable[[], object]) -> float:
    """Shortest wall time of ``repeats`` calls of ``function``, in seconds.

    The shortest run is the one least disturbed by other work on a shared machine.
    """
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """Print ``title`` and a two-column table of (measure, result) rows."""
    width = max(len(name) for name, _ in rows)
    print(title)
    print(f"{'measure'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 18}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
