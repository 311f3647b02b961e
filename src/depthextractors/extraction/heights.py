"""Depth frames to heights above the floor inside the arena: :class:`ArenaHeights`.

The extraction reduces every frame to these heights once, and the preview movie shows the same
heights, so both see exactly what moseq2-extract's ``chunk`` holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..cameras import INVALID_DEPTHS
from .box_windows import box_window

__all__ = ["ArenaHeights", "HiddenPixels"]


class ArenaHeights:
    """Depth (uint16 mm) to heights above the floor (mm) in the ROI's bounding box.

    ``height = background - depth`` truncated to whole millimetres as moseq2-extract does, and
    0 where the height lies outside ``[min_height, max_height]``, where the depth is invalid (0,
    or another of ``invalid_depths``, such as a saturated 65535: no measurement is no animal)
    and outside the ROI. Because the depth is an integer, truncating ``background - depth``
    equals ``floor(background) - depth``, so the common case (8-bit heights) runs in unsigned
    16-bit integers with OpenCV's saturating subtraction (negative heights become 0, dropped):
    the background outside the ROI is set to 0 (every height there is 0), a depth of 0 gives
    ``floor(background)``, dropped as taller than ``max_height`` — which holds when the floor is
    farther than ``max_height`` from the camera everywhere in the ROI — and every other invalid
    code lies beyond the floor, so it gives a negative height, dropped. Otherwise (or for
    16-bit heights) a float path with the same result runs.

    Parameters
    ----------
    background : numpy.ndarray
        ``(rows, cols)`` background depth of the whole frame, mm.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask; heights are made for its bounding box.
    min_height, max_height : float
        Heights kept, mm (inclusive, after truncation).
    dtype : numpy.dtype
        ``uint8`` or ``uint16``: the heights' type (the extraction's ``frame_dtype``).
    invalid_depths : tuple of int, default (0, 65535)
        Depth values that are no measurement (the camera's
        :attr:`~depthextractors.cameras.CameraModel.invalid_depths`).

    Attributes
    ----------
    bbox : (int, int, int, int)
        ``(row_start, row_stop, col_start, col_stop)`` of the ROI's bounding box in the frame.
    shape : (int, int)
        ``(rows, cols)`` of the heights of one frame (the bounding box).

    Raises
    ------
    ValueError
        If the ROI is empty or its shape differs from the background's.
    """

    def __init__(
        self,
        background: np.ndarray,
        roi: np.ndarray,
        min_height: float,
        max_height: float,
        dtype: np.dtype | str = np.uint8,
        invalid_depths: tuple[int, ...] = INVALID_DEPTHS,
    ) -> None:
        roi = np.asarray(roi, dtype=bool)
        background = np.asarray(background)
        if roi.shape != background.shape:
            raise ValueError(
                f"the ROI is {roi.shape} pixels but the background {background.shape}; they "
                "must come from the same camera"
            )
        rows = np.flatnonzero(roi.any(axis=1))
        cols = np.flatnonzero(roi.any(axis=0))
        if rows.size == 0:
            raise ValueError("the ROI is empty; there are no arena pixels to take heights from")
        self.bbox = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
        row0, row1, col0, col1 = self.bbox
        box_mask = roi[row0:row1, col0:col1]
        background_box = np.where(
            box_mask, np.nan_to_num(background[row0:row1, col0:col1].astype(np.float32)), 0.0
        ).astype(np.float32)
        self.shape = box_mask.shape
        self.background = background_box
        self.outside = ~box_mask
        self.min_height = float(min_height)
        self.max_height = float(max_height)
        self.dtype = np.dtype(dtype)
        self._low = math.ceil(self.min_height)
        self._high = math.floor(self.max_height)
        floor = np.floor(np.where(box_mask & (background_box > 0), background_box, 0))
        inside = floor[box_mask & (background_box > 0)]
        self.invalid_depths = tuple(int(code) for code in invalid_depths)
        # Codes other than 0 must lie beyond every floor depth, so that they give negative
        # heights, which the saturating subtraction drops.
        deepest = inside.max() if inside.size else 0
        self._fast = (
            self.dtype == np.uint8
            and self._low >= 1
            and self._high <= 255
            and (inside.size == 0 or (inside.min() > self._high and inside.max() < 65535))
            and all(code == 0 or code > deepest for code in self.invalid_depths)
        )
        self._floor16 = floor.astype(np.uint16) if self._fast else None
        self._tall_below = cv2.subtract(self._floor16, self._high) if self._fast else None
        # floor(background - depth) is floor(background) - depth for integer depths.
        self._floor = np.floor(background_box)
        self._inside_ones = box_mask.astype(np.uint8)

    def convert(self, depth: np.ndarray, out: np.ndarray) -> None:
        """Heights of one frame's bounding box.

        Parameters
        ----------
        depth : numpy.ndarray
            ``(rows, cols)`` uint16 depth of the bounding box (``frame[r0:r1, c0:c1]``), mm.
        out : numpy.ndarray
            ``(rows, cols)`` array of :attr:`dtype` that receives the heights, mm.
        """
        if self._fast:
            height = cv2.subtract(self._floor16, depth)
            cv2.threshold(height, self._low - 1, 0, cv2.THRESH_TOZERO, dst=height)
            cv2.threshold(height, self._high, 0, cv2.THRESH_TOZERO_INV, dst=height)
            np.copyto(out, height, casting="unsafe")
            return
        height = np.subtract(self.background, depth, dtype=np.float32)
        # Whole millimetres first, then the limits: moseq2-extract casts to its frame dtype
        # before thresholding, so 100.8 mm counts as 100 mm.
        np.floor(height, out=height)
        # Invalid depth is no object: a zero would read as a pixel as tall as the camera, a
        # saturated 65535 as a hole far below the floor.
        drop = depth == 0
        for code in self.invalid_depths:
            if code != 0:
                drop |= depth == code
        drop |= height < self.min_height
        drop |= height > self.max_height
        drop |= self.outside
        height[drop] = 0
        np.copyto(out, height, casting="unsafe")

    def hidden(self, frame: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Where a frame's depth hides what lies below it, over part of the bounding box.

        A pixel of the ROI is hidden when its depth is invalid (no measurement) or its height
        is above ``max_height`` (a hand, or a cable on its way up, between the camera and the
        animal): :meth:`convert` makes both 0, like the floor, though an animal may lie
        under them.

        Parameters
        ----------
        frame : numpy.ndarray
            ``(rows, cols)`` uint16 depth of the whole camera image, mm.
        y0, y1, x0, x1 : int
            Rows ``y0:y1`` and columns ``x0:x1`` of the bounding box.

        Returns
        -------
        numpy.ndarray
            uint8 (0/1) over those pixels: 1 where hidden; 0 outside the ROI.
        """
        row0, _, col0, _ = self.bbox
        depth = frame[row0 + y0 : row0 + y1, col0 + x0 : col0 + x1]
        window = np.s_[y0:y1, x0:x1]
        if self._fast:
            # Taller than max_height where the depth is under floor - max_height (a depth of 0
            # included, as in convert); that bound is 0 outside the ROI.
            hidden = cv2.compare(depth, self._tall_below[window], cv2.CMP_LT)
            for code in self.invalid_depths:
                if code != 0:
                    cv2.bitwise_or(hidden, cv2.compare(depth, code, cv2.CMP_EQ), dst=hidden)
            return cv2.bitwise_and(hidden, self._inside_ones[window])
        hidden = np.subtract(self._floor[window], depth, dtype=np.float32) > self.max_height
        for code in self.invalid_depths:
            hidden |= depth == code
        hidden &= ~self.outside[window]
        return hidden.view(np.uint8)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Heights of whole frames.

        Parameters
        ----------
        frames : numpy.ndarray
            ``(n, rows, cols)`` uint16 depth frames (the whole camera image), mm.

        Returns
        -------
        numpy.ndarray
            ``(n, box_rows, box_cols)`` heights of :attr:`dtype`, mm.
        """
        row0, row1, col0, col1 = self.bbox
        out = np.empty((frames.shape[0], *self.shape), dtype=self.dtype)
        for k in range(frames.shape[0]):
            self.convert(frames[k, row0:row1, col0:col1], out[k])
        return out


@dataclass(frozen=True)
class HiddenPixels:
    """Where a frame's depth hides what lies below it (:meth:`ArenaHeights.hidden`), kept for
    a later pass at one bit a pixel over the hidden pixels' bounding box.

    Attributes
    ----------
    bits : numpy.ndarray
        ``numpy.packbits(mask, axis=1)`` of the box's uint8 (0/1) mask.
    x0, y0 : int
        The box's top-left pixel in the ROI's bounding box.
    cols : int
        The box's columns.
    """

    bits: np.ndarray
    x0: int
    y0: int
    cols: int

    @classmethod
    def of(cls, mask: np.ndarray, x0: int, y0: int) -> HiddenPixels | None:
        """``mask`` (uint8 0/1, its top-left pixel at ``(x0, y0)``) kept, or ``None`` when no
        pixel of it is hidden."""
        left, top, cols, rows = cv2.boundingRect(mask)
        if cols == 0:
            return None
        bits = np.packbits(mask[top : top + rows, left : left + cols], axis=1)
        return cls(bits, x0 + left, y0 + top, cols)

    def window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """uint8 (0/1) over rows ``y0:y1`` and columns ``x0:x1`` of the ROI's bounding box:
        1 where hidden (0 past the kept box)."""
        # Only the kept rows the window holds are unpacked.
        first = min(max(y0 - self.y0, 0), self.bits.shape[0])
        last = max(min(y1 - self.y0, self.bits.shape[0]), first)
        rows = np.unpackbits(self.bits[first:last], axis=1, count=self.cols)
        return box_window(rows, self.x0, self.y0 + first, x0, y0, x1, y1)
