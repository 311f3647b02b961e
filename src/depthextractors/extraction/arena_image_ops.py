"""Image operations of the arena step: hole filling, distances to a mask, bilinear sampling
and 1-D Gaussian smoothing (its connected regions are :func:`.filters.label_regions`').

They give what ``scipy.ndimage``'s ``binary_fill_holes``, ``distance_transform_edt``,
``map_coordinates(order=1, mode="nearest")`` and ``gaussian_filter1d(mode="constant")`` give,
with OpenCV and numpy. Importing ``scipy.ndimage`` costs 0.2-0.5 s on the 2-core machine,
which every ``extract`` and ``find-roi`` command paid in its arena step while nothing else
ran; the arena found is the same (``tests/test_arena_image_ops.py`` compares each function,
and the labelling, with scipy's).
"""

from __future__ import annotations

import cv2
import numpy as np


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every hole filled: background not 4-connected to the image's border.

    Parameters
    ----------
    mask : numpy.ndarray, shape (rows, cols)
        Boolean (or 0/1) mask.

    Returns
    -------
    numpy.ndarray of bool, shape (rows, cols)
    """
    inside = np.asarray(mask, dtype=bool)
    # Wu's SAUF, as label_regions uses (OpenCV's other algorithms are not safe in threads).
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        (~inside).view(np.uint8), 4, cv2.CV_32S, cv2.CCL_SAUF
    )
    rows, cols = inside.shape
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right = left + stats[:, cv2.CC_STAT_WIDTH]
    bottom = top + stats[:, cv2.CC_STAT_HEIGHT]
    hole = (left > 0) & (top > 0) & (right < cols) & (bottom < rows)
    hole[0] = False  # label 0 is the mask itself
    if count <= 1 or not hole.any():
        return inside.copy()
    return inside | hole[labels]


def distance_to(mask: np.ndarray) -> np.ndarray:
    """The Euclidean distance of every pixel to the nearest pixel of a mask, px.

    Parameters
    ----------
    mask : numpy.ndarray, shape (rows, cols)
        Boolean (or 0/1) mask with at least one pixel set.

    Returns
    -------
    numpy.ndarray of float64, shape (rows, cols)
        0 on the mask; exact (OpenCV's precise distance transform).
    """
    outside = (~np.asarray(mask, dtype=bool)).view(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance.astype(np.float64)


def bilinear_at(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample an image at fractional positions by bilinear interpolation.

    Positions outside the image take the nearest edge's values.

    Parameters
    ----------
    image : numpy.ndarray, shape (height, width)
        The values.
    rows, cols : numpy.ndarray
        Positions, px (0 = the first pixel's centre).

    Returns
    -------
    numpy.ndarray of float64, the shape of ``rows``
    """
    values = np.asarray(image, dtype=np.float64)
    height, width = values.shape
    y = np.clip(np.asarray(rows, dtype=np.float64), 0, height - 1)
    x = np.clip(np.asarray(cols, dtype=np.float64), 0, width - 1)
    y0 = np.minimum(np.floor(y).astype(np.intp), height - 1)
    x0 = np.minimum(np.floor(x).astype(np.intp), width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    x1 = np.minimum(x0 + 1, width - 1)
    fy, fx = y - y0, x - x0
    top = values[y0, x0] * (1 - fx) + values[y0, x1] * fx
    bottom = values[y1, x0] * (1 - fx) + values[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def gaussian_smooth(values: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Smooth a 1-D array with a Gaussian, zeros beyond its ends.

    Parameters
    ----------
    values : numpy.ndarray, shape (n,)
    sigma : float
        The Gaussian's standard deviation, in elements.
    truncate : float
        The kernel's half-width in standard deviations (rounded to whole elements).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(np.asarray(values, dtype=np.float64), radius)
    return np.convolve(padded, kernel, mode="valid")
