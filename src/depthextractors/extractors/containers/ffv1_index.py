"""Where the frames of a video stream are: the container's own index, or its packets counted.

For :class:`~depthextractors.extractors.ffv1.FFV1DepthExtractor`: every frame's presentation
time and keyframe flag, found without decoding, and whether a file that ends early is cut short
(truncated) or complete and damaged, which the messages must tell apart.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ...cameras import DEFAULT_SAMPLING_FREQUENCY
from ..errors import CorruptRecordingError
from .matroska import declared_size

__all__ = ["FrameIndex", "count_packets", "file_is_complete", "index_from_entries"]


@dataclass(frozen=True)
class FrameIndex:
    """Presentation time (stream time base) and keyframe flag of every frame, in order.

    Attributes
    ----------
    pts : numpy.ndarray
        int64 presentation time of each frame.
    keyframe : numpy.ndarray
        bool, whether the container marks each frame as a keyframe.
    made_up : bool
        The container has no timestamps: ``pts`` are frame numbers at the nominal rate.
    data_end : int or None
        File offset where the last frame's data ends, bytes, if known.
    time_base : fractions.Fraction or None
        Seconds per ``pts`` tick when it is not the stream's (made-up ``pts``).
    """

    pts: np.ndarray
    keyframe: np.ndarray
    made_up: bool = False
    data_end: int | None = None
    time_base: Fraction | None = None


def index_from_entries(stream: av.video.stream.VideoStream, file_bytes: int) -> FrameIndex | None:
    """Frame index from the container's own index (AVI idx1), when it is complete and sane."""
    entries = getattr(stream, "index_entries", None)
    header_frames = stream.frames
    if entries is None or header_frames <= 0 or len(entries) != header_frames:
        return None
    pts = np.fromiter((entry.timestamp for entry in entries), dtype=np.int64, count=len(entries))
    keyframe = np.fromiter((entry.is_keyframe for entry in entries), dtype=bool, count=len(entries))
    last = entries[len(entries) - 1]
    if np.any(np.diff(pts) <= 0) or last.pos + last.size > file_bytes or not keyframe[0]:
        return None
    return FrameIndex(pts, keyframe, data_end=last.pos + last.size)


def file_is_complete(path: Path) -> bool:
    """Whether the file holds all the bytes its container says it has (AVI RIFF chunks, a
    Matroska Segment); False when it is shorter or the container does not say."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            # An AVI is one RIFF chunk, or several (OpenDML "AVIX") one after another.
            position = 0
            while position + 12 <= size:
                handle.seek(position)
                head = handle.read(12)
                if head[:4] != b"RIFF":
                    break
                chunk = int.from_bytes(head[4:8], "little")
                position += 8 + chunk + (chunk & 1)
            return size >= position > 0
    declared = declared_size(path)
    return declared is not None and size >= declared


def count_packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    stacklevel: int = 2,
) -> FrameIndex:
    """Frame index by demuxing every packet of the stream (no decoding).

    Parameters
    ----------
    container, stream
        The open container and the video stream.
    path : pathlib.Path
        The file, for messages.
    stacklevel : int, default 2
        As the caller would pass it to :func:`warnings.warn`.

    Returns
    -------
    FrameIndex

    Raises
    ------
    CorruptRecordingError
        If demuxing fails in a file that is complete (damage, not a cut).
    ValueError
        If several frames share a timestamp.
    """
    pts: list[int | None] = []
    keyframe: list[bool] = []
    data_end = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.is_corrupt:
                # A packet cut off at the end of a truncated file; it is not a frame.
                break
            pts.append(packet.pts if packet.pts is not None else packet.dts)
            keyframe.append(bool(packet.is_keyframe))
            data_end = packet.pos + packet.size if packet.pos >= 0 else None
    except av.error.FFmpegError as error:
        if file_is_complete(path):
            raise CorruptRecordingError(
                f"{path}: the packets after frame {len(pts) - 1} cannot be read ({error}) "
                "although the file is complete: it is damaged there. Re-copy it from its "
                "source, or convert the raw depth.dat again"
            ) from error
        warnings.warn(f"{path}: reading stopped after {len(pts)} frames ({error})",
                      stacklevel=stacklevel + 1)  # fmt: skip
    made_up = any(value is None for value in pts)
    time_base = None
    if made_up:
        # No timestamps at all in the container: frames are in file order at the nominal rate.
        rate = stream.average_rate or stream.guessed_rate or DEFAULT_SAMPLING_FREQUENCY
        time_base = Fraction(1, 1) / Fraction(rate)
        values = np.arange(len(pts), dtype=np.int64)
    else:
        values = np.asarray(pts, dtype=np.int64)
    flags = np.asarray(keyframe, dtype=bool)
    if values.size and np.any(np.diff(values) <= 0):
        order = np.argsort(values, kind="stable")
        values, flags = values[order], flags[order]
        if np.any(np.diff(values) == 0):
            raise ValueError(
                f"{path}: several frames share a timestamp, so frames cannot be told apart; the "
                "file is damaged"
            )
    if flags.size:
        flags[0] = True
    return FrameIndex(values, flags, made_up, data_end, time_base)
