"""Windows of the ROI box round an animal, for the body centroid's steps: grown, cut out and
thresholded; and the small image operations those steps share (an opening by a disc, the
labels under a mask, flags per label over a label image, the eight-neighbour element, a
body's 95th-percentile height)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "SQUARE",
    "at_least",
    "box_window",
    "grown_box",
    "high_level",
    "labels_under",
    "of_labels",
    "opened_by_disc",
]


#: The eight neighbours of a pixel (and itself), for dilations by one pixel.
SQUARE = np.ones((3, 3), dtype=np.uint8)


def grown_box(
    box: tuple[int, int, int, int], margin: int, box_shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` grown by ``margin`` pixels on every side, within the ROI box."""
    x0, y0, x1, y1 = box
    rows, cols = box_shape
    return max(0, x0 - margin), max(0, y0 - margin), min(cols, x1 + margin), min(rows, y1 + margin)


def box_window(
    image: np.ndarray, ix: int, iy: int, x0: int, y0: int, x1: int, y1: int
) -> np.ndarray:
    """Rows ``y0:y1``, columns ``x0:x1`` of the box from ``image``, whose top-left pixel is
    ``(ix, iy)`` in the box; 0 where they reach past it (all of them when they miss it)."""
    top, left = max(y0, iy), max(x0, ix)
    bottom = min(y1, iy + image.shape[0])
    right = min(x1, ix + image.shape[1])
    if bottom <= top or right <= left:
        return np.zeros((y1 - y0, x1 - x0), dtype=image.dtype)
    inside = image[top - iy : bottom - iy, left - ix : right - ix]
    if (top, left, bottom, right) == (y0, x0, y1, x1):
        return inside
    return cv2.copyMakeBorder(
        inside, top - y0, y1 - bottom, left - x0, x1 - right, cv2.BORDER_CONSTANT, value=0
    )


def at_least(image: np.ndarray, threshold: int) -> np.ndarray:
    """uint8 (0/1): where ``image`` is at least ``threshold``."""
    if image.dtype == np.uint8:
        return cv2.threshold(image, threshold - 1, 1, cv2.THRESH_BINARY)[1]
    return (image >= threshold).astype(np.uint8)


def opened_by_disc(mask: np.ndarray, inside: np.ndarray, radius: float) -> np.ndarray:
    """uint8 (0/1): ``mask`` opened by a disc of ``radius`` px, from two distance transforms:
    the pixels of ``mask`` within ``radius`` of those farther than ``radius`` from its outline
    (Euclidean within a few per cent; an opening by OpenCV's elliptic element of 20 px costs
    ten times as much). ``inside`` is ``cv2.distanceTransform(mask, cv2.DIST_L2, 5)``."""
    outside_core = cv2.threshold(inside, radius, 1, cv2.THRESH_BINARY_INV)[1].astype(np.uint8)
    from_core = cv2.distanceTransform(outside_core, cv2.DIST_L2, 5)
    near_core = cv2.threshold(from_core, radius, 1, cv2.THRESH_BINARY_INV)[1].astype(np.uint8)
    return cv2.bitwise_and(near_core, mask)


def labels_under(labels: np.ndarray, count: int, where: np.ndarray) -> np.ndarray:
    """bool, one per label below ``count``: which labels of ``labels`` (0: none) have a pixel
    where ``where`` is non-zero."""
    under = np.zeros(count, dtype=bool)
    under[labels[where > 0]] = True
    under[0] = False
    return under


def of_labels(labels: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """uint8 (0/1): ``flags`` (bool, one per label) over the integer label image ``labels``."""
    if flags.size <= 256:
        # A table lookup costs a fraction of numpy's gather on these small images.
        table = np.zeros(256, dtype=np.uint8)
        table[: flags.size] = flags
        return cv2.LUT(labels.astype(np.uint8), table)
    return flags[labels].view(np.uint8)


def high_level(heights: np.ndarray, where: np.ndarray) -> float:
    """The 95th percentile of ``heights`` where ``where`` is non-zero (the lower of the two
    values it falls between), by a partial sort: how tall a body's back is, without its
    few tallest pixels."""
    values = heights[where > 0]
    rank = int(0.95 * (values.size - 1))
    return float(np.partition(values, rank)[rank])
