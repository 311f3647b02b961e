"""Reading a moseq .tar.gz session in place: chunked iteration against one plain decompression.

Makes a synthetic Kinect v2 session, archives it as session/{metadata.json, depth_ts.txt,
depth.dat}.tar.gz, then times (best of --repeats):
- one plain decompression of the archive: gzip read to the end, and tarfile reading depth.dat;
- TarSessionExtractor.iter_chunks over every frame, in chunks of --chunk-size frames (the last
  chunk goes on to the end of the archive, where gzip's CRC-32 and length checks are);
- what those checks cost: zlib decompressing the archive with its checks (gzip mode) and
  without them (raw deflate), and the compressed bytes read past the frames to reach them;
- 20 random frames, on a freshly opened extractor (cold) and after one pass (warm).

Usage: python benchmarks/bench_archive.py [--frames 3000] [--chunk-size 100] [--level 1]
"""

import argparse
import gzip
import tarfile
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
from _common import best_of

from depthextractors import TarSessionExtractor
from depthextractors.testing import generate_synthetic_session

READ_BLOCK = 16 * 1024 * 1024


def gzip_to_end(path: Path) -> None:
    with gzip.open(path, "rb") as handle:
        while handle.read(READ_BLOCK):
            pass


def tarfile_to_end(path: Path) -> None:
    with tarfile.open(path, "r:gz") as tar:
        member = next(m for m in tar if m.name.endswith("depth.dat"))
        handle = tar.extractfile(member)
        while handle.read(READ_BLOCK):
            pass


def zlib_to_end(path: Path, checked: bool) -> None:
    """Decompress a one-member gzip file with zlib, with (gzip mode) or without (raw deflate)
    its CRC-32 and length checks."""
    data = path.read_bytes()
    start = 0
    if not checked:
        # Skip the gzip header (RFC 1952): 10 bytes, then the optional fields its flags name.
        flags, start = data[3], 10
        if flags & 4:
            start += 2 + int.from_bytes(data[10:12], "little")
        for flag in (8, 16):
            if flags & flag:
                start = data.index(b"\0", start) + 1
        if flags & 2:
            start += 2
    decompressor = zlib.decompressobj(wbits=31 if checked else -15)
    view = memoryview(data)[start:]
    for offset in range(0, len(view), 1 << 20):
        piece = view[offset : offset + (1 << 20)]
        while piece:
            decompressor.decompress(piece, READ_BLOCK)
            piece = decompressor.unconsumed_tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--level", type=int, default=1, help="gzip level of the archive")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        session = generate_synthetic_session(Path(folder) / "session", args.frames, seed=0)
        archive = Path(folder) / "session.tar.gz"
        started = time.perf_counter()
        with tarfile.open(archive, "w:gz", compresslevel=args.level) as tar:
            for name in ("metadata.json", "depth_ts.txt", "depth.dat"):
                tar.add(session.directory / name, arcname=f"session/{name}")
        archive_s = time.perf_counter() - started
        raw_gb = session.depth_path.stat().st_size / 1e9
        archive_mb = archive.stat().st_size / 1e6

        gzip_s = best_of(args.repeats, lambda: gzip_to_end(archive))
        tarfile_s = best_of(args.repeats, lambda: tarfile_to_end(archive))
        checked_s = best_of(args.repeats, lambda: zlib_to_end(archive, checked=True))
        unchecked_s = best_of(args.repeats, lambda: zlib_to_end(archive, checked=False))

        started = time.perf_counter()
        video = TarSessionExtractor(archive)
        video.get_timestamps()
        open_ms = (time.perf_counter() - started) * 1e3

        passes = []
        tails = []

        def iterate() -> None:
            extractor = TarSessionExtractor(archive)
            frames = sum(c.new_frames.shape[0] for c in extractor.iter_chunks(args.chunk_size))
            assert frames == args.frames
            assert extractor.reader.verified
            passes.append(extractor.reader.compressed_bytes_read / archive.stat().st_size)
            depth_end = extractor._depth.offset + extractor._depth.size
            tails.append(extractor.reader.position - depth_end)

        iterate_s = best_of(args.repeats, iterate)
        # Peak memory of one more (untimed) pass: numpy and zlib allocations are traced.
        tracemalloc.start()
        iterate()
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()

        indices = np.random.default_rng(0).integers(0, args.frames, 20)

        def random_frames(extractor: TarSessionExtractor) -> None:
            for index in indices:
                extractor.get_frames(int(index))

        cold = TarSessionExtractor(archive)
        started = time.perf_counter()
        random_frames(cold)
        cold_s = time.perf_counter() - started
        warm = TarSessionExtractor(archive)
        for _ in warm.iter_chunks(500):
            pass
        started = time.perf_counter()
        random_frames(warm)
        warm_s = time.perf_counter() - started

    baseline_s = min(gzip_s, tarfile_s)
    rows = [
        ("plain decompression: gzip read to the end", f"{gzip_s:.2f} s"),
        ("plain decompression: tarfile reads depth.dat to the end", f"{tarfile_s:.2f} s"),
        ("open + read timestamps and metadata", f"{open_ms:.1f} ms"),
        (
            f"iter_chunks({args.chunk_size}) over all frames",
            f"{iterate_s:.2f} s ({args.frames / iterate_s:,.0f} frames/s)",
        ),
        ("ratio iteration / fastest plain decompression", f"{iterate_s / baseline_s:.2f}"),
        ("compressed bytes read per iteration / archive size", f"{max(passes):.3f}"),
        (
            "zlib with gzip's CRC-32 and length checks / raw deflate without them",
            f"{checked_s:.2f} s / {unchecked_s:.2f} s ({checked_s / unchecked_s - 1:+.1%})",
        ),
        (
            "bytes decompressed past the last frame to reach the checks",
            f"{min(tails) / 1e3:.1f} kB",
        ),
        ("20 random frames, freshly opened (cold)", f"{cold_s:.2f} s"),
        ("20 random frames after one pass (warm, checkpoints every 32 MB)", f"{warm_s:.2f} s"),
        (
            "peak traced memory while iterating",
            f"{peak_mb:.0f} MB (one chunk is {args.chunk_size * 424 * 512 * 2 / 1e6:.0f} MB)",
        ),
    ]
    print(
        f"synthetic Kinect session: {args.frames} frames 424x512 ({raw_gb:.2f} GB raw), "
        f"archive {archive_mb:.0f} MB at gzip level {args.level} (made in {archive_s:.0f} s)"
    )
    print("| measure | value |\n|---|---|")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


if __name__ == "__main__":
    main()
