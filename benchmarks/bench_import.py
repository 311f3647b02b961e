"""Start-up cost: ``import depthextractors``, ``depthextractors --help`` and the first arena
step (``SessionExtraction.find_roi`` on a 200-frame synthetic session, import excluded), each in
a fresh interpreter, best of N, with the slowest modules of ``python -X importtime``.

Usage::

    python benchmarks/bench_import.py [--repeats 5] [--top 12]

Targets (issue 12): import <= 0.4 s, ``--help`` <= 0.5 s on the 2-core machine. The arena step
runs while nothing else does, so what it imports on first use (it no longer imports
``scipy.ndimage``, 0.2-0.5 s) counts in every ``extract`` and ``find-roi`` (issue 17).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import print_table

IMPORT = [sys.executable, "-c", "import depthextractors"]
HELP = [sys.executable, "-m", "depthextractors", "--help"]


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


FIRST_ARENA_STEP = """
import sys, time
from depthextractors import SessionExtraction, open_depth_video
extraction = SessionExtraction(open_depth_video(sys.argv[1]))
started = time.perf_counter()
extraction.find_roi()
print(time.perf_counter() - started)
"""


def first_arena_step(session: Path) -> float:
    """Seconds of the first ``find_roi`` in a fresh interpreter (its lazy imports included)."""
    done = subprocess.run(
        [sys.executable, "-c", FIRST_ARENA_STEP, str(session)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def slowest_imports(top: int) -> list[tuple[str, str]]:
    """Modules with the largest cumulative import time (``-X importtime``), microseconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import depthextractors"],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        rows.append((int(parts[1]), parts[2]))
    rows.sort(reverse=True)
    return [(name, f"{cumulative / 1e6:.3f} s") for cumulative, name in rows[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    wall_time(IMPORT)  # warm the page cache once
    commands = {
        "import depthextractors": IMPORT,
        "depthextractors --help": HELP,
        "python -c pass (the interpreter alone)": [sys.executable, "-c", "pass"],
    }
    rows = [
        (name, f"{min(wall_time(command) for _ in range(args.repeats)):.3f} s")
        for name, command in commands.items()
    ]
    from depthextractors.testing import generate_synthetic_session

    with tempfile.TemporaryDirectory() as workdir:
        session = generate_synthetic_session(workdir, 200, seed=0).directory
        seconds = min(first_arena_step(session) for _ in range(args.repeats))
    rows.append(("the first arena step (find_roi, 200 frames)", f"{seconds:.3f} s"))
    print_table(f"Start-up, best of {args.repeats} fresh interpreters", rows)
    print()
    print_table("Slowest imports (cumulative, -X importtime)", slowest_imports(args.top))


if __name__ == "__main__":
    main()
