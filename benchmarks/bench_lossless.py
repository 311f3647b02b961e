"""Benchmark lossless depth stores against FFV1: size, encode, decode and extraction frames/s.

Run from the project root (the candidates' libraries are benchmark-only)::

    pip install imagecodecs hdf5plugin blosc2 zarr      # or: pip install -e .[bench]
    python benchmarks/bench_lossless.py                 # 2,000 synthetic Kinect v2 frames
    python benchmarks/bench_lossless.py --frames 3000 --noise-mm 1.0
    python benchmarks/bench_lossless.py --only FFV1,Blosc2 --no-real

Issue 17 asks whether a store decodes at least 3x faster than FFV1 at no more than 1.3x its
size. A synthetic Kinect v2 session (``generate_synthetic_session``, with the generator's
per-pixel noise: ``--noise-mm``, 2 mm by default) is written by every candidate (``FFV1 .avi``
as the project writes it and with other slice / CRC settings, arena-cropped FFV1, HDF5 chunks
with hdf5plugin's Blosc2 / Blosc filters, Blosc2 NDArrays, Zarr v3, and one JPEG-LS / JPEG-XL /
HTJ2K / PNG image per frame), read back whole with one thread and with all CPUs, and compared
bit for bit with the original (a store that changes a value is disqualified). The extraction
(``SessionExtraction(...).run(InMemoryResultsWriter())``, arena step included) runs from FFV1
through its extractor and, for the fastest candidates within the size bound, on the decoded
array (decoding first, then extracting: a reader that overlapped them would be faster). A
candidate whose library is missing is skipped with the reason.

The real recordings in ``../shared/data/real`` (one real Kinect v2 frame, one Azure Kinect
frame, nine RealSense D435 frames, five Redwood frames; none is a continuous session) are
written by every full-frame candidate for their size per frame (less the size of the same
store holding as many empty frames: the file's overhead): real noise is not the generator's,
and size ratios depend on it. Skipped with the reason when the directory is absent.

Figures depend on the machine and on what else runs on it; each decode timing is the best of
``--repeats`` runs, each encode one run with all CPUs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import best_of
from _lossless_stores import Store, build_stores, remove, store_bytes

from depthextractors import FFV1DepthExtractor, NumpyDepthExtractor, RawDepthExtractor
from depthextractors.testing import generate_synthetic_session

SIZE_BOUND = 1.3  # issue 17: at most this many times FFV1's size ...
DECODE_BOUND = 3.0  # ... and at least this many times its decoding frames/s
REFERENCE = "FFV1, project (24 slices, slice CRCs)"
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def _timed_read(store: Store, path: Path, threads: int, repeats: int) -> tuple[float, np.ndarray]:
    """Best decode time (s) of ``repeats`` and the last decoded video."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        video = store.read(path, threads)
        best = min(best, time.perf_counter() - started)
    return best, video


def measure(store: Store, video: np.ndarray, directory: Path, repeats: int) -> dict:
    """Write ``video`` with ``store``, read it back; sizes, frames/s and the lossless check."""
    path = directory / f"store{store.suffix}"
    remove(path)
    started = time.perf_counter()
    store.write(video, path)
    encode = time.perf_counter() - started
    frames = len(video)
    row = {"bytes": store_bytes(path) / frames, "encode": frames / encode, "path": path}
    one, decoded = _timed_read(store, path, 1, repeats)
    row["lossless"] = decoded.shape == video.shape and np.array_equal(decoded, video)
    del decoded
    row["decode_1"] = frames / one
    if (os.cpu_count() or 1) > 1 and store.threaded:
        every, decoded = _timed_read(store, path, 0, repeats)
        # Some stores read with more threads by another path (HDF5's chunks): checked as well.
        row["lossless"] &= decoded.shape == video.shape and np.array_equal(decoded, video)
        del decoded
        row["decode_all"] = frames / every
    else:
        row["decode_all"] = row["decode_1"]
    return row


def extraction_fps(store: Store | None, source: Path | np.ndarray, repeats: int) -> float:
    """Extraction frames/s (best of ``repeats``), arena step included, all CPUs.

    From FFV1 through its extractor; from any other store by decoding the whole video, then
    extracting the array; with ``store`` None from the array ``source`` in memory (the ceiling).
    """
    from depthextractors import SessionExtraction
    from depthextractors.io import InMemoryResultsWriter

    def run() -> None:
        if store is None:
            video = NumpyDepthExtractor(source, 30.0)
        elif store.name == REFERENCE:
            video = FFV1DepthExtractor(source, timestamps_path=None, metadata_path=None)
        else:
            video = NumpyDepthExtractor(store.read(source, 0), 30.0)
        SessionExtraction(video).run(InMemoryResultsWriter(), progress=False)
        frames.append(video.get_num_frames())

    frames: list[int] = []
    seconds = best_of(repeats, run)
    return frames[0] / seconds


def verdict(row: dict, store: Store, reference: dict) -> str:
    if not row["lossless"]:
        return "disqualified: not lossless"
    if store.name == REFERENCE:
        return "reference"
    size = row["bytes"] / reference["bytes"]
    speed = row["decode_all"] / reference["decode_all"]
    met = size <= SIZE_BOUND and speed >= DECODE_BOUND
    misses = [
        *([f"size {size:.2f}x > {SIZE_BOUND}x"] if size > SIZE_BOUND else []),
        *([f"decode {speed:.2f}x < {DECODE_BOUND:.0f}x"] if speed < DECODE_BOUND else []),
    ]
    text = "MEETS the rule" if met else "misses: " + ", ".join(misses)
    return text + (" (arena crop only)" if store.cropped else "")


def redraw_background_noise(video: np.ndarray, scene: np.ndarray, noise_mm: float) -> np.ndarray:
    """``video`` with the background's noise and invalid pixels drawn afresh for every frame.

    The generator draws the background of each frame from a bank of 24 noisy frames, which a
    store that matches across frames (Blosc2 blocks spanning frames, deltas) would find again
    where no real camera repeats its noise. Pixels within 6 noise deviations of the empty scene
    (or invalid) are background; they get new Gaussian noise, and each turns invalid (0) at
    the rate it was invalid in the session (the walls lose many). The animal, its own noise
    fresh in every frame already, is kept.
    """
    rng = np.random.default_rng(1)
    invalid_rate = (video == 0).mean(axis=0)
    limit = max(6 * noise_mm, 1.0)
    out = video.copy()
    for frame in out:
        background = (frame == 0) | (np.abs(frame - scene) <= limit)
        fresh = np.clip(np.rint(scene + rng.normal(0.0, noise_mm, scene.shape)), 1, 65535)
        fresh[rng.random(scene.shape) < invalid_rate] = 0
        frame[background] = fresh[background]
    return out


def arena_box(mask: np.ndarray) -> tuple[slice, slice]:
    """Bounding box of the arena mask (as moseq-compression crops before encoding)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def print_markdown(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def synthetic_table(stores: list[Store], arguments: argparse.Namespace, directory: Path) -> None:
    """Measure every store on the synthetic session and print the table with verdicts."""
    session = generate_synthetic_session(
        directory / "session", arguments.frames, seed=0, noise_mm=arguments.noise_mm
    )
    video = RawDepthExtractor(session.depth_path).get_video(0, arguments.frames)
    if not arguments.bank_noise:
        video = redraw_background_noise(video, session.truth.background_depth_mm,
                                        arguments.noise_mm)  # fmt: skip
    box = arena_box(session.truth.arena_mask)
    cropped = np.ascontiguousarray(video[:, box[0], box[1]])
    # The first extraction in a process pays for imports and warm-up: not a store's cost.
    extraction_fps(None, video[:200], 1)
    results: dict[str, dict] = {}
    for store in stores:
        data = cropped if store.cropped else video
        print(f"  {store.name} ...", flush=True)
        row = results[store.name] = measure(store, data, directory, arguments.repeats)
        if store.name == REFERENCE or store.name in arguments.extract:
            row["extract"] = extraction_fps(store, row["path"], arguments.repeats)
        remove(row["path"])
    _extract_best(stores, results, video, directory, arguments)
    _print_synthetic(stores, results, video, cropped, arguments)


def _extract_best(stores, results, video, directory, arguments) -> None:
    """Extraction from the ``--extract-best`` fastest decoders within the size bound."""
    reference = results.get(REFERENCE)
    if reference is None:
        return
    fits = [
        s for s in stores
        if s.name != REFERENCE and not s.cropped and results[s.name]["lossless"]
        and "extract" not in results[s.name]
        and results[s.name]["bytes"] <= SIZE_BOUND * reference["bytes"]
    ]  # fmt: skip
    fits.sort(key=lambda s: -results[s.name]["decode_all"])
    for store in fits[: arguments.extract_best]:
        path = directory / f"store{store.suffix}"
        store.write(video, path)
        results[store.name]["extract"] = extraction_fps(store, path, arguments.repeats)
        remove(path)
    results["(numpy array in memory)"] = {"extract": extraction_fps(None, video, arguments.repeats)}


def _print_synthetic(stores, results, video, cropped, arguments) -> None:
    reference = results.get(REFERENCE)
    raw_bytes = video[0].nbytes
    rows = []
    for store in stores:
        row = results[store.name]
        size = f"{row['bytes'] / reference['bytes']:.2f}x" if reference else "-"
        speed = f"{row['decode_all'] / reference['decode_all']:.2f}x" if reference else "-"
        rows.append([
            store.name, f"{row['bytes'] / 1000:.1f}", f"{raw_bytes / row['bytes']:.2f}x", size,
            f"{row['encode']:.0f}", f"{row['decode_1']:.0f}",
            f"{row['decode_all']:.0f}" if store.threaded else "-", speed,
            "yes" if row["lossless"] else "NO", f"{row['extract']:.0f}" if "extract" in row else "",
            verdict(row, store, reference) if reference else "",
        ])  # fmt: skip
    extra = results.get("(numpy array in memory)")
    if extra:
        rows.append(["(numpy array in memory, no store)", "", "", "", "", "", "", "", "",
                     f"{extra['extract']:.0f}", "ceiling"])  # fmt: skip
    shape = "x".join(str(n) for n in video.shape[1:])
    crop = "x".join(str(n) for n in cropped.shape[1:])
    print_markdown(
        f"Lossless stores: {len(video)} synthetic Kinect v2 frames ({shape} uint16, noise "
        f"{arguments.noise_mm} mm {'from the generator bank' if arguments.bank_noise else 'fresh'}"
        f" in every frame; arena crop {crop}), {os.cpu_count()} CPUs, decode best of "
        f"{arguments.repeats}; frames/s",
        ["store", "kB/frame", "vs raw", "size vs FFV1", "encode", "decode 1 thread",
         "decode all", "decode vs FFV1 (all)", "lossless", "extraction", "issue 17 rule"],
        rows,
    )  # fmt: skip


def real_frame_sets(root: Path) -> list[tuple[str, np.ndarray]]:
    """The real depth frames in ``root``, as ``(label, frames)`` clips of one camera each."""
    import cv2
    import h5py

    from depthextractors import open_depth_video

    sets = []
    with h5py.File(root / "moseq2_kinect_session" / "results_00.h5", "r") as file:
        frame = file["metadata/extraction/first_frame"][()]
    sets.append(("Kinect v2, mouse in a bucket (1 frame)", frame.astype(np.uint16)[None]))
    azure = open_depth_video(root / "azure_kinect" / "recording.mkv")
    sets.append(("Azure Kinect NFOV, desk (1 frame)", azure.get_video(0, 1)))
    bags = sorted((root / "realsense_d435").glob("*.bag"))
    frames = [open_depth_video(bag).get_video(0, 1)[0] for bag in bags]
    shapes = {f.shape for f in frames}
    frames = [f for f in frames if f.shape == max(shapes, key=[g.shape for g in frames].count)]
    sets.append((f"RealSense D435, outdoors ({len(frames)} frames)", np.stack(frames)))
    pngs = sorted((root / "redwood_rgbd").glob("depth_*.png"))
    redwood = np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in pngs])
    sets.append((f"Redwood, indoor scene ({len(pngs)} frames)", redwood.astype(np.uint16)))
    return sets


def real_table(stores: list[Store], root: Path, directory: Path) -> None:
    """Size per frame of every full-frame store on each set of real frames."""
    if not root.is_dir():
        print(f"\nReal recordings skipped: {root} is absent (it ships beside the project only)")
        return
    sets = real_frame_sets(root)
    stores = [s for s in stores if not s.cropped]
    sizes: dict[str, list[float]] = {}
    for store in stores:
        sizes[store.name] = []
        for _, frames in sets:
            path = directory / f"real{store.suffix}"
            store.write(frames, path)
            decoded = store.read(path, 1)
            lossless = decoded.shape == frames.shape and np.array_equal(decoded, frames)
            written = store_bytes(path)
            remove(path)
            # A clip of as many empty frames: the file's overhead, taken off the real file's.
            store.write(np.zeros_like(frames), path)
            payload = (written - store_bytes(path)) / len(frames)
            remove(path)
            sizes[store.name].append(payload if lossless else np.nan)
    reference = sizes.get(REFERENCE)
    rows = []
    for store in stores:
        cells = [store.name]
        for index, value in enumerate(sizes[store.name]):
            ratio = f" ({value / reference[index]:.2f}x)" if reference else ""
            cells.append("NOT lossless" if np.isnan(value) else f"{value / 1000:.1f}{ratio}")
        rows.append(cells)
    print_markdown(
        "Real frames: kB per frame less the file's overhead (size vs FFV1 as the project "
        "writes it)",
        ["store"] + [f"{label}, {'x'.join(map(str, f.shape[1:]))}" for label, f in sets],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="synthetic frames")
    parser.add_argument("--noise-mm", type=float, default=2.0, help="per-pixel depth noise, mm")
    parser.add_argument(
        "--bank-noise",
        action="store_true",
        help="keep the generator's background noise (24 frames reused; favours inter-frame stores)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="decode runs (best is kept)")
    parser.add_argument("--only", default="", help="comma-separated parts of store names")
    parser.add_argument("--extract", default="", help="comma-separated store names to extract")
    parser.add_argument(
        "--extract-best",
        type=int,
        default=2,
        help="also extract from this many fastest decoders within the size bound",
    )
    parser.add_argument("--real", type=Path, default=REAL_DATA, help="real recordings directory")
    parser.add_argument("--no-real", action="store_true", help="skip the real recordings")
    arguments = parser.parse_args()
    arguments.extract = {n.strip() for n in arguments.extract.split(",") if n.strip()}

    stores, skipped = build_stores()
    if arguments.only:
        parts = [p.strip().lower() for p in arguments.only.split(",")]
        stores = [
            s for s in stores if s.name == REFERENCE or any(p in s.name.lower() for p in parts)
        ]
    for family, reason in skipped:
        print(f"skipped {family}: {reason}")
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        synthetic_table(stores, arguments, directory)
        if not arguments.no_real:
            real_table(stores, arguments.real, directory)
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
