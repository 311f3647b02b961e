"""Benchmark Azure Kinect .mkv depth: opening, sequential and random reads.

Run from the project root::

    python benchmarks/bench_azure.py                # 900 NFOV captures with 720p colour
    python benchmarks/bench_azure.py --frames 300 --color-size 2160x3840
    python benchmarks/bench_azure.py --pyav --imu 53   # also the PyAV path; with an IMU track

It writes a synthetic Azure-Kinect-like recording (``write_azure_like_mkv``): per capture one
COLOR block (a noise MJPEG frame, a few hundred kB at 720p, like a real colour frame), one
DEPTH and one IR block (576x640 big-endian 16-bit, NFOV unbinned), one Cluster per capture with
its CRC-32 as the recorder writes. The file is read once first so it is in the page cache, then
it times opening the extractor, reading every frame in chunks of 100, and single frames at
random positions, with the Cluster CRC-32s checked (the default) and not
(``check_crcs=False``), and the same for the depth frames as a raw ``depth.dat`` (the ceiling).
``--pyav`` also times the PyAV demuxing path (the fallback for layouts the block
scanner does not handle). Each timing is the best of ``--repeats`` runs; figures depend on the
machine and on what else runs on it, so the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of, print_table, warm_page_cache

from depthextractors import RawDepthExtractor
from depthextractors.extractors.azure import AzureDepthExtractor
from depthextractors.testing.matroska import mjpeg_frame, write_azure_like_mkv


def read_all(extractor: AzureDepthExtractor, chunk_size: int = 100) -> None:
    for _ in extractor.iter_chunks(chunk_size):
        pass


def measure(path: Path, frames: int, arguments, label: str, open_video) -> list[tuple[str, str]]:
    """Open, sequential and random-read timings of one reading path."""
    rows = []
    seconds = best_of(arguments.repeats, lambda: open_video(path))
    rows.append((f"{label}: open", f"{seconds * 1000:8.1f} ms"))
    extractor = open_video(path)
    seconds = best_of(arguments.repeats, lambda: read_all(extractor))
    rows.append((f"{label}: sequential read, chunks of 100", f"{frames / seconds:8.0f} frames/s"))
    picks = np.random.default_rng(0).integers(0, frames, arguments.random_reads)

    def random_reads() -> None:
        for index in picks:
            extractor.get_video(int(index), int(index) + 1)

    seconds = best_of(arguments.repeats, random_reads)
    rows.append((f"{label}: random single-frame reads", f"{picks.size / seconds:8.0f} frames/s"))
    getattr(extractor, "close", lambda: None)()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900, help="captures to synthesize")
    parser.add_argument(
        "--color-size", default="720x1280", help="colour frame size ROWSxCOLS (default 720x1280)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (best is kept)")
    parser.add_argument("--random-reads", type=int, default=200, help="random single-frame reads")
    parser.add_argument(
        "--imu",
        type=int,
        default=0,
        help="IMU samples (44-byte BlockGroups) per capture (the recorder: about 53 at 30 fps)",
    )
    parser.add_argument("--pyav", action="store_true", help="also time the PyAV demuxing path")
    arguments = parser.parse_args()
    color_rows, color_cols = (int(n) for n in arguments.color_size.lower().split("x"))

    rng = np.random.default_rng(0)
    base = rng.integers(300, 4000, size=(576, 640), dtype=np.uint16)
    depth = np.empty((arguments.frames, 576, 640), dtype=np.uint16)
    for index in range(arguments.frames):
        depth[index] = base + np.uint16(index % 1000)
    color = mjpeg_frame(color_rows, color_cols, noise=True)

    with tempfile.TemporaryDirectory() as temporary:
        path = write_azure_like_mkv(
            Path(temporary) / "recording.mkv",
            depth,
            depth,  # IR: same size as depth; its contents do not matter here
            depth_mode="NFOV_UNBINNED",
            color_frame=color,
            color_size=(color_rows, color_cols),
            imu_samples_per_capture=arguments.imu,
            cluster_crc=True,
        )
        file_bytes = path.stat().st_size
        warm_page_cache(path)
        rows_out = measure(path, arguments.frames, arguments, "mkv", AzureDepthExtractor)
        rows_out += measure(
            path,
            arguments.frames,
            arguments,
            "mkv, check_crcs=False",
            lambda p: AzureDepthExtractor(p, check_crcs=False),
        )
        check = AzureDepthExtractor(path)
        picks = np.random.default_rng(1).integers(0, arguments.frames, 5)
        assert np.array_equal(check.get_frames(picks), depth[picks]), "frames read back differ"
        if arguments.pyav:
            AzureDepthExtractor._BLOCK_INDEX = False
            rows_out += measure(path, arguments.frames, arguments, "mkv, PyAV", AzureDepthExtractor)
            AzureDepthExtractor._BLOCK_INDEX = True
        # The ceiling: the same depth frames as a raw little-endian depth.dat.
        raw_path = Path(temporary) / "depth.dat"
        depth.tofile(raw_path)
        warm_page_cache(raw_path)
        rows_out += measure(
            raw_path,
            arguments.frames,
            arguments,
            "raw depth.dat (reference)",
            lambda p: RawDepthExtractor(p, camera="azure_nfov_unbinned", sampling_frequency=30.0),
        )
        load = os.getloadavg()

    print_table(
        f"Azure .mkv benchmark: {arguments.frames} captures, depth 576x640 uint16, colour "
        f"{color_rows}x{color_cols} MJPEG ({len(color) / 1e3:.0f} kB/frame), "
        f"{arguments.imu} IMU samples per capture, file "
        f"{file_bytes / 1e9:.2f} GB in the page cache; {os.cpu_count()} CPUs, best of "
        f"{arguments.repeats}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        rows_out,
    )


if __name__ == "__main__":
    main()
