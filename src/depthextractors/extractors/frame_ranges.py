"""Frame index and range arguments, checked and resolved as every extractor takes them, and
the chunks :meth:`~.base.DepthVideoExtractor.iter_chunks` yields."""

from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FrameChunk", "as_frame_index", "check_slice_request", "resolve_frame_range"]


@dataclass(frozen=True)
class FrameChunk:
    """A block of frames yielded by :meth:`~.base.DepthVideoExtractor.iter_chunks`.

    Attributes
    ----------
    start : int
        First frame that is new in this chunk (each frame is new in exactly one chunk).
    end : int
        One past the last frame of the chunk.
    read_start : int
        First frame held in :attr:`frames`: ``start`` minus the overlap (never below the
        iteration's first frame).
    frames : numpy.ndarray
        ``(end - read_start, rows, cols)`` uint16 depth in millimetres.
    """

    start: int
    end: int
    read_start: int
    frames: np.ndarray

    @property
    def num_overlap(self) -> int:
        """Frames at the front of :attr:`frames` that belong to the previous chunk."""
        return self.start - self.read_start

    @property
    def new_frames(self) -> np.ndarray:
        """The frames ``start:end`` only (a view)."""
        return self.frames[self.num_overlap :]


def as_frame_index(value: Any, name: str) -> int | None:
    """``value`` as a Python int (or None), refusing floats, bools and strings.

    Parameters
    ----------
    value : object
        A frame index, a count, or None.
    name : str
        The argument's name, for the message.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a bool counts as not one).
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer frame index or None, got a boolean {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer frame index or None, got {type(value).__name__} {value!r}"
        ) from None


def resolve_frame_range(start_frame: Any, end_frame: Any, num_frames: int) -> tuple[int, int]:
    """Resolve ``[start_frame, end_frame)`` against a video of ``num_frames`` frames.

    Follows Python slice rules (``None`` means the start or the end, negative values count from
    the end, values past either end are clamped) except that a range whose resolved start lies
    after its end raises instead of silently giving no frames.

    Parameters
    ----------
    start_frame, end_frame : int or None
        The requested range, frame indices.
    num_frames : int
        Frames in the video.

    Returns
    -------
    tuple of int
        ``(start, end)`` with ``0 <= start <= end <= num_frames``.
    """
    start = as_frame_index(start_frame, "start_frame")
    end = as_frame_index(end_frame, "end_frame")
    resolved_start, resolved_end, _ = slice(start, end).indices(num_frames)
    if resolved_start > resolved_end:
        raise ValueError(
            f"start_frame ({start_frame}) must not be after end_frame ({end_frame}); "
            f"the video has {num_frames} frames (indices 0..{num_frames - 1}, negative values "
            "count from the end)"
        )
    return resolved_start, resolved_end


def check_slice_request(
    start_frame: Any, end_frame: Any, num_frames: int, stacklevel: int = 2
) -> None:
    """Refuse a view that starts past the end; warn when a bound past an end is clamped.

    :func:`resolve_frame_range` clamps silently, as Python slices do; a view of a recording
    is asked for by someone expecting those frames, so :meth:`~.base.DepthVideoExtractor.
    frame_slice` says when it gets fewer.

    Parameters
    ----------
    start_frame, end_frame : int or None
        The range asked for (checked integers, as :func:`resolve_frame_range` takes them).
    num_frames : int
        Frames in the video.
    stacklevel : int, default 2
        As the caller would pass it to :func:`warnings.warn`.

    Raises
    ------
    ValueError
        If ``start_frame`` lies past the last frame.
    """
    start = as_frame_index(start_frame, "start_frame")
    end = as_frame_index(end_frame, "end_frame")
    asked = f"frame_slice({start_frame}, {end_frame})"
    if start is not None and start > num_frames:
        raise ValueError(
            f"{asked}: start_frame {start} lies past the end of the video, which has "
            f"{num_frames} frames (indices 0..{num_frames - 1}); the view would hold no frames"
        )
    clamped = []
    if start is not None and start < -num_frames:
        clamped.append(
            f"start_frame {start} reaches {-num_frames - start} frames before the first frame; "
            "the view starts at frame 0"
        )
    if end is not None and end > num_frames:
        clamped.append(
            f"end_frame {end} is {end - num_frames} frames past the end; the view ends at "
            f"frame {num_frames}"
        )
    elif end is not None and end < -num_frames:
        clamped.append(
            f"end_frame {end} reaches {-num_frames - end} frames before the first frame; the "
            "view ends at frame 0"
        )
    if clamped:
        warnings.warn(
            f"{asked} on a video of {num_frames} frames: " + "; ".join(clamped),
            stacklevel=stacklevel + 1,
        )
