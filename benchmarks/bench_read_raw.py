"""Reading raw depth.dat sessions: open cost, sequential and random read speed, peak memory.

Usage: python benchmarks/bench_read_raw.py [--frames 3000] [--chunk-size 1000]
"""

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from depthextractors import RawDepthExtractor
from depthextractors.testing import generate_synthetic_session


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        session = generate_synthetic_session(Path(folder) / "session", args.frames, seed=0)
        generate_s = time.perf_counter() - started
        size_gb = session.depth_path.stat().st_size / 1e9
        rss_before = peak_rss_mb()

        started = time.perf_counter()
        video = RawDepthExtractor(session.depth_path)
        open_ms = (time.perf_counter() - started) * 1e3

        # Drop the file from the page cache where possible, so the first pass reads the disk.
        with open(session.depth_path, "rb") as handle:
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        started = time.perf_counter()
        total = sum(chunk.frames.shape[0] for chunk in video.iter_chunks(args.chunk_size))
        sequential_s = time.perf_counter() - started

        indices = np.random.default_rng(0).integers(0, video.get_num_frames(), 200)
        started = time.perf_counter()
        video.get_frames(indices)
        random_s = time.perf_counter() - started
        rss_after = peak_rss_mb()

        sparse = Path(folder) / "sparse" / "depth.dat"
        sparse.parent.mkdir()
        frame_bytes = 424 * 512 * 2
        with open(sparse, "wb") as handle:
            handle.truncate((20 * 1024**3 // frame_bytes) * frame_bytes)
        started = time.perf_counter()
        big = RawDepthExtractor(sparse, sampling_frequency=30.0)
        big.frame_slice(-1000).get_video(0, 10)
        big_open_ms = (time.perf_counter() - started) * 1e3

    chunk_mb = args.chunk_size * frame_bytes / 1e6
    rows = [
        (f"open ({args.frames} frames)", f"{open_ms:.2f} ms"),
        ("open a 20 GB file + read 10 frames from its end", f"{big_open_ms:.2f} ms"),
        (
            f"sequential read, chunks of {args.chunk_size}",
            f"{total / sequential_s:,.0f} frames/s ({size_gb * 1e3 / sequential_s:,.0f} MB/s)",
        ),
        ("200 random frames", f"{200 / random_s:,.0f} frames/s"),
        (
            "peak RSS growth while reading everything",
            f"{rss_after - rss_before:.0f} MB (one chunk is {chunk_mb:.0f} MB)",
        ),
    ]
    print(f"synthetic session: {args.frames} frames 424x512 ({size_gb:.2f} GB), ", end="")
    print(f"made in {generate_s:.1f} s")
    print("| measure | value |\n|---|---|")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


if __name__ == "__main__":
    main()
