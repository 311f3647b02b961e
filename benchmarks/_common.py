"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
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


def _process_tree(root: int) -> set[int]:
    """``root`` and every process descending from it (read from ``/proc``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    tree = {root}
    while True:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        if not more:
            return tree
        tree |= more


def _cpu_and_pss(pid: int) -> tuple[float, float] | None:
    """CPU seconds (user + system) and proportional set size (MB) of a process, or ``None``
    once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    pss = next((float(line.split()[1]) / 1024 for line in rollup if line.startswith("Pss:")), 0.0)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), pss


def run_process_tree(command: list[str], period: float = 0.02) -> dict:
    """Run ``command`` and measure its whole process tree (Linux: ``/proc``).

    Every ``period`` seconds each process descending from the command is read: its CPU
    seconds (the last reading of each counts; processes whose parent does not wait for them,
    such as the workers of a fork server, are missing from the command's own rusage) and its
    proportional set size, summed over the tree (a page shared by several processes counts once
    in all, where their resident sizes would count it in each).

    Returns
    -------
    dict
        ``wall`` (s), ``cpu`` (s), ``pss`` (peak of the tree's summed PSS, MB) and ``output``
        (stdout and stderr).

    Raises
    ------
    RuntimeError
        If the command fails.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    cpu: dict[int, float] = {}
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            total = 0.0
            for pid in _process_tree(process.pid):
                reading = _cpu_and_pss(pid)
                if reading is not None:
                    cpu[pid], pss = reading
                    total += pss
            peak[0] = max(peak[0], total)
            time.sleep(period)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0].decode(errors="replace")
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return {"wall": wall, "cpu": sum(cpu.values()), "pss": peak[0], "output": output}
