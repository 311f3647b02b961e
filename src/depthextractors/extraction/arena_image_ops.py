"""Image operations of the arena step: connected regions, hole filling, bounding boxes,
distances to a mask, bilinear sampling and 1-D Gaussian smoothing.

They give what ``scipy.ndimage``'s ``label``, ``binary_fill_holes``, ``find_objects``,
``distance_transform_edt``, ``map_coordinates(order=1, mode="nearest")`` and
``gaussian_filter1d(mode="constant")`` give, with OpenCV and numpy. Importing
``scipy.ndimage`` costs 0.2-0.5 s on the 2-core machine, which every ``extract`` and
``find-roi`` command paid in its arena step while nothing else ran; the arena found is the
same (``tests/test_arena_image_ops.py`` compares each function with scipy's).
"""

from __future__ import annotations

import cv2
import numpy as np


def label_regions(mask: np.ndarray, connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Label the connected regions of a mask, numbered in the order a raster scan meets them.

    Parameters
    ----------
    mask : numpy.ndarray, shape (rows, cols)
        Boolean (or 0/1) mask.
    connectivity : {4, 8}
        Whether diagonal neighbours connect.

    Returns
    -------
    labels : numpy.ndarray of int32, shape (rows, cols)
        0 outside the mask, 1..count inside; region 1 holds the first pixel of the mask in
        row-major order, region 2 the first pixel not in region 1, and so on (scipy's order,
        which ties in the arena's ranking are broken by).
    count : int
        The number of regions.
    """
    count, labels = cv2.connectedComponents(
        np.ascontiguousarray(mask, dtype=np.uint8), connectivity=connectivity, ltype=cv2.CV_32S
    )
    count -= 1
    if count > 1:
        # OpenCV's block-based scan can number regions in another order than a pixel scan.
        # A region's first pixel starts a run of equal labels along the rows: the earliest
        # run start of each label (a sort of all pixels costs 5 times as much at 1024x1024).
        flat = labels.ravel()
        starts = np.flatnonzero(np.diff(flat, prepend=-1))
        first = np.full(count + 1, flat.size, dtype=np.int64)
        np.minimum.at(first, flat[starts], starts)
        order = np.argsort(first[1:], kind="stable")
        renumber = np.zeros(count + 1, dtype=np.int32)
        renumber[order + 1] = np.arange(1, count + 1, dtype=np.int32)
        labels = renumber[labels]
    return labels, count


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
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (~inside).view(np.uint8), connectivity=4, ltype=cv2.CV_32S
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


def bounding_boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """Each region's bounding box.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (rows, cols)
        Region labels, 0 for none (as :func:`label_regions` gives).
    count : int
        The largest label.

    Returns
    -------
    numpy.ndarray of int64, shape (count, 4)
        ``top, bottom, left, right`` of region ``i + 1`` in row ``i``, bottom and right
        exclusive (slices ``[top:bottom, left:right]``); ``0, 0, 0, 0`` for a label with no
        pixel.
    """
    rows, cols = labels.shape
    flat = labels.ravel()
    where = np.flatnonzero(flat)
    label = flat[where]
    row, col = np.divmod(where, cols)
    boxes = np.zeros((count + 1, 4), dtype=np.int64)
    boxes[:, 0], boxes[:, 2] = rows, cols
    np.minimum.at(boxes[:, 0], label, row)
    np.maximum.at(boxes[:, 1], label, row + 1)
    np.minimum.at(boxes[:, 2], label, col)
    np.maximum.at(boxes[:, 3], label, col + 1)
    empty = boxes[:, 1] == 0
    boxes[empty] = 0
    return boxes[1:]


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
