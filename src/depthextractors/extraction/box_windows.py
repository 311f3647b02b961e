"""Windows of the ROI box round an animal, for the body centroid's steps: grown, cut out and
thresholded; and the small image operations those steps share (an opening by a disc, the
labels under a mask, flags per label over a label image, the eight-neighbour element, a
body's 95th-percentile height, the ridges a cable lying over a body makes, which the arena
step's back height leaves out too)."""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "RIDGE_RISE_SHARE",
    "RIDGE_WIDTH_SHARE",
    "SQUARE",
    "at_least",
    "box_window",
    "cable_ridges",
    "grown_box",
    "high_level",
    "labels_under",
    "of_labels",
    "opened_by_disc",
]


#: The eight neighbours of a pixel (and itself), for dilations by one pixel.
SQUARE = np.ones((3, 3), dtype=np.uint8)

#: :func:`cable_ridges` finds ridges narrower than this share of the body's width (a cable or
#: bundle lying over the body: 7-14 mm against a mouse's 18-30 mm) ...
RIDGE_WIDTH_SHARE = 0.7
#: ... standing above the body around them by more than this share of its height there (a
#: body's own back stands at most a third above what a disc that wide fits under).
RIDGE_RISE_SHARE = 0.6
# cable_ridges looks at every n-th pixel, n such that the body is about this many pixels wide
# there: a grey opening costs as its disc's area, and a rat at fine pixels is 60 px wide.
_RIDGE_BODY_PX = 10
# Fewer ridge pixels than this share of the body's are none.
_RIDGE_LEAST_SHARE = 0.05
# A body's pixels are about this many times the square of its width (an ellipse three times
# as long as it is wide), which sets n before the width is measured.
_AREA_PER_SQUARED_WIDTH = 2.4


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


def cable_ridges(heights: np.ndarray, body: np.ndarray) -> np.ndarray:
    """bool over ``body``'s window: where a cable lying over the body stands above it.

    A grey opening of the body's heights by a disc :data:`RIDGE_WIDTH_SHARE` times the body's
    width fits under its back but not under a cable; the body's pixels taller than its median
    height that stand above the opening by more than :data:`RIDGE_RISE_SHARE` times the
    opening's height there are the cable's. An untethered body has none.

    Parameters
    ----------
    heights : numpy.ndarray
        Heights above the floor over the window, mm.
    body : numpy.ndarray
        The body's pixels (non-zero) over the same window.

    Returns
    -------
    numpy.ndarray
        bool, the window's shape.
    """
    inside = body > 0
    ridges = np.zeros(inside.shape, dtype=bool)
    count = cv2.countNonZero(inside.view(np.uint8))
    if count == 0:
        return ridges
    # The centre of every step x step block stands for the block.
    step = max(1, round(math.sqrt(count / _AREA_PER_SQUARED_WIDTH) / _RIDGE_BODY_PX))
    start = step // 2
    small_inside = np.ascontiguousarray(inside[start::step, start::step])
    on_body = np.where(small_inside, heights[start::step, start::step], 0)
    values = on_body[small_inside]
    if values.size == 0:
        return ridges
    # A border of one pixel: the distance transform measures to the body's edge.
    edge = cv2.copyMakeBorder(small_inside.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT)
    radius = cv2.minMaxLoc(cv2.distanceTransform(edge, cv2.DIST_L2, 3))[1]
    side = max(3, 2 * round((RIDGE_WIDTH_SHARE * 2.0 * radius - 1) / 2) + 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    ground = cv2.morphologyEx(on_body, cv2.MORPH_OPEN, disc)
    median = np.partition(values, values.size // 2)[values.size // 2]
    # An opening never rises above what it opens: the rise is never negative.
    small = (on_body - ground > RIDGE_RISE_SHARE * ground) & (on_body > median)
    # A few pixels standing alone (a snout's tip narrower than the disc) move no percentile.
    if np.count_nonzero(small) < _RIDGE_LEAST_SHARE * values.size:
        return ridges
    grown = np.repeat(np.repeat(small, step, axis=0), step, axis=1)
    rows, cols = min(inside.shape[0], grown.shape[0]), min(inside.shape[1], grown.shape[1])
    ridges[:rows, :cols] = grown[:rows, :cols]
    return ridges & inside
