"""Checks of the arguments the session and its stages are given: strategies that follow their
contract, frame counts, crop sizes and frame trims. Each raises ``TypeError`` for a value of
the wrong type and ``ValueError`` for one out of range, in one line naming the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_crop_size", "as_frame_count", "as_frame_trim", "checked"]


def checked(
    value: Any, base: type, name: str, default: type | None = None, hint: str | None = None
) -> Any:
    """``value`` if it follows ``base``'s contract (a new ``default()`` for None).

    Parameters
    ----------
    value : object
        The argument.
    base : type
        The base class its contract is.
    name : str
        The argument's name, for the message.
    default : type, optional
        Made (without arguments) when ``value`` is None; None is refused without it.
    hint : str, optional
        What of :mod:`depthextractors.extraction` to subclass or use instead, named in the
        message; ``base``'s name by default.
    """
    if value is None and default is not None:
        return default()
    if not isinstance(value, base):
        raise TypeError(
            f"{name} must be a {base.__name__} (subclass depthextractors.extraction."
            f"{hint or base.__name__} or "
            f"use one of its strategies), got {type(value).__name__}"
        )
    return value


def as_frame_count(value: Any, name: str, minimum: int = 0) -> int:
    """``value`` as a number of frames: an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer number of frames, got {value!r}")
    if value < minimum:
        raise ValueError(
            f"{name} must not be negative, got {value}"
            if minimum == 0
            else f"{name} must be at least {minimum}, got {value}"
        )
    return int(value)


def as_crop_size(value: Any, name: str = "crop_size", minimum: int = 2) -> tuple[int, int]:
    """``value`` as ``(rows, cols)`` of an image, pixels, each at least ``minimum``."""
    try:
        rows, cols = (int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be (rows, cols), got {value!r}") from None
    if rows < minimum or cols < minimum:
        raise ValueError(
            f"{name} must be at least ({minimum}, {minimum}) pixels, got {tuple(value)}"
        )
    return rows, cols


def as_frame_trim(value: Any) -> tuple[int, int]:
    """``value`` as ``(start, end)``: frames left out at each end."""
    try:
        trim = tuple(as_frame_count(v, "frame_trim") for v in value)
    except TypeError:
        raise TypeError(f"frame_trim must be (start, end) frame counts, got {value!r}") from None
    if len(trim) != 2:
        raise ValueError(f"frame_trim must be (start, end) frame counts, got {value!r}")
    return trim
