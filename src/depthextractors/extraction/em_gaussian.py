"""The 3-D Gaussian of :class:`~depthextractors.extraction.em_tracking.EMTracker`: its
log-density over an image's pixels and its expectation-maximisation update.

A pixel is the point ``(x, y, height)``: column and row in ROI-box pixels, height above the
floor in millimetres. The tracker's images and point sets are small (the box around the
animal: a few hundred to a few thousand pixels), so numpy's cost per call, not the arithmetic,
sets the speed: the 3x3 algebra (inverse by cofactors, definiteness by leading minors) is done
on Python floats, the log-density image's pixel-position terms are computed once per model and
shared by every height image, and each EM iteration is a handful of numpy calls on one
``(3, n)`` array.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "em_update",
    "image_points",
    "inverse",
    "log_likelihood",
    "log_likelihood_above",
    "log_likelihood_image",
    "log_likelihood_terms",
    "nearest_positive_definite",
    "positive_definite",
]

_LOG_2PI = math.log(2.0 * math.pi)

#: What :func:`log_likelihood_terms` computes of a model for :func:`log_likelihood`.
Terms = tuple[np.ndarray, np.ndarray, float, float]


def image_points(use: np.ndarray, heights: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """The pixels ``use`` of an image as points.

    Parameters
    ----------
    use : numpy.ndarray
        ``(rows, cols)`` bool, the pixels wanted.
    heights : numpy.ndarray
        ``(rows, cols)`` heights, millimetres.
    origin : (int, int)
        ``(x, y)`` of the image's top-left pixel in the model's coordinates.

    Returns
    -------
    numpy.ndarray
        ``(3, n)`` float64: x and y (pixels) and height (mm) of each pixel.
    """
    rows, cols = np.nonzero(use)
    points = np.empty((3, rows.size))
    points[0] = cols + origin[0]
    points[1] = rows + origin[1]
    points[2] = heights[rows, cols]
    return points


def em_update(
    points: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    max_iterations: int,
    tolerance: float,
    regularization: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Expectation-maximisation of a Gaussian's mean and covariance over weighted points.

    Each iteration weights every point by its density under the current model (normalised to
    sum to 1), re-estimates the mean and covariance from the weights, adds ``regularization``
    to the covariance's diagonal and keeps it positive definite; it stops after
    ``max_iterations`` or when the summed log-weights gain less than ``tolerance`` of
    themselves.

    Parameters
    ----------
    points : numpy.ndarray
        ``(3, n)`` float64 points (:func:`image_points`).
    mean, cov : numpy.ndarray
        ``(3,)`` and ``(3, 3)``: the model to start from.
    max_iterations : int
        Iterations at most.
    tolerance : float
        Relative gain below which the iterations stop.
    regularization : float
        Added to the covariance's diagonal (px² and mm²).

    Returns
    -------
    tuple of numpy.ndarray or None
        The updated ``(mean, cov)``; ``None`` when a covariance is not positive definite or
        the result is not finite.
    """
    cov = cov.tolist()
    previous = 0.0
    offsets = points - mean[:, None]
    for _ in range(max_iterations):
        found = inverse(cov)
        if found is None or not positive_definite(cov):
            return None
        adjugate, det = found
        # Half the squared Mahalanobis distances, and each point's density relative to the
        # densest one's: exp(log p - max log p).
        scale = 0.5 / det
        (a, b, c), (d, e, f), (g, h, i) = adjugate
        half_precision = np.array(
            [[a * scale, b * scale, c * scale], [d * scale, e * scale, f * scale],
             [g * scale, h * scale, i * scale]]
        )  # fmt: skip
        half = np.einsum("ij,ij->j", half_precision @ offsets, offsets)
        weights = np.exp(np.subtract(half.min(), half, out=half), out=half)
        weights /= weights.sum()
        mean = points @ weights
        # The offsets from the new mean: this iteration's covariance, the next one's weights.
        offsets = points - mean[:, None]
        scatter = ((offsets * weights) @ offsets.T).tolist()
        for k in range(3):
            scatter[k][k] += regularization
        cov = nearest_positive_definite(scatter)
        weights += 1e-300
        total = float(np.log(weights, out=weights).sum())
        gain = total - previous
        if 0 <= gain < tolerance * abs(previous):
            break
        previous = total
    if not all(map(math.isfinite, [*mean.tolist(), *cov[0], *cov[1], *cov[2]])):
        return None
    return mean, np.array(cov)


def log_likelihood_terms(
    grid_x: np.ndarray, grid_y: np.ndarray, mean: np.ndarray, cov: np.ndarray
) -> Terms:
    """What a Gaussian's log-density image shares between height images.

    Parameters
    ----------
    grid_x, grid_y : numpy.ndarray
        ``(cols,)`` and ``(rows,)`` float64: the model's x of each column and y of each row.
    mean, cov : numpy.ndarray
        ``(3,)`` and ``(3, 3)``: the Gaussian.

    Returns
    -------
    tuple
        The pixel-position part of the quadratic form plus the normalisation (``(rows, cols)``),
        the coefficient of the height offset (``(rows, cols)``), the height precision and the
        mean height (floats).

    Raises
    ------
    numpy.linalg.LinAlgError
        If the covariance is singular.
    """
    found = inverse(cov.tolist())
    if found is None:
        raise np.linalg.LinAlgError("the tracking model's covariance is singular")
    (p00, p01, p02), (_, p11, p12), (_, _, p22) = found[0]
    det = found[1]
    mean_x, mean_y, mean_height = mean.tolist()
    dx = grid_x - mean_x
    dy = grid_y - mean_y
    # Quadratic form expanded term by term: broadcasting the row and column offsets avoids
    # building (rows * cols, 3) arrays.
    columns = (p00 / det) * dx * dx + (math.log(abs(det)) + 3.0 * _LOG_2PI)
    planar = np.multiply.outer((2.0 * p01 / det) * dy, dx)
    planar += columns
    planar += ((p11 / det) * dy * dy)[:, None]
    slope = np.add.outer((2.0 * p12 / det) * dy, (2.0 * p02 / det) * dx)
    return planar, slope, p22 / det, mean_height


def log_likelihood(terms: Terms, heights: np.ndarray) -> np.ndarray:
    """Log-density of every pixel ``(x, y, height)`` of a height image.

    Parameters
    ----------
    terms : tuple
        From :func:`log_likelihood_terms` (the model and the image's pixel grid).
    heights : numpy.ndarray
        ``(rows, cols)`` heights, millimetres (any real dtype).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float64.
    """
    quadratic = _quadratic_form(terms, heights)
    quadratic *= -0.5
    return quadratic


def log_likelihood_above(terms: Terms, heights: np.ndarray, threshold: float) -> np.ndarray:
    """The pixels of a height image whose log-density exceeds ``threshold``.

    Parameters
    ----------
    terms : tuple
        From :func:`log_likelihood_terms`.
    heights : numpy.ndarray
        ``(rows, cols)`` heights, millimetres.
    threshold : float
        Log-density.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` bool, the same pixels as ``log_likelihood(terms, heights) >
        threshold`` (halving is exact in floating point), one numpy call sooner.
    """
    return _quadratic_form(terms, heights) < -2.0 * threshold


def _quadratic_form(terms: Terms, heights: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance plus normalisation: -2 times the log-density."""
    planar, slope, p22, mean_height = terms
    dz = heights - mean_height
    quadratic = p22 * dz
    quadratic += slope
    quadratic *= dz
    quadratic += planar
    return quadratic


def log_likelihood_image(
    grid_x: np.ndarray, grid_y: np.ndarray, heights: np.ndarray, mean: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    """Log-density of every pixel ``(x, y, height)`` of an image, float64 ``(rows, cols)``.

    Parameters
    ----------
    grid_x, grid_y, mean, cov
        See :func:`log_likelihood_terms`.
    heights : numpy.ndarray
        ``(rows, cols)`` heights, millimetres.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float64.
    """
    return log_likelihood(log_likelihood_terms(grid_x, grid_y, mean, cov), heights)


def inverse(matrix: list[list[float]]) -> tuple[list[list[float]], float] | None:
    """Adjugate and determinant of a 3x3 matrix (the inverse is their ratio).

    Parameters
    ----------
    matrix : list of list of float
        Rows of the matrix.

    Returns
    -------
    tuple or None
        ``(adjugate, determinant)``; ``None`` if the matrix is singular or not finite.
    """
    (a, b, c), (d, e, f), (g, h, i) = matrix
    co_a, co_b, co_c = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * co_a + b * co_b + c * co_c
    if det == 0 or not math.isfinite(det):
        return None
    adjugate = [
        [co_a, c * h - b * i, b * f - c * e],
        [co_b, a * i - c * g, c * d - a * f],
        [co_c, b * g - a * h, a * e - b * d],
    ]
    return adjugate, det


def positive_definite(matrix: list[list[float]], shift: float = 0.0) -> bool:
    """Whether the symmetric 3x3 ``matrix - shift * I`` is positive definite.

    Parameters
    ----------
    matrix : list of list of float
        Rows of a symmetric matrix (its upper triangle is read).
    shift : float, default 0
        Subtracted from the diagonal: True means every eigenvalue exceeds ``shift``.

    Returns
    -------
    bool
        Whether the leading minors are all positive (Sylvester's criterion).
    """
    (a, b, c), (_, e, f), (_, _, i) = matrix
    a, e, i = a - shift, e - shift, i - shift
    det = a * (e * i - f * f) - b * (b * i - f * c) + c * (b * f - e * c)
    return a > 0 and a * e - b * b > 0 and det > 0


def nearest_positive_definite(matrix: list[list[float]], floor: float = 1e-3) -> list[list[float]]:
    """The symmetric part of a 3x3 matrix, eigenvalues raised to at least ``floor``.

    Parameters
    ----------
    matrix : list of list of float
        Rows of the matrix.
    floor : float, default 1e-3
        Smallest eigenvalue kept.

    Returns
    -------
    list of list of float
        A valid covariance: the symmetric part itself when its eigenvalues are all at least
        ``floor``.
    """
    (a, b, c), (d, e, f), (g, h, i) = matrix
    # 0.5 * (x + x) is x exactly: the diagonal is kept as it is.
    ab, ac, bc = 0.5 * (b + d), 0.5 * (c + g), 0.5 * (f + h)
    symmetric = [[a, ab, ac], [ab, e, bc], [ac, bc, i]]
    # Eigenvalues all above 2 * floor (the rule, by leading minors) need no decomposition.
    if positive_definite(symmetric, 2.0 * floor):
        return symmetric
    values, vectors = np.linalg.eigh(np.array(symmetric))
    if values.min() >= floor:
        return symmetric
    return ((vectors * np.maximum(values, floor)) @ vectors.T).tolist()
