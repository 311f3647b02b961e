"""Benchmark: extraction speed and peak memory (issue 4, DESIGN 4).

Run as::

    python benchmarks/bench_extract.py [--frames 9000] [--long-frames 54000] [--compression]

1. Writes a synthetic Kinect v2 session of ``--frames`` frames (``generate_synthetic_session``:
   round arena, tilted floor, 2 mm noise, dropped frames) unless it already exists.
2. In a fresh child process each (so peak RSS is the extraction's own: the child reports its
   ``VmHWM`` from ``/proc/self/status``, or ``ru_maxrss`` where there is no ``/proc``; Linux
   carries ``ru_maxrss`` over ``exec`` from the parent, so it would not do):
   ``find_roi`` alone (and its TIFF images), then the default
   ``SessionExtraction(...).run(H5ResultsWriter(output_dir))`` writing ``results_00.h5``
   (background, arena, tracking, crops, scalars, HDF5 — everything). Frames/s are end to end
   over the whole extraction, arena step included. The extraction's worker processes (the
   default for a raw file, issue 17) are not in that peak RSS: ``bench_workers.py`` measures
   the whole process tree.
3. Peak RSS on a ``--long-frames`` session (default 54,000 = 30 minutes at 30 fps). To keep
   the benchmark short, that session is the 9,000-frame ``depth.dat`` repeated on disk (its
   bytes concatenated until the length is reached, timestamps continued at 30 fps), read by the
   ordinary ``RawDepthExtractor``: the same work per frame, the animal jumps at each seam. It
   needs ``2 * 212 kB`` per frame of disk (about 23 GB for 54,000 frames); it is skipped with a
   message when the disk lacks the space.
4. ``--compression`` measures the HDF5 filters plain h5py reads without plugins (none, gzip 1,
   gzip 4, lzf, each with and without shuffle) on the extracted crops (and on the real moseq2
   crops when ``../shared/data/real`` is present): write and read time and size per frame; then
   gzip 1 with HDF5 chunks of 16, 64 and 256 frames, including random single-frame reads.

The machine load (``os.getloadavg``) is printed with the figures: other processes sharing the
cores slow the extraction down.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "moseq2_kinect_session" / "results_00.h5"


def _child(mode: str, session: str, output: str) -> None:
    """Runs in the child process: one measured step, prints a JSON line."""
    if mode == "generate":
        from depthextractors.testing import generate_synthetic_session

        frames = int(output)
        generate_synthetic_session(session, frames, dropped_frames=frames // 1000, seed=2026)
        print(json.dumps({"frames": frames}))
        return
    import depthextractors as de

    video = de.open_depth_video(session)
    start = time.perf_counter()
    cpu = time.process_time()
    if mode == "find_roi":
        from depthextractors.io import write_arena_images

        arena = de.SessionExtraction(video).find_roi()
        write_arena_images(output, arena.background, arena.roi.mask, arena.first_frame)
    else:
        de.SessionExtraction(video).run(de.H5ResultsWriter(output), progress=False)
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "frames": video.get_num_frames(),
                "seconds": elapsed,
                "cpu_seconds": time.process_time() - cpu,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def _measure(mode: str, session: Path, output: Path | str) -> dict:
    if mode != "generate":
        shutil.rmtree(output, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(session), str(output)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def kinect_session(directory: Path, frames: int) -> Path:
    """The synthetic Kinect v2 session of ``frames`` frames in ``directory``, written if missing."""
    depth = directory / "depth.dat"
    if (
        depth.is_file()
        and (directory / "depth_ts.txt").is_file()
        and depth.stat().st_size == frames * 424 * 512 * 2
    ):
        return directory
    print(f"writing a synthetic {frames}-frame Kinect session to {directory} ...", flush=True)
    start = time.perf_counter()
    # In a child process, so this process stays small while it measures the others.
    _measure("generate", directory, str(frames))
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return directory


def _repeated_session(source: Path, directory: Path, frames: int) -> Path | None:
    frame_bytes = 424 * 512 * 2
    need = frames * frame_bytes
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "depth.dat"
    if target.is_file() and target.stat().st_size == need:
        return directory
    free = shutil.disk_usage(directory).free
    if free < need * 1.05:
        print(
            f"  skipped: the {frames}-frame session needs {need / 1e9:.1f} GB, "
            f"{free / 1e9:.1f} GB free at {directory}"
        )
        return None
    print(f"writing the {frames}-frame repeated session ({need / 1e9:.1f} GB) ...", flush=True)
    data = (source / "depth.dat").read_bytes()
    per_copy = len(data) // frame_bytes
    written = 0
    with open(target, "wb") as handle:
        while written < frames:
            take = min(per_copy, frames - written)
            handle.write(data[: take * frame_bytes])
            written += take
    times = 1_000_000.0 + np.arange(frames) * (1000.0 / 30.0)
    np.savetxt(directory / "depth_ts.txt", np.column_stack([times, np.zeros(frames)]),
               fmt=["%.4f", "%d"])  # fmt: skip
    shutil.copy(source / "metadata.json", directory / "metadata.json")
    return directory


def _compression(crops: np.ndarray, masks: np.ndarray | None, label: str) -> None:
    import h5py

    print(f"\nHDF5 filters on {label}: {crops.shape[0]} crops {crops.shape[1:]} {crops.dtype}")
    print(f"  {'filter':14s} {'write ms/fr':>11s} {'read ms/fr':>10s} {'bytes/fr':>9s}")
    settings = [("none", {})]
    for shuffle in (False, True):
        suffix = "+shuffle" if shuffle else ""
        settings += [
            (f"gzip1{suffix}", {"compression": "gzip", "compression_opts": 1, "shuffle": shuffle}),
            (f"gzip4{suffix}", {"compression": "gzip", "compression_opts": 4, "shuffle": shuffle}),
            (f"lzf{suffix}", {"compression": "lzf", "shuffle": shuffle}),
        ]
    n = crops.shape[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.h5"
        for name, kwargs in settings:
            start = time.perf_counter()
            with h5py.File(path, "w") as handle:
                chunks = (min(64, n), *crops.shape[1:])
                frames = handle.create_dataset("frames", crops.shape, crops.dtype,
                                               chunks=chunks, **kwargs)  # fmt: skip
                if masks is not None:
                    mask = handle.create_dataset("frames_mask", masks.shape, bool,
                                                 chunks=chunks, **kwargs)  # fmt: skip
                for s in range(0, n, 1000):
                    frames[s : s + 1000] = crops[s : s + 1000]
                    if masks is not None:
                        mask[s : s + 1000] = masks[s : s + 1000]
            write = time.perf_counter() - start
            size = path.stat().st_size
            start = time.perf_counter()
            with h5py.File(path, "r") as handle:
                handle["frames"][()]
                if masks is not None:
                    handle["frames_mask"][()]
            read = time.perf_counter() - start
            print(f"  {name:14s} {write / n * 1e3:11.3f} {read / n * 1e3:10.3f} {size / n:9.0f}")
        print(f"  {'gzip1 chunk':14s} {'write ms/fr':>11s} {'read ms/fr':>10s} {'bytes/fr':>9s} "
              f"{'1-frame read ms':>15s}")  # fmt: skip
        picks = np.random.default_rng(0).integers(0, n, 200)
        for frames_per_chunk in (16, 64, 256):
            start = time.perf_counter()
            with h5py.File(path, "w") as handle:
                frames = handle.create_dataset(
                    "frames", crops.shape, crops.dtype, compression="gzip", compression_opts=1,
                    chunks=(min(frames_per_chunk, n), *crops.shape[1:]),
                )  # fmt: skip
                for s in range(0, n, 1000):
                    frames[s : s + 1000] = crops[s : s + 1000]
            write = time.perf_counter() - start
            size = path.stat().st_size
            with h5py.File(path, "r") as handle:
                start = time.perf_counter()
                handle["frames"][()]
                read = time.perf_counter() - start
                start = time.perf_counter()
                for pick in picks:
                    handle["frames"][int(pick)]
                single = (time.perf_counter() - start) / picks.size
            print(f"  {frames_per_chunk:14d} {write / n * 1e3:11.3f} {read / n * 1e3:10.3f} "
                  f"{size / n:9.0f} {single * 1e3:15.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=9000)
    parser.add_argument("--long-frames", type=int, default=54000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "de_bench")
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, load average before: {os.getloadavg()}")
    session = kinect_session(work / f"session_{args.frames}", args.frames)

    rows = []
    roi = _measure("find_roi", session, work / "proc_roi")
    rows.append(("find_roi", roi))
    extract = _measure("extract", session, work / "proc")
    rows.append(("extract -> results_00.h5", extract))
    if args.long_frames:
        long_session = _repeated_session(session, work / f"session_{args.long_frames}",
                                         args.long_frames)  # fmt: skip
        if long_session is not None:
            rows.append(("extract (long session)", _measure("extract", long_session,
                                                            work / "proc_long")))  # fmt: skip

    print(f"\nload average after: {os.getloadavg()}")
    print(f"{'step':28s} {'frames':>7s} {'seconds':>8s} {'frames/s':>9s} {'cpu s':>7s} "
          f"{'peak RSS MB':>12s}")  # fmt: skip
    for name, row in rows:
        print(
            f"{name:28s} {row['frames']:7d} {row['seconds']:8.2f} "
            f"{row['frames'] / row['seconds']:9.0f} {row['cpu_seconds']:7.2f} "
            f"{row['peak_rss_mb']:12.0f}"
        )
    extract_cpu = extract["cpu_seconds"] / extract["frames"]
    print(
        f"\nCPU time per frame (extract): {extract_cpu * 1e3:.3f} ms; on 2 otherwise idle cores "
        f"that is at most {2 / extract_cpu:.0f} frames/s"
    )

    if args.compression:
        import depthextractors as de

        results = de.read_results(work / "proc")
        _compression(results.frames[:], results.frames_mask[:], "synthetic extracted crops")
        if REAL.is_file():
            import h5py

            with h5py.File(REAL, "r") as handle:
                real_frames = handle["frames"][()]
                real_masks = handle["frames_mask"][()]
            _compression(real_frames, real_masks, "moseq2's 900 real crops")
            _compression(np.tile(real_frames, (10, 1, 1)), np.tile(real_masks, (10, 1, 1)),
                         "moseq2's real crops tiled to 9000")  # fmt: skip


if __name__ == "__main__":
    main()
