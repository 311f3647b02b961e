"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path


def warm_page_cache(path: Path) -> None:
    """Read a file (or every file in a folder) once, so that timed reads find it in memory."""
    path = Path(path)
    for file in sorted(path.iterdir()) if path.is_dir() else [path]:
        if file.is_file():
            with open(file, "rb", buffering=0) as handle:
                while handle.read(1 << 24):
                    pass


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


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB.

    ``/proc/self/status`` ``VmHWM`` where available: Linux carries ``ru_maxrss`` over an
    ``exec``, so a child started from a big parent would report the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024
