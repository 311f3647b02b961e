"""Benchmark: the extraction's first frame pass in worker processes against threads (issue 17).

Run as::

    python benchmarks/bench_workers.py [--frames 9000] [--repeats 3] [--movie] [--n-jobs N]
                                       [--session DIR] [-- EXTRACT_OPTIONS ...]

1. Writes (or reuses) the synthetic Kinect v2 session ``bench_extract.py`` writes (same seed,
   same ``--workdir``), or takes ``--session``, and reads it once so it is in the page cache.
2. Runs ``depthextractors extract <session>`` with ``--workers threads`` and ``--workers
   processes`` in turn, ``--repeats`` pairs (without the movie and report unless ``--movie``),
   each a fresh command (with the options after ``--``, e.g. ``-- --use-tracking-model True``
   for ``EMTracker``). While a command runs, its whole process tree (the command, the
   workers' fork server and the workers) is read from ``/proc`` every 20 ms: the CPU seconds of
   every process (the workers' are not in the command's own rusage: their parent is the fork
   server, which the command does not wait for) and the sum of the processes' proportional
   set sizes (PSS: a page shared by several processes counts once in all, which the sum of their
   resident sizes would count several times), whose peak is the memory the machine gave the
   extraction. Linux only.
3. Prints each run and the medians, and the ratio of the medians, processes over threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import run_process_tree, warm_page_cache
from bench_extract import kinect_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=9000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--movie", action="store_true", help="also the preview movie and report")
    parser.add_argument("--n-jobs", type=int, default=None, help="workers (default: each's own)")
    parser.add_argument("--session", type=Path, default=None, help="a session to extract instead")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "de_bench")
    parser.add_argument("extract_options", nargs="*", help="more options of extract, after --")
    args = parser.parse_args()
    if not Path("/proc/self/smaps_rollup").exists():
        raise SystemExit("this benchmark reads /proc (Linux)")
    session = args.session or kinect_session(args.workdir / f"session_{args.frames}", args.frames)
    warm_page_cache(session)
    frames = None
    runs: dict[str, list[dict]] = {"threads": [], "processes": []}
    with tempfile.TemporaryDirectory() as output:
        for repeat in range(args.repeats):
            for mode in runs:
                command = [
                    sys.executable, "-m", "depthextractors", "extract", str(session),
                    "--output-dir", str(Path(output) / mode), "--workers", mode,
                ]  # fmt: skip
                if not args.movie:
                    command += ["--no-movie", "--write-report", "False"]
                if args.n_jobs is not None:
                    command += ["--n-jobs", str(args.n_jobs)]
                command += args.extract_options
                result = run_process_tree(command)
                if frames is None:
                    import h5py

                    with h5py.File(Path(output) / mode / "results_00.h5", "r") as handle:
                        frames = int(handle["frames"].shape[0])
                runs[mode].append(result)
                print(
                    f"run {repeat + 1} {mode:9s}: {result['wall']:.2f} s "
                    f"({frames / result['wall']:,.0f} frames/s), CPU {result['cpu']:.2f} s, "
                    f"peak PSS of all its processes {result['pss']:.0f} MB",
                    flush=True,
                )
    print(f"\n{frames:,} frames, {'with' if args.movie else 'without'} the movie and report; "
          f"medians of {args.repeats}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    medians = {}
    for mode, results in runs.items():
        medians[mode] = {
            key: statistics.median(r[key] for r in results) for key in ("wall", "cpu", "pss")
        }
        m = medians[mode]
        print(f"| {mode} | {m['wall']:.2f} s ({frames / m['wall']:,.0f} frames/s) | "
              f"CPU {m['cpu']:.2f} s | peak PSS {m['pss']:.0f} MB |")  # fmt: skip
    ratio = {key: medians["processes"][key] / medians["threads"][key] for key in ("wall", "cpu")}
    print(f"processes / threads: {ratio['wall']:.2f}x the time, {ratio['cpu']:.2f}x the CPU")


if __name__ == "__main__":
    main()
