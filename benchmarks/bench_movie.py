"""What the preview movie adds to the extraction time and memory (bar: at most 25% time).

Extracts a synthetic Kinect v2 session (``--frames``, 9,000 by default) with depthextractors'
default parameters, alternately without the movie, with the movie made during the extraction
(the default: the arena heights the extraction computes anyway, encoded on a movie thread),
and with the movie made afterwards from ``results_00.h5`` (how a missing movie is completed).
Each run is a fresh child process (imports not timed), so its peak resident memory (``VmHWM``)
is its own. Runs are interleaved and repeated, and medians are reported, because the machine
may be shared.

Usage::

    python benchmarks/bench_movie.py [--frames 9000] [--repeats 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import peak_rss_mb

MODES = ("none", "tee", "post")


def _child(mode: str, session: Path, output: Path) -> None:
    """One measured run (in its own process); prints a JSON line."""
    from depthextractors import open_depth_video
    from depthextractors.config import ExtractionConfig
    from depthextractors.io import H5ResultsWriter
    from depthextractors.io.movie_writer import PreviewMovieWriter, write_preview_movie

    config = ExtractionConfig(write_movie=False, write_report=False)
    video = open_depth_video(session)
    writers = [H5ResultsWriter(output)]
    start = time.perf_counter()
    cpu_start = time.process_time()
    if mode == "tee":
        writers.append(PreviewMovieWriter(output / "results_00.mp4"))
    extraction = config.build_extraction(video)
    job = config.job_options(n_jobs=os.cpu_count() or 2, progress=False)
    results = extraction.run(writers, job=job)
    if mode == "post":
        write_preview_movie(results, open_depth_video(session), output / "results_00.mp4")
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if mode != "none" and not (output / "results_00.mp4").is_file():
        raise RuntimeError(f"{mode}: no movie was written")
    print(json.dumps({"wall": wall, "cpu": cpu, "rss": peak_rss_mb()}))


def _run(mode: str, session: Path, output: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(session), str(output)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=9000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, session, output = args.child
        _child(mode, Path(session), Path(output))
        return
    from depthextractors.io.movie import preview_codec
    from depthextractors.testing import generate_synthetic_session

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        session = Path(tmp) / "session"
        print(f"generating a {args.frames}-frame synthetic Kinect v2 session ...")
        generate_synthetic_session(session, args.frames, seed=0)
        print(f"encoder: {preview_codec()}; {os.cpu_count()} CPUs")
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        _run("none", session, Path(tmp) / "warmup")  # page cache
        for repeat in range(args.repeats):
            for mode in MODES:
                run = _run(mode, session, Path(tmp) / f"{mode}_{repeat}")
                runs[mode].append(run)
                print(
                    f"  run {repeat + 1} {mode:<5} {run['wall']:6.2f} s wall, "
                    f"{run['cpu']:6.2f} s CPU, peak RSS {run['rss']:4.0f} MB"
                )

        def median(mode: str, key: str) -> float:
            return statistics.median(run[key] for run in runs[mode])

        base, base_cpu = median("none", "wall"), median("none", "cpu")
        per_frame = 1000 / args.frames
        print(
            f"\nmedian of {args.repeats} runs, {args.frames} frames (load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):"
        )
        print(
            f"  extraction, no movie        {base:6.2f} s ({args.frames / base:,.0f} frames/s), "
            f"CPU {base_cpu * per_frame:.3f} ms/frame, peak RSS {median('none', 'rss'):.0f} MB"
        )
        for mode, label in (("tee", "movie during extraction"), ("post", "movie afterwards")):
            value = median(mode, "wall")
            extra_cpu = (median(mode, "cpu") - base_cpu) * per_frame
            print(
                f"  {label:<27} {value:6.2f} s  (+{100 * (value / base - 1):.0f}%), movie CPU "
                f"{extra_cpu:.3f} ms/frame, peak RSS {median(mode, 'rss'):.0f} MB"
            )
        added = 100 * (median("tee", "wall") / base - 1)
        verdict = "meets" if added <= 25 else "MISSES"
        print(f"\ndefault (during extraction) adds {added:.0f}%: {verdict} the 25% bar")


if __name__ == "__main__":
    main()
