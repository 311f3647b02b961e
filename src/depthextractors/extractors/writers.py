"""Write any depth extractor to disk: lossless FFV1 video, or a raw moseq session.

All writers read the source chunk by chunk (memory stays bounded whatever the length), write to
a hidden temporary name in the target directory, verify the result bit for bit by reading it
back, and only then give it its final name, so a file under the final name is always complete.

Timestamps: an ``.avi`` holds a constant frame rate (each frame's pts is its index at
``1 / sampling_frequency``), so it cannot carry the jittered device times of a recording. The
writers therefore store them, as moseq does, in a text file beside the video: ``<stem>_ts.txt``
(``depth_ts.txt`` for ``depth.avi``), one line per frame, milliseconds in the first column. The
FFV1 reader uses that file automatically. A raw session gets ``depth_ts.txt`` and a
``metadata.json`` (with ``DepthResolution``) beside ``.dat``, as :class:`RawDepthExtractor` reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .base import DepthVideoExtractor
from .ffv1 import FFV1DepthExtractor
from .raw import RawDepthExtractor
from .timestamp_files import read_timestamp_file

__all__ = ["convert_raw_to_avi", "copy_frame_range", "write_ffv1_video"]

_VIDEO_FORMATS = {".avi": "avi", ".mkv": "matroska", ".nut": "nut"}
# Slices let the encoder and decoder work on parts of a frame in parallel (libav reduces the
# count for small frames itself); 24 is what moseq2's convert-raw-to-avi uses.
_SLICES = 24
# Times within this of each other (seconds) count as the same time.
_TIME_TOLERANCE_S = 1e-6


def _temporary_name(path: Path) -> Path:
    # A leading dot keeps find_depth_file from ever taking an unfinished file as the recording.
    return path.with_name(f".{path.name}.partial")


def _frames_in_chunks(
    extractor: DepthVideoExtractor, chunk_size: int, description: str, progress: bool
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first frame, frames)`` blocks of the whole extractor, with a progress bar."""
    total = extractor.get_num_frames()
    from tqdm.auto import tqdm  # progress bars cost an import only when frames are written

    with tqdm(total=total, unit="frame", desc=description, disable=not progress) as bar:
        for chunk in extractor.iter_chunks(chunk_size):
            yield chunk.start, chunk.frames
            bar.update(chunk.end - chunk.start)


def _check_chunk_size(chunk_size: int) -> int:
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of frames, got {chunk_size!r}")
    return int(chunk_size)


def _video_format(path: Path) -> str:
    """The libav container format of a video file name."""
    container_format = _VIDEO_FORMATS.get(path.suffix.lower())
    if container_format is None:
        raise ValueError(
            f"cannot tell the container of {path.name}: use a name ending in "
            f"{', '.join(_VIDEO_FORMATS)}"
        )
    return container_format


def _check_encoder_options(keyframe_interval: int, threads: int) -> None:
    if keyframe_interval < 1:
        raise ValueError(f"keyframe_interval must be at least 1, got {keyframe_interval}")
    if threads < 0:
        raise ValueError(f"threads must be 0 (automatic) or a positive count, got {threads}")


def _check_target(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the directory {path.parent} for {path.name} does not exist")


def _times_differ_from_rate(extractor: DepthVideoExtractor) -> bool:
    times = extractor.get_timestamps()
    implied = np.arange(times.size) / extractor.get_sampling_frequency()
    return not np.allclose(times, implied, rtol=0, atol=_TIME_TOLERANCE_S)


def _write_timestamps(path: Path, times_s: np.ndarray, overwrite: bool) -> None:
    """Write ``times_s`` (seconds) to ``path`` in ms, unless it already holds the same times."""
    if path.exists():
        try:
            existing_ms = read_timestamp_file(path)
        except (OSError, ValueError):
            existing_ms = None
        if (
            existing_ms is not None
            and existing_ms.shape == times_s.shape
            and np.allclose(existing_ms / 1000.0, times_s, rtol=0, atol=_TIME_TOLERANCE_S)
        ):
            return
        if not overwrite:
            raise FileExistsError(
                f"{path} exists and holds other timestamps than the frames being written; write "
                "to another directory, or pass overwrite=True to replace it"
            )
    partial = _temporary_name(path)
    np.savetxt(partial, times_s * 1000.0, fmt="%.6f")
    os.replace(partial, path)


def _write_metadata(path: Path, metadata: dict[str, Any], overwrite: bool) -> None:
    """Write ``metadata`` as JSON to ``path`` unless the same metadata is already there."""
    text = json.dumps(metadata, indent=2, default=str)
    if path.exists():
        try:
            with open(path, encoding="utf-8") as handle:
                if json.load(handle) == json.loads(text):
                    return
        except (OSError, json.JSONDecodeError):
            pass
        if not overwrite:
            raise FileExistsError(
                f"{path} exists and holds other session metadata; write to another directory, "
                "or pass overwrite=True to replace it"
            )
    partial = _temporary_name(path)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _session_metadata(extractor: DepthVideoExtractor) -> dict[str, Any]:
    metadata = dict(extractor.get_metadata())
    rows, cols = extractor.get_image_size()
    metadata["DepthResolution"] = [cols, rows]
    metadata["IsLittleEndian"] = True
    metadata["DepthDataType"] = "UInt16[]"
    if extractor.camera.name != "unknown":
        metadata.setdefault("CameraType", extractor.camera.name)
    return metadata


def _compare_with_source(
    source: DepthVideoExtractor, written: DepthVideoExtractor, path: Path, chunk_size: int
) -> None:
    """Raise ``OSError`` naming the first frame where ``written`` differs from ``source``."""
    if written.get_num_frames() != source.get_num_frames():
        raise OSError(
            f"verification of {path} failed: it holds {written.get_num_frames()} frames, the "
            f"source {source.get_num_frames()}"
        )
    if written.get_image_size() != source.get_image_size():
        raise OSError(
            f"verification of {path} failed: frames of {written.get_image_size()} instead of "
            f"{source.get_image_size()}"
        )
    for chunk in written.iter_chunks(chunk_size):
        expected = source.get_video(chunk.start, chunk.end)
        if not np.array_equal(chunk.frames, expected):
            differing = np.flatnonzero(np.any(chunk.frames != expected, axis=(1, 2)))
            raise OSError(
                f"verification of {path} failed: frame {chunk.start + int(differing[0])} differs "
                "from the source after writing; the file was removed. Check the disk and try again"
            )


def write_ffv1_video(
    extractor: DepthVideoExtractor,
    path: str | os.PathLike,
    *,
    chunk_size: int = 500,
    threads: int = 0,
    keyframe_interval: int = 30,
    progress: bool = True,
    verify: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write an extractor's frames as lossless 16-bit FFV1 video (``gray16le``).

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The frames to write (uint16 millimetres), read ``chunk_size`` frames at a time.
    path : path-like
        Output video: ``.avi`` (as moseq2's ``convert-raw-to-avi``), ``.mkv`` or ``.nut``.
    chunk_size : int, default 500
        Frames read from the source at a time (bounds memory: 500 Kinect frames are 217 MB).
    threads : int, default 0
        Encoder threads (FFV1 encodes slices in parallel); 0 lets libav choose.
    keyframe_interval : int, default 30
        Frames between keyframes; random access decodes at most this many frames to reach a
        frame. Smaller is faster to seek, slightly larger on disk.
    progress : bool, default True
        Show a tqdm progress bar.
    verify : bool, default True
        Read the written video back and compare every frame with the source before giving it
        its final name.
    overwrite : bool, default False
        Replace an existing file (and timestamp / metadata files beside it).

    Returns
    -------
    pathlib.Path
        The written video. When the source's times are not ``frame / sampling_frequency``,
        ``<stem>_ts.txt`` (milliseconds) is written beside it, and the source's metadata as
        ``metadata.json`` when there is none yet.

    Raises
    ------
    FileExistsError
        If ``path`` (or a timestamp / metadata file with other contents) exists and
        ``overwrite`` is False.
    OSError
        If verification finds a frame that differs; the written file is removed.
    """
    path = Path(path)
    container_format = _video_format(path)
    chunk_size = _check_chunk_size(chunk_size)
    _check_encoder_options(keyframe_interval, threads)
    _check_target(path, overwrite)
    if extractor.get_num_frames() == 0:
        raise ValueError("the extractor has no frames to write")
    rate = Fraction(extractor.get_sampling_frequency()).limit_denominator(100_000)
    times_beside = _times_differ_from_rate(extractor)
    timestamps_path = path.with_name(f"{path.stem}_ts.txt")
    if times_beside and timestamps_path.exists() and not overwrite:
        # Fail before the long encode, not after it.
        _write_timestamps(timestamps_path, extractor.get_timestamps(), overwrite=False)

    partial = _temporary_name(path)
    try:
        _encode_ffv1(extractor, partial, container_format, rate, keyframe_interval, threads,
                     _frames_in_chunks(extractor, chunk_size, path.name, progress))  # fmt: skip
        if verify:
            _verify_ffv1(extractor, partial, path, chunk_size)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    if times_beside:
        _write_timestamps(timestamps_path, extractor.get_timestamps(), overwrite)
    metadata = extractor.get_metadata()
    metadata_path = path.with_name("metadata.json")
    if metadata and not metadata_path.exists():
        _write_metadata(metadata_path, _session_metadata(extractor), overwrite)
    return path


def _encode_ffv1(
    extractor: DepthVideoExtractor,
    path: Path,
    container_format: str,
    rate: Fraction,
    keyframe_interval: int,
    threads: int,
    chunks: Iterator[tuple[int, np.ndarray]],
) -> None:
    """Encode the ``(first frame, frames)`` ``chunks`` of ``extractor`` as FFV1 at ``path``."""
    rows, cols = extractor.get_image_size()
    with av.open(str(path), mode="w", format=container_format) as container:
        if extractor.camera.name != "unknown":
            # The reader takes the camera from these tags (AVI keeps only the comment).
            container.metadata["camera"] = extractor.camera.name
            container.metadata["comment"] = f"camera={extractor.camera.name}"
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = cols, rows, "gray16le"
        stream.codec_context.options = {
            "level": "3",
            "slices": str(_SLICES),
            # Per-slice CRCs let the reader detect damaged frames instead of showing them.
            "slicecrc": "1",
            "g": str(int(keyframe_interval)),
        }
        stream.codec_context.thread_type = "SLICE"
        stream.codec_context.thread_count = int(threads)
        for first, frames in chunks:
            for offset, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(image, dtype="<u2"), format="gray16le"
                )
                frame.pts = first + offset
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _verify_ffv1(source: DepthVideoExtractor, written: Path, path: Path, chunk_size: int) -> None:
    """Compare the video written at ``written`` (to be named ``path``) with ``source``."""
    video = FFV1DepthExtractor(written, timestamps_path=None, metadata_path=None)
    try:
        _compare_with_source(source, video, path, chunk_size)
    finally:
        video.close()


def convert_raw_to_avi(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike | None = None,
    *,
    delete: bool = False,
    chunk_size: int = 500,
    threads: int = 0,
    keyframe_interval: int = 30,
    progress: bool = True,
    overwrite: bool = False,
    **raw_options: Any,
) -> Path:
    """Convert a raw ``depth.dat`` to lossless FFV1 ``.avi``, as moseq2's ``convert-raw-to-avi``.

    Parameters
    ----------
    input_path : path-like
        The raw depth file, or a session directory holding ``depth.dat``.
    output_path : path-like, optional
        The video to write; by default the input with the suffix ``.avi`` (``depth.avi``).
    delete : bool, default False
        Delete the raw file once the video has been verified bit for bit against it (the
        timestamps and metadata files stay: the video uses them).
    chunk_size, threads, keyframe_interval, progress, overwrite
        As in :func:`write_ffv1_video`.
    **raw_options
        Passed to :class:`RawDepthExtractor` (e.g. ``frame_size=``, ``camera=``).

    Returns
    -------
    pathlib.Path
        The written video.
    """
    input_path = Path(input_path)
    if input_path.is_dir():
        input_path = input_path / "depth.dat"
    raw = RawDepthExtractor(input_path, **raw_options)
    output = Path(output_path) if output_path is not None else input_path.with_suffix(".avi")
    if output.resolve() == input_path.resolve():
        raise ValueError(f"the output {output} would overwrite the input")
    write_ffv1_video(
        raw,
        output,
        chunk_size=chunk_size,
        threads=threads,
        keyframe_interval=keyframe_interval,
        progress=progress,
        verify=True,
        overwrite=overwrite,
    )
    if delete:
        # write_ffv1_video verified every frame before naming the file, so the raw copy can go.
        input_path.unlink()
    return output


def _write_raw(
    extractor: DepthVideoExtractor,
    path: Path,
    chunk_size: int,
    progress: bool,
    verify: bool,
    overwrite: bool,
) -> Path:
    metadata_path = path.with_name("metadata.json")
    timestamps_path = path.with_name("depth_ts.txt")
    metadata = _session_metadata(extractor)
    if not overwrite:
        # Fail before the copy, not after it, when files of another session are in the way
        # (each call returns at once when the file holds the same contents already).
        if metadata_path.exists():
            _write_metadata(metadata_path, metadata, overwrite=False)
        if timestamps_path.exists():
            _write_timestamps(timestamps_path, extractor.get_timestamps(), overwrite=False)
    partial = _temporary_name(path)
    try:
        with open(partial, "wb") as handle:
            for _, frames in _frames_in_chunks(extractor, chunk_size, path.name, progress):
                np.ascontiguousarray(frames, dtype="<u2").tofile(handle)
        if verify:
            rows, cols = extractor.get_image_size()
            written = RawDepthExtractor(
                partial,
                frame_size=(rows, cols),
                sampling_frequency=extractor.get_sampling_frequency(),
                timestamps_path=None,
                metadata_path=None,
            )
            _compare_with_source(extractor, written, path, chunk_size)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    _write_timestamps(timestamps_path, extractor.get_timestamps(), overwrite)
    _write_metadata(metadata_path, metadata, overwrite)
    return path


def copy_frame_range(
    extractor: DepthVideoExtractor,
    path: str | os.PathLike,
    start_frame: int | None = None,
    end_frame: int | None = None,
    *,
    chunk_size: int = 500,
    threads: int = 0,
    progress: bool = True,
    verify: bool = True,
    overwrite: bool = False,
) -> Path:
    """Copy frames ``[start_frame, end_frame)`` of any extractor to a new file.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The source (any format).
    path : path-like
        ``.dat`` writes a raw moseq session: little-endian uint16 frames, with ``depth_ts.txt``
        (milliseconds) and ``metadata.json`` (source metadata plus ``DepthResolution``) beside
        it. ``.avi`` / ``.mkv`` / ``.nut`` writes lossless FFV1 (see :func:`write_ffv1_video`).
    start_frame, end_frame : int, optional
        The range, with :meth:`DepthVideoExtractor.get_video` semantics (negative from the end).
    chunk_size, threads, progress, verify, overwrite
        As in :func:`write_ffv1_video` (``threads`` applies to video only).

    Returns
    -------
    pathlib.Path
        The written file. Frame times are the source's times of the copied frames.
    """
    path = Path(path)
    chunk_size = _check_chunk_size(chunk_size)
    clip = extractor.frame_slice(start_frame, end_frame)
    if clip.get_num_frames() == 0:
        raise ValueError(
            f"frames {start_frame}..{end_frame} of a {extractor.get_num_frames()}-frame video "
            "is an empty range; nothing to copy"
        )
    suffix = path.suffix.lower()
    if suffix == ".dat":
        _check_target(path, overwrite)
        return _write_raw(clip, path, chunk_size, progress, verify, overwrite)
    if suffix in _VIDEO_FORMATS:
        return write_ffv1_video(
            clip,
            path,
            chunk_size=chunk_size,
            threads=threads,
            progress=progress,
            verify=verify,
            overwrite=overwrite,
        )
    raise ValueError(
        f"cannot tell what to write for {path.name}: use .dat (raw session) or "
        f"{', '.join(_VIDEO_FORMATS)} (FFV1 video)"
    )
