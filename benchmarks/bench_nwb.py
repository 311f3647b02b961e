"""Benchmark: export a long extraction to NWB; time and peak memory (issue 6: RSS <= 500 MB).

Builds a ``results_00.h5``-backed :class:`~depthextractors.io.results.ExtractionResults`
cheaply — synthetic 80x80 crops of an elliptical "mouse" (moving, with noise, so they compress
like real crops) written in chunks through the project's own HDF5 writer, with Kinect-like
jittered timestamps and a few dropped frames — then exports it with ``to_nwb`` in a **child
process** and reports the wall time and the child's peak resident memory
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``). The export is read back and checked (frame
count, a sample of frames, timestamps).

Why three processes: on Linux a child's ``ru_maxrss`` starts from its parent's resident size
(the memory map it had before ``exec``), so the export child is started by a small launcher
process that imports nothing heavy and has no other child; the results are built in another
child so that the top process stays small too. The export is also checked to start at 0 s (the
session start) and to pass NWB Inspector's DANDI configuration (nothing CRITICAL).

Usage::

    python benchmarks/bench_nwb.py [--frames 54000] [--workdir DIR] [--keep]

Peak RSS includes the Python interpreter, numpy, h5py, pynwb and hdmf (about 150 MB before any
data). Times depend on the machine: on a shared 2-core machine other work slows them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RSS_BAR_MB = 500.0


def build_results(directory: Path, num_frames: int, seed: int = 0) -> Path:
    """Write a ``results_00.h5`` of ``num_frames`` synthetic crops in chunks; return its path."""
    import numpy as np

    from depthextractors.extraction.results import ExtractionSetup, ResultChunk
    from depthextractors.extraction.scalars import MOSEQ2_SCALARS, SCALAR_DESCRIPTIONS
    from depthextractors.io import H5ResultsWriter

    rng = np.random.default_rng(seed)
    fps = 30.0
    # Kinect-like clock: milliseconds with jitter, and 3 gaps of dropped frames.
    steps = np.full(num_frames - 1, 1000.0 / fps) + rng.normal(0, 0.3, num_frames - 1)
    for index in rng.choice(num_frames - 1, size=3, replace=False):
        steps[index] += 2 * 1000.0 / fps
    timestamps_s = (666_649_625.0 + np.concatenate([[0.0], np.cumsum(steps)])) / 1000.0
    scalar_names = (*MOSEQ2_SCALARS, "velocity_2d_mm_per_s", "velocity_3d_mm_per_s", "valid")
    setup = ExtractionSetup(
        num_frames=num_frames,
        crop_size=(80, 80),
        frame_dtype=np.dtype(np.uint8),
        timestamps_s=timestamps_s,
        background=np.full((424, 512), 680.0, dtype=np.float32),
        roi=np.pad(np.ones((300, 300), dtype=bool), ((62, 62), (106, 106))),
        first_frame=np.full((424, 512), 680, dtype=np.uint16),
        true_depth=680.0,
        first_frame_idx=0,
        last_frame_idx=num_frames,
        parameters={"camera_type": "kinect_v2", "crop_size": [80, 80], "min_height": 10},
        strategies={},
        job={"n_jobs": 1, "chunk_size": 1000},
        acquisition={
            "SubjectName": "bench-mouse",
            "SessionName": "bench",
            "StartTime": "2026-01-01T00:00:00+00:00",
        },
        uuid="00000000-0000-4000-8000-000000000000",
        version="bench",
        has_flips=True,
        scalar_names=scalar_names,
        scalar_descriptions=dict(SCALAR_DESCRIPTIONS),
    )
    writer = H5ResultsWriter(directory)
    writer.begin(setup)
    rows, cols = np.mgrid[0:80, 0:80]
    chunk = 1000
    for start in range(0, num_frames, chunk):
        n = min(chunk, num_frames - start)
        t = np.arange(start, start + n)[:, None, None]
        # An ellipse whose length breathes and whose centre wobbles, plus noise.
        half_length = 25 + 4 * np.sin(t / 40.0)
        cy = 40 + 2 * np.sin(t / 13.0)
        inside = ((cols - 40) / half_length) ** 2 + ((rows - cy) / 11.0) ** 2 <= 1.0
        height = 20 + 15 * (1 - ((cols - 40) / half_length) ** 2).clip(0, 1)
        noise = rng.normal(0, 1.5, (n, 80, 80))
        frames = np.where(inside, height + noise, 0).clip(0, 255).astype(np.uint8)
        scalars = {
            name: rng.normal(0, 10, n).astype(np.float32)
            for name in scalar_names
            if name != "valid"
        }
        scalars["valid"] = np.ones(n, dtype=bool)
        writer.write(
            ResultChunk(
                start=start,
                frames=frames,
                masks=inside,
                scalars=scalars,
                flips=rng.random(n) < 0.01,
            )
        )
    writer.finish()
    return directory / "results_00.h5"


def export_child(results_path: str, nwb_path: str) -> None:
    """Run in the child: read the results lazily and export them; print the time as JSON."""
    import depthextractors.io.nwb  # noqa: F401  (its import is not part of the export time)
    from depthextractors.io import read_results

    results = read_results(results_path)
    start = time.perf_counter()
    results.to_nwb(
        nwb_path,
        subject={"species": "Mus musculus", "age": "P12W", "sex": "M"},
        overwrite=True,
    )
    elapsed = time.perf_counter() - start
    print(json.dumps({"export_s": elapsed}))


def measure(results_path: str, nwb_path: str) -> None:
    """Run in the launcher: start the export child, print its time and peak RSS as JSON."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", results_path, nwb_path],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        sys.exit(completed.returncode)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    report["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps(report))


def _run(*arguments: str) -> str:
    completed = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"{arguments[0]} failed with exit code {completed.returncode}")
    return completed.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=54_000, help="frames in the results")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write (temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files written")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        export_child(*args.child)
        return 0
    if args.measure:
        measure(*args.measure)
        return 0
    if args.build:
        build_results(Path(args.build[0]), int(args.build[1]))
        return 0

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_nwb_"))
    workdir.mkdir(parents=True, exist_ok=True)
    results_dir = workdir / "proc"
    results_path = results_dir / "results_00.h5"
    nwb_path = workdir / "session.nwb"
    print(f"building a results_00.h5 of {args.frames} frames in {results_dir} ...")
    start = time.perf_counter()
    _run("--build", str(results_dir), str(args.frames))
    print(f"  built in {time.perf_counter() - start:.1f} s "
          f"({results_path.stat().st_size / 1e6:.1f} MB)")  # fmt: skip

    start = time.perf_counter()
    report = json.loads(_run("--measure", str(results_path), str(nwb_path)).splitlines()[-1])
    wall = time.perf_counter() - start
    peak_mb = report["peak_rss_kb"] / 1024.0
    export_s = report["export_s"]

    # Read the export back (in this process, after the measurement).
    import h5py
    import numpy as np

    from depthextractors.io import ExtractionResults, read_results
    from depthextractors.io.nwb import inspect_for_dandi

    back = ExtractionResults.from_nwb(nwb_path)
    original = read_results(results_path)
    sample = slice(args.frames // 2, args.frames // 2 + 500)
    with h5py.File(nwb_path, "r") as handle:
        first_time = handle["processing/behavior/processed_depth_video/timestamps"][0]
    inspection = inspect_for_dandi(nwb_path)
    checks = {
        "frame count": len(back) == args.frames,
        "frames": np.array_equal(back.frames[sample], original.frames[sample]),
        "masks": np.array_equal(back.frames_mask[sample], original.frames_mask[sample]),
        "timestamps": np.array_equal(back.timestamps, original.timestamps),
        "0 s at the session start": first_time == 0.0,
        "DANDI checks (nothing CRITICAL)": inspection.passes,
    }

    print(f"frames: {args.frames}, cpu count: {os.cpu_count()} (shared with other work)")
    print(f"export: {export_s:.1f} s in the child ({args.frames / export_s:.0f} frames/s), "
          f"{wall:.1f} s with interpreter start")  # fmt: skip
    print(f"NWB file: {nwb_path.stat().st_size / 1e6:.1f} MB "
          f"(results_00.h5: {results_path.stat().st_size / 1e6:.1f} MB)")  # fmt: skip
    verdicts = ", ".join(f"{name} {'ok' if same else 'DIFFERENT'}" for name, same in checks.items())
    print(f"read back: {verdicts}")
    print(f"peak RSS of the export process: {peak_mb:.0f} MB (bar {RSS_BAR_MB:.0f} MB): "
          f"{'PASS' if peak_mb <= RSS_BAR_MB else 'FAIL'}")  # fmt: skip
    if not args.keep and args.workdir is None:
        # The HDF5 writer also writes the arena's TIFF images beside results_00.h5.
        images = [results_dir / name for name in ("bground.tiff", "roi.tiff", "first_frame.tiff")]
        for path in (nwb_path, results_path, results_dir / "results_00.yaml", *images):
            path.unlink(missing_ok=True)
    return 0 if peak_mb <= RSS_BAR_MB and all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
