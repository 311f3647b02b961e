"""Benchmark: where the time of ``depthextractors extract`` goes, step by step (issue 17).

Run as::

    python benchmarks/bench_stages.py [--frames 9000] [--repeats 3] [--no-movie] [--no-report]
                                      [--workers threads|processes|auto] [--body-steps]

1. Writes (or reuses) the synthetic Kinect v2 session ``bench_extract.py`` writes (same seed,
   same ``--workdir``), then reads it once so it is in the page cache.
2. In a fresh child process per repeat, runs what ``depthextractors extract <session>`` runs
   (``extract_session`` with the defaults: ``results_00.h5``, the preview movie, the report),
   with timers wrapped round each step, and prints a table. The timers see only that process,
   so the frame stages run in its threads (``--workers threads``, the default here); with
   ``--workers processes`` (the command's default for this session) the table shows the main
   process's share and ``bench_workers.py`` the whole tree:

   - the command's phases, wall seconds on the main thread: importing the package, the arena
     step (background, arena, animal size), the extraction loop, finishing ``results_00.h5``
     and the movie, the report, and the rest (output folder, lock, log, setup);
   - the CPU time of each stage per frame (``time.thread_time`` summed over the threads that
     ran it): reading the recording, every frame stage and chunk stage, the results writer
     and the movie writer, and the CPU the timers did not see (the movie's encoder threads,
     libraries' own threads, the interpreter's waits);
   - with ``--body-steps``, the CPU time of the body centroid's steps per frame (the largest
     frame stage since issue 15), each a method of ``BodyCentroid`` or a function it calls:
     the window's object with what the tail filter trimmed put back (``_trimmed_back``,
     which holds the flood ``_object``, the filtering ``_smoothed`` where the spatial filter
     kept no image, and ``TrimmedParts.put_back``, which holds the snout-tip test
     ``snout_tips``), reading the hidden pixels (``read_once``), the cable steps
     (``without_cables``, ``without_low_stubs``), the tail base (``_without_tail``) and the
     hidden-pixel step (``with_hidden``). The steps nest as listed; their timers add about
     4 us a call, some 40 us a frame, to the body centroid's own row.

The timers cost about a microsecond a call (four calls a frame): the command runs a few percent
slower than without them; ``bench_extract.py`` and ``farm-bench`` give the figures without.
With 2 cores, the extraction loop's wall time is about the sum of its stages' CPU time over 2
when the threads keep both cores busy; the sequential parts (chunk stages, the writers'
handover) are what keeps it from that.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import warm_page_cache
from bench_extract import kinect_session

ROOT = Path(__file__).resolve().parents[1]


def _timed(table: dict, label: str, function):
    """``function`` wrapped to add its thread CPU (and wall) seconds to ``table[label]``."""

    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            entry = table[label]
            entry["cpu"] += time.thread_time() - cpu
            entry["wall"] += time.perf_counter() - wall
            entry["calls"] += 1

    return wrapper


#: The body centroid's steps ``--body-steps`` times: methods of ``BodyCentroid`` ...
BODY_METHODS = ("_trimmed_back", "_object", "_smoothed")
#: ... and of ``TrimmedParts``, which ``_trimmed_back`` calls.
TRIMMED_METHODS = ("put_back", "snout_tips")
#: ... and the functions ``body_centroid`` calls, by their module names.
BODY_FUNCTIONS = (
    "read_once", "without_cables", "without_low_stubs", "_without_tail", "with_hidden",
)  # fmt: skip


def _install_body_steps(table: dict) -> None:
    """Wrap the body centroid's steps (``body step: <name>``)."""
    from depthextractors.extraction import body_centroid, body_trimmed

    for name in BODY_METHODS:
        owner = body_centroid.BodyCentroid
        setattr(owner, name, _timed(table, f"body step: {name}", getattr(owner, name)))
    for name in TRIMMED_METHODS:
        owner = body_trimmed.TrimmedParts
        setattr(owner, name, _timed(table, f"body step: {name}", getattr(owner, name)))
    for name in BODY_FUNCTIONS:
        function = getattr(body_centroid, name)
        setattr(body_centroid, name, _timed(table, f"body step: {name}", function))


def _install(table: dict) -> None:
    """Wrap the steps of an extraction (classes patched in place, in this process only)."""
    from depthextractors.extraction import chunk_stages, frame_stages, jumps, session
    from depthextractors.extraction.executor import ChunkExecutor
    from depthextractors.extractors.raw import RawDepthExtractor
    from depthextractors.io import movie, movie_writer, report, results_h5_writer

    def wrap(owner, name: str, label: str) -> None:
        setattr(owner, name, _timed(table, label, getattr(owner, name)))

    wrap(session.SessionExtraction, "find_roi", "phase: arena step")
    wrap(ChunkExecutor, "run", "phase: extraction loop")
    wrap(results_h5_writer.H5ResultsWriter, "finish", "phase: finish results_00.h5")
    wrap(movie_writer.PreviewMovieWriter, "finish", "phase: finish the movie")
    wrap(report, "write_report", "phase: report")
    wrap(RawDepthExtractor, "get_video", "stage: reading the recording")
    # A frame tracked again goes through the first pass's stages again inside
    # RetrackJumpsStage: counted in their rows too.
    for module in (frame_stages, chunk_stages, jumps):
        for name in module.__all__:
            stage = getattr(module, name)
            if isinstance(stage, type) and "process" in stage.__dict__:
                wrap(stage, "process", f"stage: {name}")
    wrap(results_h5_writer.H5ResultsWriter, "write", "stage: results writer (write)")
    wrap(movie_writer.PreviewMovieWriter, "write", "stage: movie writer (write)")
    wrap(movie.PreviewMovie, "add", "stage: movie frames and encoding (PyAV)")
    # Work a chunk stage spreads over the threads (the crops): timed on the threads that run it.
    submit = ChunkExecutor._submit_ranges

    def submit_timed(self, function, count, offset=0):
        name = getattr(function, "__qualname__", "")
        if not name.startswith("run_frame_passes"):  # the frame stages are timed themselves
            function = _timed(table, f"stage: {name.split('.<locals>')[0]} (threads)", function)
        return submit(self, function, count, offset)

    ChunkExecutor._submit_ranges = submit_timed


def _child(session: str, output: str) -> None:
    """Runs in the child process: one timed ``extract`` of ``session``; prints JSON."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    import depthextractors  # noqa: F401  (the import is the first phase)
    from depthextractors.config import ExtractionConfig
    from depthextractors.workflow import extract_session

    imported = time.perf_counter() - wall0
    table: dict = defaultdict(lambda: {"cpu": 0.0, "wall": 0.0, "calls": 0})
    _install(table)
    if os.environ.get("BENCH_STAGES_BODY_STEPS") == "1":
        _install_body_steps(table)
    flags = json.loads(os.environ.get("BENCH_STAGES_CONFIG", "{}"))
    outcome = extract_session(session, output, ExtractionConfig(**flags), log_file=False)
    if not outcome.ok:
        raise SystemExit(f"extraction failed: {outcome.message}")
    print(
        json.dumps(
            {
                "frames": outcome.num_frames,
                "wall": time.perf_counter() - wall0,
                "cpu": time.process_time() - cpu0,
                "import": imported,
                "table": table,
            }
        )
    )


def _session(workdir: Path, frames: int) -> Path:
    """The session ``bench_extract.py`` writes (made if missing), read once into the cache."""
    directory = kinect_session(workdir / f"session_{frames}", frames)
    warm_page_cache(directory / "depth.dat")
    return directory


def _run(session: Path, output: Path, config: dict, body_steps: bool = False) -> dict:
    env = dict(os.environ, BENCH_STAGES_CONFIG=json.dumps(config))
    env["BENCH_STAGES_BODY_STEPS"] = "1" if body_steps else "0"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(session), str(output)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(runs: list[dict]) -> None:
    frames = runs[0]["frames"]
    best = min(runs, key=lambda run: run["wall"])
    print(
        f"{frames:,} frames; best of {len(runs)} runs: {best['wall']:.2f} s wall "
        f"({frames / best['wall']:,.0f} frames/s), {best['cpu']:.2f} s CPU; load "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    table = best["table"]
    phases = {"import": best["import"]}
    phases.update(
        {k.split(": ", 1)[1]: v["wall"] for k, v in table.items() if k.startswith("phase:")}
    )
    phases["the rest (folder, lock, log, setup, writers' start)"] = best["wall"] - sum(
        phases.values()
    )
    print("| phase (main thread) | wall s | share |\n|---|---|---|")
    for name, seconds in phases.items():
        print(f"| {name} | {seconds:.3f} | {100 * seconds / best['wall']:.1f}% |")
    stages = {k.split(": ", 1)[1]: v for k, v in table.items() if k.startswith("stage:")}
    seen = sum(v["cpu"] for v in stages.values())
    loop_cpu = (
        best["cpu"]
        - best["import"]
        - sum(
            table.get(f"phase: {k}", {"cpu": 0.0})["cpu"]
            for k in ("arena step", "report", "finish results_00.h5", "finish the movie")
        )
    )
    print("\n| stage (all threads) | CPU ms/frame | share of the loop's CPU |\n|---|---|---|")
    for name, entry in sorted(stages.items(), key=lambda item: -item[1]["cpu"]):
        print(
            f"| {name} | {1000 * entry['cpu'] / frames:.3f} | "
            f"{100 * entry['cpu'] / max(loop_cpu, 1e-9):.1f}% |"
        )
    print(
        f"| not seen by the timers (encoder and library threads, waits) | "
        f"{1000 * (loop_cpu - seen) / frames:.3f} | "
        f"{100 * (loop_cpu - seen) / max(loop_cpu, 1e-9):.1f}% |"
    )
    print(f"\nCPU outside import, arena step, finishing and report: {loop_cpu:.2f} s")
    steps = {k.split(": ", 1)[1]: v for k, v in table.items() if k.startswith("body step:")}
    if steps:
        print("\n| body centroid step (nested as listed) | CPU us/frame | calls |\n|---|---|---|")
        for name in BODY_METHODS + TRIMMED_METHODS + BODY_FUNCTIONS:
            entry = steps.get(name, {"cpu": 0.0, "calls": 0})
            print(f"| {name} | {1e6 * entry['cpu'] / frames:.1f} | {entry['calls']:,} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=9000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-movie", action="store_true", help="write_movie: false")
    parser.add_argument("--no-report", action="store_true", help="write_report: false")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "de_bench")
    parser.add_argument(
        "--workers", default="threads", choices=("threads", "processes", "auto"),
        help="the job option workers (threads by default: the timers see only this process)",
    )  # fmt: skip
    parser.add_argument(
        "--body-steps", action="store_true",
        help="also time the body centroid's steps (its largest stage), CPU us a frame",
    )  # fmt: skip
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(*arguments.child)
        return
    session = _session(arguments.workdir, arguments.frames)
    config = {"workers": arguments.workers}
    if arguments.no_movie:
        config["write_movie"] = False
    if arguments.no_report:
        config["write_report"] = False
    with tempfile.TemporaryDirectory() as scratch:
        runs = [
            _run(session, Path(scratch) / f"proc{k}", config, arguments.body_steps)
            for k in range(arguments.repeats)
        ]
    _report(runs)


if __name__ == "__main__":
    main()
