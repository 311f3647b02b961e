"""Lossless depth stores measured by ``bench_lossless.py``: how each writes and reads frames.

A store writes a ``(frames, rows, cols)`` uint16 array to one path and reads it back whole with
a given number of threads. Libraries other than the project's own (hdf5plugin, blosc2,
imagecodecs, zarr) are imported when a store is built; a store whose library is missing is
reported as skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthextractors import FFV1DepthExtractor, NumpyDepthExtractor, write_ffv1_video

CHUNK_FRAMES = 64


@dataclass
class Store:
    """One candidate: its name, family and how it writes and reads a video.

    ``read(path, threads)`` returns the whole video; ``threads`` 0 means all CPUs.
    ``threaded`` is False where the reader has no way to use more than one thread.
    ``cropped`` marks stores that keep only the arena's bounding box (lossless inside it).
    """

    name: str
    family: str
    write: Callable[[np.ndarray, Path], None]
    read: Callable[[Path, int], np.ndarray]
    suffix: str
    threaded: bool = True
    cropped: bool = False


def all_threads(threads: int) -> int:
    return threads if threads > 0 else os.cpu_count() or 1


def store_bytes(path: Path) -> int:
    """Size on disk of a file or of a directory (Zarr), bytes."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# --- FFV1 ---------------------------------------------------------------------------------


def _ffv1_project(video: np.ndarray, path: Path) -> None:
    """FFV1 as the project writes it (``write_ffv1_video``, as ``convert-raw-to-avi``)."""
    write_ffv1_video(
        NumpyDepthExtractor(video, 30.0), path, threads=0, progress=False, verify=False,
        overwrite=True,
    )  # fmt: skip


def _ffv1_with(options: dict[str, str]) -> Callable[[np.ndarray, Path], None]:
    """FFV1 written through PyAV with ``options`` over the project's (level 3, g 30)."""

    def write(video: np.ndarray, path: Path) -> None:
        import av

        with av.open(str(path), mode="w", format="avi") as container:
            stream = container.add_stream("ffv1", rate=30)
            stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "gray16le"
            stream.codec_context.options = {"level": "3", "g": "30", **options}
            stream.codec_context.thread_type = "SLICE"
            stream.codec_context.thread_count = 0
            for index, image in enumerate(video):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="gray16le")
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))

    return write


def _ffv1_reader(check_crcs: bool) -> Callable[[Path, int], np.ndarray]:
    def read(path: Path, threads: int) -> np.ndarray:
        video = FFV1DepthExtractor(
            path, camera="auto", timestamps_path=None, metadata_path=None, threads=threads,
            check_slice_crcs=check_crcs,
        )  # fmt: skip
        try:
            return video.get_video(0, video.get_num_frames())
        finally:
            video.close()

    return read


def ffv1_stores() -> list[Store]:
    return [
        Store("FFV1, project (24 slices, slice CRCs)", "FFV1 .avi", _ffv1_project,
              _ffv1_reader(True), ".avi"),
        Store("FFV1, 24 slices, no CRCs", "FFV1 .avi",
              _ffv1_with({"slices": "24", "slicecrc": "0"}), _ffv1_reader(False), ".avi"),
        Store("FFV1, 4 slices, slice CRCs", "FFV1 .avi",
              _ffv1_with({"slices": "4", "slicecrc": "1"}), _ffv1_reader(True), ".avi"),
        Store("FFV1, 30 slices, slice CRCs", "FFV1 .avi",
              _ffv1_with({"slices": "30", "slicecrc": "1"}), _ffv1_reader(True), ".avi"),
        Store("FFV1, project, arena-cropped", "FFV1 .avi", _ffv1_project, _ffv1_reader(True),
              ".avi", cropped=True),
    ]  # fmt: skip


# --- HDF5 (h5py + hdf5plugin) -------------------------------------------------------------


def _h5_writer(make_filter: Callable[[], dict], chunk: int) -> Callable[[np.ndarray, Path], None]:
    def write(video: np.ndarray, path: Path) -> None:
        import h5py

        with h5py.File(path, "w") as file:
            file.create_dataset(
                "depth", data=video, chunks=(min(chunk, len(video)), *video.shape[1:]),
                **make_filter(),
            )  # fmt: skip

    return write


def _h5_reader(blosc_chunks: bool) -> Callable[[Path, int], np.ndarray]:
    """Read through h5py (one thread), or with ``threads`` > 1 decode Blosc chunks here.

    HDF5's filters run in one thread (h5py serialises every call), so with more threads only
    the raw chunks are read through h5py and blosc2 decodes them with all its threads: the
    fastest a reader of such a file could go. hdf5plugin stores a Blosc2 chunk as a Blosc2
    NDArray frame (``b2frame``) and a Blosc chunk as a plain Blosc chunk.
    """

    def read(path: Path, threads: int) -> np.ndarray:
        import h5py

        with h5py.File(path, "r") as file:
            dataset = file["depth"]
            if all_threads(threads) == 1 or not blosc_chunks:
                return dataset[()]
            step = dataset.chunks[0]
            out = np.empty(dataset.shape, dataset.dtype)
            raws = [dataset.id.read_direct_chunk((s, 0, 0))[1] for s in range(0, len(out), step)]
        import blosc2

        blosc2.set_nthreads(all_threads(threads))
        for index, raw in enumerate(raws):
            part = out[index * step : (index + 1) * step]
            # The last chunk is stored whole (``step`` frames) even where the video ends sooner.
            if raw[2:9] == b"b2frame":
                chunk = blosc2.ndarray_from_cframe(raw)[()].view(out.dtype)
            else:
                chunk = np.frombuffer(blosc2.decompress2(raw), out.dtype)
            part[...] = chunk.reshape(-1, *out.shape[1:])[: len(part)]
        return out

    return read


def hdf5_stores() -> list[Store]:
    import hdf5plugin

    blosc2 = hdf5plugin.Blosc2
    blosc = hdf5plugin.Blosc
    family = "HDF5 (h5py + hdf5plugin)"
    rows = [
        ("HDF5 gzip 1 + shuffle", lambda: {"compression": "gzip", "compression_opts": 1,
                                           "shuffle": True}, False, CHUNK_FRAMES),
        ("HDF5 Blosc2 zstd 5 + bitshuffle", lambda: blosc2("zstd", 5, blosc2.BITSHUFFLE), True,
         CHUNK_FRAMES),
        ("HDF5 Blosc2 zstd 5 + bitshuffle, 256-frame chunks",
         lambda: blosc2("zstd", 5, blosc2.BITSHUFFLE), True, 256),
        ("HDF5 Blosc2 zstd 1 + bitshuffle", lambda: blosc2("zstd", 1, blosc2.BITSHUFFLE), True,
         CHUNK_FRAMES),
        ("HDF5 Blosc2 lz4 5 + bitshuffle", lambda: blosc2("lz4", 5, blosc2.BITSHUFFLE), True,
         CHUNK_FRAMES),
        ("HDF5 Blosc2 zstd 5 + delta", lambda: blosc2("zstd", 5, blosc2.DELTA), True,
         CHUNK_FRAMES),
        ("HDF5 Blosc zstd 5 + bitshuffle", lambda: blosc("zstd", 5, blosc.BITSHUFFLE), True,
         CHUNK_FRAMES),
    ]  # fmt: skip
    stores = [
        Store(f"{name}{' (64-frame chunks)' if chunk == CHUNK_FRAMES else ''}", family,
              _h5_writer(make, chunk), _h5_reader(is_blosc), ".h5")
        for name, make, is_blosc, chunk in rows
    ]  # fmt: skip
    stores.append(
        Store("HDF5 Blosc2 zstd 5 + bitshuffle, arena-cropped", family,
              _h5_writer(rows[1][1], CHUNK_FRAMES), _h5_reader(True), ".h5", cropped=True)
    )  # fmt: skip
    return stores


# --- Blosc2 NDArray (python-blosc2, .b2nd) ------------------------------------------------


def _b2nd_writer(
    codec: str, level: int, filters: list[str], frame_blocks: bool
) -> Callable[[np.ndarray, Path], None]:
    def write(video: np.ndarray, path: Path) -> None:
        import blosc2

        cparams = blosc2.CParams(
            codec=blosc2.Codec[codec], clevel=level, filters=[blosc2.Filter[f] for f in filters],
            typesize=2, nthreads=os.cpu_count() or 1,
        )  # fmt: skip
        # One frame per block lets the DELTA filter take each frame against the chunk's first;
        # otherwise blosc2 chooses the blocks.
        blocks = (1, *video.shape[1:]) if frame_blocks else None
        blosc2.asarray(
            video, urlpath=str(path), mode="w", cparams=cparams, blocks=blocks,
            chunks=(min(CHUNK_FRAMES, len(video)), *video.shape[1:]),
        )  # fmt: skip

    return write


def _b2nd_read(path: Path, threads: int) -> np.ndarray:
    import blosc2

    array = blosc2.open(str(path), mode="r", dparams=blosc2.DParams(nthreads=all_threads(threads)))
    return array[()]


def blosc2_stores() -> list[Store]:
    import blosc2  # noqa: F401  (skip the family when it is missing)

    family = "Blosc2 NDArray (.b2nd)"
    rows = [
        ("zstd 5 + bitshuffle", "ZSTD", 5, ["BITSHUFFLE"], False),
        ("zstd 5 + shuffle + bytedelta", "ZSTD", 5, ["SHUFFLE", "BYTEDELTA"], False),
        ("zstd 1 + shuffle + bytedelta", "ZSTD", 1, ["SHUFFLE", "BYTEDELTA"], False),
        ("zstd 5 + delta to the chunk's first frame + bitshuffle", "ZSTD", 5,
         ["DELTA", "BITSHUFFLE"], True),
        ("lz4 5 + bitshuffle", "LZ4", 5, ["BITSHUFFLE"], False),
        ("lz4 5 + shuffle + bytedelta", "LZ4", 5, ["SHUFFLE", "BYTEDELTA"], False),
    ]  # fmt: skip
    return [
        Store(f"Blosc2 {name} (64-frame chunks)", family,
              _b2nd_writer(codec, level, filters, frame_blocks), _b2nd_read, ".b2nd")
        for name, codec, level, filters, frame_blocks in rows
    ]  # fmt: skip


# --- Zarr v3 -----------------------------------------------------------------------------


def _zarr_write(video: np.ndarray, path: Path) -> None:
    import zarr
    from zarr.codecs import BloscCodec

    array = zarr.create_array(
        str(path), shape=video.shape, dtype=video.dtype, overwrite=True,
        chunks=(min(CHUNK_FRAMES, len(video)), *video.shape[1:]),
        compressors=BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle", typesize=2),
    )  # fmt: skip
    array[...] = video


def _zarr_read(path: Path, threads: int) -> np.ndarray:
    import numcodecs.blosc
    import zarr

    # Zarr decodes chunks concurrently; Blosc's own threads would compete with them.
    numcodecs.blosc.set_nthreads(1)
    with zarr.config.set({"threading.max_workers": all_threads(threads)}):
        return zarr.open_array(str(path), mode="r")[...]


def zarr_stores() -> list[Store]:
    import zarr

    if int(zarr.__version__.split(".")[0]) < 3:
        raise ImportError(f"zarr {zarr.__version__} is not v3")
    return [Store("Zarr v3 Blosc zstd 5 + bitshuffle (64-frame chunks)", "Zarr v3", _zarr_write,
                  _zarr_read, ".zarr")]  # fmt: skip


# --- one image per frame (imagecodecs, OpenCV) --------------------------------------------


def _frames_writer(encode: Callable[[np.ndarray], bytes]) -> Callable[[np.ndarray, Path], None]:
    """Encode each frame (in a pool of all CPUs) into one file: count, offsets, then images."""

    def write(video: np.ndarray, path: Path) -> None:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            images = list(pool.map(encode, video))
        offsets = np.cumsum([0] + [len(image) for image in images], dtype=np.uint64)
        with open(path, "wb") as file:
            file.write(np.array([len(images), *video.shape[1:]], dtype=np.uint64).tobytes())
            file.write(offsets.tobytes())
            for image in images:
                file.write(image)

    return write


def _frames_reader(decode: Callable[[bytes], np.ndarray]) -> Callable[[Path, int], np.ndarray]:
    def read(path: Path, threads: int) -> np.ndarray:
        data = path.read_bytes()
        count, rows, cols = (int(v) for v in np.frombuffer(data, np.uint64, 3))
        offsets = np.frombuffer(data, np.uint64, count + 1, 24).astype(np.int64)
        base = 24 + 8 * (count + 1)
        out = np.empty((count, rows, cols), np.uint16)

        def decode_range(span: range) -> None:
            for index in span:
                out[index] = decode(data[base + offsets[index] : base + offsets[index + 1]])

        workers = all_threads(threads)
        spans = [range(w, count, workers) for w in range(workers)]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(decode_range, spans))
        return out

    return read


def image_stores() -> list[Store]:
    import imagecodecs as ic

    family = "one image per frame"
    stores = [
        Store("JPEG-LS (imagecodecs)", family, _frames_writer(ic.jpegls_encode),
              _frames_reader(ic.jpegls_decode), ".jls"),
        Store("JPEG-XL lossless, effort 1 (imagecodecs)", family,
              _frames_writer(lambda f: ic.jpegxl_encode(f, lossless=True, effort=1, numthreads=1)),
              _frames_reader(lambda b: ic.jpegxl_decode(b, numthreads=1)), ".jxl"),
        Store("JPEG-XL lossless, effort 3 (imagecodecs)", family,
              _frames_writer(lambda f: ic.jpegxl_encode(f, lossless=True, effort=3, numthreads=1)),
              _frames_reader(lambda b: ic.jpegxl_decode(b, numthreads=1)), ".jxl"),
        Store("HTJ2K reversible (imagecodecs)", family,
              _frames_writer(lambda f: ic.htj2k_encode(f, reversible=True)),
              _frames_reader(ic.htj2k_decode), ".j2c"),
    ]  # fmt: skip
    return stores


def png_stores() -> list[Store]:
    import cv2

    def encode(frame: np.ndarray) -> bytes:
        _, png = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        return png.tobytes()

    def decode(data: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)

    return [Store("PNG 16-bit, level 1 (OpenCV)", "one image per frame", _frames_writer(encode),
                  _frames_reader(decode), ".png")]  # fmt: skip


def build_stores() -> tuple[list[Store], list[tuple[str, str]]]:
    """Every candidate whose library imports, and ``(family, reason)`` for those skipped."""
    stores: list[Store] = []
    skipped: list[tuple[str, str]] = []
    for family, make in (
        ("FFV1 .avi", ffv1_stores), ("HDF5 (h5py + hdf5plugin)", hdf5_stores),
        ("Blosc2 NDArray", blosc2_stores), ("Zarr v3", zarr_stores),
        ("imagecodecs (JPEG-LS, JPEG-XL, HTJ2K)", image_stores), ("PNG (OpenCV)", png_stores),
    ):  # fmt: skip
        try:
            stores += make()
        except ImportError as error:
            skipped.append((family, f"not installed ({error})"))
    return stores, skipped
