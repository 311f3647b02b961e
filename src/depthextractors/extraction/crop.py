"""Crop the animal out of a frame and rotate it so its body axis points east.

One affine warp per frame does both: the sub-pixel centroid ``(x, y)`` goes to pixel
``(crop_cols // 2, crop_rows // 2)`` of the crop and the image turns clockwise (as displayed) by
the body angle, so a nose at ``angle`` (radians, y up) ends up pointing east (+x). This is
moseq2-extract's ``crop_and_rotate_frames`` rotation (``getRotationMatrix2D(centre, -degrees(angle),
1)`` about the crop centre), except that moseq2-extract first cut a window around the integer part
of the centroid and so placed the animal up to a pixel off centre; here the centroid lands on the
centre pixel exactly. Pixels outside the frame read as 0 (floor).

:func:`place_crop` is the inverse warp, used to paste crops back into a frame (semi-synthetic
tests, previews). :func:`turn_round` turns crops by 180 degrees about that same centre pixel
(a flip correction), without warping again.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["crop_and_rotate", "crop_matrix", "crop_reach", "place_crop", "turn_round"]


def crop_matrix(
    x: float,
    y: float,
    angle: float,
    crop_size: tuple[int, int],
    origin: tuple[float, float] = (0, 0),
) -> np.ndarray:
    """Affine matrix taking image coordinates to crop coordinates.

    Parameters
    ----------
    x, y : float
        Centroid in image pixels (x = column, y = row).
    angle : float
        Body angle, radians, counter-clockwise from +x with y up.
    crop_size : (int, int)
        ``(rows, cols)`` of the crop (moseq2's ``crop_size``; 80 x 80 by default).
    origin : (float, float), default (0, 0)
        ``(x, y)`` of the given image's top-left pixel in the coordinates ``x, y`` refer to
        (lets a caller warp a sub-image, such as a mask's bounding box).

    Returns
    -------
    numpy.ndarray
        ``(2, 3)`` float64 matrix for :func:`cv2.warpAffine`.
    """
    rows, cols = crop_size
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    # Rotating by -angle (y up) is, in row-down image coordinates, the matrix
    # [[cos, -sin], [sin, cos]] applied to offsets from the centroid.
    dx, dy = x - origin[0], y - origin[1]
    matrix = np.array(
        [
            [cos_a, -sin_a, 0.0],
            [sin_a, cos_a, 0.0],
        ]
    )
    matrix[0, 2] = cols // 2 - (cos_a * dx - sin_a * dy)
    matrix[1, 2] = rows // 2 - (sin_a * dx + cos_a * dy)
    return matrix


def crop_reach(crop_size: tuple[int, int]) -> int:
    """Pixels on each side of ``(floor(x), floor(y))`` that :func:`crop_and_rotate` may read.

    A crop's corner lies ``hypot`` of the half sizes from the centroid, whatever the angle;
    bilinear interpolation reads the next pixel too, and OpenCV rounds source positions to
    1/32 pixel. The image rows ``floor(y) - reach`` to ``floor(y) + reach`` and the same
    columns around ``floor(x)`` hold every pixel the crop reads.

    Parameters
    ----------
    crop_size : (int, int)
        ``(rows, cols)`` of the crop.

    Returns
    -------
    int
    """
    rows, cols = (int(v) for v in crop_size)
    half_rows = max(rows // 2, rows - 1 - rows // 2)
    half_cols = max(cols // 2, cols - 1 - cols // 2)
    return math.ceil(math.hypot(half_rows, half_cols)) + 2


def crop_and_rotate(
    image: np.ndarray,
    x: float,
    y: float,
    angle: float,
    crop_size: tuple[int, int] = (80, 80),
    origin: tuple[float, float] = (0, 0),
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Crop ``crop_size`` around ``(x, y)`` and rotate the body axis to east.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols)`` image (any dtype OpenCV warps: uint8, uint16, float32).
    x, y, angle, crop_size, origin
        See :func:`crop_matrix`.
    interpolation : int, default cv2.INTER_LINEAR
        OpenCV interpolation flag (``cv2.INTER_NEAREST`` for masks).

    Returns
    -------
    numpy.ndarray
        ``crop_size`` image of the same dtype; pixels from outside ``image`` are 0.
    """
    rows, cols = crop_size
    matrix = crop_matrix(x, y, angle, crop_size, origin)
    return cv2.warpAffine(
        image,
        matrix,
        (int(cols), int(rows)),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def place_crop(
    canvas: np.ndarray,
    crop: np.ndarray,
    x: float,
    y: float,
    angle: float,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Warp a crop back to where :func:`crop_and_rotate` took it from.

    Parameters
    ----------
    canvas : numpy.ndarray
        ``(rows, cols)`` image giving the output size and dtype (not modified).
    crop : numpy.ndarray
        The crop, ``(crop_rows, crop_cols)``.
    x, y, angle
        The centroid (pixels of ``canvas``) and body angle (radians, y up) it was cropped with.
    interpolation : int, default cv2.INTER_LINEAR
        OpenCV interpolation flag.

    Returns
    -------
    numpy.ndarray
        A ``canvas``-shaped image holding the warped crop and 0 elsewhere.
    """
    matrix = crop_matrix(x, y, angle, crop.shape[:2])
    rows, cols = canvas.shape[:2]
    return cv2.warpAffine(
        crop,
        matrix,
        (int(cols), int(rows)),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def turn_round(crops: np.ndarray, fill: float = 0) -> np.ndarray:
    """Crops turned by 180 degrees about their centre pixel, as if cropped with angle + pi.

    The centroid sits on pixel ``(rows // 2, cols // 2)``. Reversing an axis of even length
    would move it by one pixel (moseq2-extract's ``rot90(k=2)`` did), so the reversed crop is
    shifted back by one pixel along each even axis; the first row / column, which would come
    from outside the original crop, gets ``fill``.

    Parameters
    ----------
    crops : numpy.ndarray
        ``(n, rows, cols)`` crops (heights, masks or log-likelihoods).
    fill : float, default 0
        Value of the pixels with no source in the crop (0 for heights and masks, the clip
        value for log-likelihoods).

    Returns
    -------
    numpy.ndarray
        A new array of the same shape and dtype.
    """
    reversed_ = crops[:, ::-1, ::-1]
    rows, cols = crops.shape[1:]
    out = np.full_like(crops, fill)
    row_shift, col_shift = 1 - rows % 2, 1 - cols % 2
    out[:, row_shift:, col_shift:] = reversed_[:, : rows - row_shift, : cols - col_shift]
    return out
