"""Benchmark FFV1 depth video: raw -> .avi encoding, decoding with and without threads.

Run from the project root::

    python benchmarks/bench_ffv1.py               # 1,000 Kinect v2 frames (424x512)
    python benchmarks/bench_ffv1.py --frames 3000

It writes a synthetic Kinect session (``generate_synthetic_session``) to a temporary
directory, converts it to FFV1 ``.avi`` with one encoder thread and with automatic threads,
then reads the video back sequentially (in 500-frame chunks) with one decoder thread and with
automatic threads, and reads single frames at random positions. Last, the default extraction
(``SessionExtraction(video).run(InMemoryResultsWriter())``, arena step included) from the
``.avi`` beside the decoder alone, with the same decoder threads: issue 17's bar is an
extraction at >= 90% of the decoder's own frames/s. Figures depend on the machine
and on what else runs on it; each timing is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import best_of, print_table

from depthextractors import FFV1DepthExtractor, RawDepthExtractor, write_ffv1_video
from depthextractors.testing import generate_synthetic_session


def read_all(extractor, chunk_size: int = 500) -> None:
    for _ in extractor.iter_chunks(chunk_size):
        pass


def _extraction_against_decoder(
    video_path: Path, frames: int, repeats: int
) -> list[tuple[str, str]]:
    """Extraction from the ``.avi`` and decoding alone, same decoder threads, interleaved."""
    from depthextractors import SessionExtraction
    from depthextractors.io import InMemoryResultsWriter

    rows = []
    for threads, label in ((1, "1 thread"), (0, "auto threads")):
        decode = best_of(
            repeats, lambda t=threads: read_all(FFV1DepthExtractor(video_path, threads=t))
        )
        extract = best_of(
            repeats,
            lambda t=threads: SessionExtraction(FFV1DepthExtractor(video_path, threads=t)).run(
                InMemoryResultsWriter(), progress=False
            ),
        )
        rows.append(
            (
                f"extraction from avi, {label}",
                f"{frames / extract:8.0f} frames/s = {decode / extract:4.0%} of decoding "
                f"({frames / decode:.0f} frames/s)",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="frames to synthesize")
    parser.add_argument("--repeats", type=int, default=2, help="runs per timing (best is kept)")
    parser.add_argument("--random-reads", type=int, default=100, help="random single-frame reads")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        session = generate_synthetic_session(directory / "session", arguments.frames, seed=0)
        raw = RawDepthExtractor(session.depth_path)
        frames = raw.get_num_frames()
        rows, cols = raw.get_image_size()
        raw_bytes = session.depth_path.stat().st_size
        rows_out: list[tuple[str, str]] = []

        def encode(threads: int) -> Path:
            target = directory / f"depth_t{threads}.avi"
            target.unlink(missing_ok=True)
            return write_ffv1_video(
                raw, target, threads=threads, progress=False, verify=False, overwrite=True
            )

        for threads, label in ((1, "1 thread"), (0, "auto threads")):
            seconds = best_of(arguments.repeats, lambda t=threads: encode(t))
            rows_out.append((f"raw -> avi encode, {label}", f"{frames / seconds:8.0f} frames/s"))
        video_path = encode(0)
        seconds = best_of(
            1,
            lambda: write_ffv1_video(
                raw, directory / "verified.avi", progress=False, verify=True, overwrite=True
            ),
        )
        rows_out.append(("raw -> avi encode + verify", f"{frames / seconds:8.0f} frames/s"))
        ratio = raw_bytes / video_path.stat().st_size
        rows_out.append(("compression ratio (raw / avi)", f"{ratio:8.2f} x"))

        seconds = best_of(arguments.repeats, lambda: read_all(raw))
        rows_out.append(("raw .dat read (reference)", f"{frames / seconds:8.0f} frames/s"))
        for threads, label in ((1, "1 thread"), (2, "2 threads"), (0, "auto threads")):
            extractor = FFV1DepthExtractor(video_path, threads=threads)
            seconds = best_of(arguments.repeats, lambda e=extractor: read_all(e))
            rows_out.append(
                (f"avi decode sequential, {label}", f"{frames / seconds:8.0f} frames/s")
            )
            extractor.close()
        unchecked = FFV1DepthExtractor(video_path, threads=0, check_slice_crcs=False)
        seconds = best_of(arguments.repeats, lambda: read_all(unchecked))
        rows_out.append(("avi decode, auto, no CRC check", f"{frames / seconds:8.0f} frames/s"))

        extractor = FFV1DepthExtractor(video_path, threads=0)
        picks = np.random.default_rng(0).integers(0, frames, arguments.random_reads)
        started = time.perf_counter()
        for index in picks:
            extractor.get_video(int(index), int(index) + 1)
        seconds = time.perf_counter() - started
        rows_out.append(("avi random single-frame reads", f"{picks.size / seconds:8.0f} frames/s"))
        assert np.array_equal(extractor.get_frames(picks[:5]), raw.get_frames(picks[:5]))
        rows_out += _extraction_against_decoder(video_path, frames, arguments.repeats)

    print_table(
        f"FFV1 benchmark: {frames} synthetic Kinect v2 frames ({rows}x{cols} uint16), "
        f"{os.cpu_count()} CPUs, best of {arguments.repeats}",
        rows_out,
    )


if __name__ == "__main__":
    main()
