"""Benchmark: ``animal: auto`` on a tethered animal at fine pixels (issue 17).

Run as::

    python benchmarks/bench_tethered.py [--seed 5250] [--frames 200] [--repeats 3]

With ``animal: auto`` a tethered animal gets the tether filter (a disc three quarters of its
width) and the body centroid's head rule; at fine pixels (a rat seen by a RealSense at
1280x720: the disc is 35 px) those are the dearest steps of a frame. The script draws the
session of ``--seed`` from the generator (``depthextractors.testing.draw_session``; the default
is a rat with a bundle at 1280x720), runs the arena step once, then extracts it ``--repeats``
times on one thread (``n_jobs=1``, worker threads) and prints the best run's CPU time a frame,
whole and by stage (``bench_stages.py``'s timers: the spatial filter, which holds the tether
filter, and the body centroid with its steps).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import bench_stages

from depthextractors import SessionExtraction, open_depth_video
from depthextractors.config import ExtractionConfig
from depthextractors.extraction.animal_size import size_changes
from depthextractors.io import InMemoryResultsWriter
from depthextractors.testing import draw_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5250, help="the drawn session's seed")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        session = draw_session(Path(workdir) / "session", args.seed, args.frames)
        video = open_depth_video(session.directory)
        arena = SessionExtraction(video).find_roi()
        changes = size_changes(ExtractionConfig(), arena.animal)
        extraction = ExtractionConfig(**changes).build_extraction(video)
        extraction.arena = arena
        timed: dict = defaultdict(lambda: {"cpu": 0.0, "wall": 0.0, "calls": 0})
        bench_stages._install(timed)
        bench_stages._install_body_steps(timed)
        best, table = float("inf"), {}
        for _ in range(args.repeats):
            timed.clear()
            start = time.process_time()
            extraction.run(InMemoryResultsWriter(), progress=False, n_jobs=1, workers="threads")
            cpu = time.process_time() - start
            if cpu < best:
                best, table = cpu, {name: dict(entry) for name, entry in timed.items()}
    print(
        f"seed {args.seed}: {arena.animal.describe()}; tether filter "
        f"{changes.get('tether_filter_size', 0)} px; best of {args.repeats}: "
        f"{1000 * best / args.frames:.2f} ms of CPU a frame\n"
    )
    print("| stage (nested steps below their stage) | CPU ms a frame |\n|---|---|")
    for name, entry in sorted(table.items(), key=lambda item: -item[1]["cpu"]):
        if name.startswith("phase:"):
            continue
        print(f"| {name} | {1000 * entry['cpu'] / args.frames:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
