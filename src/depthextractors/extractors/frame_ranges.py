"""Frame index and range arguments, checked and resolved as every extractor takes them."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

__all__ = ["as_frame_index", "resolve_frame_range"]


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
