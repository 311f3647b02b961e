"""This project beside moseq2-extract 1.4.0 on the same synthetic sessions, both with defaults.

Usage::

    python benchmarks/bench_moseq2.py [--frames 3000] [--moseq2 PATH] [--workdir DIR]

For each session (a Kinect v2 round arena; a Kinect v2 square arena with a tilted floor; an
Azure Kinect NFOV-size round arena, given to both tools as a lossless FFV1 ``.avi``, which
moseq2-extract reads at any frame size), both command lines run with their default settings
(each writes its preview movie; this project also its report), each in its own process, the
recording read once before so that both find it in the page cache (a session made earlier may
have left it):
wall time, frames/s and peak memory (on Linux the summed PSS of the command's whole process
tree, workers included); then accuracy against the generator's ground truth (centroid error,
heading right) and ``depthextractors compare`` of the two results (the drop-in bars of
issue 13: arena IoU >= 0.98, centroid_*_px median difference <= 0.5 px, centroid_*_mm <= 1 mm,
area/width/length/height medians within 1%, frame correlation >= 0.95).

moseq2-extract is looked for with ``--moseq2`` or on PATH (install it in a separate virtual
environment: ``pip install moseq2-extract==1.4.0``; it needs the ffmpeg binary). Without it the
script says so and measures this project alone. It never imports moseq2-extract.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import print_table, run_process_tree, warm_page_cache

SESSIONS = {
    "kinect_round": {"camera": "kinect_v2", "arena": "round"},
    "kinect_square_tilted": {
        "camera": "kinect_v2",
        "arena": "square",
        "floor_tilt_deg": (4.0, -3.0),
    },
    "azure_round": {"camera": "azure_nfov_unbinned", "arena": "round"},
}
# The drop-in bars (issue 13), checked on every session.
RELATIVE_SCALARS = ("area_px", "width_px", "length_px", "height_ave_mm")


def make_session(name: str, frames: int, workdir: Path, seed: int) -> tuple[Path, Path]:
    """The recording both tools are given, and the saved ground truth (made once)."""
    from depthextractors.testing import generate_synthetic_session

    directory = workdir / name
    truth_file = directory / "truth.npz"
    recording = directory / ("depth.avi" if name.startswith("azure") else "depth.dat")
    if recording.is_file() and truth_file.is_file():
        return recording, truth_file
    session = generate_synthetic_session(directory, frames, seed=seed, **SESSIONS[name])
    truth = session.truth
    np.savez(truth_file, centroid=truth.centroid_px, heading=truth.heading, visible=truth.visible)
    if recording.suffix == ".avi":
        from depthextractors.extractors.writers import convert_raw_to_avi

        convert_raw_to_avi(session.depth_path, recording, progress=False)
    return recording, truth_file


def run_timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MB) and output of a command.

    On Linux the peak is that of the command's whole process tree, the sum of its processes'
    proportional set sizes (:func:`_common.run_process_tree`): this project's worker processes
    are children of a fork server, which the command does not wait for, so its own rusage
    would leave them out. Elsewhere, the peak RSS of the process itself under GNU time where
    there is one (a child forked from this large script would report its peak: Linux carries
    ``ru_maxrss`` over a fork and exec; one forked from ``time`` starts small).
    """
    if Path("/proc/self/smaps_rollup").exists():
        result = run_process_tree(command)
        return result["wall"], result["pss"], result["output"]
    gnu_time = Path("/usr/bin/time")
    wrapped = [str(gnu_time), "-f", "peak_kb=%M", *command] if gnu_time.is_file() else command
    started = time.perf_counter()
    process = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    reported = [line for line in output.splitlines() if line.startswith("peak_kb=")]
    if reported:
        return seconds, int(reported[-1].split("=")[1]) * 1024 / 1e6, output
    scale = 1 if sys.platform == "darwin" else 1024
    return seconds, usage.ru_maxrss * scale / 1e6, output


def accuracy(results_dir: Path, truth_file: Path) -> tuple[float, float, float]:
    """Centroid error median and 95th percentile (px) and % of frames heading the right way."""
    from depthextractors import read_results

    results = read_results(results_dir)
    truth = np.load(truth_file)
    rows, cols = np.nonzero(results.roi)
    x = np.asarray(results.scalars["centroid_x_px"][:], dtype=float) + cols.min()
    y = np.asarray(results.scalars["centroid_y_px"][:], dtype=float) + rows.min()
    n = min(len(x), truth["centroid"].shape[0])
    seen = truth["visible"][:n] & np.isfinite(x[:n])
    error = np.hypot(x[:n] - truth["centroid"][:n, 0], y[:n] - truth["centroid"][:n, 1])[seen]
    angle = np.asarray(results.scalars["angle"][:n], dtype=float)[seen]
    right = np.abs(np.angle(np.exp(1j * (angle - truth["heading"][:n][seen])))) < np.pi / 2
    return float(np.median(error)), float(np.percentile(error, 95)), 100 * float(right.mean())


def drop_in_checks(comparison) -> list[tuple[str, str]]:
    """The issue's bars, each with the value found and PASS/FAIL."""
    rows = []

    def check(name: str, value: float, ok: bool, unit: str = "") -> None:
        rows.append((name, f"{value:.4g}{unit} {'PASS' if ok else 'FAIL'}"))

    check("arena IoU (>= 0.98)", comparison.arena_iou, comparison.arena_iou >= 0.98)
    for name in ("centroid_x_px", "centroid_y_px"):
        value = comparison.scalar(name).median_abs_difference
        check(f"{name} median |diff| (<= 0.5 px)", value, value <= 0.5, " px")
    for name in ("centroid_x_mm", "centroid_y_mm"):
        value = comparison.scalar(name).median_abs_difference
        check(f"{name} median |diff| (<= 1 mm)", value, value <= 1.0, " mm")
    for name in RELATIVE_SCALARS:
        value = 100 * comparison.scalar(name).relative_median_difference
        check(f"{name} median (within 1%)", value, abs(value) <= 1.0, "%")
    value = comparison.frame_correlation
    check("frame correlation (>= 0.95)", value, value >= 0.95)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--moseq2", default=shutil.which("moseq2-extract"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/de_bench_moseq2"))
    parser.add_argument("--sessions", default=",".join(SESSIONS))
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    from depthextractors import read_results
    from depthextractors.io.compare import compare_results

    ours_command = [sys.executable, "-m", "depthextractors", "extract"]
    if not args.moseq2:
        print("moseq2-extract not found (give --moseq2 PATH): measuring this project alone\n")
    summary = []
    for name in args.sessions.split(","):
        recording, truth_file = make_session(name, args.frames, args.workdir, args.seed)
        warm_page_cache(recording)
        out = args.workdir / name / "out"
        shutil.rmtree(out, ignore_errors=True)
        seconds, rss, _ = run_timed(
            [*ours_command, str(recording), "--output-dir", str(out / "ours")]
        )
        median, p95, right = accuracy(out / "ours", truth_file)
        summary.append((name, "depthextractors", seconds, rss, median, p95, right))
        if not args.moseq2:
            continue
        camera = ["--camera-type", "azure"] if name.startswith("azure") else []
        m2_seconds, m2_rss, _ = run_timed(
            [args.moseq2, "extract", str(recording), "--output-dir", str(out / "moseq2"), *camera]
        )
        median, p95, right = accuracy(out / "moseq2", truth_file)
        summary.append((name, "moseq2-extract 1.4.0", m2_seconds, m2_rss, median, p95, right))
        comparison = compare_results(read_results(out / "moseq2"), read_results(out / "ours"))
        print_table(
            f"{name}: depthextractors (B) against moseq2-extract (A)", drop_in_checks(comparison)
        )
        print(f"  speed {m2_seconds / seconds:.1f}x, memory {m2_rss / rss:.1f}x less\n")
        print(comparison.format_table(), "\n")
    print(
        f"{'session':<22}{'tool':<22}{'seconds':>9}{'frames/s':>10}{'peak MB':>9}"
        f"{'err med px':>11}{'err p95 px':>11}{'heading %':>10}"
    )
    for name, tool, seconds, rss, median, p95, right in summary:
        print(
            f"{name:<22}{tool:<22}{seconds:>9.1f}{args.frames / seconds:>10.0f}{rss:>9.0f}"
            f"{median:>11.3f}{p95:>11.3f}{right:>10.1f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\n(this script's own peak: {peak / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
