"""Benchmark: how the extraction scales with cores, for one session and for a batch (issue 17).

Run as::

    python benchmarks/bench_cores.py [--frames 9000] [--max-jobs N] [--repeats 1]
                                     [--batch-sessions S] [--batch-frames 3000]
                                     [--no-batch] [--save FILE.json]

Made to run once, as one script, on a machine with more cores (a lab workstation, a cluster
node) as well as on the 2-core development machine:

1. Writes (or reuses) the synthetic Kinect v2 session ``bench_extract.py`` writes (same seed,
   same ``--workdir``) and reads it once so it is in the page cache.
2. **One session**: ``depthextractors extract`` without the movie and report, with
   ``--workers processes`` and ``--workers threads`` and ``--n-jobs`` 1, 2, 4, ... up to the
   CPUs this process may use (``--max-jobs`` lowers that), each a fresh command; the whole
   process tree is read from ``/proc`` (CPU seconds of every process, the peak of the summed
   PSS), as ``bench_workers.py`` does.
3. **A batch**: ``--batch-sessions`` folders (default: one per CPU, at least 2), each holding
   a hard link to the same recording (no extra disk), extracted by ``depthextractors
   batch-extract --num-frames <--batch-frames>`` without movies and reports, with ``--n-jobs``
   1, 2, 4, ... sessions at a time (one at a time, each session has the machine and its
   defaults; K at a time, each runs in a worker process of the batch with ``n_jobs`` of
   ``default_threads`` for its share of the CPUs, the CPUs over K: one thread on a share of 2
   or fewer, else worker processes or threads as ``--workers auto`` chooses).
4. Prints a table per part: wall seconds, frames/s, speed-up over one job, parallel efficiency
   (speed-up over jobs), CPU seconds and peak PSS (the batch's frames/s: all its sessions'
   frames over its wall time); ``--save`` writes every run as JSON.

The timings are whole commands (import, arena step and finishing included), the figures a user
sees. On 2 cores the curve is short (1 -> 2); the issue asks for 1 -> 16 where a machine has
them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import run_process_tree, warm_page_cache
from bench_extract import kinect_session

NO_OUTPUTS = ["--no-movie", "--write-report", "False"]


def job_counts(cpus: int) -> list[int]:
    """1, 2, 4, ... below ``cpus``, and ``cpus`` itself."""
    counts = [1]
    while counts[-1] * 2 < cpus:
        counts.append(counts[-1] * 2)
    if cpus > 1:
        counts.append(cpus)
    return counts


def _median_run(command: list[str], repeats: int) -> dict:
    """The run of median wall time of ``repeats`` runs of ``command`` (each measured whole)."""
    runs = [run_process_tree(command) for _ in range(repeats)]
    runs.sort(key=lambda run: run["wall"])
    return runs[len(runs) // 2]


def one_session(session: Path, counts: list[int], repeats: int, work: Path) -> list[dict]:
    """Part 2: one session with each worker kind and count."""
    rows = []
    for mode in ("processes", "threads"):
        for jobs in counts:
            output = work / f"one_{mode}_{jobs}"
            command = [
                sys.executable, "-m", "depthextractors", "extract", str(session),
                "--output-dir", str(output), "--workers", mode, "--n-jobs", str(jobs),
                *NO_OUTPUTS,
            ]  # fmt: skip
            run = _median_run(command, repeats)
            shutil.rmtree(output, ignore_errors=True)
            rows.append({"part": "one session", "workers": mode, "jobs": jobs, **_kept(run)})
            print(_line(rows[-1]), flush=True)
    return rows


def batch(
    session: Path, sessions: int, frames: int, counts: list[int], repeats: int, work: Path
) -> list[dict]:
    """Part 3: a batch of hard-linked copies of ``session`` with each count of sessions at a
    time."""
    folder = work / "batch"
    for index in range(sessions):
        copy = folder / f"session_{index:02d}"
        copy.mkdir(parents=True, exist_ok=True)
        for file in session.iterdir():
            if file.is_file() and not (copy / file.name).exists():
                os.link(file, copy / file.name)
    rows = []
    for jobs in (count for count in counts if count <= sessions):
        command = [
            sys.executable, "-m", "depthextractors", "batch-extract", str(folder),
            "--n-jobs", str(jobs), "--num-frames", str(frames), "--no-skip-completed",
            "--no-progress-bar", *NO_OUTPUTS,
            "--summary-file", str(work / f"batch_{jobs}.tsv"),
        ]  # fmt: skip
        run = _median_run(command, repeats)
        rows.append({"part": "batch", "jobs": jobs, "sessions": sessions, **_kept(run)})
        print(_line(rows[-1]), flush=True)
    return rows


def _kept(run: dict) -> dict:
    return {key: run[key] for key in ("wall", "cpu", "pss")}


def _line(row: dict) -> str:
    what = f"{row['workers']:9s} " if "workers" in row else ""
    return (
        f"{row['part']}: {what}{row['jobs']:>3} jobs: {row['wall']:.2f} s, CPU {row['cpu']:.2f} s, "
        f"peak PSS {row['pss']:.0f} MB"
    )


def print_table(rows: list[dict], amount: int, unit: str) -> None:
    """A markdown table of ``rows`` (one part, one worker kind), with the speed-up over the
    fewest jobs; ``amount`` frames (or sessions) were done by each run."""
    first = rows[0]
    print(f"| jobs | wall s | {unit}/s | speed-up | efficiency | CPU s | peak PSS MB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        speedup = first["wall"] / row["wall"]
        efficiency = speedup / (row["jobs"] / first["jobs"])
        print(
            f"| {row['jobs']} | {row['wall']:.2f} | {amount / row['wall']:,.1f} | "
            f"{speedup:.2f}x | {100 * efficiency:.0f}% | {row['cpu']:.1f} | {row['pss']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=9000, help="frames of the one session")
    parser.add_argument("--max-jobs", type=int, default=None, help="most jobs (default: CPUs)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting (median)")
    parser.add_argument(
        "--batch-sessions", type=int, default=None, help="sessions (default: a CPU's, 2 or more)"
    )
    parser.add_argument(
        "--batch-frames", type=int, default=3000, help="frames extracted of each batch session"
    )
    parser.add_argument("--no-batch", action="store_true", help="only the one session")
    parser.add_argument("--save", type=Path, default=None, help="write every run as JSON")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "de_bench")
    args = parser.parse_args()
    if not Path("/proc/self/smaps_rollup").exists():
        raise SystemExit("this benchmark reads /proc (Linux)")
    cpus = len(os.sched_getaffinity(0))
    counts = job_counts(min(cpus, args.max_jobs or cpus))
    session = kinect_session(args.workdir / f"session_{args.frames}", args.frames)
    warm_page_cache(session)
    print(f"machine: {cpus} CPUs usable, {os.cpu_count()} in all; load before "
          f"{os.getloadavg()[0]:.1f}; jobs {counts}\n", flush=True)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bench_cores_", dir=args.workdir))
    try:
        rows = one_session(session, counts, args.repeats, work)
        if not args.no_batch:
            sessions = args.batch_sessions or max(2, cpus)
            frames = min(args.batch_frames, args.frames)
            rows += batch(session, sessions, frames, counts, args.repeats, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload after {os.getloadavg()[0]:.1f}")
    for mode in ("processes", "threads"):
        print(f"\none session of {args.frames:,} frames, --workers {mode}, no movie or report:")
        print_table([r for r in rows if r.get("workers") == mode], args.frames, "frames")
    single = min((r for r in rows if r["part"] == "one session"), key=lambda r: r["wall"])
    print(f"fastest one session: --workers {single['workers']} --n-jobs {single['jobs']}")
    batch_rows = [r for r in rows if r["part"] == "batch"]
    if batch_rows:
        sessions = batch_rows[0]["sessions"]
        print(f"\nbatch-extract of {sessions} sessions of {frames:,} frames each "
              "(jobs: sessions at a time), no movies or reports:")  # fmt: skip
        print_table(batch_rows, sessions * frames, "frames")
        best = min(batch_rows, key=lambda r: r["wall"])
        print(f"fastest batch: --n-jobs {best['jobs']} (sessions at a time)")
    if args.save is not None:
        args.save.write_text(json.dumps({"cpus": cpus, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
