"""Benchmark: cost of flip correction, and EMTracker speed (issue 5).

Run as::

    python benchmarks/bench_flips_em.py [--frames 3000] [--repeats 5] [--n-jobs N]

1. Writes a synthetic Kinect v2 session (``--frames`` frames, untethered) and a tethered one
   (``Tether()``) unless they exist, in a temporary directory (or ``--workdir``).
2. Flip correction: the default extraction to ``results_00.h5`` without a corrector, with
   :class:`MotionFlipCorrector` and with a :class:`ClassifierFlipCorrector` trained on the
   motion-corrected results; ``--repeats`` runs each, interleaved. The share is
   ``(t_with - t_without) / t_with`` end to end (look-ahead frames read and cropped twice
   included), from the best and from the median runs, and from the median CPU seconds of the
   process (all threads; steadier than wall time on a shared machine), and also the time spent
   inside ``correct`` alone (its share of the best run).
3. EMTracker: the extraction of the tethered session with ``EMTracker()`` to ``results_00.h5``,
   frames/s end to end (arena step included) and with ``MomentsTracker`` for comparison.

The machine load (``os.getloadavg``) is printed before and after: other processes sharing the
cores slow everything down.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import depthextractors as de
from depthextractors.extraction import (
    ClassifierFlipCorrector,
    EMTracker,
    FlipCorrector,
    MotionFlipCorrector,
    train_flip_classifier,
)
from depthextractors.extraction.executor import default_threads
from depthextractors.testing import Tether, generate_synthetic_session


class _Timed(FlipCorrector):
    """Wraps a flip corrector and adds up the time spent in its ``correct``."""

    def __init__(self, inner):
        self.inner = inner
        self.seconds = 0.0
        self.lookahead = inner.lookahead

    def reset(self):
        self.seconds = 0.0
        self.inner.reset()

    def finalize(self):
        self.inner.finalize()

    def check_crop_size(self, crop_size):
        self.inner.check_crop_size(crop_size)

    def correct(self, context):
        start = time.perf_counter()
        try:
            return self.inner.correct(context)
        finally:
            self.seconds += time.perf_counter() - start


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def _extract(session_dir: Path, output: Path, n_jobs: int, **options) -> float:
    """Wall-clock seconds of one extraction to ``results_00.h5`` (CPU seconds in ``_CPU``)."""
    if output.exists():
        shutil.rmtree(output)
    start, cpu = time.perf_counter(), time.process_time()
    de.SessionExtraction(de.open_depth_video(session_dir), **options).run(
        de.H5ResultsWriter(output), n_jobs=n_jobs, progress=False
    )
    _CPU.append(time.process_time() - cpu)
    return time.perf_counter() - start


# CPU seconds (all threads of this process) of each extraction, in order: less sensitive than
# wall time to other processes sharing the cores.
_CPU: list[float] = []


def _best(repeats: int, run) -> float:
    return min(run() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=3000, help="frames per session")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement")
    parser.add_argument(
        "--n-jobs", type=int, default=default_threads(), help="extraction threads (the default's)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep sessions here")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_flips_em_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"sessions in {workdir}; {_load()}")
    plain_dir = workdir / f"plain_{args.frames}"
    tether_dir = workdir / f"tether_{args.frames}"
    if not (plain_dir / "depth.dat").exists():
        generate_synthetic_session(plain_dir, args.frames, seed=1)
    if not (tether_dir / "depth.dat").exists():
        generate_synthetic_session(tether_dir, args.frames, seed=2, tether=Tether())
    out = workdir / "out"

    # ---------------------------------------------------------------- flip correction
    n, jobs, reps = args.frames, args.n_jobs, args.repeats
    # A classifier trained on this session's motion-corrected results.
    _extract(plain_dir, out, jobs, flip_corrector=MotionFlipCorrector())
    classifier_path = train_flip_classifier([de.read_results(out)]).save(workdir / "flips.npz")
    correctors = {
        "none": None,
        "MotionFlipCorrector": _Timed(MotionFlipCorrector()),
        "ClassifierFlipCorrector": _Timed(ClassifierFlipCorrector.load(classifier_path)),
    }
    # Interleaved, so a change in the machine's load hits every configuration alike.
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in correctors}
    cpu: dict[str, list[float]] = {name: [] for name in correctors}
    for _ in range(reps):
        for name, corrector in correctors.items():
            total = _extract(plain_dir, out, jobs, flip_corrector=corrector)
            runs[name].append((total, corrector.seconds if corrector is not None else 0.0))
            cpu[name].append(_CPU[-1])
    best = {name: min(values) for name, values in runs.items()}
    median = {name: sorted(t for t, _ in values)[len(values) // 2] for name, values in runs.items()}
    cpu_median = {name: sorted(values)[len(values) // 2] for name, values in cpu.items()}
    print(
        f"\nflip correction, {n} Kinect frames, n_jobs={jobs}, {reps} interleaved runs ({_load()})"
    )
    print(
        f"{'corrector':<26}{'best s':>8}{'frames/s':>10}{'share (best)':>14}"
        f"{'share (median)':>16}{'share (CPU s)':>15}{'in correct':>12}"
    )
    base, base_median, base_cpu = best["none"][0], median["none"], cpu_median["none"]
    for name, (total, inside) in best.items():
        share = (total - base) / total
        share_median = (median[name] - base_median) / median[name]
        share_cpu = (cpu_median[name] - base_cpu) / cpu_median[name]
        print(
            f"{name:<26}{total:8.2f}{n / total:10.0f}{100 * share:13.1f}%"
            f"{100 * share_median:15.1f}%{100 * share_cpu:14.1f}%{100 * inside / total:11.1f}%"
        )

    # ---------------------------------------------------------------- EM tracker
    moments = _best(reps, lambda: _extract(tether_dir, out, jobs))
    em = _best(reps, lambda: _extract(tether_dir, out, jobs, tracker=EMTracker()))
    print(f"\ntracking a tethered animal, {n} Kinect frames, n_jobs={jobs}, best of {reps}")
    print(f"{'tracker':<26}{'s':>8}{'frames/s':>10}")
    print(f"{'MomentsTracker':<26}{moments:8.2f}{n / moments:10.0f}")
    print(f"{'EMTracker':<26}{em:8.2f}{n / em:10.0f}")
    print(f"\n{_load()}")
    if args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
